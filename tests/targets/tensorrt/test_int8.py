"""int8 for the TensorRT target: the ``tensorrt`` quantization spec's Q/DQ placement, the
Q/DQ converters, and quantized networks through the stand-in.

Two oracles: the reference interpreter on the quantized IR graph (the fake-quant reference:
the network must compute exactly what the QDQ graph says) and the float model (the int8
network must stay close to it, as SQNR of the outputs in dB). Tolerances were measured
(`pytest -s` prints each figure) and are set with a margin:

* stand-in vs fake-quant reference, max |diff| / max |reference|: 0 on the small graphs and
  models measured (the stand-in rounds and clips as the IR's quantize does, and both sum
  the same float32 products); bound 1e-5 (float32 summation order).
* int8 vs float, output SQNR in dB over all test feeds together (the calibration feeds:
  in-sample), measured: see each test; bounds about 6 dB below.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import compiler
from compiler.compile import compile_pipeline
from compiler.debug.metrics import sqnr_db
from compiler.ir import Graph, TensorType
from compiler.pass_manager import PassManager
from compiler.quantization.calibration import calibrate
from compiler.quantization.rewrite import quantize_graph
from targets import get_target
from targets.tensorrt.preflight import problems
from tests.conftest import REPO, model_path
from tests.support import trt_standin as trt
from tests.support.trt_check import reference, through_standin

EXAMPLES = REPO / "examples" / "models"
RNG = np.random.default_rng(0)
REL_TOL = 1e-5


@pytest.fixture(autouse=True)
def _seeded():
    """Each test builds its weights from the same seed, whatever runs before it."""
    global RNG
    RNG = np.random.default_rng(0)


def _rand(*shape: int, scale: float = 1.0) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def _feeds(g: Graph, n: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    r = np.random.default_rng(seed)
    return [{v.name: r.uniform(-1, 1, [d if isinstance(d, int) else 1 for d in v.type.shape])
             .astype(np.float32) for v in g.inputs} for _ in range(n)]


def _quantize(g: Graph, n: int = 8, **kw):
    """(float copy, calibration feeds, summary); ``g`` becomes its QDQ form."""
    feeds = _feeds(g, n)
    float_g = g.copy()
    st = calibrate(g, feeds, progress=False)
    return float_g, feeds, quantize_graph(g, st, scheme="tensorrt", **kw)


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b).max()) / max(float(np.abs(b).max()), 1e-6)


def _check(q: Graph, float_g: Graph, feeds, min_sqnr: float, label: str) -> None:
    """Stand-in vs fake-quant reference (REL_TOL) and vs float (``min_sqnr`` dB, over all
    ``feeds`` and outputs together)."""
    worst, ints, floats = 0.0, [], []
    for f in feeds:
        got, want, flt = through_standin(q, f), reference(q, f), reference(float_g, f)
        for k in want:
            worst = max(worst, _rel(got[k], want[k]))
            ints.append(got[k].ravel())
            floats.append(flt[k].ravel())
    sqnr = sqnr_db(np.concatenate(floats), np.concatenate(ints))
    print(f"{label}: stand-in vs fake-quant {worst:.3g}, SQNR vs float {sqnr:.1f} dB")
    assert worst <= REL_TOL
    assert sqnr >= min_sqnr


def _producer_op(v) -> str | None:
    return v.producer.op if v is not None and v.producer is not None else None


def _node(g: Graph, source: str):
    """The node of source layer ``source`` (not one of the consts or Q/DQ made for it)."""
    return next(n for n in g.nodes if source in n.source
                and n.op not in ("const", "quantize", "dequantize"))


# -- placement -------------------------------------------------------------------------------
def _residual_block(c: int = 8) -> Graph:
    """x -> conv1(relu) -> conv2 -> add(conv2, x) -> relu: a ResNet basic block."""
    g = Graph("block")
    x = g.add_input("x", TensorType("f32", (1, c, 6, 6)))
    pads = {"pads": [1, 1, 1, 1]}
    c1 = g.add_node("conv", [x, g.add_const(_rand(c, c, 3, 3, scale=0.3), "w1"),
                             g.add_const(_rand(c, scale=0.1), "b1")],
                    {**pads, "activation": "relu"}, source=["conv1"]).output
    c2 = g.add_node("conv", [c1, g.add_const(_rand(c, c, 3, 3, scale=0.3), "w2"),
                             g.add_const(_rand(c, scale=0.1), "b2")], pads,
                    source=["conv2"]).output
    s = g.add_node("add", [c2, x], source=["add"]).output
    g.outputs = [g.add_node("relu", [s], source=["relu"]).output]
    return g


def test_qdq_on_conv_inputs_and_the_residual_skip_input_not_on_conv_outputs():
    g = _residual_block()
    float_g, feeds, summary = _quantize(g)
    conv1, conv2, add = _node(g, "conv1"), _node(g, "conv2"), _node(g, "add")
    assert summary.quantized_ops == {"conv": 2}
    for conv in (conv1, conv2):
        assert _producer_op(conv.input(0)) == "dequantize"  # Q/DQ on the data input
        wdq = conv.input(1).producer  # int8 constant + per-channel dequantize on axis 0
        assert wdq.op == "dequantize" and wdq.attrs["axis"] == 0
        assert wdq.input(0).const_value.dtype == np.int8
        assert wdq.input(1).const_value.shape == (8,)
        b = conv.input(2)  # int32 bias folded back to float: a float constant
        assert b.is_const and b.const_value.dtype == np.float32
    # the fused branch (conv2's output) reaches the add as is; the skip input through Q/DQ
    assert add.input(0) is conv2.outputs[0] and add.input(1).producer.op == "dequantize"
    assert add.input(1).producer.input(0).producer.input(0).name == "x"
    # no Q/DQ on conv2's, the add's or the relu's outputs
    for v in (conv2.outputs[0], add.outputs[0], g.outputs[0]):
        assert all(u.op != "quantize" for u in v.users), v.name
    assert "add" in summary.float_nodes and "relu" in summary.float_nodes
    # the folded bias holds int32 values at input scale x weight scale
    s_in = float(conv2.input(0).producer.input(1).const_value)
    s_w = conv2.input(1).producer.input(1).const_value.astype(np.float64)
    steps = conv2.input(2).const_value / (s_in * s_w)
    assert np.allclose(steps, np.rint(steps), atol=1e-3)
    # measured: 0 vs fake-quant, 38.2 dB vs float
    _check(g, float_g, feeds, 32.0, "residual block")


def test_concat_inputs_share_one_scale():
    g = Graph("cat")
    x = g.add_input("x", TensorType("f32", (1, 4, 5, 5)))
    a = g.add_node("conv", [x, g.add_const(_rand(4, 4, 1, 1), "wa")], source=["a"]).output
    b = g.add_node("conv", [x, g.add_const(_rand(4, 4, 1, 1, scale=4.0), "wb")],
                   source=["b"]).output
    cat = g.add_node("concat", [a, b], {"axis": 1}, source=["cat"]).output
    g.outputs = [g.add_node("conv", [cat, g.add_const(_rand(4, 8, 1, 1), "wc")],
                            source=["c"]).output]
    float_g, feeds, summary = _quantize(g)
    concat = _node(g, "cat")
    scales = [float(v.producer.input(1).const_value) for v in concat.inputs]
    assert all(_producer_op(v) == "dequantize" for v in concat.inputs)
    assert scales[0] == scales[1]  # one scale covering both ranges (b's is ~4x a's)
    assert summary.quantized_ops == {"conv": 3, "concat": 1}
    # measured: 0 vs fake-quant, 39.7 dB vs float (a's values get b's coarser scale)
    _check(g, float_g, feeds, 33.0, "concat")


@pytest.mark.parametrize("channels, quantized", [(6, False), (8, True)])
def test_grouped_conv_is_int8_only_with_a_multiple_of_4_channels_per_group(channels, quantized):
    g = Graph("grouped")
    x = g.add_input("x", TensorType("f32", (1, channels, 5, 5)))
    g.outputs = [g.add_node("conv", [x, g.add_const(_rand(channels, channels // 2, 3, 3), "w")],
                            {"group": 2}, source=["gconv"]).output]
    float_g, feeds, summary = _quantize(g)
    conv = _node(g, "gconv")
    assert (_producer_op(conv.input(0)) == "dequantize") is quantized
    assert ("gconv" in summary.float_nodes) is not quantized
    assert conv.input(1).is_const is not quantized
    # measured: 0 vs fake-quant; 43.5 dB vs float (8 channels), exact float (6)
    _check(g, float_g, feeds, 37.0 if quantized else np.inf, f"grouped {channels}")


def test_weight_axes_conv_transpose_1_gemm_and_matmul_output_features():
    g = Graph("axes")
    x = g.add_input("x", TensorType("f32", (1, 4, 3, 3)))
    d = g.add_node("conv_transpose", [x, g.add_const(_rand(4, 6, 2, 2), "wd"),
                                      g.add_const(_rand(6), "bd")],
                   {"strides": [2, 2]}, source=["deconv"]).output
    f = g.add_node("reshape", [d, g.add_const(np.array([1, 216], np.int64), "shape")],
                   source=["flat"]).output
    h = g.add_node("gemm", [f, g.add_const(_rand(5, 216, scale=0.1), "wg"),
                            g.add_const(_rand(5), "bg")], {"transB": 1}, source=["fc"]).output
    g.outputs = [g.add_node("matmul", [h, g.add_const(_rand(5, 3), "wm")],
                            source=["mm"]).output]
    float_g, feeds, summary = _quantize(g)
    axes = {n.source[0]: (n.input(1).producer.attrs["axis"],
                          n.input(1).producer.input(1).const_value.shape)
            for n in g.nodes if n.op in ("conv_transpose", "gemm", "matmul")}
    assert axes == {"deconv": (1, (6,)), "fc": (0, (5,)), "mm": (1, (3,))}
    # measured: 0 vs fake-quant, 33.0 dB vs float (three quantized layers in a row)
    _check(g, float_g, feeds, 27.0, "conv_transpose/gemm/matmul")


def test_pooling_and_two_activation_matmul_through_the_standin():
    g = Graph("pool")
    x = g.add_input("x", TensorType("f32", (1, 4, 8, 8)))
    c = g.add_node("conv", [x, g.add_const(_rand(4, 4, 3, 3), "w")], {"pads": [1, 1, 1, 1]},
                   source=["conv"]).output
    m = g.add_node("max_pool", [c], {"kernel_shape": [2, 2], "strides": [2, 2]},
                   source=["maxpool"]).output
    a = g.add_node("avg_pool", [m], {"kernel_shape": [2, 2], "strides": [2, 2]},
                   source=["avgpool"]).output
    r = g.add_node("reshape", [a, g.add_const(np.array([1, 4, 4], np.int64), "s")],
                   source=["r"]).output
    t = g.add_node("transpose", [r], {"perm": [0, 2, 1]}, source=["t"]).output
    g.outputs = [g.add_node("matmul", [r, t], source=["gram"]).output]
    float_g, feeds, summary = _quantize(g)
    assert summary.quantized_ops == {"conv": 1, "max_pool": 1, "avg_pool": 1, "matmul": 1}
    gram = _node(g, "gram")
    assert [_producer_op(v) for v in gram.inputs] == ["dequantize", "dequantize"]
    # measured: 0 vs fake-quant, 44.7 dB vs float
    _check(g, float_g, feeds, 38.0, "pooling/matmul")


def test_an_asymmetric_graph_is_refused_by_the_preflight():
    """A graph quantized for TFLite (zero points, int32 biases) is not TensorRT's Q/DQ."""
    g = _residual_block()
    st = calibrate(g, _feeds(g, 4), progress=False)
    quantize_graph(g, st, scheme="tflite")
    reasons = " ".join(r for p in problems(g) for r in [str(p)])
    assert "non-zero zero point" in reasons and "dequantize of i32" in reasons


