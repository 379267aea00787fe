"""conv / conv_transpose converters vs the reference interpreter, through the stand-in.

Tolerance: 1e-4 absolute. Measured (`pytest -s` prints each): up to ~2e-6 on these sizes
(float32 sums of at most 72 products of N(0,1) values, summed in another order).
"""

from __future__ import annotations

import numpy as np
import pytest

from compiler.ir import Graph, TensorType
from tests.support.trt_check import max_abs_diff

RNG = np.random.default_rng(0)
ATOL = 1e-4


def _rand(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def _conv_graph(op: str, x_shape, w_shape, attrs, bias=True) -> Graph:
    g = Graph(op)
    x = g.add_input("x", TensorType("f32", tuple(x_shape)))
    ins = [x, g.add_const(_rand(*w_shape), "w")]
    if bias:
        out_c = w_shape[0] if op == "conv" else w_shape[1] * attrs.get("group", 1)
        ins.append(g.add_const(_rand(out_c), "b"))
    g.outputs = [g.add_node(op, ins, attrs, source=[f"{op}_layer"]).output]
    return g


CONV_CASES = {
    "plain": ((1, 3, 7, 7), (4, 3, 3, 3), {}),
    "padded_strided": ((2, 3, 8, 7), (4, 3, 3, 3), {"pads": [1, 0, 2, 1], "strides": [2, 2]}),
    "grouped": ((1, 4, 6, 6), (6, 2, 3, 3), {"group": 2, "pads": [1, 1, 1, 1]}),
    "depthwise": ((1, 4, 6, 6), (4, 1, 3, 3), {"group": 4, "pads": [1, 1, 1, 1]}),
    "dilated": ((1, 2, 9, 9), (3, 2, 3, 3), {"dilations": [2, 2]}),
    "same_upper": ((1, 2, 7, 8), (3, 2, 3, 3), {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    "same_lower": ((1, 2, 7, 8), (3, 2, 2, 2), {"auto_pad": "SAME_LOWER"}),
    "valid": ((1, 2, 7, 8), (3, 2, 3, 3), {"auto_pad": "VALID", "pads": [1, 1, 1, 1]}),
    "conv1d": ((2, 3, 10), (4, 3, 3), {"pads": [1, 2], "strides": [2]}),
    "conv3d": ((1, 2, 4, 5, 5), (3, 2, 3, 3, 3), {"pads": [1, 1, 1, 1, 1, 1]}),
    "fused_relu6": ((1, 3, 5, 5), (4, 3, 1, 1), {"activation": "relu6"}),
}


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv(case):
    x_shape, w_shape, attrs = CONV_CASES[case]
    g = _conv_graph("conv", x_shape, w_shape, attrs)
    err = max_abs_diff(g, {"x": _rand(*x_shape)})
    print(f"conv {case}: {err:.2e}")
    assert err <= ATOL


def test_conv_without_bias():
    g = _conv_graph("conv", (1, 3, 5, 5), (2, 3, 3, 3), {}, bias=False)
    assert max_abs_diff(g, {"x": _rand(1, 3, 5, 5)}) <= ATOL


DECONV_CASES = {
    "plain": ((1, 3, 4, 4), (3, 2, 3, 3), {}),
    "strided_padded": ((1, 3, 4, 5), (3, 2, 3, 3), {"strides": [2, 2], "pads": [1, 1, 1, 1]}),
    "output_padding_within_pads": ((1, 3, 4, 4), (3, 2, 3, 3),
                                   {"strides": [2, 2], "pads": [1, 1, 1, 1],
                                    "output_padding": [1, 1]}),
    "output_padding_beyond_pads": ((1, 3, 4, 4), (3, 2, 3, 3),
                                   {"strides": [2, 2], "output_padding": [1, 1]}),
    "grouped": ((1, 4, 3, 3), (4, 3, 2, 2), {"group": 2, "strides": [2, 2]}),
    "conv_transpose1d": ((1, 2, 5), (2, 3, 4), {"strides": [2], "pads": [1, 1]}),
}


@pytest.mark.parametrize("case", DECONV_CASES)
def test_conv_transpose(case):
    x_shape, w_shape, attrs = DECONV_CASES[case]
    g = _conv_graph("conv_transpose", x_shape, w_shape, attrs)
    err = max_abs_diff(g, {"x": _rand(*x_shape)})
    print(f"conv_transpose {case}: {err:.2e}")
    assert err <= ATOL
