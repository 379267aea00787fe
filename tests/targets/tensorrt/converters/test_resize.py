"""Resize converter vs the reference interpreter, through the stand-in, over the IR's
modes and coordinate transformations TensorRT has.

Tolerance 1e-5 (interpolation weights computed in another order; measured below 1e-6).
"""

from __future__ import annotations

import numpy as np
import pytest

from compiler.ir import Graph, TensorType
from tests.support.trt_check import max_abs_diff

RNG = np.random.default_rng(7)
X = RNG.standard_normal((1, 2, 4, 5)).astype(np.float32)
ATOL = 1e-5


@pytest.mark.parametrize("mode,coord,nearest", [
    ("nearest", "asymmetric", "floor"),
    ("nearest", "half_pixel", "round_prefer_floor"),
    ("nearest", "align_corners", "round_prefer_ceil"),
    ("nearest", "asymmetric", "ceil"),
    ("linear", "half_pixel", "round_prefer_floor"),
    ("linear", "align_corners", "round_prefer_floor"),
    ("linear", "asymmetric", "round_prefer_floor"),
    ("linear", "pytorch_half_pixel", "round_prefer_floor"),
    ("cubic", "half_pixel", "round_prefer_floor"),
])
@pytest.mark.parametrize("scales", [(1, 1, 2, 2), (1, 1, 0.5, 0.6), (1, 1, 1.5, 3)])
def test_resize(mode, coord, nearest, scales):
    g = Graph("resize")
    x = g.add_input("x", TensorType("f32", X.shape))
    s = g.add_const(np.asarray(scales, np.float32), "scales")
    attrs = {"mode": mode, "coordinate_transformation_mode": coord, "nearest_mode": nearest}
    g.outputs = [g.add_node("resize", [x, None, s], attrs, source=["up"]).output]
    err = max_abs_diff(g, {"x": X})
    print(f"resize {mode} {coord} {nearest} {scales}: {err:.2e}")
    assert err <= ATOL