def test_qdq_layers_in_the_network_are_int8_with_per_axis_weights():
    g = _residual_block()
    _quantize(g)
    from targets.tensorrt.network import build_network

    network, _ = build_network(g, trt)  # type: ignore[arg-type]
    layers = [network.get_layer(i) for i in range(network.num_layers)]
    q = [ly for ly in layers if ly.type == trt.LayerType.QUANTIZE]
    dq = [ly for ly in layers if ly.type == trt.LayerType.DEQUANTIZE]
    assert len(q) == 2 and len(dq) == 4  # x and conv1's output; plus the two kernels
    assert all(ly.get_output(0).dtype == trt.int8 for ly in q)
    kernels = [ly for ly in dq if ly.get_input(0).shape[0] == 8 and len(ly.get_input(0).shape) == 4]
    assert len(kernels) == 2 and all(ly.axis == 0 for ly in kernels)
    convs = [ly for ly in layers if ly.type == trt.LayerType.CONVOLUTION]
    assert all(c.get_input(1) is not None for c in convs)  # kernel wired from a dequantize


# -- models ----------------------------------------------------------------------------------
def _prepared(model, **load_options) -> Graph:
    g = compiler.load(model, **load_options)
    PassManager(compile_pipeline(get_target("tensorrt"))).run(g)
    return g


