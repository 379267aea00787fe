"""Integer / bool tensors and run-time shape arithmetic in the TFLite target, and the
``resolve-shapes`` pass that settles shape arithmetic before emission.

Expected values are computed with numpy directly from the graph's definition (independent of
infercc's kernels, passes and emitter); integer results must match exactly, float results
to float32 rounding (bounds stated where used).
"""

from __future__ import annotations

import numpy as np
import pytest

import compiler
from compiler.interpreter import Interpreter as RefInterpreter
from compiler.ir.graph import Graph
from compiler.ir.types import TensorType
from compiler.pass_manager import PassManager
from targets.tflite import TfliteEmitError, emit_tflite
from tests.conftest import model_path

pytest.importorskip("ai_edge_litert")
from ai_edge_litert import schema_py_generated as schema  # noqa: E402

from tests.support.tflite_model import op_names, run_tflite, unpack  # noqa: E402


def _i64(g: Graph, values, name: str):
    return g.add_const(np.asarray(values, np.int64), name)


def _versions(data: bytes) -> dict[str, set[int]]:
    m = unpack(data)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    out: dict[str, set[int]] = {}
    for oc in m.operatorCodes:
        out.setdefault(names[oc.builtinCode], set()).add(oc.version)
    return out


def int_graph() -> Graph:
    """x: f32[N,3] (dynamic batch), k: i64[3]; shape -> gather -> int64 mul/add/sub -> cast,
    a comparison, not, where, an int32 concat; int64, bool and int32 graph outputs."""
    g = Graph("ints")
    x = g.add_input("x", TensorType("f32", ("N", 3)))
    k = g.add_input("k", TensorType("i64", (3,)))
    s = g.add_node("shape", [x]).output                                   # i64[2]
    n = g.add_node("gather", [s, _i64(g, 0, "zero")], {"axis": 0}).output  # i64[] = N
    m = g.add_node("mul", [k, n]).output
    a = g.add_node("add", [m, _i64(g, [1, 2, 3], "c123")]).output
    d = g.add_node("sub", [a, k], names=["d"]).output                     # k*N + c - k
    c = g.add_node("cast", [d], {"to": "f32"}).output
    gt = g.add_node("greater", [k, _i64(g, 2, "two")], names=["gt"]).output
    nt = g.add_node("not", [gt]).output
    sel = g.add_node("where", [nt, c, g.add_const(np.float32(0.5), "half")]).output
    y = g.add_node("add", [x, sel], names=["y"]).output
    k32 = g.add_node("cast", [k], {"to": "i32"}).output
    cat = g.add_node("concat", [k32, g.add_const(np.asarray([7], np.int32), "seven")],
                     {"axis": 0}, names=["cat"]).output
    g.outputs = [y, d, gt, cat]
    return g


def test_integer_ops_run_in_litert_with_dynamic_batch():
    data = emit_tflite(int_graph())
    ops = op_names(unpack(data))
    for op in ("SHAPE", "GATHER", "MUL", "ADD", "SUB", "CAST", "GREATER", "LOGICAL_NOT",
               "SELECT_V2", "CONCATENATION"):
        assert op in ops, op
    v = _versions(data)
    assert v["MUL"] == {5} and v["SUB"] == {4}  # int64 kernels (op_version.cc)
    assert v["ADD"] == {1, 4}  # the float ADD stays version 1
    k = np.array([1, 3, -2], np.int64)
    for batch in (2, 5):  # the batch stays dynamic: SHAPE reads it at run time
        x = np.random.default_rng(batch).uniform(-1, 1, (batch, 3)).astype(np.float32)
        got = run_tflite(data, {"x": x, "k": k})
        d = k * batch + np.array([1, 2, 3]) - k
        gt = k > 2
        sel = np.where(~gt, d.astype(np.float32), np.float32(0.5))
        assert got["d"].dtype == np.int64 and np.array_equal(got["d"], d)
        assert got["gt"].dtype == np.bool_ and np.array_equal(got["gt"], gt)
        assert got["cat"].dtype == np.int32 and np.array_equal(got["cat"], [1, 3, -2, 7])
        np.testing.assert_array_equal(got["y"], x + sel)  # one float32 add: exact


