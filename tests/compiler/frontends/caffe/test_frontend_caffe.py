"""Tests of the Caffe frontend (compiler.frontends.caffe.load_caffe).

Independent references: OpenCV's Caffe importer (``cv2.dnn.readNetFromCaffe``, its own
compiled caffe.proto and kernels) run on the same prototxt + caffemodel, with layer fusion
off so that every layer's own output can be compared by name; where OpenCV departs from
Caffe (it ignores LRN ``k``, InnerProduct ``transpose``, Swish ``beta``, Log's base/scale/
shift, and lacks Threshold/Clip/Bias and batch-statistics BatchNorm) float64 numpy
written from Caffe's layer definitions is the reference.

Error figures: ``abs`` is max |ours - ref|; ``rel`` is that divided by max |ref| of the blob.
Run with ``-s`` to see them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from compiler.errors import ModelLoadError, UnsupportedOpsError
from compiler.frontends.caffe import proto as cp
from compiler.frontends.caffe import SUPPORTED_OPS, load_caffe
from compiler.interpreter import Interpreter
from compiler.ir.verifier import verify
from tests.conftest import model_path
from tests.support.caffe_nets import seeded_caffemodel, v1_lenet

NSFW_PROTO = "caffe/open_nsfw/deploy.prototxt"
NSFW_MODEL = "caffe/open_nsfw/resnet_50_1by2_nsfw.caffemodel"


# ---------------------------------------------------------------------------------------
# Helpers.


def layer(name: str, type_: str, bottom, top, body: str = "") -> str:
    bottoms = [bottom] if isinstance(bottom, str) else list(bottom)
    tops = [top] if isinstance(top, str) else list(top)
    b = "".join(f' bottom: "{x}"' for x in bottoms)
    t = "".join(f' top: "{x}"' for x in tops)
    return f'layer {{ name: "{name}" type: "{type_}"{b}{t} {body} }}\n'


def input_layer(shape) -> str:
    dims = " ".join(f"dim: {d}" for d in shape)
    return f'layer {{ name: "data" type: "Input" top: "data" input_param {{ shape {{ {dims} }} }} }}\n'


def write_net(tmp: Path, text: str, shapes: dict[str, list[tuple[int, ...]]], seed: int = 0):
    """Write ``text`` as a prototxt and N(0, 0.25) blobs of ``shapes`` (|.| for BatchNorm
    statistics, which must be non-negative) as its caffemodel; returns (paths, arrays)."""
    proto, model = tmp / "net.prototxt", tmp / "net.caffemodel"
    proto.write_text(text)
    rng = np.random.default_rng(seed)
    net = cp.NetParameter(name="net")
    arrays = {}
    types = {l.name: l.type for l in cp.parse_prototxt(text).layer}
    for name, ss in shapes.items():
        a = [(0.5 * rng.standard_normal(s)).astype(np.float32) for s in ss]
        if types[name] == "BatchNorm":
            a = [np.abs(v) + np.float32(0.1) for v in a]
        arrays[name] = a
        net.layer.add(name=name, type=types[name]).blobs.extend(cp.array_to_blob(v) for v in a)
    cp.write_caffemodel(net, model)
    return proto, model, arrays


def by_layer(graph) -> dict[str, str]:
    """Caffe layer name -> the IR value holding that layer's (first) result (a node made
    from several layers counts for each)."""
    out = {}
    for n in graph.nodes:
        if n.op != "const":
            for src in n.source:
                out[src] = n.outputs[0].name
    return out


def ours(graph, feeds: dict[str, np.ndarray], layers: list[str]) -> dict[str, np.ndarray]:
    names = by_layer(graph)
    res = Interpreter(graph).run(feeds, outputs=[names[l] for l in layers])
    return {l: res[names[l]] for l in layers}


def opencv(proto: Path, model: Path, x: np.ndarray, layers: list[str]) -> dict[str, np.ndarray]:
    import cv2

    net = cv2.dnn.readNetFromCaffe(str(proto), str(model))
    net.enableFusion(False)  # keep each layer's own output (no BN+Scale+ReLU folding)
    net.setInput(x)
    return dict(zip(layers, (np.asarray(o) for o in net.forward(layers))))


def errors(got: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    ref = np.asarray(ref, dtype=np.float64).reshape(got.shape)
    d = float(np.abs(got.astype(np.float64) - ref).max())
    return d, d / max(float(np.abs(ref).max()), 1e-30)


def check(got: dict, ref: dict, rel_tol: float, label: str) -> float:
    worst = (0.0, 0.0, "")
    for name, want in ref.items():
        assert got[name].size == np.size(want), name
        a, r = errors(got[name], want)
        if r > worst[1]:
            worst = (a, r, name)
        assert r <= rel_tol, f"{label}: layer {name}: max abs err {a:.3g}, rel {r:.3g}"
    print(f"{label}: {len(ref)} blobs, worst {worst[2]}: abs {worst[0]:.3g} rel {worst[1]:.3g}")
    return worst[1]


# ---------------------------------------------------------------------------------------
# The real open_nsfw ResNet-50-1by2 on a real photo.


def nsfw_input() -> np.ndarray:
    import cv2
    import skimage.data

    bgr = skimage.data.chelsea()[:, :, ::-1].astype(np.float32)
    bgr = cv2.resize(bgr, (224, 224), interpolation=cv2.INTER_LINEAR)
    return (bgr - np.array([104, 117, 123], np.float32)).transpose(2, 0, 1)[None].copy()


def test_open_nsfw_matches_opencv():
    proto, model = model_path(NSFW_PROTO), model_path(NSFW_MODEL)
    g = load_caffe(proto, model)
    verify(g)
    assert [v.name for v in g.inputs] == ["data"] and [v.name for v in g.outputs] == ["prob"]
    assert g.metadata["source_format"] == "caffe"
    x = nsfw_input()
    names = ["conv_1", "scale_1", "relu_1", "pool1", "eltwise_stage0_block0",
             "eltwise_stage3_block2", "pool", "fc_nsfw", "prob"]
    got = ours(g, {"data": x}, names)
    ref = opencv(proto, model, x, names)
    # measured (OpenCV 4.14): worst rel err 2.7e-6 (eltwise_stage3_block2, abs 2.9e-5);
    # prob of class 0 is 0.99997 (a cat is SFW) in both, abs err 2e-11
    check(got, ref, 2e-5, "open_nsfw")
    np.testing.assert_allclose(got["prob"], ref["prob"].reshape(1, 2), atol=1e-6)
    assert got["prob"][0, 0] > 0.99
    # provenance and in-place SSA: conv_1 -> bn_1 + scale_1 (one batch_norm) -> relu_1 all
    # write blob conv_1
    conv = g.value("conv_1").producer
    assert conv.op == "conv" and conv.source == ("conv_1",)
    bn, relu = g.value("scale_1").producer, g.value("relu_1").producer
    assert bn.op == "batch_norm" and bn.source == ("bn_1", "scale_1")
    assert bn.inputs[0] is g.value("conv_1") and relu.inputs[0] is bn.outputs[0]
    assert len(g.find("batch_norm")) == 53 and not g.find("mul")
    # fuse-batchnorm then folds every BatchNorm + Scale pair into its conv
    from compiler.pass_manager.manager import PassManager

    PassManager("fuse-batchnorm,fold-constants,dce").run(g)
    assert not g.find("batch_norm")
    folded = Interpreter(g).run({"data": x})["prob"]
    # measured: abs diff 7e-11 from the unfolded graph
    np.testing.assert_allclose(folded, got["prob"], atol=1e-6)


# ---------------------------------------------------------------------------------------
# BVLC deploy nets with seeded weights.


BVLC_FAST = ["mnist_lenet", "cifar10_cifar10_quick", "cifar10_cifar10_full",
             "bvlc_googlenet_deploy"]
BVLC_SLOW = ["bvlc_alexnet_deploy", "bvlc_reference_caffenet_deploy"]


def run_bvlc(name: str, tmp_path: Path) -> None:
    proto = model_path(f"caffe/bvlc/{name}.prototxt")
    model = tmp_path / f"{name}.caffemodel"
    seeded_caffemodel(proto, model, seed=0)
    deploy = cp.read_prototxt(proto)
    shape = [int(d) for d in deploy.layer[0].input_param.shape[0].dim]
    shape[0] = 1  # batch 1 through input_shapes keeps the run short
    g = load_caffe(proto, model, input_shapes={"data": shape})
    verify(g)
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    names = [l.name for l in deploy.layer if l.type not in ("Input", "Dropout")]
    got = ours(g, {"data": x}, names)
    ref = opencv(proto, model, x, names)
    # measured (OpenCV 4.14, every layer, float32 both sides): worst rel err 5.4e-7 LeNet,
    # 6.8e-7 CIFAR quick, 6.0e-7 CIFAR full, 4.1e-6 GoogLeNet (conv2/norm2),
    # 4.6e-6 AlexNet, 4.2e-6 CaffeNet
    check(got, ref, 3e-5, name)


@pytest.mark.parametrize("name", BVLC_FAST)
def test_bvlc_seeded_matches_opencv(name, tmp_path):
    run_bvlc(name, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", BVLC_SLOW)
def test_bvlc_seeded_matches_opencv_slow(name, tmp_path):
    run_bvlc(name, tmp_path)


# ---------------------------------------------------------------------------------------
# Synthetic nets covering the layer set against OpenCV.


def test_conv_pool_bn_layers(tmp_path):
    t = input_layer([2, 4, 9, 11])
    t += layer("c1", "Convolution", "data", "c1", "convolution_param { num_output: 6 "
               "kernel_h: 3 kernel_w: 2 pad_h: 1 pad_w: 2 stride_h: 2 stride_w: 1 }")
    t += layer("c2", "Convolution", "c1", "c2", "convolution_param { num_output: 6 "
               "kernel_size: 3 kernel_size: 1 pad: 2 pad: 0 dilation: 2 group: 3 bias_term: false }")
    t += layer("c3", "Deconvolution", "c2", "c3", "convolution_param { num_output: 4 "
               "kernel_size: 3 stride: 2 pad: 1 group: 2 }")
    t += layer("bn", "BatchNorm", "c3", "c3", "batch_norm_param { eps: 0.001 }")
    t += layer("sc", "Scale", "c3", "c3", "scale_param { bias_term: true }")
    t += layer("relu", "ReLU", "c3", "c3", "relu_param { negative_slope: 0.1 }")
    t += layer("p1", "PReLU", "c3", "p1")
    t += layer("p2", "PReLU", "p1", "p2", "prelu_param { channel_shared: true }")
    # 27 wide: ceil((27 + 2 - 2) / 2) + 1 = 15, and the 15th window would start in the
    # padding (14 * 2 >= 27 + 1), so Caffe drops it: 14. 9 high: 6 -> 5 likewise.
    t += layer("pm", "Pooling", "p2", "pm", "pooling_param { pool: MAX kernel_size: 2 stride: 2 pad: 1 }")
    # AVE divides edge windows by their part inside the padded input
    t += layer("pa", "Pooling", "p2", "pa", "pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 }")
    t += layer("pf", "Pooling", "p2", "pf", "pooling_param { pool: AVE kernel_h: 2 kernel_w: 3 "
               "stride_h: 1 stride_w: 2 pad_h: 1 pad_w: 0 round_mode: FLOOR }")
    t += layer("gm", "Pooling", "p2", "gm", "pooling_param { pool: MAX global_pooling: true }")
    # a BatchNorm read by a Scale and a ReLU: the Scale cannot merge into it
    t += layer("bn2", "BatchNorm", "p2", "b2")
    t += layer("sc2", "Scale", "b2", "s2")
    t += layer("r2", "ReLU", "b2", "r2")
    shapes = {"c1": [(6, 4, 3, 2), (6,)], "c2": [(6, 2, 3, 1)], "c3": [(6, 2, 3, 3), (4,)],
              "bn": [(4,), (4,), (1,)], "sc": [(4,), (4,)], "p1": [(4,)], "p2": [(1,)],
              "bn2": [(4,), (4,), (1,)], "sc2": [(4,)]}
    proto, model, _ = write_net(tmp_path, t, shapes)
    g = load_caffe(proto, model)
    verify(g)
    assert g.value("pm").type.shape == (2, 4, 5, 14) and g.value("pa").type.shape == (2, 4, 5, 14)
    x = np.random.default_rng(1).standard_normal((2, 4, 9, 11)).astype(np.float32)
    # bn + sc (in place) are one batch_norm: compared at sc
    assert g.value("sc").producer.source == ("bn", "sc")
    assert g.value("b2").producer.op == "batch_norm" and g.value("s2").producer.op == "mul"
    names = ["c1", "c2", "c3", "sc", "relu", "p1", "p2", "pm", "pa", "pf", "gm", "bn2", "sc2", "r2"]
    # measured: worst rel err 3.9e-7 (r2)
    check(ours(g, {"data": x}, names), opencv(proto, model, x, names), 1e-5, "conv/pool/bn")


def test_pool_ceil_rounding_changes_output_size(tmp_path):
    """6 wide, kernel 3, stride 2, no pad: Caffe rounds up to 3 outputs (floor gives 2);
    5 wide, kernel 2, stride 2, pad 1: ceil gives 4 but the last window would start in the
    padding, so Caffe keeps 3."""
    t = input_layer([1, 2, 6, 5])
    t += layer("p", "Pooling", "data", "p", "pooling_param { pool: MAX kernel_size: 3 stride: 2 }")
    t += layer("q", "Pooling", "data", "q", "pooling_param { pool: AVE kernel_size: 2 stride: 2 pad: 1 }")
    t += layer("r", "Pooling", "data", "r", "pooling_param { pool: AVE kernel_size: 3 stride: 2 }")
    proto, model, _ = write_net(tmp_path, t, {})
    g = load_caffe(proto, None)
    assert g.value("p").type.shape == (1, 2, 3, 2)
    assert g.value("q").type.shape == (1, 2, 4, 3)
    assert g.value("r").type.shape == (1, 2, 3, 2)
    x = np.random.default_rng(2).standard_normal((1, 2, 6, 5)).astype(np.float32)
    ref = opencv(proto, model, x, ["p", "q", "r"])
    for n in "pqr":
        assert ref[n].shape == g.value(n).type.shape
    # measured: rel err <= 8.7e-9
    check(ours(g, {"data": x}, ["p", "q", "r"]), ref, 1e-6, "ceil pooling")
    # r's last window row covers rows 4..5 of 6 (no pad): it averages 2 x 3 values, not 3 x 3
    np.testing.assert_allclose(ref["r"][0, 0, 2, 0], x[0, 0, 4:6, 0:3].mean(), rtol=1e-5)


def test_tensor_and_activation_layers(tmp_path):
    t = input_layer([2, 6, 5, 4])
    t += layer("sl", "Slice", "data", ["a", "b", "c"], "slice_param { axis: 1 slice_point: 2 slice_point: 4 }")
    t += layer("sp", "Split", "b", ["b1", "b2"])
    t += layer("sig", "Sigmoid", "a", "sig")
    t += layer("th", "TanH", "c", "th")
    t += layer("es", "Eltwise", ["sig", "th"], "es", "eltwise_param { operation: SUM coeff: 0.5 coeff: -2 }")
    t += layer("es2", "Eltwise", ["sig", "th", "es"], "es2")
    t += layer("ep", "Eltwise", ["es", "sig"], "ep", "eltwise_param { operation: PROD }")
    t += layer("em", "Eltwise", ["ep", "es", "th"], "em", "eltwise_param { operation: MAX }")
    t += layer("cat", "Concat", ["em", "b1", "b2", "data", "es2"], "cat", "concat_param { axis: 1 }")
    t += layer("lrn", "LRN", "cat", "lrn", "lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 }")
    t += layer("lrnw", "LRN", "cat", "lrnw",
               "lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 norm_region: WITHIN_CHANNEL }")
    t += layer("pw", "Power", "lrnw", "pw", "power_param { power: 2 scale: 0.5 shift: 1 }")
    t += layer("elu", "ELU", "lrn", "elu", "elu_param { alpha: 0.7 }")
    t += layer("abs", "AbsVal", "elu", "abs")
    t += layer("bnll", "BNLL", "elu", "bnll")
    t += layer("drop", "Dropout", "bnll", "bnll")
    t += layer("perm", "Permute", "pw", "perm", "permute_param { order: 0 order: 2 order: 3 order: 1 }")
    t += layer("fl", "Flatten", "perm", "fl", "flatten_param { axis: 1 end_axis: 2 }")
    t += layer("rs", "Reshape", "abs", "rs",
               "reshape_param { shape { dim: 0 dim: -1 dim: 2 } axis: 2 num_axes: 2 }")
    t += layer("ip", "InnerProduct", "rs", "ip", "inner_product_param { num_output: 7 axis: 2 }")
    t += layer("ip2", "InnerProduct", "fl", "ip2", "inner_product_param { num_output: 3 }")
    t += layer("sm", "Softmax", "ip", "sm", "softmax_param { axis: 1 }")
    t += layer("e1", "Exp", "data", "e1", "exp_param { base: 2 scale: 0.5 shift: 0.1 }")
    t += layer("gp", "Pooling", "data", "gp", "pooling_param { pool: AVE global_pooling: true }")
    t += layer("s2", "Scale", ["data", "gp"], "s2", "scale_param { axis: 0 }")
    t += layer("cr", "Crop", ["data", "gp"], "cr", "crop_param { axis: 2 offset: 1 offset: 2 }")
    shapes = {"ip": [(7, 20), (7,)], "ip2": [(3, 14 * 20), (3,)]}
    proto, model, _ = write_net(tmp_path, t, shapes)
    g = load_caffe(proto, model)
    verify(g)
    # Caffe's outputs: blobs no layer reads (Dropout, in place on bnll, makes no node)
    assert sorted(v.name for v in g.outputs) == ["bnll", "cr", "e1", "ip2", "s2", "sm"]
    x = np.random.default_rng(1).standard_normal((2, 6, 5, 4)).astype(np.float32)
    names = ["sig", "th", "es", "es2", "ep", "em", "cat", "lrn", "lrnw", "pw", "elu", "abs",
             "bnll", "perm", "fl", "rs", "ip", "ip2", "sm", "e1", "gp", "s2", "cr"]
    # measured: worst rel err 6.7e-7 (ip2)
    check(ours(g, {"data": x}, names), opencv(proto, model, x, names), 1e-5, "tensor/activation")
    # Slice tops are split outputs; Split tops are the same value
    split = g.value("a").producer
    assert split.op == "split" and [v.name for v in split.outputs] == ["a", "b", "c"]
    cat = g.value("cat").producer
    assert cat.inputs[1] is cat.inputs[2] is g.value("b")


def test_layers_where_opencv_departs_from_caffe(tmp_path):
    """Caffe's own formulas in float64 numpy for what OpenCV ignores or lacks."""
    t = 'input: "data" input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }\n'  # legacy net input
    t += layer("lrn", "LRN", "data", "lrn", "lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 k: 2 }")
    t += layer("ipt", "InnerProduct", "data", "ipt", "inner_product_param { num_output: 3 transpose: true }")
    t += layer("lg", "Log", "data", "lg", "log_param { base: 10 scale: 2 shift: 9 }")
    t += layer("sw", "Swish", "data", "sw", "swish_param { beta: 1.5 }")
    t += layer("thr", "Threshold", "data", "thr", "threshold_param { threshold: 0.2 }")
    t += layer("cl", "Clip", "data", "cl", "clip_param { min: -0.5 max: 0.7 }")
    t += layer("bi", "Bias", "data", "bi")
    t += layer("bs", "BatchNorm", "data", "bs", "batch_norm_param { use_global_stats: false }")
    t += layer("bn", "BatchNorm", "data", "bn", "")
    t += layer("sc", "Scale", "data", "sc", "scale_param { axis: 1 num_axes: 2 bias_term: true }")
    shapes = {"ipt": [(60, 3), (3,)], "bi": [(3,)], "bs": [(3,), (3,), (1,)],
              "bn": [(3,), (3,), (1,)], "sc": [(3, 4), (3, 4)]}
    proto, model, w = write_net(tmp_path, t, shapes)
    w["bn"][2][...] = 0  # a zero moving-average factor zeroes the statistics, as in Caffe
    net = cp.NetParameter(name="net")
    for name, arrays in w.items():
        net.layer.add(name=name).blobs.extend(cp.array_to_blob(a) for a in arrays)
    cp.write_caffemodel(net, model)
    g = load_caffe(proto, model)
    verify(g)
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 5)).astype(np.float32)
    xd = x.astype(np.float64)
    w = {k: [a.astype(np.float64) for a in v] for k, v in w.items()}
    sq = np.pad(xd ** 2, ((0, 0), (1, 1), (0, 0), (0, 0)))
    mean = xd.mean(axis=(0, 2, 3), keepdims=True)
    var = ((xd - mean) ** 2).mean(axis=(0, 2, 3), keepdims=True)
    ref = {
        "lrn": xd / (2 + 0.5 / 3 * (sq[:, :-2] + sq[:, 1:-1] + sq[:, 2:])) ** 0.75,
        "ipt": xd.reshape(2, -1) @ w["ipt"][0] + w["ipt"][1],
        "lg": np.log10(9 + 2 * xd),
        "sw": xd / (1 + np.exp(-1.5 * xd)),
        "thr": (xd > 0.2).astype(np.float64),
        "cl": np.clip(xd, -0.5, 0.7),
        "bi": xd + w["bi"][0].reshape(3, 1, 1),
        "bs": (xd - mean) / np.sqrt(var + 1e-5),
        "bn": xd / np.sqrt(1e-5),
        "sc": xd * w["sc"][0][:, :, None] + w["sc"][1][:, :, None],
    }
    # measured: worst rel err 1.8e-7 (ipt)
    check(ours(g, {"data": x}, list(ref)), ref, 1e-6, "Caffe-only semantics")


