"""Reduction converters (axes as a bitmask) vs the reference interpreter, via the stand-in.

Tolerance 1e-5 (sums of up to 60 float32 values in another order; measured below 1e-6).
"""

from __future__ import annotations

import numpy as np
import pytest

from compiler.ir import Graph, TensorType
from tests.support.trt_check import max_abs_diff

RNG = np.random.default_rng(5)
ATOL = 1e-5
X = RNG.standard_normal((2, 3, 4, 5)).astype(np.float32)


@pytest.mark.parametrize("op", ["reduce_mean", "reduce_sum", "reduce_max", "reduce_min",
                                "reduce_prod"])
@pytest.mark.parametrize("axes,keepdims", [([1], 1), ([-1, 2], 0), (None, 1), ([0, 3], 1)])
def test_reduce(op, axes, keepdims):
    g = Graph(op)
    x = g.add_input("x", TensorType("f32", X.shape))
    ins = [x] + ([g.add_const(np.asarray(axes, np.int64), "axes")] if axes is not None else [])
    g.outputs = [g.add_node(op, ins, {"keepdims": keepdims}, source=[op]).output]
    err = max_abs_diff(g, {"x": X})
    print(f"{op} {axes} {keepdims}: {err:.2e}")
    assert err <= ATOL
