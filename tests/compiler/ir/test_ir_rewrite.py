"""compiler.ir.rewrite: the public surgery helpers, and the rule that only the IR does surgery."""

from __future__ import annotations

import ast

import numpy as np
import pytest

from compiler.ir import Graph, IRError, TensorType, parse_graph, print_graph, verify
from compiler.ir.rewrite import (
    bypass,
    erase_dead_chain,
    erase_if_dead,
    merge_sources,
    move_after,
    move_before,
    move_output,
    reorder,
    to_const,
)
from tests.conftest import REPO as ROOT

F2 = TensorType("f32", (2,))

CHAIN = """
graph @g(%x: f32[2]) -> (f32[2]) {
  %r: f32[2] = relu(%x)  // r
  %i: f32[2] = identity(%r)  // i
  %n: f32[2] = neg(%i)  // n
  return %n
}
"""


def test_bypass_routes_readers_to_the_input_and_erases_the_node():
    g = parse_graph(CHAIN)
    i = g.nodes[1]
    assert bypass(i)
    verify(g)
    assert [n.op for n in g.nodes] == ["relu", "neg"]
    assert g.nodes[1].inputs[0] is g.value("r")


def test_bypass_of_a_graph_output_keeps_its_name():
    g = parse_graph("""
graph @g(%x: f32[2]) -> (f32[2]) {
  %r: f32[2] = relu(%x)  // r
  %n: f32[2] = neg(%r)  // n
  %i: f32[2] = identity(%r)  // i
  return %i
}
""")
    assert bypass(g.nodes[2])
    verify(g)
    # relu now defines %i (the graph output's name) and neg reads it
    assert print_graph(g) == print_graph(parse_graph("""
graph @g(%x: f32[2]) -> (f32[2]) {
  %i: f32[2] = relu(%x)  // r
  %n: f32[2] = neg(%i)  // n
  return %i
}
"""))
    assert g.has_name("r")  # the replaced name stays reserved
    assert g.fresh_name("r") != "r"


def test_bypass_refuses_when_the_input_is_a_graph_input():
    g = parse_graph("""
graph @g(%x: f32[2]) -> (f32[2]) {
  %i: f32[2] = identity(%x)
  return %i
}
""")
    before = print_graph(g)
    assert not bypass(g.nodes[0])
    assert print_graph(g) == before
    verify(g)


def test_move_output_puts_a_node_behind_a_value():
    g = parse_graph(CHAIN)
    r = g.value("r")
    relu = r.producer
    t = g.add_node("neg", [], out_types=[F2], names=["r_inner"], after=relu)
    inner = move_output(r, t)
    t.inputs = [inner]
    verify(g)
    assert r.producer is t and inner.producer is relu and inner.name == "r_inner"
    assert [n.op for n, _ in r.uses()] == ["identity"]
    assert [n.outputs[0].name for n in g.nodes] == ["r_inner", "r", "i", "n"]


def test_move_output_rejects_a_graph_input_and_another_graph():
    g = parse_graph(CHAIN)
    other = Graph("other")
    y = other.add_input("y", F2)
    o = other.add_node("relu", [y])
    with pytest.raises(IRError):
        move_output(g.inputs[0], g.nodes[0])
    with pytest.raises(IRError):
        move_output(g.value("r"), o)


def test_move_before_after_and_reorder():
    g = parse_graph("""
graph @g(%x: f32[2]) -> (f32[2], f32[2], f32[2]) {
  %a: f32[2] = relu(%x)
  %b: f32[2] = neg(%x)
  %c: f32[2] = abs(%x)
  return %a, %b, %c
}
""")
    a, b, c = g.nodes
    move_after(a, c)
    assert g.nodes == [b, c, a]
    move_before(a, b)
    assert g.nodes == [a, b, c]
    reorder(g, [c, a, b])
    assert g.nodes == [c, a, b]
    verify(g)
    with pytest.raises(IRError):
        reorder(g, [c, a])
    with pytest.raises(IRError):
        reorder(g, [c, a, a])


