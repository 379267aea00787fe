"""matmul / gemm converters vs the reference interpreter, through the stand-in.

Tolerance 1e-5 absolute; measured up to ~1e-6 (float32 dot products of at most 16 terms).
"""

from __future__ import annotations

import numpy as np
import pytest

from compiler.ir import Graph, TensorType
from tests.support.trt_check import max_abs_diff

RNG = np.random.default_rng(1)
ATOL = 1e-5


def _rand(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


MATMUL_CASES = {
    "2d": ((3, 4), (4, 5)),
    "batched": ((2, 3, 4), (2, 4, 5)),
    "broadcast_rank": ((2, 2, 3, 4), (4, 5)),  # TensorRT needs equal ranks: B is reshaped
    "broadcast_batch": ((2, 1, 3, 4), (3, 4, 2)),
    "vector_left": ((4,), (2, 4, 5)),
    "vector_right": ((2, 3, 4), (4,)),
}


@pytest.mark.parametrize("case", MATMUL_CASES)
@pytest.mark.parametrize("const_b", [False, True], ids=["tensor_b", "const_b"])
def test_matmul(case, const_b):
    a_shape, b_shape = MATMUL_CASES[case]
    g = Graph("mm")
    a = g.add_input("a", TensorType("f32", a_shape))
    feeds = {"a": _rand(*a_shape)}
    if const_b:
        b = g.add_const(_rand(*b_shape), "b")
    else:
        b = g.add_input("b", TensorType("f32", b_shape))
        feeds["b"] = _rand(*b_shape)
    g.outputs = [g.add_node("matmul", [a, b], source=["mm"]).output]
    err = max_abs_diff(g, feeds)
    print(f"matmul {case}: {err:.2e}")
    assert err <= ATOL


GEMM_CASES = {
    "plain": ({}, (5,)),
    "transposed": ({"transA": 1, "transB": 1}, (3, 5)),
    "alpha_beta": ({"alpha": 0.5, "beta": 2.0}, (1, 5)),
    "no_c": ({"transB": 1}, None),
    "fused_relu": ({"activation": "relu"}, (5,)),
}


@pytest.mark.parametrize("case", GEMM_CASES)
def test_gemm(case):
    attrs, c_shape = GEMM_CASES[case]
    a_shape = (4, 3) if attrs.get("transA") else (3, 4)
    b_shape = (5, 4) if attrs.get("transB") else (4, 5)
    g = Graph("gemm")
    a = g.add_input("a", TensorType("f32", a_shape))
    ins = [a, g.add_const(_rand(*b_shape), "b")]
    if c_shape is not None:
        ins.append(g.add_const(_rand(*c_shape), "c"))
    g.outputs = [g.add_node("gemm", ins, attrs, source=["fc"]).output]
    err = max_abs_diff(g, {"a": _rand(*a_shape)})
    print(f"gemm {case}: {err:.2e}")
    assert err <= ATOL
