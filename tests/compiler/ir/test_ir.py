"""The IR core: types, use lists, ordering, the text format and the verifier."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from compiler.ir import (
    DType,
    Graph,
    IRError,
    IRParseError,
    QuantParams,
    TensorType,
    VerificationError,
    parse_graph,
    print_graph,
    verify,
)


def small_graph() -> Graph:
    g = Graph("small")
    x = g.add_input("x", TensorType("f32", ("N", 4)))
    w = g.add_const(np.arange(8, dtype=np.float32).reshape(2, 4), "fc.weight", source=["fc"])
    a = g.add_node("identity", [x], names=["a"], source=["layer1"])
    b = g.add_node("dropout", [a.output], names=["b"], source=["drop"])
    g.outputs = [b.output, w]
    return g


def test_types_print_and_compare():
    t = TensorType(DType.I8, (1, "N", 3), QuantParams.per_tensor(0.5, -3))
    assert str(t) == "i8[1,N,3] q(0.5,-3)"
    assert TensorType("f32", (-1, 2)).shape == ("?", 2)
    assert hash(t) == hash(TensorType("i8", (1, "N", 3), QuantParams((0.5,), (-3,))))
    assert str(TensorType("f32", None)) == "f32[*]"
    pa = QuantParams.per_axis([0.1, 0.2], [0, 0], axis=0)
    assert str(TensorType("i8", (2, 3), pa)) == "i8[2,3] q(axis=0:[0.1,0.2],[0,0])"
    with pytest.raises(ValueError):
        QuantParams((0.1, 0.2), (0, 0), None)


def test_use_lists_follow_edits():
    g = small_graph()
    x, a, b = g.inputs[0], g.value("a"), g.value("b")
    assert [n.op for n, _ in x.uses()] == ["identity"]
    drop = b.producer
    drop.set_input(0, x)  # bypass the identity
    assert a.uses() == [] and len(x.uses()) == 2
    g.erase_node(a.producer)
    verify(g)


def test_uses_snapshot_allows_rewrite_while_iterating():
    g = Graph("g")
    x = g.add_input("x", TensorType("f32", (2,)))
    y = g.add_input("y", TensorType("f32", (2,)))
    n1 = g.add_node("identity", [x])
    n2 = g.add_node("identity", [x])
    for node, i in x.uses():
        node.set_input(i, y)
    assert x.uses() == [] and {id(n) for n, _ in y.uses()} == {id(n1), id(n2)}


def test_erase_used_node_raises():
    g = small_graph()
    with pytest.raises(IRError, match="still used"):
        g.erase_node(g.value("a").producer)


def test_replace_all_uses_updates_graph_outputs():
    g = small_graph()
    b = g.value("b")
    b.replace_all_uses_with(g.value("a"))
    assert g.outputs[0] is g.value("a")
    g.erase_node(b.producer)
    verify(g)


def test_stable_sort_keeps_valid_order_and_fixes_invalid():
    g = small_graph()
    before = [n.op for n in g.nodes]
    g.sort()
    assert [n.op for n in g.nodes] == before
    g.nodes.reverse()  # now uses precede definitions
    with pytest.raises(VerificationError, match="used before it is defined"):
        verify(g)
    g.sort()
    verify(g)
    # among ready nodes the one earliest in the current order goes first
    assert [n.op for n in g.nodes] == ["identity", "dropout", "const"]


def test_to_networkx_is_a_view():
    g = small_graph()
    nx_g = g.to_networkx()
    assert nx_g.number_of_nodes() == len(g.nodes)
    assert nx_g.number_of_edges() == 1


def test_text_round_trip_exact_with_all_attribute_kinds():
    g = Graph("kinds")
    x = g.add_input("input.1", TensorType("f32", ("batch size", 3)))
    g.add_const(np.float32(1.0) / np.float32(3.0), "third")
    g.add_const(np.arange(100, dtype=np.int64), "big")
    g.add_const(np.array(["a", "b"], dtype=object), "strs")
    g.add_const(sp.random(6, 5, density=0.4, format="csc", dtype=np.float32, random_state=0), "sp_csc")
    g.add_const(sp.random(6, 5, density=0.4, format="coo", dtype=np.float32, random_state=1), "sp_coo")
    n = g.add_node("identity", [x], names=["onnx::Identity_7"], source=['layer "quoted"', "b/c"])
    n.annotations.update({"partition": 2, "stream": "s0"})
    q = QuantParams.per_axis([0.1, 1e-7, 3.0], [0, -1, 2], axis=1)
    g.add_node("identity", [n.output], out_types=[TensorType("f32", ("batch size", 3), q)], names=["q"])
    g.outputs = [n.output, g.value("q")]
    text = print_graph(g, with_data=True)
    g2 = parse_graph(text)
    assert print_graph(g2, with_data=True) == text
    for a, b in zip(g.constants(), g2.constants()):
        va, vb = a.attrs["value"], b.attrs["value"]
        if sp.issparse(va):
            assert va.format == vb.format
            np.testing.assert_array_equal(va.toarray(), vb.toarray())
        else:
            assert va.dtype == vb.dtype and va.shape == vb.shape
            assert np.array_equal(va, vb)
    assert g2.value("onnx::Identity_7").producer.source == ('layer "quoted"', "b/c")
    assert g2.value("q").type.quant == q


def test_float_constants_round_trip_bit_exact():
    rng = np.random.default_rng(0)
    for dt in (np.float16, np.float32, np.float64):
        g = Graph("f")
        vals = rng.standard_normal(5).astype(dt)  # inline (<= 8 elements)
        g.add_const(vals, "small")
        g.add_const(rng.standard_normal(50).astype(dt), "large")
        g.outputs = [g.value("small"), g.value("large")]
        g2 = parse_graph(print_graph(g, with_data=True))
        for a, b in zip(g.constants(), g2.constants()):
            assert a.attrs["value"].tobytes() == b.attrs["value"].tobytes()


def test_text_without_data_is_readable_but_refuses_to_parse():
    g = small_graph()
    g.add_const(np.zeros((10, 10), np.float32), "zeros")
    text = print_graph(g)
    assert "dense_resource<zeros>" in text and "resources {" not in text
    assert "0x" not in text  # no addresses
    with pytest.raises(IRParseError, match="resource 'zeros'"):
        parse_graph(text)


def test_nested_graph_attribute_round_trip():
    inner = Graph("then")
    c = inner.add_input("c", TensorType("f32", (2,)))
    inner.outputs = [inner.add_node("identity", [c]).output]
    g = Graph("outer")
    x = g.add_input("x", TensorType("f32", (2,)))
    n = g.add_node("identity", [x], names=["y"])
    n.attrs["note"] = "kept"  # not in the schema: the verifier must flag it
    n2 = g.add_node("dropout", [n.output], out_types=[x.type], names=["z"])
    n2.attrs["sub"] = inner
    g.outputs = [n2.output]
    text = print_graph(g, with_data=True)
    assert print_graph(parse_graph(text), with_data=True) == text
    with pytest.raises(VerificationError) as e:
        verify(g)
    assert "unknown attribute" in str(e.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ("graph @g(%x: f32[2]) -> (f32[2]) {\n  return %y\n}", "%y is used before it is defined"),
        ("graph @g(%x: f33[2]) -> (f32[2]) {\n  return %x\n}", "unknown element type 'f33'"),
        ("graph @g(%x: f32[2]) -> (f32[2]) {\n  %y: f32[2] = identity(%x\n  return %y\n}", "expected ')'"),
        ("graph @g(%x: f32[2]) -> (f32[3]) {\n  return %x\n}", "signature says f32[3]"),
        (
            "graph @g(%x: f32[2]) -> (f32[2]) {\n  %x: f32[2] = identity(%x)\n  return %x\n}",
            "defined twice",
        ),
    ],
)
def test_parse_errors_name_line_and_column(text, message):
    with pytest.raises(IRParseError) as e:
        parse_graph(text)
    assert message in str(e.value)
    assert "line " in str(e.value) and "column " in str(e.value)


def test_verifier_names_node_and_shows_context():
    text = """graph @g(%x: f32[2,3]) -> (f32[2,3]) {
  %a: f32[2,3] = identity(%x)  // layer_a
  %b: f32[2,3] = identity(%a)  // layer_b
  %c: f32[9,9] = identity(%b)  // layer_c
  %d: f32[2,3] = identity(%c)  // layer_d
  return %d
}"""
    g = parse_graph(text)
    with pytest.raises(VerificationError) as e:
        verify(g)
    msg = str(e.value)
    assert "layer_c" in msg and "declared f32[9,9], inferred f32[2,3]" in msg
    assert ">>    4 |   %c: f32[9,9] = identity(%b)" in msg
    assert "   3 |   %b" in msg and "   5 |   %d" in msg  # surrounding lines shown


def test_verifier_collects_all_problems_unknown_op_and_arity():
    text = """graph @g(%x: f32[2]) -> (f32[2]) {
  %a: f32[2] = frobnicate(%x)  // weird
  %b: f32[2] = identity(%a, %x)  // two_inputs
  return %b
}"""
    with pytest.raises(VerificationError) as e:
        verify(parse_graph(text))
    assert len(e.value.problems) == 2
    assert "unknown op 'frobnicate'" in str(e.value)
    assert "takes 1 inputs" in str(e.value)


def test_verifier_detects_corrupted_use_lists():
    g = small_graph()
    x = g.inputs[0]
    x._uses.clear()  # simulate a pass that edited internals behind the IR's back
    with pytest.raises(VerificationError, match="missing this use"):
        verify(g)


def test_copy_is_deep_and_equal():
    g = small_graph()
    c = g.copy()
    assert print_graph(c, with_data=True) == print_graph(g, with_data=True)
    c.nodes[1].source = ("changed",)
    assert g.nodes[1].source == ("layer1",)


def test_import_compiler_is_light():
    import subprocess
    import sys

    code = "import sys, compiler; bad=[m for m in ('torch','tensorflow','onnx','onnxruntime','scipy') if m in sys.modules]; print(bad)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_names_fresh_rename_and_repeated_hints():
    g = Graph("g")
    x = g.add_input("x", TensorType(DType.F32, (2,)))
    assert g.fresh_name("x") != "x" and not g.has_name(g.fresh_name("y"))
    # add_node dedupes repeated requested names one at a time
    a, b = g.add_node("split", [x], {"num_outputs": 2}, names=["s", "s"], num_outputs=2).outputs
    assert a.name == "s" and b.name not in ("s", "x")
    g.rename(a, "first")
    assert a.name == "first" and g.has_name("first") and not g.has_name("s")
    with pytest.raises(IRError, match="taken"):
        g.rename(b, "x")
    g.add_node("relu", [b], names=["s"])  # the freed name can be used again
