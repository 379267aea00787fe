"""`infercc inspect` / `infercc opt` take every source format by file type."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest

from compiler.cli import main
from tests.conftest import REPO, model_path


@pytest.mark.parametrize(
    "rel, extra, expect",
    [
        ("tflite/tflite-micro/hello_world_float.tflite", ["--input-shape", "dense_input:1x1"], "gemm"),
        ("caffe/open_nsfw/deploy.prototxt", [], "conv"),  # weights found beside the prototxt
        ("keras/fer/emotion_model.hdf5", [], "conv"),
        ("onnx/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx", ["--input-shape", "x:1x3x48x192"], "conv"),
    ],
)
def test_inspect_every_format(capsys, rel, extra, expect):
    code = main(["inspect", str(model_path(rel)), *extra])
    out = capsys.readouterr().out
    assert code == 0
    assert f"  {expect} " in out and "parameters:" in out


def test_opt_caffe_to_onnx_runs_in_onnxruntime(tmp_path, capsys):
    proto = model_path("caffe/open_nsfw/deploy.prototxt")
    out = tmp_path / "nsfw.onnx"
    assert main(["opt", str(proto), "-o", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    sess = ort.InferenceSession(str(out))
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    (prob,) = sess.run(None, {sess.get_inputs()[0].name: x})
    np.testing.assert_allclose(prob.sum(), 1.0, rtol=1e-5)


def test_unsupported_ops_listed_with_layers_and_exit_2(tmp_path):
    model = model_path("tflite/pymicro-wakeword/okay_nabu.tflite")
    p = subprocess.run([sys.executable, "-m", "compiler.cli", "compile", str(model), "-o",
                        str(tmp_path / "out.tflite")], capture_output=True, text=True)
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    for op in ("VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "CALL_ONCE"):
        assert op in p.stderr
    assert not (tmp_path / "out.tflite").exists()


def test_weights_flag_and_caffemodel_hint(tmp_path, capsys):
    weights = model_path("caffe/open_nsfw/resnet_50_1by2_nsfw.caffemodel")
    assert main(["inspect", str(weights)]) == 2
    assert "--weights" in capsys.readouterr().err
    lonely = tmp_path / "net.prototxt"
    lonely.write_text(model_path("caffe/open_nsfw/deploy.prototxt").read_text())
    assert main(["opt", str(lonely)]) == 2
    assert "no .caffemodel beside" in capsys.readouterr().err
    assert main(["inspect", str(lonely), "--weights", str(weights)]) == 0


def test_readme_main_job_compiles_prints_ir_and_runs(tmp_path, capsys):
    out = tmp_path / "tiny.tflite"
    model = REPO / "examples" / "models" / "tiny_cnn.onnx"
    code = main(["compile", str(model), "--show-ir", "-o", str(out)])
    stdout = capsys.readouterr().out
    assert code == 0 and out.exists()
    assert stdout.startswith("graph @tiny_cnn(")
    assert "// features.0.conv, features.0.bn, features.0.relu" in stdout  # provenance kept
    assert f"wrote {out}" in stdout and "output probs: [1, 10] float32" in stdout
