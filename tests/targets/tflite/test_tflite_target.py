"""TFLite target: emitted models run in LiteRT and agree with independent references.

References: infercc's reference interpreter on the same IR, and torch for the PyTorch model
(LiteRT's kernels are an implementation independent of infercc). Tolerances below were
measured with this file's inputs and are stated next to each assert (measured value in
parentheses; the bound leaves roughly 10x headroom for BLAS/XNNPACK summation order).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import compiler
import passes
from compiler.interpreter import Interpreter as RefInterpreter
from compiler.ir.graph import Graph
from compiler.ir.types import TensorType
from compiler.pass_manager import PassManager
from targets.tflite import TfliteEmitError, TfliteWriteError, emit_tflite
from tests.conftest import REPO

TINY_CNN = REPO / "examples" / "models" / "tiny_cnn.onnx"

pytest.importorskip("ai_edge_litert")
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import Interpreter as LiteInterpreter

from tests.support.tflite_model import op_names, run_tflite, unpack


def run_ref(graph: Graph, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return RefInterpreter(graph).run(feeds)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def randn(r, *shape, scale: float = 1.0) -> np.ndarray:
    return (r.standard_normal(shape) * scale).astype(np.float32)


# -- graphs ------------------------------------------------------------------------------------


def mixed_graph() -> Graph:
    """conv+bias+relu6 (SAME), depthwise (x2 multiplier, explicit pads -> PAD), avg/max pool,
    concat on channels, add of a [C,1,1] constant (broadcast, fused relu), global pool,
    flatten, FC, softmax; a rank-4 value is also a graph output."""
    r = rng(1)
    g = Graph("mixed")
    x = g.add_input("x", TensorType("f32", ("N", 3, 16, 16)))
    w1 = g.add_const(randn(r, 8, 3, 3, 3, scale=0.3), "w1")
    b1 = g.add_const(randn(r, 8, scale=0.1), "b1")
    c1 = g.add_node("conv", [x, w1, b1], {"pads": [1, 1, 1, 1], "activation": "relu6"},
                    names=["c1"], source=["conv1"]).output
    wd = g.add_const(randn(r, 16, 1, 3, 3, scale=0.3), "wd")
    d1 = g.add_node("conv", [c1, wd, None], {"group": 8, "pads": [1, 1, 1, 1], "strides": [2, 2]},
                    names=["d1"], source=["dw"]).output
    a1 = g.add_node("avg_pool", [d1], {"kernel_shape": [2, 2], "strides": [2, 2]},
                    names=["a1"]).output
    m1 = g.add_node("max_pool", [d1], {"kernel_shape": [3, 3], "strides": [2, 2],
                                       "pads": [0, 0, 1, 1]}, names=["m1"]).output
    cat = g.add_node("concat", [a1, m1], {"axis": 1}, names=["cat"]).output
    per_c = g.add_const(randn(r, 32, 1, 1), "per_c")
    s = g.add_node("add", [cat, per_c], {"activation": "relu"}, names=["s"]).output
    gp = g.add_node("global_avg_pool", [s], names=["gp"]).output
    fl = g.add_node("flatten", [gp], {"axis": 1}, names=["fl"]).output
    wf = g.add_const(randn(r, 10, 32, scale=0.3), "wf")
    bf = g.add_const(randn(r, 10, scale=0.1), "bf")
    fc = g.add_node("gemm", [fl, wf, bf], {"transB": 1}, names=["fc"]).output
    sm = g.add_node("softmax", [fc], {"axis": -1}, names=["probs"]).output
    g.outputs = [sm, s]
    return g


def extras_graph() -> Graph:
    """The other ops: avg_pool counting pads (PAD + VALID), conv with fused sigmoid, mul by a
    [1,C,1,1] constant, prelu, leaky_relu, hard_swish, clip(0,1) (RELU_0_TO_1, op code 152),
    clip(-0.5, 0.5) (MAXIMUM/MINIMUM), a layout transpose, reshape, matmul with a constant."""
    r = rng(2)
    g = Graph("extras")
    x = g.add_input("x", TensorType("f32", (2, 4, 9, 9)))
    p = g.add_node("avg_pool", [x], {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1],
                                     "count_include_pad": 1}).output
    w = g.add_const(randn(r, 6, 4, 3, 3, scale=0.3), "w")
    c = g.add_node("conv", [p, w, None], {"activation": "sigmoid", "strides": [2, 2]}).output
    sc = g.add_const(randn(r, 1, 6, 1, 1), "sc")
    m = g.add_node("mul", [c, sc]).output
    sl = g.add_const(np.abs(randn(r, 6, 1, 1, scale=0.2)), "slope")
    pr = g.add_node("prelu", [m, sl]).output
    lk = g.add_node("leaky_relu", [pr], {"alpha": 0.2}).output
    hs = g.add_node("hard_swish", [lk]).output
    zero, one = g.add_const(np.float32(0), "zero"), g.add_const(np.float32(1), "one")
    c01 = g.add_node("clip", [hs, zero, one], names=["c01"]).output
    lo, hi = g.add_const(np.float32(-0.5), "lo"), g.add_const(np.float32(0.5), "hi")
    cc = g.add_node("clip", [m, lo, hi]).output
    both = g.add_node("sub", [c01, cc]).output
    t = g.add_node("transpose", [both], {"perm": [0, 2, 3, 1]}).output  # NCHW -> NHWC in IR
    rs = g.add_node("reshape", [t, g.add_const(np.array([2, -1], np.int64), "shape")]).output
    wm = g.add_const(randn(r, 6 * 4 * 4, 7, scale=0.1), "wm")
    mm = g.add_node("matmul", [rs, wm], {"activation": "tanh"}, names=["out"]).output
    g.outputs = [mm]
    return g


# -- numerics ----------------------------------------------------------------------------------


def test_tiny_cnn_after_default_pipeline():
    g = compiler.load(str(TINY_CNN))
    PassManager(passes.DEFAULT_PIPELINE).run(g)
    data = emit_tflite(g)
    x = randn(rng(0), 2, 3, 32, 32)  # batch 2 through the dynamic batch dim
    got = run_tflite(data, {"input": x})["probs"]
    want = run_ref(g, {"input": x})["probs"]
    assert got.shape == want.shape == (2, 10)
    # softmax probabilities: measured max |diff| 1.5e-8
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
    ops = op_names(unpack(data))
    assert ops.count("TRANSPOSE") == 1  # only at the NCHW input; the output is 2-D
    assert "PAD" in ops  # stride-2 conv pads [1,1,1,1] are not TFLite SAME (0,1)
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX"} <= set(ops)


def test_mixed_ops_graph():
    g = mixed_graph()
    compiler.verify(g)
    data = emit_tflite(g)
    x = randn(rng(3), 3, 3, 16, 16)
    got = run_tflite(data, {"x": x})
    want = run_ref(g, {"x": x})
    assert got["s"].shape == want["s"].shape == (3, 32, 4, 4)  # NCHW interface kept
    # measured max |diff|: s 6.0e-7 (values up to ~3.2), probs 7.5e-8
    np.testing.assert_allclose(got["s"], want["s"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(got["probs"], want["probs"], atol=1e-6, rtol=0)
    ops = op_names(unpack(data))
    assert ops.count("PAD") == 1  # the stride-2 depthwise; conv1 and max pool are SAME
    assert {"AVERAGE_POOL_2D", "MAX_POOL_2D", "CONCATENATION", "ADD"} <= set(ops)
    model = unpack(data)
    dw = [op for op in model.subgraphs[0].operators
          if model.operatorCodes[op.opcodeIndex].builtinCode == schema.BuiltinOperator.DEPTHWISE_CONV_2D]
    assert dw[0].builtinOptions.depthMultiplier == 2


def test_extra_ops_graph():
    g = extras_graph()
    compiler.verify(g)
    data = emit_tflite(g)
    x = randn(rng(4), 2, 4, 9, 9)
    got = run_tflite(data, {"x": x})["out"]
    want = run_ref(g, {"x": x})["out"]
    # measured max |diff| 1.2e-7 (tanh outputs)
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
    ops = op_names(unpack(data))
    assert {"PRELU", "LEAKY_RELU", "HARD_SWISH", "RELU_0_TO_1", "MAXIMUM", "MINIMUM",
            "LOGISTIC", "FULLY_CONNECTED"} <= set(ops)
    # only the one at the NCHW input: the IR transpose to NHWC makes the stored NHWC tensor
    # the logical order again, so neither it nor the reshape after it needs a TRANSPOSE
    assert ops.count("TRANSPOSE") == 1


def test_torch_cnn_against_torch():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU6(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8), nn.ReLU(),
        nn.Conv2d(8, 16, 1), nn.Hardswish(),
        nn.MaxPool2d(2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(16, 5), nn.Softmax(dim=1),
    )
    with torch.no_grad():  # non-trivial batch-norm statistics
        bn = net[1]
        bn.running_mean.copy_(torch.randn(8) * 0.1)
        bn.running_var.copy_(torch.rand(8) + 0.5)
        bn.weight.copy_(torch.rand(8) + 0.5)
        bn.bias.copy_(torch.randn(8) * 0.1)
    net.eval()
    x = torch.randn(2, 3, 24, 24)
    g = compiler.load(net, example_inputs=(x,))
    PassManager(passes.DEFAULT_PIPELINE).run(g)
    data = emit_tflite(g)
    name = g.inputs[0].name
    got = next(iter(run_tflite(data, {name: x.numpy()}).values()))
    with torch.no_grad():
        want_torch = net(x).numpy()
    want_ref = next(iter(run_ref(g, {name: x.numpy()}).values()))
    # measured max |diff|: vs torch 1.5e-8, vs the reference interpreter 6.0e-8
    np.testing.assert_allclose(got, want_torch, atol=1e-6, rtol=0)
    np.testing.assert_allclose(got, want_ref, atol=1e-6, rtol=0)


# -- float16 -----------------------------------------------------------------------------------


def test_float16_weights():
    g = compiler.load(str(TINY_CNN))
    PassManager(passes.DEFAULT_PIPELINE).run(g)
    full, half = emit_tflite(g), emit_tflite(g, float16=True)
    model = unpack(half)
    sg = model.subgraphs[0]
    with_data = [t for t in sg.tensors if model.buffers[t.buffer].data is not None]
    floats = [t for t in with_data if t.type in (schema.TensorType.FLOAT32,
                                                 schema.TensorType.FLOAT16)]
    assert floats and all(t.type == schema.TensorType.FLOAT16 for t in floats)
    for t in floats:  # the buffer really holds 2 bytes per element
        assert len(model.buffers[t.buffer].data) == 2 * int(np.prod(t.shape))
    ops = op_names(model)
    assert ops.count("DEQUANTIZE") == len(floats)
    assert all(oc.version == 3 for oc in model.operatorCodes
               if oc.builtinCode == schema.BuiltinOperator.DEQUANTIZE)
    full_model = unpack(full)
    full_bytes = sum(len(full_model.buffers[t.buffer].data) for t in full_model.subgraphs[0].tensors
                     if t.type == schema.TensorType.FLOAT32
                     and full_model.buffers[t.buffer].data is not None)
    assert sum(len(model.buffers[t.buffer].data) for t in floats) * 2 == full_bytes
    x = randn(rng(5), 2, 3, 32, 32)
    got = run_tflite(half, {"input": x})["probs"]
    want = run_ref(g, {"input": x})["probs"]
    # float16 weights (relative rounding 2^-11): measured max |diff| 1.5e-5 on probabilities
    np.testing.assert_allclose(got, want, atol=2e-4, rtol=0)


def test_float16_mixed_graph():
    g = mixed_graph()
    x = randn(rng(6), 1, 3, 16, 16)
    got = run_tflite(emit_tflite(g, float16=True), {"x": x})
    want = run_ref(g, {"x": x})
    # measured max |diff|: s 1.1e-3 (values up to ~2.6), probs 6.7e-5
    np.testing.assert_allclose(got["s"], want["s"], atol=1e-2, rtol=0)
    np.testing.assert_allclose(got["probs"], want["probs"], atol=1e-3, rtol=0)


# -- file structure ----------------------------------------------------------------------------


def test_op_codes_above_127():
    model = unpack(emit_tflite(extras_graph()))
    codes = {oc.builtinCode: oc for oc in model.operatorCodes}
    assert schema.BuiltinOperator.RELU_0_TO_1 > 127
    hi = codes[schema.BuiltinOperator.RELU_0_TO_1]
    assert hi.deprecatedBuiltinCode == 127  # PLACEHOLDER_FOR_GREATER_OP_CODES
    for code, oc in codes.items():
        assert oc.deprecatedBuiltinCode == min(code, 127)
        assert oc.version >= 1


def test_metadata_signature_and_sentinel_buffer():
    g = mixed_graph()
    data = emit_tflite(g)
    model = unpack(data)
    assert model.version == 3
    assert model.buffers[0].data is None  # the empty sentinel
    meta = {m.name.decode(): m.buffer for m in model.metadata}
    assert bytes(model.buffers[meta["infercc_version"]].data).decode() == compiler.__version__
    sig = model.signatureDefs[0]
    assert sig.signatureKey.decode() == "serving_default"
    it = LiteInterpreter(model_content=data)
    assert it.get_signature_list() == {"serving_default": {"inputs": ["x"],
                                                           "outputs": ["probs", "s"]}}
    x = randn(rng(7), 1, 3, 16, 16)
    out = it.get_signature_runner("serving_default")(x=x)
    want = run_ref(g, {"x": x})
    np.testing.assert_allclose(out["probs"], want["probs"], atol=1e-6, rtol=0)
    inp = it.get_input_details()[0]
    assert list(inp["shape_signature"]) == [-1, 3, 16, 16]  # symbolic batch stays dynamic


# -- errors and writing ------------------------------------------------------------------------


def bad_graph() -> Graph:
    r = rng(8)
    g = Graph("bad")
    x = g.add_input("x", TensorType("f32", (1, 4, 8, 8)))
    w = g.add_const(randn(r, 4, 2, 3, 3), "w")
    c = g.add_node("conv", [x, w], {"group": 2, "pads": [1, 1, 1, 1]}, source=["grouped"]).output
    e = g.add_node("erf", [c], source=["erfo"]).output
    m = g.add_node("max_pool", [e], {"kernel_shape": [2, 2], "pads": [1, 1, 1, 1]},
                   source=["odd_pool"]).output
    s = g.add_node("lrn", [m], {"size": 3}, source=["lrn"]).output
    g.outputs = [s]
    return g


def test_preflight_lists_every_problem_and_writes_nothing(tmp_path):
    out = tmp_path / "bad.tflite"
    with pytest.raises(TfliteEmitError) as ei:
        emit_tflite(bad_graph(), out)
    layers = [layer for _, layer, _ in ei.value.problems]
    assert layers == ["grouped", "erfo", "odd_pool", "lrn"]
    msg = str(ei.value)
    assert "4 problem(s)" in msg and "group=2" in msg and "no TFLite lowering" in msg
    assert isinstance(ei.value, compiler.InferccError)
    assert list(tmp_path.iterdir()) == []


def test_atomic_write(tmp_path):
    out = tmp_path / "m.tflite"
    out.write_bytes(b"old")
    with pytest.raises(TfliteEmitError):
        emit_tflite(bad_graph(), out)
    assert out.read_bytes() == b"old"  # a failed emit leaves the old file alone
    data = emit_tflite(mixed_graph(), out)
    assert out.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tflite"]  # no temporary left
    with pytest.raises(TfliteWriteError, match="cannot write the TFLite model"):
        emit_tflite(mixed_graph(), tmp_path / "missing" / "m.tflite")
    assert not (tmp_path / "missing").exists()
    if os.name == "posix":
        with pytest.raises(TfliteWriteError):
            emit_tflite(mixed_graph(), tmp_path)  # a directory


# -- layout folding ----------------------------------------------------------------------------


def test_keras_mobilenet_v2_nhwc_without_transposes():
    """An NHWC Keras model (IR: input NHWC, transpose to NCHW, ...) emits with no TRANSPOSE:
    the IR transposes only change each value's physical order."""
    pytest.importorskip("tensorflow")
    import keras

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3),
                                            classifier_activation=None)  # logits
    g = compiler.load(model, layout="NHWC")
    PassManager(passes.DEFAULT_PIPELINE).run(g)
    data = emit_tflite(g)
    ops = op_names(unpack(data))
    assert ops.count("TRANSPOSE") == 0
    it = LiteInterpreter(model_content=data)
    inp = it.get_input_details()[0]
    assert list(inp["shape"]) == [1, 96, 96, 3]  # NHWC interface, as TF's converter gives
    x = rng(9).uniform(-1, 1, (1, 96, 96, 3)).astype(np.float32)
    got = next(iter(run_tflite(data, {inp["name"]: x}).values()))
    want = np.asarray(model(x, training=False))
    assert got.shape == want.shape == (1, 1000)
    # the seeded, untrained net gives tiny logits (max |want| 8.6e-12), so the bound is
    # relative to their scale: measured max |diff| / max |want| = 1.7e-6
    assert np.abs(want).max() > 0
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()


