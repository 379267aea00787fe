"""Tests of infercc's own Caffe protobuf messages (compiler.frontends.caffe.proto).

Independent references: OpenCV's Caffe importer (its own compiled caffe.proto) reads the
.caffemodel files written here; real Caffe wrote the open_nsfw .caffemodel read here; numpy
(LeNet) and torch (CIFAR-10 quick) compute the forward passes compared against OpenCV's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from compiler.errors import ModelLoadError
from compiler.frontends.caffe import proto as cp
from tests.conftest import model_path
from tests.support.caffe_nets import (conv_geometry, param_shapes, pool_geometry,
                                     seeded_caffemodel, v1_lenet)

BVLC = [
    "bvlc_alexnet_deploy.prototxt",
    "bvlc_googlenet_deploy.prototxt",
    "bvlc_reference_caffenet_deploy.prototxt",
    "cifar10_cifar10_full.prototxt",
    "cifar10_cifar10_quick.prototxt",
    "mnist_lenet.prototxt",
]
NSFW_PROTO = "caffe/open_nsfw/deploy.prototxt"
NSFW_MODEL = "caffe/open_nsfw/resnet_50_1by2_nsfw.caffemodel"


# ---------------------------------------------------------------------------------------
# Parsing.


@pytest.mark.parametrize("name", BVLC + ["open_nsfw"])
def test_prototxt_parses(name):
    rel = NSFW_PROTO if name == "open_nsfw" else f"caffe/bvlc/{name}"
    net = cp.read_prototxt(model_path(rel))
    assert len(net.layer) > 0 and not cp.is_v1(net)
    assert net.layer[0].type == "Input"
    # every learnable layer gets well-formed parameter shapes (exercises conv/pool params)
    for shapes in param_shapes(net).values():
        assert all(d > 0 for s in shapes for d in s)


def test_parsed_values_match_the_text():
    net = cp.read_prototxt(model_path("caffe/bvlc/bvlc_alexnet_deploy.prototxt"))
    layers = {l.name: l for l in net.layer}
    conv2 = layers["conv2"].convolution_param
    assert (conv2.num_output, conv2.group, list(conv2.pad), list(conv2.kernel_size)) == (
        256, 2, [2], [5])
    norm1 = layers["norm1"].lrn_param
    assert (norm1.local_size, norm1.beta) == (5, 0.75)
    assert norm1.alpha == pytest.approx(1e-4)
    assert layers["pool1"].pooling_param.pool == cp.PoolingParameter.MAX
    assert layers["drop6"].dropout_param.dropout_ratio == 0.5
    assert list(layers["data"].input_param.shape[0].dim) == [10, 3, 227, 227]
    # defaults from caffe.proto
    assert conv2.bias_term is True and conv2.engine == cp.ConvolutionParameter.DEFAULT
    assert cp.BatchNormParameter().eps == pytest.approx(1e-5)
    assert cp.NetState().phase == cp.TEST
    assert cp.FillerParameter().type == "constant"
    assert cp.EltwiseParameter().operation == cp.EltwiseParameter.SUM
    assert cp.PoolingParameter().round_mode == cp.PoolingParameter.CEIL


def test_nsfw_caffemodel_written_by_caffe():
    net = cp.read_caffemodel(model_path(NSFW_MODEL))
    deploy = cp.read_prototxt(model_path(NSFW_PROTO))
    expected = param_shapes(deploy)
    layers = {l.name: l for l in net.layer}
    conv1 = cp.blob_to_array(layers["conv_1"].blobs[0], "conv_1")
    assert conv1.shape == (64, 3, 7, 7) and conv1.dtype == np.float32
    assert np.isfinite(conv1).all() and conv1.std() > 1e-3
    n_params = 0
    for name, shapes in expected.items():
        got = [tuple(cp.blob_to_array(b, name).shape) for b in layers[name].blobs]
        assert got == shapes, name
        n_params += sum(int(np.prod(s)) for s in shapes)
    assert len(expected) > 150 and n_params > 5_000_000  # ResNet-50-1by2: ~5.9M weights
    # Field numbers: real Caffe wrote these layer parameters in binary; the deploy text is
    # read by field name. Both agree only if our numbers are Caffe's.
    compared = 0
    for layer in deploy.layer:
        if layer.type == "Input":
            continue
        for fd, value in layer.ListFields():
            if fd.name.endswith("_param") and fd.name != "batch_norm_param":
                assert getattr(layers[layer.name], fd.name) == value, (layer.name, fd.name)
                compared += 1
    assert compared > 100
    # Yahoo's Caffe fork added fields 10000/10001 to its data layer; they survive a round
    # trip as unknown fields instead of failing or vanishing.
    again = cp.NetParameter.FromString(net.SerializeToString())
    assert again == net
    data_layer = again.layer[0]
    assert data_layer.type == "MemoryData"
    from google.protobuf import unknown_fields

    assert {f.field_number for f in unknown_fields.UnknownFieldSet(
        data_layer.memory_data_param)} == {10000, 10001}


def test_v1_format_is_detected():
    text = """
    name: "old"
    input: "data"
    input_dim: 1 input_dim: 1 input_dim: 4 input_dim: 4
    layers { name: "conv" type: CONVOLUTION bottom: "data" top: "conv"
             convolution_param { num_output: 2 kernel_size: 3 } blobs_lr: 1 blobs_lr: 2 }
    layers { name: "relu" type: RELU bottom: "conv" top: "conv" }
    """
    net = cp.parse_prototxt(text, "old.prototxt")
    assert cp.is_v1(net) and len(net.layer) == 0
    assert [cp.V1_TYPE_NAMES[cp.V1LayerParameter.LayerType.Name(l.type)] for l in net.layers] \
        == ["Convolution", "ReLU"]
    assert list(net.input_dim) == [1, 1, 4, 4]
    assert cp.NetParameter.FromString(net.SerializeToString()) == net


# ---------------------------------------------------------------------------------------
# Blobs.


def test_blob_roundtrip_and_legacy_shape():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4, 5)).astype(np.float32)
    b = cp.array_to_blob(a)
    assert list(b.shape.dim) == [3, 4, 5] and len(b.data) == a.size
    assert np.array_equal(cp.blob_to_array(cp.BlobProto.FromString(b.SerializeToString())), a)
    d = cp.array_to_blob(a.astype(np.float64), double=True)
    assert len(d.data) == 0 and cp.blob_to_array(d).dtype == np.float64
    # legacy 4-D blob, as old Caffe wrote InnerProduct weights (1 x 1 x N x K)
    legacy = cp.BlobProto(num=1, channels=1, height=2, width=3)
    legacy.data.extend([1, 2, 3, 4, 5, 6])
    assert cp.blob_to_array(legacy).shape == (1, 1, 2, 3)
    bad = cp.BlobProto()
    bad.shape.dim.extend([2, 2])
    bad.data.extend([1.0])
    with pytest.raises(ModelLoadError, match="holds 1 values"):
        cp.blob_to_array(bad, "fc/weights")


# ---------------------------------------------------------------------------------------
# Errors.


def test_bad_prototxt_names_file_line_and_column(tmp_path):
    p = tmp_path / "bad.prototxt"
    p.write_text('name: "x"\nlayer {\n  name: "a"\n  type: "ReLU"\n'
                 "  relu_param { negative_slope: oops }\n}\n")
    with pytest.raises(ModelLoadError) as e:
        cp.read_prototxt(p)
    assert f"{p}:5:" in str(e.value) and "line 5" in str(e.value)
    p.write_text('layer {\n  name: "a"\n')  # unterminated: reported after the last token
    with pytest.raises(ModelLoadError, match=r"bad.prototxt:2:9: .*Expected \"}\""):
        cp.read_prototxt(p)
    with pytest.raises(ModelLoadError, match="missing.prototxt"):
        cp.read_prototxt(tmp_path / "missing.prototxt")


def test_unknown_prototxt_fields_are_skipped(caplog):
    net = cp.parse_prototxt('layer { name: "up" type: "Upsample" upsample_param { scale: 2 } }',
                            "fork.prototxt")
    assert net.layer[0].type == "Upsample"
    assert "upsample_param" in caplog.text and "fork.prototxt" in caplog.text


def test_corrupt_caffemodel(tmp_path):
    data = model_path(NSFW_MODEL).read_bytes()
    cases = {
        "truncated": data[: len(data) // 2],
        "garbage": b"\xff" * 64,
        "empty": b"",
        "text": b'name: "LeNet"\nlayer { }\n',
    }
    for label, blob in cases.items():
        p = tmp_path / f"{label}.caffemodel"
        p.write_bytes(blob)
        with pytest.raises(ModelLoadError, match=f"{label}.caffemodel"):
            cp.read_caffemodel(p)


# ---------------------------------------------------------------------------------------
# Seeded weights read by OpenCV.


def run_opencv(prototxt: Path, caffemodel: Path, x: np.ndarray, outputs: list[str]):
    """Outputs ``outputs`` of OpenCV's Caffe importer running prototxt + caffemodel on x.

    The dev extra pins opencv-python-headless<5: OpenCV 5 removed readNetFromCaffe.
    """
    import cv2

    assert hasattr(cv2.dnn, "readNetFromCaffe"), (
        f"OpenCV {cv2.__version__} has no Caffe importer; install 'opencv-python-headless<5'"
    )
    net = cv2.dnn.readNetFromCaffe(str(prototxt), str(caffemodel))
    net.setInput(x)
    return [np.asarray(o) for o in net.forward(outputs)]


def numpy_lenet(x: np.ndarray, w: dict[str, list[np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """LeNet (mnist_lenet.prototxt) in float64 numpy: conv5-maxpool2-conv5-maxpool2-ip-relu-ip."""

    def conv(x, wt, b):
        k = wt.shape[-1]
        win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))
        return np.einsum("nchwij,ocij->nohw", win, wt) + b[None, :, None, None]

    def maxpool2(x):
        n, c, h, w_ = x.shape
        return x.reshape(n, c, h // 2, 2, w_ // 2, 2).max(axis=(3, 5))

    w = {k: [a.astype(np.float64) for a in v] for k, v in w.items()}
    y = maxpool2(conv(x.astype(np.float64), *w["conv1"]))
    y = maxpool2(conv(y, *w["conv2"]))
    y = np.maximum(y.reshape(len(y), -1) @ w["ip1"][0].T + w["ip1"][1], 0)
    logits = y @ w["ip2"][0].T + w["ip2"][1]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return logits, e / e.sum(axis=1, keepdims=True)


def test_lenet_seeded_weights_in_opencv(tmp_path):
    proto = model_path("caffe/bvlc/mnist_lenet.prototxt")
    x = np.random.default_rng(42).random((2, 1, 28, 28), dtype=np.float32)
    results = []
    for seed in (0, 1):
        model = tmp_path / f"lenet_{seed}.caffemodel"
        w = seeded_caffemodel(proto, model, seed)
        logits, prob = run_opencv(proto, model, x, ["ip2", "prob"])
        ref_logits, ref_prob = numpy_lenet(x, w)
        # measured (OpenCV 4.12, float32 vs float64): max |diff| 3.5e-7 on logits up to 0.9,
        # 3.6e-8 on probabilities; the bounds leave ~30x room
        np.testing.assert_allclose(logits.reshape(2, 10), ref_logits, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(prob.reshape(2, 10), ref_prob, rtol=1e-5, atol=1e-6)
        results.append(logits)
    # different weights give clearly different outputs: OpenCV used the blobs we wrote
    assert np.abs(results[0] - results[1]).max() > 0.1


def torch_forward(net, weights, x):
    """Forward a Caffe deploy net of Input/Convolution/Pooling/ReLU/InnerProduct/Softmax
    layers with torch (its own conv/pool kernels), returning every top by name."""
    import torch
    F = torch.nn.functional
    blobs = {}
    for layer in net.layer:
        t = layer.type
        if t == "Input":
            blobs[layer.top[0]] = torch.from_numpy(x).double()
            continue
        v = blobs[layer.bottom[0]]
        w = [torch.from_numpy(a).double() for a in weights.get(layer.name, [])]
        if t == "Convolution":
            p = layer.convolution_param
            _, pad, stride, dil = conv_geometry(p)
            v = F.conv2d(v, w[0], w[1] if len(w) > 1 else None, stride, pad, dil, p.group)
        elif t == "Pooling":
            p = layer.pooling_param
            k, pad, stride = pool_geometry(p, v.shape[2], v.shape[3])
            ceil = p.round_mode == cp.PoolingParameter.CEIL
            if p.pool == cp.PoolingParameter.MAX:
                v = F.max_pool2d(v, k, stride, pad, ceil_mode=ceil)
            else:
                v = F.avg_pool2d(v, k, stride, pad, ceil_mode=ceil, count_include_pad=True)
        elif t == "ReLU":
            v = F.relu(v)
        elif t == "InnerProduct":
            v = F.linear(v.flatten(1), w[0], w[1] if len(w) > 1 else None)
        elif t == "Softmax":
            v = F.softmax(v, dim=1)
        else:
            raise AssertionError(t)
        blobs[layer.top[0]] = v
    return {k: t.numpy() for k, t in blobs.items()}


def test_cifar10_quick_seeded_weights_in_opencv(tmp_path):
    proto = model_path("caffe/bvlc/cifar10_cifar10_quick.prototxt")
    deploy = cp.read_prototxt(proto)
    x = np.random.default_rng(7).standard_normal((1, 3, 32, 32)).astype(np.float32)
    results = []
    for seed in (0, 1):
        model = tmp_path / f"cifar_{seed}.caffemodel"
        w = seeded_caffemodel(proto, model, seed)
        assert cp.read_caffemodel(model).layer[0].name == "conv1"
        logits, prob = run_opencv(proto, model, x, ["ip2", "prob"])
        ref = torch_forward(deploy, w, x)
        # ceil-mode AVE pooling (16->8->4) exercises Caffe's partial edge windows;
        # measured (OpenCV 4.12 vs torch float64): max |diff| 2.9e-7 on logits up to 1.7,
        # 4.8e-8 on probabilities; the bounds leave ~30x room
        np.testing.assert_allclose(logits.reshape(1, 10), ref["ip2"], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(prob.reshape(1, 10), ref["prob"], rtol=1e-5, atol=1e-6)
        results.append(logits)
    assert np.abs(results[0] - results[1]).max() > 0.1


def test_v1_lenet_in_opencv(tmp_path):
    """The same seeded LeNet in the deprecated V1 format (``layers``, enum layer types,
    ``input``/``input_dim``, legacy 4-D num/channels/height/width blobs) gives OpenCV the
    same result as the current format: checks those field numbers against OpenCV's."""
    proto = model_path("caffe/bvlc/mnist_lenet.prototxt")
    w = seeded_caffemodel(proto, tmp_path / "v2.caffemodel", seed=3)
    x = np.random.default_rng(5).random((1, 1, 28, 28), dtype=np.float32)
    v1_proto, v1_model = v1_lenet(tmp_path, w, batch=1)
    assert cp.is_v1(cp.read_prototxt(v1_proto))
    assert cp.is_v1(cp.read_caffemodel(v1_model))
    (v1_out,) = run_opencv(v1_proto, v1_model, x, ["ip2"])
    (v2_out,) = run_opencv(proto, tmp_path / "v2.caffemodel", x, ["ip2"])
    ref_logits, _ = numpy_lenet(x, w)
    np.testing.assert_array_equal(v1_out, v2_out)  # same weights, same kernels
    np.testing.assert_allclose(v1_out.reshape(1, 10), ref_logits, rtol=1e-5, atol=1e-5)


def test_write_caffemodel_is_atomic(tmp_path):
    target = tmp_path / "m.caffemodel"
    target.write_bytes(b"old")
    net = cp.NetParameter(name="n")
    net.layer.add(name="l", type="ReLU")
    cp.write_caffemodel(net, target)
    assert cp.read_caffemodel(target) == net
    assert [p.name for p in tmp_path.iterdir()] == ["m.caffemodel"]  # no temp file left
