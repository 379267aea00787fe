"""Activation converters vs the reference interpreter, through the stand-in.

Tolerance 1e-6 absolute; measured: 0 for the piecewise-linear ones, up to ~2.4e-7 for
tanh/sigmoid/elu/selu/softplus/gelu/softmax (float32 libm differences).
"""

from __future__ import annotations

import numpy as np
import pytest

from compiler.ir import Graph, TensorType
from tests.support.trt_check import max_abs_diff

RNG = np.random.default_rng(3)
ATOL = 1e-6
X = (RNG.standard_normal((2, 3, 4, 5)) * 3).astype(np.float32)

CASES = {
    "relu": {}, "sigmoid": {}, "tanh": {}, "leaky_relu": {"alpha": 0.1}, "elu": {"alpha": 0.7},
    "selu": {}, "softplus": {}, "softsign": {}, "hard_sigmoid": {"alpha": 0.25, "beta": 0.4},
    "hard_swish": {}, "thresholded_relu": {"alpha": 0.5}, "swish": {"alpha": 1.5},
    "gelu": {}, "gelu_tanh": {"approximate": "tanh"},
}


@pytest.mark.parametrize("case", CASES)
def test_activation(case):
    op = "gelu" if case.startswith("gelu") else case
    g = Graph(op)
    x = g.add_input("x", TensorType("f32", X.shape))
    g.outputs = [g.add_node(op, [x], CASES[case], source=[case]).output]
    err = max_abs_diff(g, {"x": X})
    print(f"{case}: {err:.2e}")
    assert err <= ATOL


@pytest.mark.parametrize("bounds", [(-1.0, 2.0), (None, 1.5), (0.5, None)])
def test_clip(bounds):
    g = Graph("clip")
    x = g.add_input("x", TensorType("f32", X.shape))
    ins = [x] + [None if b is None else g.add_const(np.float32(b), f"b{i}")
                 for i, b in enumerate(bounds)]
    g.outputs = [g.add_node("clip", ins, source=["clip"]).output]
    assert max_abs_diff(g, {"x": X}) == 0.0


@pytest.mark.parametrize("slope_shape", [(3, 1, 1), (1,), (5,)])
def test_prelu(slope_shape):
    g = Graph("prelu")
    x = g.add_input("x", TensorType("f32", X.shape))
    s = g.add_const(RNG.standard_normal(slope_shape).astype(np.float32), "slope")
    g.outputs = [g.add_node("prelu", [x, s], source=["prelu"]).output]
    assert max_abs_diff(g, {"x": X}) <= ATOL


@pytest.mark.parametrize("axis", [-1, 1, 0, 2])
def test_softmax_axis(axis):
    g = Graph("softmax")
    x = g.add_input("x", TensorType("f32", X.shape))
    g.outputs = [g.add_node("softmax", [x], {"axis": axis}, source=["sm"]).output]
    err = max_abs_diff(g, {"x": X})
    print(f"softmax axis {axis}: {err:.2e}")
    assert err <= ATOL
