"""Inputs with dynamic spatial dims: one error naming them and the --input-shape to add,
not one error per convolution they reach."""

from __future__ import annotations

import pytest

import numpy as np

from compiler.ir import Graph, TensorType
from compiler.ir.types import DType
from targets import get_target
from targets.tflite.errors import TfliteEmitError
from targets.tflite.target import dynamic_input_problem


def _graph(dims: str, out: str = ""):
    """x[dims] -> conv -> conv (both 3x3, 4 channels, same padding)."""
    shape = tuple(int(d) if d.isdigit() else d for d in dims.split(","))
    g = Graph("net")
    x = g.add_input("x", TensorType(DType.F32, shape))
    y = x
    for i, cin in enumerate((3, 4)):
        w = g.add_const(np.full((4, cin, 3, 3), 0.5, np.float32), f"w{i}")
        y = g.add_node("conv", [y, w], {"pads": [1, 1, 1, 1]}, names=[f"c{i}"]).output
    g.outputs = [y]
    return g


def test_dynamic_height_and_width_give_one_problem_with_the_flag():
    g = _graph("N,3,H,?")
    why = dynamic_input_problem(g)
    assert why is not None
    assert "%x [N, 3, H, ?]" in why and "--input-shape x:1,3,640,640" in why
    with pytest.raises(TfliteEmitError) as e:
        get_target("tflite").emit(g)
    assert len(e.value.problems) == 1  # not one per conv


def test_a_dynamic_batch_alone_is_fine():
    g = _graph("N,3,8,8")
    assert dynamic_input_problem(g) is None
    assert get_target("tflite").emit(g).size > 0


def test_static_dims_where_known_in_the_suggestion():
    why = dynamic_input_problem(_graph("1,3,32,W"))
    assert "--input-shape x:1,3,32,640" in why
