"""The TFLite lowering registry: what it lists, how it selects, and that the target's
``unsupported_reason`` says what the emitter does."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.ir.graph import Graph
from compiler.ir.types import TensorType

pytest.importorskip("ai_edge_litert")

from targets.tflite import (TfliteEmitError, emit, emit_tflite, supported_ops,  # noqa: E402
                            unsupported_reason)
from targets.tflite import registry  # noqa: E402
from targets.tflite.context import EmitContext  # noqa: E402
from tests.support.tflite_model import op_names, unpack  # noqa: E402


def test_registry_lists_lowerings_per_op():
    ops = supported_ops()
    # one op of each family module
    for op in ("conv", "max_pool", "add", "relu", "concat", "reshape", "reduce_mean",
               "gemm", "batch_norm", "cast", "where", "lstm", "pow", "quantize"):
        assert op in ops, op
    assert "erf" not in ops and "cumsum" not in ops
    conv = registry.lowerings("conv")
    assert [(e.fn.__module__, e.fn.__name__) for e in conv] == [
        ("targets.tflite.ops.conv", "lower_conv")]
    # float add, integer add and nothing else
    add = {e.fn.__name__ for e in registry.lowerings("add")}
    assert add == {"lower_binary", "lower_int_binary"}
    # the int8 div is tried before the float one
    div = registry.lowerings("div")
    assert [e.fn.__name__ for e in div] == ["lower_int8_div", "lower_binary"]


def _graph_with(op: str, out_dtype: str, attrs=None, in_dtype: str = "f32") -> tuple:
    g = Graph("g")
    a = g.add_input("a", TensorType(in_dtype, (2, 3)))
    b = g.add_input("b", TensorType(in_dtype, (2, 3)))
    y = g.add_node(op, [a, b], attrs or {}, names=["y"],
                   out_types=[TensorType(out_dtype, (2, 3))]).output
    g.outputs = [y]
    return g, y.producer


def test_capability_predicates_pick_the_lowering():
    ctx = EmitContext(Graph("probe"))
    _, f = _graph_with("add", "f32")
    _, i = _graph_with("add", "i64", in_dtype="i64")
    assert registry.select(f, ctx).fn.__name__ == "lower_binary"
    assert registry.select(i, ctx).fn.__name__ == "lower_int_binary"
    # a float div outside an int8 graph is not the int8 lowering
    _, d = _graph_with("div", "f32")
    assert registry.select(d, ctx).fn.__name__ == "lower_binary"
    # a bool concat has no lowering (int32/int64 concat reuses the float one)
    _, cb = _graph_with("concat", "bool", {"axis": 0}, in_dtype="bool")
    _, ci = _graph_with("concat", "i32", {"axis": 0}, in_dtype="i32")
    assert registry.select(cb, ctx) is None
    assert registry.select(ci, ctx).fn.__name__ == "lower_typed_move"


def test_priority_and_predicate_order(monkeypatch):
    calls = []
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    def low(ctx, node, attrs):
        calls.append("low")

    def high(ctx, node, attrs):
        calls.append("high")

    registry.register("probe_op", low, when=registry.any_result)
    registry.register("probe_op", high, when=lambda n, c: n.attrs.get("fast", 0) == 1,
                      priority=5)
    g = Graph("g")
    x = g.add_input("x", TensorType("f32", (2,)))
    fast = g.add_node("probe_op", [x], {"fast": 1}, out_types=[TensorType("f32", (2,))])
    slow = g.add_node("probe_op", [x], {"fast": 0}, out_types=[TensorType("f32", (2,))])
    ctx = EmitContext(Graph("probe"))
    assert registry.select(fast, ctx).fn is high
    assert registry.select(slow, ctx).fn is low


def test_unregistered_ops_are_listed_at_once():
    g = Graph("bad")
    x = g.add_input("x", TensorType("f32", (1, 4)))
    a = g.add_node("erf", [x], names=["a"]).output
    r = g.add_node("relu", [a], names=["r"]).output
    b = g.add_node("cumsum", [r, g.add_const(np.int64(1), "ax")], names=["b"]).output
    g.outputs = [b]
    with pytest.raises(TfliteEmitError) as e:
        emit_tflite(g)
    probs = e.value.problems
    assert [(op, why) for op, _, why in probs] == [
        ("erf", "no TFLite lowering for this op"), ("cumsum", "no TFLite lowering for this op")]
    assert probs[0][1] == "a" and probs[1][1] == "b"  # the source layers


def _mixed_graph() -> Graph:
    rng = np.random.default_rng(0)
    g = Graph("mixed")
    x = g.add_input("x", TensorType("f32", (1, 3, 8, 8)))
    w = g.add_const(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    c = g.add_node("conv", [x, w, None], {"pads": [1, 1, 1, 1]}, names=["c"]).output
    # pads neither zero nor SAME nor centred: max_pool refuses them
    p = g.add_node("max_pool", [c], {"kernel_shape": [2, 2], "pads": [1, 1, 0, 0]},
                   names=["p"]).output
    e = g.add_node("erf", [p], names=["e"]).output
    s = g.add_node("softmax", [e], {"axis": 1}, names=["s"]).output
    fl = g.add_node("flatten", [s], {"axis": 1}, names=["fl"]).output
    wf = g.add_const(rng.standard_normal((10, fl.type.shape[1])).astype(np.float32), "wf")
    y = g.add_node("gemm", [fl, wf, None], {"alpha": 2.0, "transB": 1}, names=["y"]).output
    g.outputs = [y]
    return g


def test_unsupported_reason_agrees_with_emit():
    g = _mixed_graph()
    with pytest.raises(TfliteEmitError) as e:
        emit_tflite(g)
    refused = {layer: why for _, layer, why in e.value.problems}
    assert set(refused) == {"p", "e", "y"}
    for node in g.nodes:
        if node.op == "const":
            continue
        assert unsupported_reason(node) == refused.get(node.label), node.label


def test_tensor_map_gives_order_and_index():
    rng = np.random.default_rng(1)
    g = Graph("small")
    x = g.add_input("x", TensorType("f32", (1, 3, 8, 8)))
    w = g.add_const(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    c = g.add_node("conv", [x, w, None], {"pads": [1, 1, 1, 1]}, names=["c"]).output
    r = g.add_node("relu", [c], names=["r"]).output
    fl = g.add_node("flatten", [r], {"axis": 1}, names=["fl"]).output
    g.outputs = [fl]
    out = emit(g)
    model = unpack(out.data)
    tensors = model.subgraphs[0].tensors
    # the NCHW input is transposed once for the conv; relu works in NHWC
    assert op_names(model)[:3] == ["TRANSPOSE", "CONV_2D", "RELU"]
    m = out.tensors
    assert m["x"].perm == (0, 1, 2, 3)
    assert m["c"].perm == (0, 2, 3, 1) and m["r"].perm == (0, 2, 3, 1)  # stored NHWC
    for name in ("x", "c", "r"):
        t = tensors[m[name].index]
        name_in_file = t.name.decode() if isinstance(t.name, bytes) else t.name
        assert name_in_file == m[name].name
        assert list(t.shape) == [[1, 3, 8, 8], [1, 8, 8, 4], [1, 8, 8, 4]][
            ("x", "c", "r").index(name)]
        assert m[name].scale == () and not m[name].quantized


def test_tensor_map_of_an_int8_graph_carries_parameters():
    from compiler.ir.types import DType

    g = Graph("q")
    x = g.add_input("x", TensorType(DType.F32, (1, 4)))
    s = g.add_const(np.float32(0.25), "s")
    z = g.add_const(np.int8(3), "z")
    q = g.add_node("quantize", [x, s, z], names=["x.q"]).output
    d = g.add_node("dequantize", [q, s, z], names=["x.dq"]).output
    r = g.add_node("relu", [d], names=["r"]).output
    q2 = g.add_node("quantize", [r, s, z], names=["r.q"]).output
    g.outputs = [g.add_node("dequantize", [q2, s, z], names=["r.dq"]).output]
    m = emit(g).tensors
    assert m["x"].scale == ()  # io_dtype="float": a float input, then QUANTIZE
    assert m["r"].scale == (0.25,) and m["r"].zero_point == (3,)  # the relu runs in int8
    # a dequantize emits nothing: its value is the int8 tensor it reads
    assert m["x.dq"].index == m["x.q"].index
