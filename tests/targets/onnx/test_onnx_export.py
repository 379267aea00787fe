"""ONNX exporter: IR graphs -> .onnx, run in onnxruntime and compared with the interpreter.

Each graph is built by hand (explicit output types, so construction does not depend on the
op schemas), exported, checked by onnx.checker (inside export_onnx), run in onnxruntime (an
independent implementation) and compared with compiler.interpreter.Interpreter on the same
IR. Where the ONNX importer exists, the exported file is imported again and must give the
same outputs. Tests whose op kernels are not registered yet are skipped and name the ops.

Tolerances (measured with `python3 -m pytest tests/targets/onnx/test_onnx_export.py -q -s`,
whose last test prints the max abs error of every float comparison):
  * float32 conv (27-term dot products of N(0,1) values): 1.9e-6; linear resize: 6.3e-7;
    softmax: 6e-8; tanh/sigmoid: 1.2e-7 -> conv/gemm/batch_norm/resize use atol=rtol=1e-5,
    softmax and the transcendental activations atol 1e-6 (summation order and libm differ
    between onnxruntime and the numpy kernels).
  * everything else (shape ops, pooling, relu/clip, elementwise, Q/DQ, control flow, the
    round trips through the importer, the re-exported shared models): bit-exact, measured 0,
    and compared exactly or with the tolerance of the float op they contain.
  * integer outputs (quantize): exact.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from compiler.errors import InferccError
from compiler.interpreter import Interpreter
from compiler.ir import Graph, QuantParams, TensorType, parse_graph
from compiler.ops.registry import get_schema
from targets.onnx.exporter import (
    DEFAULT_OPSET,
    OnnxExportError,
    OnnxWriteError,
    default_opset,
    export_onnx,
)

RNG = np.random.default_rng(0)
MAX_ERR: dict[str, float] = {}

F32 = "f32"


def T(dtype, *shape, quant=None):
    return TensorType(dtype, tuple(shape), quant)


def needs(*ops: str) -> None:
    missing = [op for op in ops if get_schema(op) is None or get_schema(op).kernel is None]
    if missing:
        pytest.skip(f"op kernels not registered yet: {', '.join(missing)}")


def rand(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def importer():
    try:
        from compiler.frontends.onnx import load_onnx
    except ImportError:
        return None
    return load_onnx


def run_ort(model_or_path, feeds):
    src = str(model_or_path) if isinstance(model_or_path, (str, Path)) else model_or_path.SerializeToString()
    sess = ort.InferenceSession(src, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, feeds)))


def compare(tag, got, want, atol=0.0, rtol=0.0):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{tag}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{tag}: dtype {got.dtype} != {want.dtype}"
    if got.dtype.kind == "f":
        err = float(np.max(np.abs(got.astype(np.float64) - want))) if got.size else 0.0
        MAX_ERR[tag] = max(MAX_ERR.get(tag, 0.0), err)
        np.testing.assert_allclose(got, want, atol=atol, rtol=rtol, err_msg=tag)
    else:
        np.testing.assert_array_equal(got, want, err_msg=tag)


def check(g: Graph, feeds: dict, tmp_path: Path, *, atol=0.0, rtol=0.0, round_trip=True):
    """Export ``g``, run it in onnxruntime and compare with the interpreter (and re-import)."""
    path = tmp_path / f"{g.name}.onnx"
    model = export_onnx(g, path)
    assert path.exists()
    want = Interpreter(g).run(feeds)
    got = run_ort(path, feeds)
    assert list(got) == [v.name for v in g.outputs], "output names must be the IR's"
    for v in g.outputs:
        compare(f"{g.name}:{v.name}", got[v.name], want[v.name], atol, rtol)
    load_onnx = importer()
    if round_trip and load_onnx is not None:
        back = load_onnx(path)
        again = Interpreter(back).run(feeds)
        for v, w in zip(g.outputs, back.outputs):
            compare(f"{g.name}:{v.name}:roundtrip", again[w.name], want[v.name], atol, rtol)
    return model


def ops_of(model) -> list[str]:
    return [n.op_type for n in model.graph.node]


# -- conv / gemm / batch_norm / pooling / resize ---------------------------------------------


def test_conv_bias_fused_relu(tmp_path):
    needs("conv")
    g = Graph("conv_relu")
    x = g.add_input("x", T(F32, "N", 3, 8, 8))
    w = g.add_const(rand(4, 3, 3, 3), "conv1.weight")
    b = g.add_const(rand(4), "conv1.bias")
    c = g.add_node("conv", [x, w, b], {"pads": [1, 1, 1, 1], "strides": [1, 1], "activation": "relu"},
                   out_types=[T(F32, "N", 4, 8, 8)], names=["y"], source=["conv1", "relu1"])
    g.outputs = [c.output]
    m = check(g, {"x": rand(2, 3, 8, 8)}, tmp_path, atol=1e-5, rtol=1e-5)
    assert ops_of(m) == ["Conv", "Relu"]
    conv, relu = m.graph.node
    assert conv.name == "conv1" and conv.output[0] == "y_preact" and relu.output[0] == "y"
    assert "conv1, relu1" in conv.doc_string
    assert {t.name for t in m.graph.initializer} == {"conv1.weight", "conv1.bias"}


def test_gemm_with_fused_relu6(tmp_path):
    needs("gemm")
    g = Graph("gemm")
    a = g.add_input("a", T(F32, "N", 5))
    wb = g.add_const(rand(4, 5), "fc.weight")
    cb = g.add_const(rand(4), "fc.bias")
    y = g.add_node("gemm", [a, wb, cb], {"transB": 1, "alpha": 2.0, "activation": "relu6"},
                   out_types=[T(F32, "N", 4)], names=["fc"], source=["fc"]).output
    g.outputs = [y]
    m = check(g, {"a": rand(3, 5, scale=3.0)}, tmp_path, atol=1e-5, rtol=1e-5)
    assert ops_of(m) == ["Gemm", "Clip"]
    gemm = m.graph.node[0]
    kinds = {a.name: a.type for a in gemm.attribute}
    assert kinds == {"transB": onnx.AttributeProto.INT, "alpha": onnx.AttributeProto.FLOAT}


def test_batch_norm(tmp_path):
    needs("batch_norm")
    g = Graph("bn")
    x = g.add_input("img", T(F32, "N", 4, 5, 5))
    consts = [g.add_const(v, n) for v, n in [
        (rand(4), "bn.scale"), (rand(4), "bn.bias"), (rand(4), "bn.mean"),
        (np.abs(rand(4)) + 0.5, "bn.var")]]
    bn = g.add_node("batch_norm", [x] + consts, {"epsilon": 1e-3}, out_types=[x.type], names=["bn"],
                    source=["bn"]).output
    g.outputs = [bn]
    m = check(g, {"img": rand(3, 4, 5, 5)}, tmp_path, atol=1e-5, rtol=1e-5)
    assert ops_of(m) == ["BatchNormalization"]


def test_pooling_and_resize(tmp_path):
    needs("max_pool", "avg_pool", "resize")
    g = Graph("pool_resize")
    x = g.add_input("x", T(F32, 1, 2, 6, 6))
    mp = g.add_node("max_pool", [x], {"kernel_shape": [2, 2], "strides": [2, 2]},
                    out_types=[T(F32, 1, 2, 3, 3)], names=["mp"]).output
    ap = g.add_node("avg_pool", [x], {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1],
                                      "count_include_pad": 0}, out_types=[x.type], names=["ap"]).output
    scales = g.add_const(np.array([1, 1, 2, 2], np.float32), "scales")
    up = g.add_node("resize", [mp, None, scales], {"mode": "nearest"},
                    out_types=[T(F32, 1, 2, 6, 6)], names=["up"]).output
    sizes = g.add_const(np.array([1, 2, 5, 7], np.int64), "sizes")
    lin = g.add_node("resize", [x, None, None, sizes],
                     {"mode": "linear", "coordinate_transformation_mode": "half_pixel"},
                     out_types=[T(F32, 1, 2, 5, 7)], names=["lin"]).output
    g.outputs = [mp, ap, up, lin]
    check(g, {"x": rand(1, 2, 6, 6)}, tmp_path, atol=1e-5, rtol=1e-5)


# -- shape ops, softmax, activations ----------------------------------------------------------


SHAPE_OPS = """
graph @shape_ops(%x: f32[N,2,3]) -> (f32[N,6], f32[N,3,2], f32[N,4,3], f32[N,1,3], f32[N,1,3], f32[N,2,2], f32[N,6]) {
  %shape: i64[2] = const() {value=dense<i64[2] [-1, 6]>}
  %r: f32[N,6] = reshape(%x, %shape)  // flatten
  %t: f32[N,3,2] = transpose(%x) {perm=[0, 2, 1]}  // swap
  %cat: f32[N,4,3] = concat(%x, %x) {axis=1}  // cat
  %sp: i64[2] = const() {value=dense<i64[2] [1, 1]>}
  %a: f32[N,1,3], %b: f32[N,1,3] = split(%x, %sp) {axis=1}  // split
  %st: i64[1] = const() {value=dense<i64[1] [1]>}
  %en: i64[1] = const() {value=dense<i64[1] [3]>}
  %ax: i64[1] = const() {value=dense<i64[1] [2]>}
  %sl: f32[N,2,2] = slice(%x, %st, %en, %ax)  // crop
  %sm: f32[N,6] = softmax(%r) {axis=-1}  // softmax
  return %r, %t, %cat, %a, %b, %sl, %sm
}
"""


def test_shape_ops_with_constant_inputs_and_softmax(tmp_path):
    needs("reshape", "transpose", "concat", "split", "slice", "softmax")
    g = parse_graph(SHAPE_OPS)
    m = check(g, {"x": rand(3, 2, 3)}, tmp_path, atol=1e-6)
    assert [n.name for n in m.graph.node] == ["flatten", "swap", "cat", "split", "crop", "softmax"]
    assert {t.name for t in m.graph.initializer} == {"shape", "sp", "st", "en", "ax"}


def test_symbolic_batch_dim_runs_at_several_sizes(tmp_path):
    needs("reshape", "softmax")
    g = parse_graph(SHAPE_OPS)
    path = tmp_path / "sym.onnx"
    m = export_onnx(g, path)
    dims = m.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and [d.dim_value for d in dims[1:]] == [2, 3]
    out_dims = m.graph.output[0].type.tensor_type.shape.dim
    assert out_dims[0].dim_param == "N"
    interp = Interpreter(g)
    for n in (1, 5):
        x = rand(n, 2, 3)
        got, want = run_ort(path, {"x": x}), interp.run({"x": x})
        for k in want:
            compare(f"sym{n}:{k}", got[k], want[k], atol=1e-6)


def test_tensor_attribute_and_provenance_round_trip(tmp_path):
    needs("constant_of_shape", "shape", "add")
    g = Graph("tensor_attr")
    x = g.add_input("x", T(F32, 2, 3))
    shp = g.add_node("shape", [x], out_types=[T("i64", 2)], names=["shp"], source=["get_shape"]).output
    fill = g.add_node("constant_of_shape", [shp], {"value": np.array([2.5], np.float32)},
                      out_types=[x.type], names=["fill"], source=["filler"]).output
    y = g.add_node("add", [x, fill], out_types=[x.type], names=["y"], source=["adder"]).output
    g.outputs = [y]
    m = check(g, {"x": rand(2, 3)}, tmp_path)
    attr = m.graph.node[1].attribute[0]
    assert attr.type == onnx.AttributeProto.TENSOR
    np.testing.assert_array_equal(onnx.numpy_helper.to_array(attr.t), [2.5])
    load_onnx = importer()
    if load_onnx is not None:
        back = load_onnx(tmp_path / "tensor_attr.onnx")
        assert [n.source[0] for n in back.nodes if n.op != "const"] == ["get_shape", "filler", "adder"]


def test_unknown_dims_and_rank():
    g = Graph("unk")
    x = g.add_input("x", TensorType(F32, ("?", 4)))
    y = g.add_input("y", TensorType(F32, None))
    g.outputs = [g.add_node("identity", [x], out_types=[x.type], names=["xi"]).output,
                 g.add_node("identity", [y], out_types=[y.type], names=["yi"]).output]
    m = export_onnx(g)
    d0 = m.graph.input[0].type.tensor_type.shape.dim[0]
    assert not d0.HasField("dim_value") and not d0.HasField("dim_param")
    assert not m.graph.input[1].type.tensor_type.HasField("shape")


def test_fused_activations_on_elementwise_ops(tmp_path):
    needs("add", "sub", "mul", "div")
    g = Graph("acts")
    a = g.add_input("a", T(F32, 2, 8))
    b = g.add_input("b", T(F32, 2, 8))
    outs = []
    for op, act in [("add", "tanh"), ("sub", "relu_n1_to_1"), ("mul", "sigmoid"), ("div", "relu"),
                    ("add", "relu6"), ("sub", "")]:
        outs.append(g.add_node(op, [a, b], {"activation": act}, out_types=[a.type],
                               names=[f"{op}_{act or 'none'}"], source=[f"{op}_layer"]).output)
    g.outputs = outs
    feeds = {"a": rand(2, 8, scale=4.0), "b": rand(2, 8) + 3.0}
    m = check(g, feeds, tmp_path, atol=1e-6)
    assert ops_of(m) == ["Add", "Tanh", "Sub", "Clip", "Mul", "Sigmoid", "Div", "Relu", "Add",
                         "Clip", "Sub"]
    names = [n.name for n in m.graph.node]
    assert len(set(names)) == len(names), "node names must be deduplicated"
    assert names[:2] == ["add_layer", "add_layer_tanh"] and names[8] == "add_layer_1"


# -- quantization ------------------------------------------------------------------------------


def test_quantize_dequantize_per_axis(tmp_path):
    needs("quantize", "dequantize")
    scales = np.array([0.02, 0.05, 0.1, 0.2], np.float32)
    zps = np.array([0, 3, -5, 10], np.int8)
    qt = QuantParams.per_axis(scales, zps, axis=1)
    g = Graph("qdq")
    x = g.add_input("x", T(F32, "N", 4))
    s = g.add_const(scales, "w_scale")
    z = g.add_const(zps, "w_zp")
    q = g.add_node("quantize", [x, s, z], {"axis": 1}, out_types=[T("i8", "N", 4, quant=qt)],
                   names=["xq"]).output
    dq = g.add_node("dequantize", [q, s, z], {"axis": 1}, out_types=[x.type], names=["xdq"]).output
    ts = g.add_const(np.array(0.05, np.float32), "t_scale")
    tz = g.add_const(np.array(128, np.uint8), "t_zp")
    q8 = g.add_node("quantize", [x, ts, tz], out_types=[T("u8", "N", 4, quant=QuantParams.per_tensor(0.05, 128))],
                    names=["xq8"]).output
    g.outputs = [q, dq, q8]
    check(g, {"x": rand(6, 4, scale=3.0)}, tmp_path)


# -- control flow --------------------------------------------------------------------------------


IF_GRAPH = """
graph @branchy(%c: bool[], %x: f32[2,3]) -> (f32[2,3], f32[2,3]) {
  %w: f32[3] = const() {value=dense<f32[3] [1.0, -2.0, 3.0]>}
  %y: f32[2,3] = relu(%x)  // pre
  %o1: f32[2,3], %o2: f32[2,3] = if(%c, %y, %w) {then_branch=graph @then(%y: f32[2,3], %w: f32[3]) -> (f32[2,3], f32[2,3]) {
      %x: f32[2,3] = add(%y, %w)  // then.add
      return %x, %y
    }, else_branch=graph @else(%a: f32[2,3], %b: f32[3]) -> (f32[2,3], f32[2,3]) {
      %y: f32[2,3] = mul(%a, %b)  // else.mul
      %k: f32[] = const() {value=dense<f32[] [-2.0]>}
      %z: f32[2,3] = mul(%y, %k)  // else.scale
      return %z, %y
    }}  // branch
  return %o1, %o2
}
"""


def test_if_with_captures_becomes_implicit_capture(tmp_path):
    needs("if", "relu", "add", "mul")
    g = parse_graph(IF_GRAPH)
    path = tmp_path / "branchy.onnx"
    m = export_onnx(g, path)
    node = next(n for n in m.graph.node if n.op_type == "If")
    assert list(node.input) == ["c"], "captures are implicit in ONNX"
    then_g = next(a.g for a in node.attribute if a.name == "then_branch")
    assert len(then_g.input) == 0
    add = next(n for n in then_g.node if n.op_type == "Add")
    assert list(add.input) == ["y", "w"]  # outer names, read directly
    assert add.output[0] != "x", "inner names must not shadow outer ones"
    # the then-branch returns a captured value, which ONNX needs wrapped in an Identity
    assert then_g.node[-1].op_type == "Identity" and then_g.node[-1].input[0] == "y"
    else_g = next(a.g for a in node.attribute if a.name == "else_branch")
    assert [t.name for t in else_g.initializer] == ["k"]
    interp = Interpreter(g)
    load_onnx = importer()
    back = Interpreter(load_onnx(path)) if load_onnx else None
    for cond in (True, False):
        feeds = {"c": np.array(cond), "x": rand(2, 3)}
        want, got = interp.run(feeds), run_ort(path, feeds)
        for k in want:
            compare(f"if{cond}:{k}", got[k], want[k])
        if back is not None:
            again = back.run(feeds)
            for v, k in zip(back.graph.outputs, want):
                compare(f"if{cond}:{k}:roundtrip", again[v.name], want[k])


def test_loop_with_captures(tmp_path):
    needs("loop", "add", "identity")
    body = Graph("body")
    body.add_input("i", T("i64"))
    cond = body.add_input("cond", T("bool"))
    v = body.add_input("v", T(F32, 3))
    w = body.add_input("w", T(F32, 3))  # capture
    nxt = body.add_node("add", [v, w], out_types=[v.type], names=["v_next"]).output
    scan = body.add_node("identity", [nxt], out_types=[v.type], names=["v_scan"]).output
    body.outputs = [cond, nxt, scan]
    g = Graph("looper")
    v0 = g.add_input("v0", T(F32, 3))
    m_ = g.add_const(np.array(4, np.int64), "trip")
    w_outer = g.add_const(np.array([1.0, 0.5, -1.0], np.float32), "w")
    node = g.add_node("loop", [m_, None, v0, w_outer], {"body": body, "num_captures": 1},
                      out_types=[T(F32, 3), T(F32, 4, 3)], names=["v_final", "v_all"], source=["loop"])
    g.outputs = list(node.outputs)
    m = check(g, {"v0": rand(3)}, tmp_path)
    loop = next(n for n in m.graph.node if n.op_type == "Loop")
    assert list(loop.input) == ["trip", "", "v0"]
    b = loop.attribute[0].g
    assert [i.name for i in b.input] == ["i", "cond", "v"]
    assert b.output[0].name != "cond"  # a passed-through input is wrapped in Identity


# -- constants -------------------------------------------------------------------------------------


def test_sparse_constant_is_densified(tmp_path):
    needs("add")
    import scipy.sparse as sp

    dense = np.zeros((3, 4), np.float32)
    dense[0, 1], dense[2, 3], dense[1, 0] = 1.5, -2.0, 4.0
    g = Graph("sparse")
    x = g.add_input("x", T(F32, "N", 3, 4))
    s = g.add_const(sp.coo_matrix(dense), "sparse_w")
    g.outputs = [g.add_node("add", [x, s], out_types=[x.type], names=["y"]).output]
    m = check(g, {"x": rand(2, 3, 4)}, tmp_path)
    (init,) = m.graph.initializer
    assert init.name == "sparse_w"
    np.testing.assert_array_equal(onnx.numpy_helper.to_array(init), dense)
    assert not m.graph.sparse_initializer


def test_outputs_that_are_inputs_constants_or_repeated(tmp_path):
    g = Graph("passthrough")
    x = g.add_input("x", T(F32, 2))
    c = g.add_const(np.array([1.0, 2.0], np.float32), "c")
    g.outputs = [x, c, x]
    path = tmp_path / "p.onnx"
    m = export_onnx(g, path)
    assert [o.name for o in m.graph.output][:2] == ["x", "c"]
    got = list(run_ort(path, {"x": np.array([3.0, 4.0], np.float32)}).values())
    np.testing.assert_array_equal(got[0], [3.0, 4.0])
    np.testing.assert_array_equal(got[1], [1.0, 2.0])
    np.testing.assert_array_equal(got[2], [3.0, 4.0])


# -- model properties --------------------------------------------------------------------------


def test_opset_metadata_and_producer(tmp_path):
    import compiler

    g = parse_graph(SHAPE_OPS)
    g.metadata["source_format"] = "handwritten"
    g.metadata["note"] = "x"
    m = export_onnx(g)
    assert default_opset() == DEFAULT_OPSET == 21
    assert [(o.domain, o.version) for o in m.opset_import] == [("", 21)]
    assert m.producer_name == "infercc" and m.producer_version == compiler.__version__
    assert {p.key: p.value for p in m.metadata_props} == {"source_format": "handwritten", "note": "x"}
    # the model loads in onnxruntime at that opset
    run_ort(m, {"x": rand(1, 2, 3)})


@pytest.mark.parametrize("opset", [18, 28])
def test_other_opsets(opset, tmp_path):
    """18: lowered by onnx.version_converter; 28: onnx's newest, written without conversion."""
    needs("reshape", "softmax")
    g = parse_graph(SHAPE_OPS)
    path = tmp_path / f"o{opset}.onnx"
    m = export_onnx(g, path, opset=opset)
    assert [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")] == [opset]
    x = rand(2, 2, 3)
    got, want = run_ort(path, {"x": x}), Interpreter(g).run({"x": x})
    for k in want:
        compare(f"o{opset}:{k}", got[k], want[k], atol=1e-6)


def test_opset_beyond_onnx_is_refused():
    with pytest.raises(OnnxExportError, match="opset 99"):
        export_onnx(parse_graph(SHAPE_OPS), opset=99)


def test_int4_and_bfloat16_constants(tmp_path):
    needs("dequantize", "add", "cast")
    g = Graph("narrow")
    x = g.add_input("x", T(F32, 4))
    w = g.add_const(np.array([-8, -1, 3, 7], np.int8), "w4", type=T("i4", 4))
    sc = g.add_const(np.array(0.5, np.float32), "s")
    d = g.add_node("dequantize", [w, sc], out_types=[T(F32, 4)], names=["d"]).output
    y = g.add_node("add", [x, d], out_types=[x.type], names=["y"]).output
    bf_t = T("bf16", 2)
    bf = g.add_const(np.array([1.5, -2.25], np.float32).astype(bf_t.dtype.numpy), "bf", type=bf_t)
    c = g.add_node("cast", [bf], {"to": 1}, out_types=[T(F32, 2)], names=["c"]).output
    g.outputs = [y, c]
    m = check(g, {"x": rand(4)}, tmp_path)
    kinds = {t.name: t.data_type for t in m.graph.initializer}
    assert kinds == {"w4": onnx.TensorProto.INT4, "s": onnx.TensorProto.FLOAT,
                     "bf": onnx.TensorProto.BFLOAT16}


def test_external_data(tmp_path):
    needs("add")
    g = Graph("ext")
    x = g.add_input("x", T(F32, 64, 64))
    w = g.add_const(rand(64, 64), "big")
    g.outputs = [g.add_node("add", [x, w], out_types=[x.type], names=["y"]).output]
    path = tmp_path / "ext.onnx"
    export_onnx(g, path, external_data=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ext.onnx", "ext.onnx.data"]
    assert path.stat().st_size < 64 * 64 * 4
    feeds = {"x": rand(64, 64)}
    compare("ext", run_ort(path, feeds)["y"], Interpreter(g).run(feeds)["y"])


# -- real models: ONNX -> IR -> ONNX, both run in onnxruntime ----------------------------------


@pytest.mark.parametrize("rel, feeds", [
    # tf2onnx audio model (248 nodes)
    ("onnx/basic-pitch/nmp.onnx", lambda: {"serving_default_input_2:0": rand(1, 43844, 1)}),
    # If with two branches, LSTM, STFT through Conv
    ("onnx/silero-vad/silero_vad_16k_op15.onnx",
     lambda: {"input": rand(1, 576, scale=0.1), "state": rand(2, 1, 128),
              "sr": np.array(16000, np.int64)}),
    # ConvTranspose, Resize, HardSigmoid; H and W must be multiples of 32
    ("onnx/rapidocr/ch_PP-OCRv4_det_infer.onnx", lambda: {"x": rand(1, 3, 64, 96)}),
])
def test_shared_model_reexport_matches_original(rel, feeds, tmp_path):
    """The model imported and exported again gives onnxruntime's outputs of the original.

    Measured max abs difference: 0 for all three (onnxruntime runs the same kernels on the
    same weights); the tolerance allows for a changed summation order only.
    """
    from tests.conftest import model_path

    load_onnx = importer()
    if load_onnx is None:
        pytest.skip("the ONNX importer is not there yet")
    src = model_path(rel)
    out = tmp_path / "re.onnx"
    export_onnx(load_onnx(src), out)
    f = feeds()
    want, got = run_ort(src, f), run_ort(out, f)
    assert list(got) == list(want)
    for k in want:
        compare(f"{rel}:{k}", got[k], want[k], atol=1e-5, rtol=1e-5)


# -- errors and atomic writes ---------------------------------------------------------------------


def _bad_graph() -> Graph:
    g = Graph("bad")
    x = g.add_input("x", T(F32, 2))
    a = g.add_node("my_fused_thing", [x], out_types=[x.type], names=["a"], source=["block1.fused"])
    b = g.add_node("relu", [a.output], {"color": "blue"}, out_types=[x.type], names=["b"], source=["block2.act"])
    c = g.add_node("other_ir_only_op", [b.output], out_types=[x.type], names=["c"], source=["head"])
    g.outputs = [c.output]
    return g


def test_unsupported_ops_are_all_listed():
    with pytest.raises(OnnxExportError) as e:
        export_onnx(_bad_graph())
    msg = str(e.value)
    assert isinstance(e.value, InferccError)
    assert "3 problem(s)" in msg
    assert "my_fused_thing (layer block1.fused): has no ONNX counterpart" in msg
    assert "other_ir_only_op (layer head)" in msg
    assert "relu (layer block2.act): attribute 'color'" in msg


def test_failed_export_leaves_no_file(tmp_path):
    target = tmp_path / "m.onnx"
    with pytest.raises(OnnxExportError):
        export_onnx(_bad_graph(), target)
    assert list(tmp_path.iterdir()) == []
    # an existing model stays untouched
    target.write_bytes(b"old model")
    with pytest.raises(OnnxExportError):
        export_onnx(_bad_graph(), target)
    assert target.read_bytes() == b"old model"
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def test_write_failure_is_clean(tmp_path):
    g = parse_graph(SHAPE_OPS)
    target = tmp_path / "adir"
    target.mkdir()
    (target / "keep").write_text("x")  # a non-empty directory cannot be replaced by a file
    with pytest.raises(OnnxWriteError, match="adir"):
        export_onnx(g, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir"]
    with pytest.raises(OnnxWriteError, match="no_such_dir"):
        export_onnx(g, tmp_path / "no_such_dir" / "m.onnx")


def test_checker_failure_is_an_export_error(tmp_path):
    # an If whose branches disagree on the output element type fails ONNX's type checks
    g = Graph("mistyped")
    c = g.add_input("c", T("bool"))
    x = g.add_input("x", T(F32, 2))
    then_g, else_g = Graph("t"), Graph("e")
    for sub, dtype in ((then_g, F32), (else_g, "i64")):
        xi = sub.add_input("xi", T(F32, 2))
        n = sub.add_node("cast", [xi], {"to": 1 if dtype == F32 else 7}, out_types=[T(dtype, 2)], names=["o"])
        sub.outputs = [n.output]
    node = g.add_node("if", [c, x], {"then_branch": then_g, "else_branch": else_g},
                      out_types=[T(F32, 2)], names=["y"])
    g.outputs = [node.output]
    target = tmp_path / "m.onnx"
    with pytest.raises(OnnxExportError, match="onnx.checker"):
        export_onnx(g, target)
    assert list(tmp_path.iterdir()) == []


def test_tolerance_report():
    """Prints the measured max abs errors (run with -s); always passes."""
    for k, v in sorted(MAX_ERR.items()):
        print(f"{k:40s} {v:.3g}")