@pytest.mark.parametrize("model, options, min_sqnr", [
    # measured: 0 vs fake-quant; SQNR vs float 60.0 dB (tiny_cnn: softmax probabilities),
    # 41.2 dB (digits)
    (EXAMPLES / "tiny_cnn.onnx", {"input_shapes": {"input": (1, 3, 32, 32)}}, 50.0),
    (EXAMPLES / "digits_cnn.keras", {"input_shapes": {"digits": (1, 8, 8, 1)}}, 35.0),
], ids=["tiny_cnn", "digits"])
def test_example_models(model, options, min_sqnr):
    g = _prepared(model, **options)
    float_g, feeds, summary = _quantize(g)
    assert summary.num_quantized > 0
    _check(g, float_g, feeds[:4], min_sqnr, model.name)


def test_ppocr_cls():
    g = _prepared(model_path("onnx/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx"),
                  input_shapes={"x": (1, 3, 48, 192)})
    float_g, feeds, summary = _quantize(g, n=4)
    assert summary.quantized_ops.get("conv", 0) > 0
    # measured: 0 vs fake-quant, 28.0 dB vs float (its two-class softmax output)
    _check(g, float_g, feeds[:2], 22.0, "ppocr cls")


# -- compile and the CLI ---------------------------------------------------------------------
def test_compile_report_and_mixed_precision_use_the_tensorrt_spec(monkeypatch, tmp_path):
    """The accuracy report runs the reference interpreter on the quantized IR (never
    TensorRT); the engine build is replaced by a stand-in network build here."""
    import targets.tensorrt.target as target_mod
    from targets.tensorrt.network import build_network

    built = {}

    def standin_engine(graph, _trt, _opts):
        network, ctx = build_network(graph, trt)  # type: ignore[arg-type]
        built["network"] = network
        return b"standin", {}, []

    monkeypatch.setattr(target_mod, "import_tensorrt", lambda: trt)
    monkeypatch.setattr(target_mod, "build_engine", standin_engine)
    cal = tmp_path / "cal.npz"
    np.savez(cal, input=np.random.default_rng(0).uniform(-1, 1, (8, 3, 32, 32))
             .astype(np.float32))
    result = compiler.compile(EXAMPLES / "tiny_cnn.onnx", "tensorrt", int8=True,
                              calibration=str(cal), input_shapes={"input": (1, 3, 32, 32)},
                              report=True, keep_sensitive=1, verify=False)
    acc = result.accuracy
    assert acc.report is not None and acc.report.num_samples == 8
    # the layers mixed precision ranks are the ones the tensorrt spec quantizes (the
    # depthwise conv, 1 channel per group, stays float; softmax and pooling are no int8 ops)
    assert {r.layer for r in acc.ranking} == {"features.0.conv", "features.2.pw",
                                              "classifier.fc"}
    assert len(acc.kept) == 1 and acc.kept[0] in {r.layer for r in acc.ranking}
    ops = {n.op for n in result.graph.nodes}
    assert "quantize" in ops
    assert not any(n.op == "dequantize" and n.input(0).type.dtype.name == "I32"
                   for n in result.graph.nodes)  # tensorrt spec: float biases
    assert "network" in built


