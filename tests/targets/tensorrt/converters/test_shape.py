"""Data-movement converters (reshape, flatten, squeeze, unsqueeze, transpose, slice, pad,
split, gather, concat, shape) vs the reference interpreter, through the stand-in: exact.
"""

from __future__ import annotations

import numpy as np
import pytest

from compiler.ir import Graph, TensorType
from tests.support.trt_check import max_abs_diff, through_standin

RNG = np.random.default_rng(6)
X = RNG.standard_normal((2, 3, 4, 5)).astype(np.float32)


def _graph(op: str, consts=(), attrs=None, x_shape=X.shape, optional=()) -> Graph:
    """``op(x, *consts)``; a None const is an absent optional input."""
    g = Graph(op)
    x = g.add_input("x", TensorType("f32", x_shape))
    ins = [x] + [None if c is None else g.add_const(np.asarray(c), f"c{i}")
                 for i, c in enumerate(consts)]
    node = g.add_node(op, ins, attrs or {}, source=[f"{op}_layer"])
    g.outputs = list(node.outputs)
    return g


CASES = {
    "reshape": ("reshape", [np.array([6, -1], np.int64)], {}),
    "reshape_zero_copies": ("reshape", [np.array([0, 0, 20], np.int64)], {}),
    "flatten": ("flatten", [], {"axis": 2}),
    "flatten_0": ("flatten", [], {"axis": 0}),
    "unsqueeze": ("unsqueeze", [np.array([0, 3], np.int64)], {}),
    "transpose": ("transpose", [], {"perm": [0, 2, 3, 1]}),
    "transpose_default": ("transpose", [], {}),
    "slice": ("slice", [np.array([1, 0]), np.array([4, 5]), np.array([2, 3]),
                        np.array([2, 2])], {}),
    "slice_negative": ("slice", [np.array([-1]), np.array([-5]), np.array([3]),
                                 np.array([-2])], {}),
    "slice_clamped": ("slice", [np.array([0]), np.array([100])], {}),
    "gather_const": ("gather", [np.array([2, 0, -1], np.int64)], {"axis": 3}),
    "gather_scalar": ("gather", [np.array(1, np.int64)], {"axis": 1}),
    "pad_constant": ("pad", [np.array([0, 0, 1, 2, 0, 0, 3, 1], np.int64),
                             np.float32(1.5)], {}),
    "pad_reflect": ("pad", [np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64)],
                    {"mode": "reflect"}),
    "pad_edge": ("pad", [np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64)], {"mode": "edge"}),
    "pad_wrap": ("pad", [np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64)], {"mode": "wrap"}),
    "pad_crop": ("pad", [np.array([0, 0, -1, 1, 0, 0, 0, -2], np.int64)], {}),
    "split": ("split", [np.array([1, 3], np.int64)], {"axis": 2}),
}


@pytest.mark.parametrize("case", CASES)
def test_data_movement(case):
    op, consts, attrs = CASES[case]
    g = _graph(op, consts, attrs)
    assert max_abs_diff(g, {"x": X}) == 0.0


def test_squeeze():
    g = _graph("squeeze", [np.array([1], np.int64)], x_shape=(2, 1, 4))
    assert max_abs_diff(g, {"x": X[:, :1, :, 0]}) == 0.0


def test_reshape_keeps_a_real_zero_dim():
    """allowzero=1 with a 0 in the shape: an empty output, not a copied dim."""
    g = _graph("reshape", [np.array([0, 4], np.int64)], {"allowzero": 1}, x_shape=(0, 2, 2))
    out = through_standin(g, {"x": np.zeros((0, 2, 2), np.float32)})
    assert out[g.outputs[0].name].shape == (0, 4)


@pytest.mark.parametrize("axis", [1, -1, 0])
def test_concat(axis):
    g = Graph("concat")
    a = g.add_input("a", TensorType("f32", (2, 3, 4)))
    b = g.add_const(RNG.standard_normal((2, 3, 4)).astype(np.float32), "b")
    g.outputs = [g.add_node("concat", [a, b, a], {"axis": axis}, source=["cat"]).output]
    assert max_abs_diff(g, {"a": X[:, :, :, 0].reshape(2, 3, 4)}) == 0.0


def test_gather_runtime_indices():
    g = Graph("gather")
    x = g.add_input("x", TensorType("f32", (5, 3)))
    i = g.add_input("i", TensorType("i32", (2, 2)))
    g.outputs = [g.add_node("gather", [x, i], {"axis": 0}, source=["emb"]).output]
    idx = np.array([[0, 4], [2, 2]], np.int32)
    assert max_abs_diff(g, {"x": X.reshape(-1)[:15].reshape(5, 3), "i": idx}) == 0.0


def test_shape_of_a_static_tensor():
    g = _graph("shape", [], {"start": 1})
    assert max_abs_diff(g, {"x": X}) == 0.0


@pytest.mark.parametrize("op", ["depth_to_space", "space_to_depth"])
@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_block_moves(op, mode):
    shape = (2, 8, 3, 4) if op == "depth_to_space" else (2, 3, 4, 6)
    g = _graph(op, [], {"blocksize": 2, "mode": mode}, x_shape=shape)
    assert max_abs_diff(g, {"x": RNG.standard_normal(shape).astype(np.float32)}) == 0.0
