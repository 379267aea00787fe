"""sink-transposes: rewrites remove transposes and keep results (checked against numpy
evaluations of the same expressions, written independently of the IR)."""

from __future__ import annotations

import numpy as np

from compiler.interpreter import run_graph
from compiler.ir import verify
from compiler.ir.graph import Graph
from compiler.ir.types import TensorType
from compiler.pass_manager.base import PassContext
from passes.layout.sink_transposes import SinkTransposes

TO_NHWC, TO_NCHW = [0, 2, 3, 1], [0, 3, 1, 2]


def _run_pass(g: Graph):
    res = SinkTransposes().run(g, PassContext())
    verify(g)
    return res


def _count(g, op):
    return sum(1 for n in g.nodes if n.op == op)


def test_pushes_through_elementwise_concat_pad_reduce():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 4, 5, 6)).astype(np.float32)
    bias = rng.standard_normal(4).astype(np.float32)
    g = Graph()
    xi = g.add_input("x", TensorType.of(x))
    t = g.add_node("transpose", [xi], {"perm": TO_NHWC}).output  # NHWC view
    a = g.add_node("add", [t, g.add_const(bias)]).output
    r = g.add_node("relu", [a]).output
    c = g.add_node("concat", [r, t], {"axis": -1}).output
    p = g.add_node("pad", [c, g.add_const(np.array([0, 1, 0, 0, 0, 2, 1, 0], np.int64))]).output
    s = g.add_node("softmax", [p], {"axis": 3}).output
    m = g.add_node("reduce_mean", [s, g.add_const(np.array([1, 2], np.int64))], {"keepdims": 0}).output
    g.outputs = [m]
    verify(g)
    want = next(iter(run_graph(g, {"x": x}).values()))
    # independent numpy reference of the same expression
    xt = x.transpose(TO_NHWC)
    cc = np.concatenate([np.maximum(xt + bias, 0), xt], axis=-1)
    pp = np.pad(cc, [(0, 0), (1, 2), (0, 1), (0, 0)])
    e = np.exp(pp - pp.max(-1, keepdims=True))
    ref = (e / e.sum(-1, keepdims=True)).mean(axis=(1, 2))
    np.testing.assert_allclose(want, ref, rtol=1e-5, atol=1e-6)
    res = _run_pass(g)
    assert res.modified
    assert _count(g, "transpose") == 0  # reduced result [N,C] needs no transpose
    got = next(iter(run_graph(g, {"x": x}).values()))
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def test_inverse_pair_cancels_and_output_name_kept():
    x = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)
    g = Graph()
    xi = g.add_input("x", TensorType.of(x))
    t = g.add_node("transpose", [xi], {"perm": TO_NHWC}).output
    s = g.add_node("sigmoid", [t], names=["y"]).output
    g.outputs = [s]
    _run_pass(g)
    assert g.outputs[0].name == "y"
    assert g.outputs[0].producer.op == "transpose"  # sigmoid now runs before the transpose
    np.testing.assert_allclose(next(iter(run_graph(g, {"x": x}).values())),
                               1 / (1 + np.exp(-x.transpose(TO_NHWC))), rtol=1e-6)
    g2 = Graph()
    xi = g2.add_input("x", TensorType.of(x))
    t = g2.add_node("transpose", [xi], {"perm": TO_NHWC}).output
    u = g2.add_node("transpose", [t], {"perm": TO_NCHW}).output
    r = g2.add_node("relu", [u]).output
    g2.outputs = [r]
    _run_pass(g2)
    assert _count(g2, "transpose") == 0


def test_branches_with_same_perm_merge_and_mismatch_is_left_alone():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 3, 4, 4)).astype(np.float32)
    y = rng.standard_normal((1, 4, 4, 3)).astype(np.float32)
    g = Graph()
    xi = g.add_input("x", TensorType.of(x))
    yi = g.add_input("y", TensorType.of(y))
    t1 = g.add_node("transpose", [xi], {"perm": TO_NHWC}).output
    t2 = g.add_node("transpose", [g.add_node("relu", [xi]).output], {"perm": TO_NHWC}).output
    a = g.add_node("mul", [t1, t2]).output
    b = g.add_node("add", [a, yi]).output  # y is NHWC and not constant: must not be pushed
    g.outputs = [b]
    ref = x.transpose(TO_NHWC) * np.maximum(x, 0).transpose(TO_NHWC) + y
    _run_pass(g)
    assert _count(g, "transpose") == 1
    got = next(iter(run_graph(g, {"x": x, "y": y}).values()))
    np.testing.assert_allclose(got, ref, rtol=1e-6)


def test_transpose_of_size1_reshape_becomes_reshape():
    x = np.arange(6, dtype=np.float32).reshape(1, 6)
    g = Graph()
    xi = g.add_input("x", TensorType.of(x))
    r = g.add_node("reshape", [xi, g.add_const(np.array([1, 1, 1, 6], np.int64))]).output
    t = g.add_node("transpose", [r], {"perm": TO_NCHW}).output
    g.outputs = [g.add_node("relu", [t]).output]
    _run_pass(g)
    assert _count(g, "transpose") == 0 and _count(g, "reshape") == 1
    got = next(iter(run_graph(g, {"x": x}).values()))
    np.testing.assert_array_equal(got, x.reshape(1, 6, 1, 1))


def test_transpose_of_size1_reshape_under_a_dynamic_batch_becomes_reshape():
    # x[N, 6] -> [N, 1, 1, 6] -> transpose to [N, 6, 1, 1]: one open dim, read as -1
    g = Graph()
    xi = g.add_input("x", TensorType("f32", ("N", 6)))
    r = g.add_node("reshape", [xi, g.add_const(np.array([-1, 1, 1, 6], np.int64))]).output
    t = g.add_node("transpose", [r], {"perm": TO_NCHW}).output
    g.outputs = [g.add_node("relu", [t]).output]
    assert r.type.shape == ("N", 1, 1, 6) and t.type.shape == ("N", 6, 1, 1)
    _run_pass(g)
    assert _count(g, "transpose") == 0 and _count(g, "reshape") == 1
    for n in (1, 3):  # any batch the graph is fed
        x = np.arange(6 * n, dtype=np.float32).reshape(n, 6)
        got = next(iter(run_graph(g, {"x": x}).values()))
        np.testing.assert_array_equal(got, np.maximum(x.reshape(n, 6, 1, 1), 0))


def test_two_open_dims_keep_the_transpose():
    g = Graph()
    xi = g.add_input("x", TensorType("f32", ("N", "M")))
    r = g.add_node("reshape", [xi, g.add_const(np.array([0, 1, 1, -1], np.int64))]).output
    t = g.add_node("transpose", [r], {"perm": TO_NCHW}).output
    g.outputs = [t]
    _run_pass(g)
    assert _count(g, "transpose") == 1