def test_reshape_to_a_target_computed_at_run_time():
    """Two unknown dims: no constant target exists, so RESHAPE reads the computed one."""
    g = Graph("swap")
    x = g.add_input("x", TensorType("f32", ("N", "M")))
    s = g.add_node("shape", [x]).output
    rows = g.add_node("slice", [s, _i64(g, [1], "b"), _i64(g, [2], "e")]).output
    cols = g.add_node("slice", [s, _i64(g, [0], "b0"), _i64(g, [1], "e0")]).output
    t = g.add_node("concat", [rows, cols], {"axis": 0}).output
    y = g.add_node("reshape", [x, t], names=["y"]).output
    g.outputs = [y]
    PassManager("resolve-shapes,dce").run(g)
    assert g.find("shape")  # not resolvable: both dims are unknown
    data = emit_tflite(g)
    assert "RESHAPE" in op_names(unpack(data))
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(run_tflite(data, {"x": x})["y"], x.reshape(3, 2))


def _branch(name: str, op: str, dims) -> Graph:
    b = Graph(name)
    v = b.add_input("v", TensorType("f32", dims))
    b.outputs = [b.add_node(op, [v]).output]
    return b


def test_resolve_shapes_makes_targets_constant_and_inlines_constant_ifs():
    g = Graph("shapes")
    x = g.add_input("x", TensorType("f32", ("N", 4, 6)))
    s = g.add_node("shape", [x]).output
    batch = g.add_node("slice", [s, _i64(g, [0], "b"), _i64(g, [1], "e")]).output
    i32 = g.add_node("cast", [batch], {"to": "i32"}).output  # as TF exports do
    tgt = g.add_node("concat", [i32, g.add_const(np.asarray([24], np.int32), "k")],
                     {"axis": 0}).output
    tgt = g.add_node("cast", [tgt], {"to": "i64"}).output
    r = g.add_node("reshape", [x, tgt]).output
    c4 = g.add_node("shape", [x], {"start": 1, "end": 2}).output
    cond = g.add_node("equal", [c4, _i64(g, [4], "four")]).output
    branch_dims = ("N", "?")
    out = g.add_node("if", [cond, r], {"then_branch": _branch("then", "relu", branch_dims),
                                       "else_branch": _branch("else", "neg", branch_dims)})
    y = g.add_node("identity", [out.output], names=["y"]).output
    g.outputs = [y]
    before = g.copy()
    report = PassManager("resolve-shapes,dce").run(g)
    stats = report.records[0].stats
    assert stats["inlined_ifs"] == 1 and stats["reshape_targets"] == 1
    assert [n.op for n in g.nodes if n.op != "const"] == ["reshape", "relu", "identity"]
    target = g.find("reshape")[0].inputs[1].const_value
    assert target.tolist() == [-1, 24]
    assert str(g.outputs[0].type) == "f32[N,24]"  # the "?" the if had became static
    xv = np.random.default_rng(0).standard_normal((3, 4, 6)).astype(np.float32)
    want = np.maximum(xv.reshape(3, 24), 0)
    np.testing.assert_array_equal(RefInterpreter(before).run({"x": xv})["y"], want)
    np.testing.assert_array_equal(run_tflite(emit_tflite(g), {"x": xv})["y"], want)


def test_preflight_lists_nonfloat_problems_at_once():
    g = Graph("badint")
    k = g.add_input("k", TensorType("i64", (3,)))
    q = g.add_node("div", [k, _i64(g, 2, "two")], source=["intdiv"]).output
    h = g.add_node("cast", [q], {"to": "i16"}, source=["to_i16"]).output
    f = g.add_node("cast", [h], {"to": "f32"}, source=["back"]).output
    e = g.add_node("erf", [f], source=["erfo"]).output
    g.outputs = [e]
    with pytest.raises(TfliteEmitError) as ei:
        emit_tflite(g)
    layers = [layer for _, layer, _ in ei.value.problems]
    assert layers == ["intdiv", "to_i16", "back", "erfo"]
    msg = str(ei.value)
    assert "truncates toward zero" in msg and "i16" in msg and "no TFLite lowering" in msg


def test_silero_without_fixed_shapes_names_its_ifs():
    """Without input shapes the `if`s (one frame? batch 1?) stay run-time decisions: the
    pre-flight names them (with the LSTM inside a branch it cannot see) in one error."""
    with pytest.raises(TfliteEmitError) as ei:
        compiler.compile(str(model_path("onnx/silero-vad/silero_vad_16k_op15.onnx")),
                         target="tflite")
    assert [op for op, _, _ in ei.value.problems].count("if") == 3
