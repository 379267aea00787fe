"""compiler.ir.pattern: one-line rules, shown on the TFLite emitter's peepholes in IR form."""

from __future__ import annotations

import numpy as np

from compiler.interpreter import Interpreter
from compiler.ir import parse_graph, print_graph, verify
from compiler.ir.pattern import Const, Match, Op, Rule, Var, X, apply_rules, match, same_as_root
from compiler.ir.rewrite import const_array


def _fold_zero_pad(m: Match):
    """conv(pad(x, p, 0), W, B) = conv(x, W, B) with p added to the conv's pads."""
    rank = m.X.type.rank
    p = const_array(m.pads).astype(int).tolist()
    begin, end = p[:rank], p[rank:]
    if any(begin[:2]) or any(end[:2]) or m.pad.attrs.get("mode", "constant") != "constant":
        return None  # batch/channel padding, or not zeros, is no conv padding
    conv, k = m.root, rank - 2
    old = conv.attrs.get("pads") or [0] * (2 * k)
    pads = [old[i] + begin[2 + i] for i in range(k)] + [old[k + i] + end[2 + i] for i in range(k)]
    return m.graph.add_node("conv", [m.X, *conv.inputs[1:]], {**conv.attrs, "pads": pads},
                            source=m.source, before=conv)


PEEPHOLES = [
    Rule(Op("add", X, Const(0), commutative=True), same_as_root(X), "add0"),  # x + 0 = x
    Rule(Op("mul", X, Const(1), commutative=True), same_as_root(X), "mul1"),  # x * 1 = x
    Rule(Op("conv", Op("pad", X, Const(name="pads"), Const(0), name="pad", one_use=True)),
         _fold_zero_pad, "pad_into_conv"),  # conv(pad(x, p, 0)) = conv(x) {pads += p}
]

BEFORE = """
graph @g(%x: f32[1,2,4,4], %y: f32[1,2,4,4]) -> (f32[1,2,4,4], f32[1,3,4,4], f32[1,2,4,4]) {
  %z: f32[] = const() {value=dense<f32[] [0.0]>}
  %a: f32[1,2,4,4] = add(%z, %x)  // a
  %one: f32[1,2,1,1] = const() {value=dense<f32[1,2,1,1] [1.0, 1.0]>}
  %m: f32[1,2,4,4] = mul(%a, %one)  // m
  %pp: i64[8] = const() {value=dense<i64[8] [0, 0, 1, 1, 0, 0, 1, 1]>}
  %zv: f32[] = const() {value=dense<f32[] [0.0]>}
  %p: f32[1,2,6,6] = pad(%m, %pp, %zv)  // pad
  %w: f32[3,2,3,3] = const dense_resource
  %c: f32[1,3,4,4] = conv(%p, %w, _) {kernel_shape=[3, 3]}  // conv
  %two: f32[] = const() {value=dense<f32[] [2.0]>}
  %k: f32[1,2,4,4] = mul(%y, %two)  // not_one
  return %m, %c, %k
}
resources {
  w: f32[3,2,3,3] "%s"
}
"""

AFTER = """
graph @g(%x: f32[1,2,4,4], %y: f32[1,2,4,4]) -> (f32[1,2,4,4], f32[1,3,4,4], f32[1,2,4,4]) {
  %w: f32[3,2,3,3] = const dense_resource
  %c: f32[1,3,4,4] = conv(%x, %w, _) {kernel_shape=[3, 3], pads=[1, 1, 1, 1]}  // pad, conv
  %two: f32[] = const() {value=dense<f32[] [2.0]>}
  %k: f32[1,2,4,4] = mul(%y, %two)  // not_one
  return %x, %c, %k
}
"""


def _before_text() -> str:
    import base64

    w = np.random.default_rng(0).standard_normal((3, 2, 3, 3)).astype(np.float32)
    return BEFORE.replace('"%s"', '"' + base64.b64encode(w.tobytes()).decode() + '"')


