"""Weight reduction axes from the op traits, for each op kind, worked out from the layouts
the op docstrings give (conv OIHW, conv_transpose IOHW, matmul [..., K, N], gemm [K, N] or
[N, K] with transB)."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.ir import Graph, TensorType
from compiler.sparsity_axes import weight_axes


@pytest.mark.parametrize("op,x,w,attrs,expect", [
    ("conv", (1, 8, 4, 4), (16, 8, 3, 3), {"group": 1}, (1, 0, 4)),
    ("conv_transpose", (1, 8, 4, 4), (8, 16, 3, 3), {"group": 1}, (0, 1, 4)),
    ("matmul", (2, 8), (8, 16), {}, (0, 1, 2)),
    ("matmul", (3, 2, 8), (3, 8, 16), {}, (1, 2, 3)),
    ("gemm", (2, 8), (8, 16), {}, (0, 1, 2)),
    ("gemm", (2, 8), (16, 8), {"transB": 1}, (1, 0, 2)),
])
def test_reduction_and_output_axes(op, x, w, attrs, expect):
    g = Graph("a")
    xv = g.add_input("x", TensorType("f32", x))
    node = g.add_node(op, [xv, g.add_const(np.zeros(w, np.float32), "w")], attrs)
    ax = weight_axes(node)
    assert ax is not None and (ax.reduction, ax.output, ax.rank) == expect and ax.index == 1


def test_ops_without_weights_have_no_axes():
    g = Graph("a")
    x = g.add_input("x", TensorType("f32", (2, 8)))
    assert weight_axes(g.add_node("relu", [x])) is None