def test_cli_int8_reaches_the_engine_build(tmp_path):
    model = EXAMPLES / "tiny_cnn.onnx"
    cal = tmp_path / "cal.npz"
    np.savez(cal, input=np.random.default_rng(0).uniform(-1, 1, (4, 3, 32, 32))
             .astype(np.float32))
    out = tmp_path / "m.engine"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "compiler.cli", "compile", str(model),
                           "--input-shape", "input:1x3x32x32", "--target", "tensorrt",
                           "--int8", "--calibration", str(cal), "--keep-float",
                           "classifier.fc", "-o", str(out)],
                          capture_output=True, text=True, env=env, timeout=300)
    import importlib.util

    if importlib.util.find_spec("tensorrt") is None:
        assert proc.returncode == 2, proc.stderr
        assert "cannot build a TensorRT engine here" in proc.stderr  # past the pre-flight
        assert "Traceback" not in proc.stderr and not out.exists()
    else:
        assert proc.returncode == 0, proc.stderr


def test_torch_resnet_like_residual_adds():
    """A torch model through the frontend and the default pipeline: every residual add
    reads one conv output directly and its skip input through Q/DQ."""
    torch = pytest.importorskip("torch")
    from tests.support import models_torch as M

    torch.manual_seed(0)
    g = _prepared(M.ResNetLike().eval(), example_inputs=(torch.randn(1, 3, 32, 32),))
    float_g, feeds, summary = _quantize(g, n=4)
    adds = [n for n in g.nodes if n.op == "add"]
    assert adds
    for add in adds:
        srcs = sorted(_producer_op(v) or "input" for v in add.inputs)
        assert srcs == ["conv", "dequantize"], (add.label, srcs)
    # measured: 0 vs fake-quant, 40.2 dB vs float
    _check(g, float_g, feeds[:2], 34.0, "torch ResNetLike")