def test_peepholes_read_as_rules_and_rewrite_ir():
    # %m = (0 + x) * 1 is a graph output: the add goes, but %m cannot become the graph input
    # %x (the output keeps its name), so the mul is kept and counted as such.
    g = parse_graph(_before_text())
    verify(g)
    ref = Interpreter(parse_graph(_before_text())).run(_feeds())
    counts = apply_rules(g, PEEPHOLES)
    verify(g)
    assert counts.fired == {"add0": 1, "pad_into_conv": 1}
    assert counts.kept == {"mul1": 1}  # %m is a graph output and %x a graph input
    got = Interpreter(g).run(_feeds())
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-5, atol=1e-5)
    text = print_graph(g)
    assert "add(" not in text and "pad(" not in text
    assert "conv(%a" not in text
    assert "pads=[1, 1, 1, 1]" in text
    assert "mul(%x, %one)" in text and "mul(%y, %two)" in text


def test_peepholes_full_result_when_no_output_name_is_in_the_way():
    text = _before_text().replace("return %m, %c, %k", "return %c, %k").replace(
        "-> (f32[1,2,4,4], f32[1,3,4,4], f32[1,2,4,4])", "-> (f32[1,3,4,4], f32[1,2,4,4])")
    g = parse_graph(text)
    counts = apply_rules(g, PEEPHOLES)
    verify(g)
    assert counts.fired == {"add0": 1, "mul1": 1, "pad_into_conv": 1} and counts.kept == {}
    want = AFTER.replace("return %x, %c, %k", "return %c, %k").replace(
        "-> (f32[1,2,4,4], f32[1,3,4,4], f32[1,2,4,4])", "-> (f32[1,3,4,4], f32[1,2,4,4])")
    # the new conv takes over %c: a graph output keeps its name
    resources = _before_text()[_before_text().index("resources {"):]
    assert print_graph(g) == print_graph(parse_graph(want + resources))


def _feeds():
    rng = np.random.default_rng(1)
    return {n: rng.standard_normal((1, 2, 4, 4)).astype(np.float32) for n in ("x", "y")}


def test_broadcasting_add_of_zero_is_not_an_identity():
    # x: f32[2] + zeros f32[3,2] has shape [3,2]: not x, so the rule must not fire.
    g = parse_graph("""
graph @g(%x: f32[2]) -> (f32[3,2]) {
  %z: f32[3,2] = const() {value=dense<f32[3,2] [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]>}
  %a: f32[3,2] = add(%x, %z)
  return %a
}
""")
    before = print_graph(g)
    assert apply_rules(g, PEEPHOLES).fired == {}
    assert print_graph(g) == before


def test_const_value_and_repeated_variable():
    g = parse_graph("""
graph @g(%x: f32[2], %y: f32[2]) -> (f32[2], f32[2], f32[2]) {
  %h: f32[2] = const() {value=dense<f32[2] [0.0, 0.5]>}
  %a: f32[2] = add(%x, %h)
  %s: f32[2] = sub(%x, %x)
  %t: f32[2] = sub(%x, %y)
  return %a, %s, %t
}
""")
    add, s, t = g.nodes[1:]
    assert match(Op("add", X, Const(0)), add) is None  # not every element is 0
    m = match(Op("add", X, Const(name="c")), add)
    assert m is not None and m.X is g.inputs[0] and m.c is g.value("h") and m.root is add
    same = Op("sub", Var("A"), Var("A"))  # x - x
    assert match(same, s) is not None and match(same, t) is None


def test_one_use_and_where():
    g = parse_graph("""
graph @g(%x: f32[2]) -> (f32[2], f32[2]) {
  %r: f32[2] = relu(%x)
  %n: f32[2] = neg(%r)
  return %n, %r
}
""")
    neg = g.nodes[1]
    assert match(Op("neg", Op("relu", X)), neg) is not None
    assert match(Op("neg", Op("relu", X, one_use=True)), neg) is None  # %r is also an output
    assert match(Op("neg", X, where=lambda n: n.source == ("nowhere",)), neg) is None