# ---------------------------------------------------------------------------------------
# Old format, errors.


def test_v1_format(tmp_path):
    v2_proto = model_path("caffe/bvlc/mnist_lenet.prototxt")
    w = seeded_caffemodel(v2_proto, tmp_path / "v2.caffemodel", seed=3)
    proto, model = v1_lenet(tmp_path, w, batch=2)
    assert cp.is_v1(cp.read_prototxt(proto))
    g = load_caffe(proto, model)
    verify(g)
    assert g.inputs[0].type.shape == (2, 1, 28, 28)
    x = np.random.default_rng(5).random((2, 1, 28, 28), dtype=np.float32)
    names = ["conv1", "pool1", "conv2", "pool2", "ip1", "relu1", "ip2", "prob"]
    # measured: worst rel err 1.0e-6 (conv2)
    check(ours(g, {"data": x}, names), opencv(proto, model, x, names), 1e-5, "V1 LeNet")
    # the same weights through the current format give the same graph results
    g2 = load_caffe(v2_proto, tmp_path / "v2.caffemodel", input_shapes={"data": [2, 1, 28, 28]})
    np.testing.assert_array_equal(ours(g, {"data": x}, ["prob"])["prob"],
                                  ours(g2, {"data": x}, ["prob"])["prob"])


def test_unsupported_layers_listed_at_once(tmp_path):
    t = input_layer([1, 3, 8, 8])
    t += layer("up1", "Upsample", "data", "up1")
    t += layer("r", "ReLU", "up1", "r")
    t += layer("up2", "Upsample", "r", "up2")
    t += layer("pb", "PriorBox", ["up2", "data"], "pb")
    t += layer("st", "Pooling", "r", "st", "pooling_param { pool: STOCHASTIC kernel_size: 2 }")
    p = tmp_path / "bad.prototxt"
    p.write_text(t)
    with pytest.raises(UnsupportedOpsError) as e:
        load_caffe(p)  # reported before weights are even asked for
    assert e.value.unsupported == {"Upsample": ["up1", "up2"], "PriorBox": ["pb"],
                                   "Pooling(pool=STOCHASTIC)": ["st"]}
    assert "bad.prototxt" in str(e.value) and "up1, up2" in str(e.value)