def more_ops_graph() -> Graph:
    """The second op set: pad (non-zero value), resize (linear half_pixel, nearest
    asymmetric), conv_transpose (stride 2, pads -> SAME), reduce_mean/max, slice, gather,
    unfused batch_norm, concat on H, split, batch matmul, layer_norm, hard_sigmoid,
    exp/log/sqrt, all on values whose physical order differs from the logical one."""
    r = rng(10)
    g = Graph("more")
    x = g.add_input("x", TensorType("f32", (1, 4, 6, 6)))
    i64 = lambda a, n: g.add_const(np.array(a, np.int64), n)  # noqa: E731
    c = g.add_node("conv", [x, g.add_const(randn(r, 4, 4, 1, 1, scale=0.3), "w")]).output
    p = g.add_node("pad", [c, i64([0, 0, 1, 0, 0, 0, 1, 2], "pads"),
                           g.add_const(np.float32(0.5), "pv")]).output  # (1,4,7,8)
    rl = g.add_node("resize", [p, None, g.add_const(np.array([1, 1, 2, 2], np.float32), "sc")],
                    {"mode": "linear"}).output  # (1,4,14,16)
    rn = g.add_node("resize", [c, None, g.add_const(np.array([1, 1, 2, 2], np.float32), "sc2")],
                    {"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
                     "nearest_mode": "floor"}).output  # (1,4,12,12)
    ct = g.add_node("conv_transpose", [c, g.add_const(randn(r, 4, 3, 3, 3, scale=0.3), "wt"),
                                       g.add_const(randn(r, 3, scale=0.1), "bt")],
                    {"strides": [2, 2], "pads": [0, 0, 1, 1]}).output
    bn = g.add_node("batch_norm", [ct] + [g.add_const(a, n) for a, n in (
        (np.abs(randn(r, 3)) + 0.5, "s"), (randn(r, 3), "b"), (randn(r, 3), "m"),
        (np.abs(randn(r, 3)) + 0.5, "v"))]).output  # (1,3,12,12)
    sl = g.add_node("slice", [rn, i64([0, 1], "st"), i64([12, 4], "en"), i64([2, 1], "ax"),
                              i64([1, 1], "sp")]).output  # (1,3,12,12)
    hs = g.add_node("hard_sigmoid", [bn]).output
    cat = g.add_node("concat", [hs, sl], {"axis": 2}).output  # (1,3,24,12)
    s1, s2 = g.add_node("split", [cat, i64([10, 14], "spl")], {"axis": 2}, num_outputs=2).outputs
    rm = g.add_node("reduce_mean", [s1, i64([2, 3], "rax")], {"keepdims": 0}).output  # (1,3)
    mx = g.add_node("reduce_max", [s2, i64([3], "rax2")]).output  # (1,3,14,1)
    ga = g.add_node("gather", [rl, i64([3, 0, 5], "gi")], {"axis": 2}).output  # (1,4,3,16)
    t = g.add_node("transpose", [ga], {"perm": [0, 2, 1, 3]}).output  # (1,3,4,16)
    mm = g.add_node("matmul", [t, g.add_node("transpose", [t], {"perm": [0, 1, 3, 2]}).output]
                    ).output  # (1,3,4,4)
    ln = g.add_node("layer_norm", [mm, g.add_const(randn(r, 4), "lg"),
                                   g.add_const(randn(r, 4), "lb")], {"axis": -1}).output
    e = g.add_node("exp", [g.add_node("mul", [ln, g.add_const(np.float32(0.1), "k")]).output]
                   ).output
    lg = g.add_node("log", [g.add_node("sqrt", [e]).output], names=["out_ln"]).output
    g.outputs = [lg, rm, mx]
    return g


