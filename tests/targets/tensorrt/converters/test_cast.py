"""Cast converter vs the reference interpreter, through the stand-in: exact."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.ir import Graph, TensorType
from tests.support.trt_check import max_abs_diff


@pytest.mark.parametrize("src,dst", [("f32", "i32"), ("i32", "f32"), ("f32", "f16"),
                                     ("f32", "bool"), ("i64", "i32")])
def test_cast(src, dst):
    g = Graph("cast")
    x = g.add_input("x", TensorType(src, (2, 3)))
    g.outputs = [g.add_node("cast", [x], {"to": dst}, source=["cast"]).output]
    values = np.array([[0, 1.75, -2.5], [3, -0.25, 100]])
    assert max_abs_diff(g, {"x": values.astype(TensorType(src, ()).dtype.numpy)}) == 0.0
