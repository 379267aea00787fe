"""Elementwise converters (binary with ONNX broadcasting, unary, comparisons) vs the
reference interpreter, through the stand-in.

Tolerance 1e-6 absolute (bit-exact measured for add/sub/mul/max/min; pow/exp/erf differ
by at most a few float32 ulps, measured below 5e-7 on these values).
"""

from __future__ import annotations

import numpy as np
import pytest

from compiler.ir import Graph, TensorType
from tests.support.trt_check import max_abs_diff

RNG = np.random.default_rng(2)
ATOL = 1e-6


def _rand(*shape: int, positive: bool = False) -> np.ndarray:
    x = RNG.standard_normal(shape).astype(np.float32)
    return np.abs(x) + 0.5 if positive else x


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "max", "min", "pow"])
@pytest.mark.parametrize("shapes", [((2, 3, 4), (2, 3, 4)), ((2, 3, 4), (4,)),
                                    ((2, 1, 4), (3, 1)), ((1,), (2, 3))],
                         ids=["same", "rank", "both", "scalar_like"])
def test_binary_broadcasting(op, shapes):
    a_shape, b_shape = shapes
    g = Graph(op)
    a = g.add_input("a", TensorType("f32", a_shape))
    b = g.add_input("b", TensorType("f32", b_shape))
    g.outputs = [g.add_node(op, [a, b], source=[op]).output]
    positive = op in ("pow", "div")
    err = max_abs_diff(g, {"a": _rand(*a_shape, positive=positive),
                           "b": _rand(*b_shape, positive=positive)})
    print(f"{op} {shapes}: {err:.2e}")
    assert err <= ATOL * (10 if op == "pow" else 1)


def test_constant_operand_and_fused_activation():
    g = Graph("addc")
    a = g.add_input("a", TensorType("f32", (1, 3, 2, 2)))
    c = g.add_const(_rand(3, 1, 1), "c")
    g.outputs = [g.add_node("add", [a, c], {"activation": "relu"}, source=["bias"]).output]
    assert max_abs_diff(g, {"a": _rand(1, 3, 2, 2)}) <= ATOL


@pytest.mark.parametrize("op", ["sum", "max", "min", "mean"])
def test_variadic(op):
    g = Graph(op)
    ins = [g.add_input(n, TensorType("f32", s)) for n, s in (("a", (2, 3)), ("b", (3,)),
                                                            ("c", (2, 1)))]
    g.outputs = [g.add_node(op, ins, source=[op]).output]
    assert max_abs_diff(g, {"a": _rand(2, 3), "b": _rand(3), "c": _rand(2, 1)}) <= ATOL


@pytest.mark.parametrize("op", ["equal", "greater", "less", "greater_or_equal",
                                "less_or_equal"])
def test_comparisons(op):
    g = Graph(op)
    a = g.add_input("a", TensorType("f32", (3, 4)))
    b = g.add_input("b", TensorType("f32", (4,)))
    g.outputs = [g.add_node(op, [a, b], source=[op]).output]
    av = np.round(_rand(3, 4)).astype(np.float32)  # rounded so equality happens
    bv = np.round(_rand(4)).astype(np.float32)
    assert max_abs_diff(g, {"a": av, "b": bv}) == 0.0


@pytest.mark.parametrize("op", ["abs", "exp", "log", "sqrt", "reciprocal", "neg", "sin",
                                "cos", "floor", "ceil", "erf", "sign", "round", "identity"])
def test_unary(op):
    g = Graph(op)
    x = g.add_input("x", TensorType("f32", (2, 5)))
    g.outputs = [g.add_node(op, [x], source=[op]).output]
    xv = _rand(2, 5, positive=op in ("log", "sqrt", "reciprocal")) * 2
    err = max_abs_diff(g, {"x": xv})
    print(f"{op}: {err:.2e}")
    assert err <= ATOL