def test_more_ops_graph():
    g = more_ops_graph()
    compiler.verify(g)
    data = emit_tflite(g)
    x = randn(rng(11), 1, 4, 6, 6)
    got = run_tflite(data, {"x": x})
    want = run_ref(g, {"x": x})
    for k in want:
        # measured max |diff|: out_ln 1.8e-7, reduce_mean 6.0e-8, reduce_max 6.0e-8
        np.testing.assert_allclose(got[k], want[k], atol=1e-5, rtol=0, err_msg=k)
    ops = set(op_names(unpack(data)))
    assert {"PADV2", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "TRANSPOSE_CONV",
            "STRIDED_SLICE", "GATHER", "SPLIT_V", "MEAN", "REDUCE_MAX", "BATCH_MATMUL",
            "RSQRT", "EXP", "LOG", "SQRT", "RELU_0_TO_1"} <= ops


def test_writer_drops_tensors_and_buffers_nothing_uses():
    """A constant the lowering made and then replaced is not written; LiteRT runs the file."""
    from ai_edge_litert.interpreter import Interpreter as LiteRT

    from targets.tflite.writer import TfliteWriter

    w = TfliteWriter()
    x = w.add_tensor("x", np.dtype(np.float32), (1, 4))
    w.add_const("unused", np.arange(1000, dtype=np.float32))
    c = w.add_const("c", np.full((1, 4), 2.0, np.float32))
    y = w.add_tensor("y", np.dtype(np.float32), (1, 4))
    w.add_operator("ADD", [x, c], [y])
    w.set_inputs([x], ["x"])
    w.set_outputs([y], ["y"])
    data = w.finish()
    assert len(data) < 1000 * 4  # the unused constant's 4000 bytes are gone
    it = LiteRT(model_content=data)
    it.allocate_tensors()
    assert {d["name"] for d in it.get_tensor_details()} == {"x", "c", "y"}
    it.set_tensor(it.get_input_details()[0]["index"], np.ones((1, 4), np.float32))
    it.invoke()
    np.testing.assert_array_equal(it.get_tensor(it.get_output_details()[0]["index"]), 3.0)
