"""The short constant line of the IR text, and that both constant forms round-trip."""

from __future__ import annotations

import numpy as np

from compiler.ir import Graph, TensorType, parse_graph, print_graph


def _graph() -> Graph:
    g = Graph("g")
    x = g.add_input("x", TensorType("f32", (16,)))
    w = g.add_const(np.arange(16, dtype=np.float32), "conv1.weight", source=["conv1.weight"])
    b = g.add_const(np.ones(16, np.float32), "b.fused", source=["bn", "conv1"])
    six = g.add_const(np.float32(6.0), "six")
    s = g.add_const(np.array([1.5, 2.5], np.float32), "s", source=["k"])
    a = g.add_node("add", [x, w], names=["a"])
    m = g.add_node("mul", [a.output, b], names=["m"])
    c = g.add_node("min", [m.output, six], names=["c"])
    g.outputs = [c.output, s]
    return g


def test_constant_lines_write_the_name_once():
    lines = print_graph(_graph()).splitlines()
    assert "  %conv1.weight: f32[16] = const dense_resource" in lines
    assert "  %b.fused: f32[16] = const dense_resource  // bn, conv1" in lines
    assert "  %s: f32[2] = const dense<f32[2] [1.5, 2.5]>  // k" in lines
    # no provenance: the general form (a missing comment would mean "its own name")
    assert "  %six: f32[] = const() {value=dense<f32[] [6.0]>}" in lines


def test_print_parse_round_trips_exactly():
    g = _graph()
    text = print_graph(g, with_data=True)
    again = parse_graph(text)
    assert print_graph(again, with_data=True) == text
    by_name = {n.outputs[0].name: n for n in again.nodes}
    assert by_name["conv1.weight"].source == ("conv1.weight",)
    assert by_name["b.fused"].source == ("bn", "conv1")
    assert by_name["six"].source == ()
    np.testing.assert_array_equal(by_name["conv1.weight"].attrs["value"], np.arange(16, dtype=np.float32))


def test_the_old_constant_form_still_parses_to_the_same_graph():
    old = """
graph @g(%x: f32[16]) -> (f32[16]) {
  %conv1.weight: f32[16] = const() {value=dense_resource<conv1.weight>}  // conv1.weight
  %k: f32[2] = const() {value=dense<f32[2] [1.0, 2.0]>}  // kk
  %a: f32[16] = add(%x, %conv1.weight)
  return %a
}
resources {
  conv1.weight: f32[16] "%s"
}
"""
    import base64

    data = base64.b64encode(np.arange(16, dtype=np.float32).tobytes()).decode()
    g = parse_graph(old.replace("%s", data))
    text = print_graph(g, with_data=True)
    assert "%conv1.weight: f32[16] = const dense_resource\n" in text
    assert "%k: f32[2] = const dense<f32[2] [1.0, 2.0]>  // kk\n" in text
    assert print_graph(parse_graph(text), with_data=True) == text


def test_a_resource_key_other_than_the_name_is_written():
    # A subgraph constant named like an outer one: one resource section, so its key is "w.1".
    g = Graph("g")
    sub = Graph("sub")
    sub.outputs = [sub.add_const(np.zeros(9, np.float32), "w", source=["inner"])]
    w = g.add_const(np.ones(9, np.float32), "w", source=["outer"])
    c = g.add_node("identity", [w], {"body": sub}, out_types=[w.type], names=["i"])
    g.outputs = [c.output]
    text = print_graph(g, with_data=True)
    assert "%w: f32[9] = const dense_resource  // outer\n" in text
    assert "%w: f32[9] = const dense_resource<w.1>  // inner\n" in text
    again = parse_graph(text)
    assert print_graph(again, with_data=True) == text
    np.testing.assert_array_equal(again.nodes[1].attrs["body"].nodes[0].attrs["value"], np.zeros(9))