def test_to_const_keeps_names_readers_and_splits_outputs():
    g = parse_graph("""
graph @g(%x: f32[4]) -> (f32[2], f32[2]) {
  %k: f32[4] = const() {value=dense<f32[4] [1.0, 2.0, 3.0, 4.0]>}  // k
  %p: f32[2], %q: f32[2] = split(%k) {num_outputs=2}  // s
  %u: f32[2] = neg(%q)  // u
  return %p, %u
}
""")
    split = g.nodes[1]
    to_const(split, [np.array([1, 2], np.float32), np.array([3, 4], np.float32)],
             merge_sources(split.source, ("k",)))
    erase_if_dead(g.nodes[0])
    verify(g)
    assert print_graph(g) == print_graph(parse_graph("""
graph @g(%x: f32[4]) -> (f32[2], f32[2]) {
  %p: f32[2] = const dense<f32[2] [1.0, 2.0]>  // s, k
  %q: f32[2] = const dense<f32[2] [3.0, 4.0]>  // s, k
  %u: f32[2] = neg(%q)  // u
  return %p, %u
}
"""))


def test_erase_dead_chain_stops_at_values_still_read():
    g = parse_graph("""
graph @g(%x: f32[2]) -> (f32[2]) {
  %a: f32[2] = relu(%x)
  %b: f32[2] = neg(%a)
  %c: f32[2] = abs(%b)
  %d: f32[2] = sigmoid(%a)
  return %d
}
""")
    assert erase_dead_chain(g.nodes[2]) == 2  # abs, then neg; relu is still read by sigmoid
    assert [n.op for n in g.nodes] == ["relu", "sigmoid"]
    assert not erase_if_dead(g.nodes[0])


def test_merge_sources_is_an_ordered_union():
    assert merge_sources(("a", "b"), ("b", "c"), (), ("a", "d")) == ("a", "b", "c", "d")


# -- only compiler/ir does surgery -----------------------------------------------------------

SURGERY_ATTRS = {"producer", "graph", "nodes"}
LIST_MUTATORS = {"insert", "append", "remove", "pop", "extend", "clear", "sort", "reverse"}
# Attributes of that name on objects that are not IR (so never a value/node/graph):
NOT_IR = {
    ("compiler/compile.py", "result.graph"),  # AccuracyResult.graph, a result record
    ("targets/onnx/exporter.py", "scope.nodes"),  # the NodeProtos of an ONNX graph being built
    ("compiler/stats.py", "st.nodes"),  # ModelStats.nodes, a node count
}


def _surgery(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, expression) of each assignment to / in-place edit of a surgery attribute.

    ``self.<attr> = ...`` is a class's own field (a frontend's ``self.graph``), not surgery.
    """
    found = []

    def target_attr(t: ast.AST) -> ast.Attribute | None:
        while isinstance(t, ast.Subscript):  # x.nodes[i] = ...
            t = t.value
        if isinstance(t, ast.Attribute) and t.attr in SURGERY_ATTRS:
            return t
        return None

    for node in ast.walk(tree):
        targets: list[ast.AST] = []
        if isinstance(node, ast.Assign):
            targets = [e for t in node.targets for e in (t.elts if isinstance(t, ast.Tuple) else [t])]
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = list(node.targets)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in LIST_MUTATORS):
            targets = [node.func.value]
        for t in targets:
            a = target_attr(t)
            if a is None or (isinstance(a.value, ast.Name) and a.value.id == "self"):
                continue
            found.append((node.lineno, ast.unparse(a)))
    return found


def test_the_surgery_detector_finds_hand_surgery():
    src = "v.producer = n\nn.graph = g\ng.nodes.insert(0, n)\ng.nodes = []\ndel g.nodes[0]\nself.graph = g\n"
    assert [e for _, e in _surgery(ast.parse(src))] == [
        "v.producer", "n.graph", "g.nodes", "g.nodes", "g.nodes"]


def test_only_compiler_ir_assigns_producer_graph_or_nodes():
    offenders = []
    for top in ("compiler", "passes", "targets"):
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("compiler/ir/"):
                continue
            for line, expr in _surgery(ast.parse(path.read_text(encoding="utf-8"))):
                if (rel, expr) not in NOT_IR:
                    offenders.append(f"{rel}:{line}: {expr}")
    assert not offenders, (
        "IR surgery outside compiler/ir (use Graph methods or compiler.ir.rewrite):\n"
        + "\n".join(offenders)
    )