def test_missing_weights(tmp_path):
    proto = model_path("caffe/bvlc/mnist_lenet.prototxt")
    with pytest.raises(ModelLoadError, match=r"no caffemodel given.*4 learnable.*conv1, conv2, ip1, ip2"):
        load_caffe(proto)
    net = cp.NetParameter(name="partial")
    net.layer.add(name="conv1", type="Convolution").blobs.extend(
        [cp.array_to_blob(np.zeros((20, 1, 5, 5), np.float32)), cp.array_to_blob(np.zeros(20, np.float32))])
    cp.write_caffemodel(net, tmp_path / "partial.caffemodel")
    with pytest.raises(ModelLoadError, match=r"partial.caffemodel: holds no weights for 3 .*conv2, ip1, ip2"):
        load_caffe(proto, tmp_path / "partial.caffemodel")
    # wrong blob size names the layer and both shapes
    bad = cp.NetParameter(name="bad")
    for name in ("conv1", "conv2", "ip1", "ip2"):
        bad.layer.add(name=name).blobs.extend([cp.array_to_blob(np.zeros((2, 2), np.float32))] * 2)
    cp.write_caffemodel(bad, tmp_path / "bad.caffemodel")
    with pytest.raises(ModelLoadError, match=r"layer 'conv1' .*shape \[2, 2\].*needs \[20, 1, 5, 5\]"):
        load_caffe(proto, tmp_path / "bad.caffemodel")


