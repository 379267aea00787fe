"""compiler.ir.walk (graphs and nodes at any depth) and Graph.copy as a deep copy."""

from __future__ import annotations

import numpy as np

from compiler.ir import Graph, TensorType, parse_graph, print_graph, verify
from compiler.ir.walk import count_nodes, subgraphs, walk_graphs, walk_nodes

# An `if` whose then-branch holds another `if`: three levels of graphs.
NESTED = """
graph @main(%c: bool[], %x: f32[2]) -> (f32[2], f32[2]) {
  %y: f32[2] = if(%c, %c, %x) {then_branch=graph @then(%tc: bool[], %a: f32[2]) -> (f32[2]) {
    %r: f32[2] = relu(%a)  // t.relu
    %z: f32[2] = if(%tc, %r) {then_branch=graph @inner_then(%p: f32[2]) -> (f32[2]) {
      %s: f32[2] = sigmoid(%p)  // it.sigmoid
      return %s
    }, else_branch=graph @inner_else(%q: f32[2]) -> (f32[2]) {
      return %q
    }}  // t.if
    return %z
  }, else_branch=graph @else(%ec: bool[], %b: f32[2]) -> (f32[2]) {
    %n: f32[2] = neg(%b)  // e.neg
    return %n
  }}  // branch
  %w: f32[2] = abs(%x)  // after
  return %y, %w
}
"""


def test_walk_graphs_is_preorder_over_every_depth():
    g = parse_graph(NESTED)
    verify(g)
    assert [s.name for s in walk_graphs(g)] == ["main", "then", "inner_then", "inner_else", "else"]


def test_walk_nodes_gives_each_node_with_its_graph_in_preorder():
    g = parse_graph(NESTED)
    got = [(n.op, owner.name) for n, owner in walk_nodes(g)]
    assert got == [
        ("if", "main"),
        ("relu", "then"),
        ("if", "then"),
        ("sigmoid", "inner_then"),
        ("neg", "else"),
        ("abs", "main"),
    ]
    for n, owner in walk_nodes(g):
        assert n.graph is owner
    assert count_nodes(g) == 6


def test_subgraphs_reads_graph_lists_too():
    g = parse_graph(NESTED)
    if_node = g.nodes[0]
    then_g, else_g = if_node.attrs["then_branch"], if_node.attrs["else_branch"]
    assert subgraphs(if_node) == [then_g, else_g]
    if_node.attrs["extra"] = [then_g, 3]  # a graph inside a list attribute, visited once
    assert [s.name for s in walk_graphs(g)].count("then") == 1
    assert subgraphs(g.nodes[1]) == []


def test_walk_graphs_tolerates_rewriting_the_graph_being_walked():
    g = parse_graph(NESTED)
    seen = []
    for sub in walk_graphs(g):
        seen.append(sub.name)
        if sub.name == "main":  # drop the unused-by-nothing `abs` output's node first
            g.outputs = [g.outputs[0]]
            g.erase_node(g.nodes[-1])
    assert seen == ["main", "then", "inner_then", "inner_else", "else"]


# -- Graph.copy ------------------------------------------------------------------------------


def test_copy_is_deep_through_subgraphs():
    g = parse_graph(NESTED)
    before = print_graph(g)
    c = g.copy()
    verify(c)
    assert print_graph(c) == before
    orig_then = g.nodes[0].attrs["then_branch"]
    copy_then = c.nodes[0].attrs["then_branch"]
    assert copy_then is not orig_then
    assert c.nodes[0].attrs["then_branch"].nodes[1].attrs["then_branch"] is not \
        orig_then.nodes[1].attrs["then_branch"]
    # Mutating the copy's subgraph (at depth 2) leaves the original untouched.
    inner = copy_then.nodes[1].attrs["then_branch"]
    inner.nodes[0].op = "tanh"
    relu = copy_then.nodes[0]
    copy_then.nodes[1].set_input(1, copy_then.inputs[1])
    copy_then.erase_node(relu)
    assert print_graph(g) == before
    assert print_graph(c) != before
    verify(g)
    verify(c)


def test_copy_maps_values_captured_from_an_outer_scope():
    # The IR's own subgraphs are closed; a graph built by hand may still let a subgraph
    # node read an enclosing graph's value. The copy must read the outer *copy*.
    outer = Graph("outer")
    x = outer.add_input("x", TensorType("f32", (2,)))
    body = Graph("body")
    a = body.add_input("a", TensorType("f32", (2,)))
    body_add = body.add_node("add", [a, x], out_types=[TensorType("f32", (2,))], names=["s"])
    body.outputs = [body_add.output]
    holder = outer.add_node("identity", [x], {"body": body}, out_types=[x.type], names=["y"])
    outer.outputs = [holder.output]

    c = outer.copy()
    cx = c.inputs[0]
    cbody = c.nodes[0].attrs["body"]
    assert cbody is not body
    assert cbody.nodes[0].inputs[1] is cx
    assert len(x.uses()) == 2  # the original's use list gained nothing
    assert sorted(n.op for n, _ in cx.uses()) == ["add", "identity"]


def test_copy_shares_constant_arrays():
    g = Graph("g")
    w = g.add_const(np.arange(12, dtype=np.float32), "w")
    g.outputs = [w]
    c = g.copy()
    assert c.nodes[0].attrs["value"] is g.nodes[0].attrs["value"]
    assert c.nodes[0] is not g.nodes[0]
