"""Pruning masks on hand-built weights; every expected mask is worked out by hand in the
comment above it (scores are |w|, lowest pruned first)."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.ir import Graph, TensorType
from passes.sparsity.masks import parse_pattern
from passes.sparsity.prune import PruneError, prune_graph


def _conv(w: np.ndarray, group: int = 1, name: str = "conv1") -> Graph:
    g = Graph("c")
    x = g.add_input("x", TensorType("f32", (1, w.shape[1] * group, 4, 4)))
    g.outputs = [g.add_node("conv", [x, g.add_const(w.astype(np.float32), "w")],
                            {"group": group}, source=[name]).output]
    return g


def _weight(g: Graph) -> np.ndarray:
    return np.asarray(g.nodes[-1].input(1).const_value)


def _matmul(w: np.ndarray, op: str = "matmul", **attrs) -> Graph:
    g = Graph("m")
    k = w.shape[1] if attrs.get("transB") else w.shape[0]
    x = g.add_input("x", TensorType("f32", (2, k)))
    g.outputs = [g.add_node(op, [x, g.add_const(w.astype(np.float32), "w")], attrs,
                            source=["fc"]).output]
    return g


ROWS = np.array([[0.1, -0.5, 0.3, -0.2], [0.9, -0.05, 0.4, 0.7]])


def test_unstructured_zeroes_the_smallest_magnitudes():
    # 8 weights, 50%: the 4 smallest |w| are 0.05, 0.1, 0.2, 0.3
    g = _conv(ROWS.reshape(2, 4, 1, 1))
    t = prune_graph(g, sparsity=0.5, min_size=0)
    expect = [[0, -0.5, 0, 0], [0.9, 0, 0.4, 0.7]]
    np.testing.assert_array_equal(_weight(g).reshape(2, 4), np.float32(expect))
    assert t.rows[0].sparsity == 0.5


def test_2_4_along_conv_input_channels():
    # per output channel, keep the 2 largest of the 4 input channels:
    # [0.1, -0.5, 0.3, -0.2] -> -0.5, 0.3; [0.9, -0.05, 0.4, 0.7] -> 0.9, 0.7
    g = _conv(ROWS.reshape(2, 4, 1, 1))
    prune_graph(g, pattern="2:4", min_size=0)
    expect = [[0, -0.5, 0.3, 0], [0.9, 0, 0, 0.7]]
    np.testing.assert_array_equal(_weight(g).reshape(2, 4), np.float32(expect))


@pytest.mark.parametrize("op,attrs,w", [
    ("matmul", {}, ROWS.T),                 # [K=4, N=2]: groups along axis 0
    ("gemm", {"transB": 1}, ROWS),          # [N=2, K=4]: groups along axis 1
    ("gemm", {}, ROWS.T),                   # [K, N]
])
def test_2_4_along_k(op, attrs, w):
    g = _matmul(w, op, **attrs)
    prune_graph(g, pattern="2:4", min_size=0)
    got = _weight(g)
    expect = np.float32([[0, -0.5, 0.3, 0], [0.9, 0, 0, 0.7]])
    np.testing.assert_array_equal(got, expect if attrs.get("transB") else expect.T)


def test_1x4_blocks_along_the_reduction():
    # blocks of 4 input channels per output channel; L2 norms:
    # row 0: [1,1,1,1] -> 2, [0.1]*4 -> 0.2; row 1: [0.2]*4 -> 0.4, [3,0,0,0] -> 3.
    # 50% of 4 blocks: drop the 0.2 and 0.4 blocks.
    w = np.array([[1, 1, 1, 1, .1, .1, .1, .1], [.2, .2, .2, .2, 3, 0, 0, 0]])
    g = _conv(w.reshape(2, 8, 1, 1))
    prune_graph(g, pattern="1x4", sparsity=0.5, min_size=0)
    expect = [[1, 1, 1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 3, 0, 0, 0]]
    np.testing.assert_array_equal(_weight(g).reshape(2, 8), np.float32(expect))


def test_4x1_blocks_across_output_channels():
    # columns (one input channel, 4 output channels): [1,1,1,1] -> 2, [.1,.2,.1,.2] -> 0.316,
    # [0.5,0,0,0] -> 0.5, [0,0,2,0] -> 2; 50% of 4 blocks: drop columns 1 and 2
    w = np.array([[1, .1, .5, 0], [1, .2, 0, 0], [1, .1, 0, 2], [1, .2, 0, 0]])
    g = _conv(w.reshape(4, 4, 1, 1))
    prune_graph(g, pattern="4x1", sparsity=0.5, min_size=0)
    expect = [[1, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 2], [1, 0, 0, 0]]
    np.testing.assert_array_equal(_weight(g).reshape(4, 4), np.float32(expect))


def _two_layers() -> Graph:
    # A = [4, 5, 6, 1] (rms 4.416), B = [0.1, 0.2, 0.3, 0.4] (rms 0.2739)
    g = Graph("two")
    x = g.add_input("x", TensorType("f32", (2, 4)))
    a = g.add_node("matmul", [x, g.add_const(np.float32([[4], [5], [6], [1]]), "wa")],
                   source=["a"]).output
    y = g.add_input("y", TensorType("f32", (2, 4)))
    b = g.add_node("matmul", [y, g.add_const(np.float32([[.1], [.2], [.3], [.4]]), "wb")],
                   source=["b"]).output
    g.outputs = [a, b]
    return g


def _wab(g: Graph) -> tuple[list[float], list[float]]:
    a, b = (np.asarray(n.input(1).const_value).ravel().tolist()
            for n in g.nodes if n.op == "matmul")
    return a, b


def test_layer_vs_global_scope():
    # layer, 37.5% of 4 = round(1.5) = 2 per layer: A loses 1 and 4, B loses 0.1 and 0.2
    g = _two_layers()
    prune_graph(g, sparsity=0.375, min_size=0)
    a, b = _wab(g)
    assert a == [0, 5, 6, 0] and b == pytest.approx([0, 0, .3, .4])
    # global, 37.5% of 8 = 3, on |w| / rms: A [0.906, 1.132, 1.359, 0.226],
    # B [0.365, 0.730, 1.095, 1.461]: drop A's 1, B's 0.1 and 0.2
    g = _two_layers()
    t = prune_graph(g, sparsity=0.375, scope="global", min_size=0)
    a, b = _wab(g)
    assert a == [4, 5, 6, 0] and b == pytest.approx([0, 0, .3, .4])
    assert [r.sparsity for r in t.rows] == [0.25, 0.5]


def test_exclusions_and_min_size():
    g = _two_layers()
    t = prune_graph(g, sparsity=0.5, min_size=0, exclude=["a"])
    a, b = _wab(g)
    assert a == [4, 5, 6, 1] and b == pytest.approx([0, 0, .3, .4])
    assert t.row("a").skipped == "excluded (a)" and not t.row("b").skipped
    g = _two_layers()
    t = prune_graph(g, sparsity=0.5, exclude=["*"])
    assert all(r.skipped for r in t.rows) and _wab(g)[0] == [4, 5, 6, 1]
    g = _two_layers()
    t = prune_graph(g, sparsity=0.5, min_size=5)
    assert t.row("b").skipped == "4 weights < min_size 5"


def test_grouped_conv_nm_needs_a_multiple_of_m_per_group():
    w = np.arange(1, 1 + 8 * 2).reshape(8, 2, 1, 1).astype(np.float32)
    g = _conv(w, group=4)  # 2 input channels per group: no 2:4 groups
    t = prune_graph(g, pattern="2:4", min_size=0)
    assert "no multiple of 4" in t.rows[0].skipped
    np.testing.assert_array_equal(_weight(g), w)
    # unstructured is fine: the 8 smallest of 1..16 go
    t = prune_graph(g, sparsity=0.5, min_size=0)
    assert not t.rows[0].skipped
    np.testing.assert_array_equal(_weight(g).ravel(), np.r_[np.zeros(8), np.arange(9, 17)])


@pytest.mark.parametrize("opts,fragment", [
    ({"sparsity": 1.0}, "below 1"),
    ({"pattern": "4:2"}, "N:M with N < M"),
    ({"scope": "net"}, "layer or global"),
    ({"scope": "global", "pattern": "2:4"}, "use scope=layer"),
    ({"method": "obs"}, "magnitude"),
])
def test_bad_options(opts, fragment):
    with pytest.raises(PruneError, match=fragment):
        prune_graph(_two_layers(), **opts)


def test_parse_pattern():
    assert parse_pattern("2:4").n == 2 and parse_pattern("2:4").m == 4
    assert parse_pattern("1X4").block == (1, 4) and parse_pattern("4x1").block == (4, 1)
    assert parse_pattern("2x2") is None and parse_pattern("0:4") is None


def test_2_4_conv_transpose_along_input_channels():
    # W is [C_in=4, C_out=2, 1, 1]: the reduction is axis 0, one output channel at a time
    g = Graph("ct")
    x = g.add_input("x", TensorType("f32", (1, 4, 3, 3)))
    g.outputs = [g.add_node("conv_transpose",
                            [x, g.add_const(np.float32(ROWS.T.reshape(4, 2, 1, 1)), "w")],
                            {"group": 1}, source=["up"]).output]
    prune_graph(g, pattern="2:4", min_size=0)
    expect = np.float32([[0, -0.5, 0.3, 0], [0.9, 0, 0, 0.7]]).T
    np.testing.assert_array_equal(_weight(g).reshape(4, 2), expect)
    # the replaced constant is gone, the new one feeds the node
    assert [n.op for n in g.nodes] == ["const", "conv_transpose"]