def test_file_and_input_errors(tmp_path):
    proto = model_path("caffe/bvlc/mnist_lenet.prototxt")
    with pytest.raises(ModelLoadError, match="nope.prototxt: no such file"):
        load_caffe(tmp_path / "nope.prototxt")
    with pytest.raises(ModelLoadError, match="nope.caffemodel: no such file"):
        load_caffe(proto, tmp_path / "nope.caffemodel")
    t = 'layer { name: "d" type: "Data" top: "data" top: "label" }\n'
    t += layer("r", "ReLU", "data", "r")
    t += layer("loss", "SoftmaxWithLoss", ["r", "label"], "loss")
    p = tmp_path / "train.prototxt"
    p.write_text(t)
    with pytest.raises(ModelLoadError, match=r"input_shapes=\{'data'"):
        load_caffe(p)
    g = load_caffe(p, input_shapes={"data": ["N", 3, 4, 4]})  # loss dropped, label unused
    assert [v.name for v in g.inputs] == ["data"] and [v.name for v in g.outputs] == ["r"]
    assert g.outputs[0].type.shape == ("N", 3, 4, 4)
    with pytest.raises(ModelLoadError, match="input_shapes names img"):
        load_caffe(p, input_shapes={"data": [1, 3, 4, 4], "img": [1]})


def test_supported_ops_table_matches_lowerings():
    from compiler.frontends.caffe import importer as caffe

    for t, note in SUPPORTED_OPS.items():
        assert note and (t in caffe._LOWER or t in caffe._DROPPED), t
