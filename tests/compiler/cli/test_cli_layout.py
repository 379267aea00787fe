"""``--layout`` and symbolic ``--input-shape`` on the command line, and the one error a
model with dynamic spatial dims gets from the TFLite target."""

from __future__ import annotations

import os

import numpy as np
import pytest

from compiler.cli import main
from compiler.cli.common import UsageError, parse_input_shapes
from tests.conftest import model_path
from tests.support.onnx_models import write_convnet_onnx


def run(capsys, *args):
    code = main(list(map(str, args)))
    out, err = capsys.readouterr()
    return code, out, err


# -- --input-shape ---------------------------------------------------------------------------


def test_parse_input_shapes_symbols_and_unknown_dims():
    assert parse_input_shapes(["x:1x3x224x224", "m:Nx?", "y:1,-1,batch"]) == {
        "x": [1, 3, 224, 224], "m": ["N", "?"], "y": [1, "?", "batch"]}
    assert parse_input_shapes(["s:scalar"]) == {"s": []}


@pytest.mark.parametrize("spec, says", [("x:1x-2", "negative dimension -2"),
                                        ("x:1x2.5", "'2.5' is neither"),
                                        ("x:1xx3", "empty dimension"),
                                        ("1x3", "NAME:DIMS")])
def test_parse_input_shapes_refuses(spec, says):
    with pytest.raises(UsageError, match=says):
        parse_input_shapes([spec])


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    inp = keras.Input(shape=(8, 8, 3), name="image")
    out = keras.layers.Conv2D(2, 3, padding="same", name="conv")(inp)
    path = tmp_path_factory.mktemp("keras") / "net.keras"
    keras.Model(inp, out).save(path)
    return path


def test_symbolic_input_shape_on_keras(capsys, keras_file):
    """``N`` in --input-shape used to crash the Keras path with int('N')."""
    code, out, err = run(capsys, "inspect", keras_file, "--input-shape", "image:Nx8x8x3")
    assert code == 0, err
    assert "%image: f32[N,8,8,3]" in out
    code, out, err = run(capsys, "inspect", keras_file, "--input-shape", "image:batch,8,8,3",
                         "--layout", "NCHW")
    assert code == 0, err
    assert "%image: f32[batch,3,8,8]" in out


def test_symbolic_input_shape_on_tflite_and_onnx(capsys, tmp_path):
    src = model_path("tflite/tflite-micro/hello_world_float.tflite")
    code, out, err = run(capsys, "inspect", src, "--input-shape", "dense_input:Nx1")
    assert code == 0, err
    assert "%dense_input: f32[N,1]" in out
    onnx_src = write_convnet_onnx(tmp_path / "convnet.onnx", batch=1)
    code, out, err = run(capsys, "inspect", onnx_src, "--input-shape", "x:batch,3,-1,?")
    assert code == 0, err
    assert "%x: f32[batch,3,?,?]" in out


def test_caffe_refuses_a_symbolic_dim_its_shapes_need(capsys):
    src = model_path("caffe/open_nsfw/deploy.prototxt")
    code, _, err = run(capsys, "inspect", src, "--input-shape", "data:1x3xHxW")
    assert code == 2
    assert "layer 'fc_nsfw' (InnerProduct): needs static dims" in err
    assert len(err.strip().splitlines()) == 1


def test_keras_load_error_is_one_paragraph_naming_the_file(capsys, tmp_path):
    bad = tmp_path / "broken.keras"
    bad.write_bytes(b"PK\x03\x04 not really a zip archive")
    code, _, err = run(capsys, "inspect", bad)
    assert code == 2
    msg = err.strip()
    assert msg.startswith(f"infercc: error: {bad}: Keras cannot load this file")
    assert "\n" not in msg and "Traceback" not in msg


# -- --layout ----------------------------------------------------------------------------------


def test_compile_layout_nhwc_to_tflite(capsys, tmp_path):
    from compiler.runtime import open_executor

    src = write_convnet_onnx(tmp_path / "convnet.onnx", batch=1)
    out = tmp_path / "convnet.tflite"
    code, _, err = run(capsys, "compile", src, "-o", out, "--layout", "nhwc", "--no-run")
    assert code == 0, err
    ex = open_executor("litert", out)
    x = np.random.default_rng(0).standard_normal((1, 8, 8, 3)).astype(np.float32)
    feat = ex.run({"x": x}).outputs["feat"]
    assert feat.shape == (1, 8, 8, 4)


def test_layout_flag_is_checked(capsys, tmp_path):
    src = write_convnet_onnx(tmp_path / "convnet.onnx")
    code, _, err = run(capsys, "inspect", src, "--layout", "NWHC")
    assert code == 2 and "invalid choice: 'NWHC'" in err


def test_inspect_layout_nhwc_shows_the_nhwc_interface(capsys, tmp_path):
    src = write_convnet_onnx(tmp_path / "convnet.onnx")
    code, out, err = run(capsys, "inspect", src, "--layout", "NHWC")
    assert code == 0, err
    assert "%x: f32[N,8,8,3]" in out and "meta layout: NHWC" in out


# -- dynamic spatial dims to TFLite ------------------------------------------------------------


def test_dynamic_spatial_dims_get_one_error_with_the_flag(capsys, tmp_path):
    src = write_convnet_onnx(tmp_path / "convnet.onnx", batch=1, height="H", width="W")
    out = tmp_path / "convnet.tflite"
    code, _, err = run(capsys, "compile", src, "-o", out, "--no-run")
    assert code == 2 and not out.exists()
    assert "--input-shape x:1,3,640,640" in err
    assert len(err.strip().splitlines()) == 2  # the heading and the one problem
    code, _, err = run(capsys, "compile", src, "-o", out, "--no-run",
                       "--input-shape", "x:1,3,16,16")
    assert code == 0, err


def test_rapidocr_detector_dynamic_hw(capsys, tmp_path):
    src = model_path("onnx/rapidocr/ch_PP-OCRv4_det_infer.onnx")
    out = tmp_path / "det.tflite"
    code, _, err = run(capsys, "compile", src, "-o", out, "--no-run")
    assert code == 2 and not out.exists()
    assert "%x [" in err and "--input-shape x:1,3,640,640" in err
    assert len(err.strip().splitlines()) == 2
