"""`infercc run` and `infercc compare`, run as a user runs them (subprocesses).

Oracles: onnxruntime and LiteRT called directly on the same files and inputs; a model
perturbed by the test itself; the int8 model of the same source. Thresholds are stated at
each assertion with the run that measured them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from tests.conftest import REPO, model_path

TINY = REPO / "examples" / "models" / "tiny_cnn.onnx"
CLS = "onnx/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx"
CLS_SHAPE = ["--input-shape", "x:1x3x48x192"]


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "compiler.cli", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=600)


def cli_json(*args: str, code: int = 0) -> dict:
    p = cli(*args, "--json")
    assert p.returncode == code, p.stderr
    assert "Traceback" not in p.stderr
    return json.loads(p.stdout)


@pytest.fixture(scope="module")
def cls_models(tmp_path_factory):
    """The rapidocr direction classifier: a copy of the .onnx, its float .tflite and an int8
    .tflite calibrated on seeded random inputs."""
    d = tmp_path_factory.mktemp("cls")
    src = d / "cls.onnx"
    src.write_bytes(model_path(CLS).read_bytes())
    assert cli("compile", src, "-o", d / "cls.tflite", *CLS_SHAPE).returncode == 0
    cal = d / "cal.npz"
    rng = np.random.default_rng(1)
    np.savez(cal, x=rng.standard_normal((8, 1, 3, 48, 192)).astype(np.float32))
    p = cli("compile", src, "-o", d / "cls_int8.tflite", *CLS_SHAPE, "--int8",
            "--calibration", cal)
    assert p.returncode == 0, p.stderr
    return d


# -- run -------------------------------------------------------------------------------------


def test_run_reports_percentiles_and_outputs_match_onnxruntime(tmp_path):
    x = np.random.default_rng(3).standard_normal((2, 3, 32, 32)).astype(np.float32)
    np.savez(tmp_path / "in.npz", input=x)
    rep = cli_json("run", TINY, "--inputs", tmp_path / "in.npz", "--warmup", "2",
                   "--iterations", "7", "--save-outputs", tmp_path / "out.npz")
    assert set(rep) >= {"model", "executor", "inputs", "outputs", "warmup", "iterations",
                        "latency_ms", "notes"}
    assert rep["executor"] == "onnxruntime-model"
    assert rep["inputs"] == [{"name": "input", "shape": [2, 3, 32, 32], "dtype": "float32",
                              "source": "file"}]
    lat = rep["latency_ms"]
    assert set(lat) == {"p50", "p90", "p99", "mean", "min", "max"}
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    (want,) = ort.InferenceSession(str(TINY)).run(None, {"input": x})
    with np.load(tmp_path / "out.npz") as saved:
        np.testing.assert_array_equal(saved["probs"], want)  # the same runtime, same file
    assert rep["outputs"] == [{"name": "probs", "shape": list(want.shape), "dtype": "float32"}]


def test_run_text_table_and_random_inputs_note():
    p = cli("run", TINY, "--iterations", "3", "--warmup", "0")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "executor: onnxruntime-model" in out
    assert "p50" in out and "p99" in out and "latency over 3 runs" in out
    assert "seeded random data" in out and "open batch dim set to 1" in out
    assert "input: float32[1, 3, 32, 32] (random)" in out


def test_run_tflite_in_litert_matches_the_interpreter(tmp_path):
    model = model_path("tflite/tflite-micro/hello_world_float.tflite")
    x = np.array([[0.5]], np.float32)
    np.savez(tmp_path / "in.npz", dense_input=x)
    rep = cli_json("run", model, "--inputs", tmp_path / "in.npz", "--iterations", "2",
                   "--save-outputs", tmp_path / "out.npz")
    assert rep["executor"] == "litert"
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(str(model))
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    want = it.get_tensor(it.get_output_details()[0]["index"])
    with np.load(tmp_path / "out.npz") as saved:
        np.testing.assert_array_equal(saved[rep["outputs"][0]["name"]], want)


def test_run_reference_executor_agrees_with_onnxruntime(tmp_path):
    x = np.random.default_rng(4).standard_normal((1, 3, 32, 32)).astype(np.float32)
    np.savez(tmp_path / "in.npz", input=x)
    rep = cli_json("run", TINY, "--executor", "reference", "--inputs", tmp_path / "in.npz",
                   "--iterations", "1", "--warmup", "0", "--save-outputs", tmp_path / "o.npz")
    assert rep["executor"] == "reference"
    (want,) = ort.InferenceSession(str(TINY)).run(None, {"input": x})
    with np.load(tmp_path / "o.npz") as saved:
        # float32 kernels in a different order: measured max |err| 7.5e-9 (probabilities
        # 0.06..0.12)
        np.testing.assert_allclose(saved["probs"], want, atol=1e-6)


def test_run_open_dims_name_the_flag():
    p = cli("run", model_path(CLS))
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    assert "--input-shape x:1x3xHxW" in p.stderr


def test_run_bad_inputs_file_is_a_clean_error(tmp_path):
    bad = tmp_path / "in.npz"
    bad.write_bytes(b"not a zip")
    p = cli("run", TINY, "--inputs", bad)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert str(bad) in p.stderr


# -- compare ---------------------------------------------------------------------------------


def test_compare_onnx_with_its_tflite_agrees(cls_models):
    rep = cli_json("compare", cls_models / "cls.onnx", cls_models / "cls.tflite", *CLS_SHAPE)
    assert set(rep) >= {"a", "b", "atol", "rtol", "pass", "outputs", "layers", "notes"}
    assert rep["a"]["executor"] == "onnxruntime-model" and rep["b"]["executor"] == "litert"
    assert rep["pass"] is True
    (out,) = rep["outputs"]
    assert set(out) >= {"name", "shape", "max_abs_err", "mean_abs_err", "sqnr_db", "cosine",
                        "pass", "top1_agreement"}
    # measured: max |err| 4.2e-7, SQNR 122 dB (onnxruntime 1.32 vs LiteRT 2.3, seed 0)
    assert out["max_abs_err"] < 1e-5
    assert out["sqnr_db"] > 90
    assert out["top1_agreement"] == 1.0
    # per layer: the emitted tensors keep the ONNX value names, NHWC moved back to NCHW;
    # measured: 145 shared, 75 within the tolerances, 70 holding a later value of A (a
    # convolution with its batch norm and activation folded in)
    layers = rep["layers"]
    assert len(layers) > 100
    assert any(r.get("transposed") == "B is NHWC" for r in layers)
    direct = [r for r in layers if r["pass"]]
    fused = [r for r in layers if "fused_into" in r]
    assert len(direct) + len(fused) == len(layers) and len(direct) > len(layers) // 3
    # a fused conv's tensor is what A computes after it: A's batch norm / activation output
    a_names = [o for n in onnx.load(str(cls_models / "cls.onnx")).graph.node for o in n.output]
    for r in fused:
        assert a_names.index(r["fused_into"]) > a_names.index(r["name"])


def test_compare_float_vs_int8_reports_lower_sqnr(cls_models):
    flt = cli_json("compare", cls_models / "cls.onnx", cls_models / "cls.tflite", *CLS_SHAPE,
                   "--no-layers")
    q = cli_json("compare", cls_models / "cls.onnx", cls_models / "cls_int8.tflite",
                 *CLS_SHAPE, "--no-layers", code=1)
    assert q["pass"] is False
    # measured: int8 output SQNR 29.7 dB against 122 dB for float32
    assert q["outputs"][0]["sqnr_db"] < flt["outputs"][0]["sqnr_db"] - 40
    assert q["outputs"][0]["sqnr_db"] > 10  # still the same model
    # loose enough tolerances pass (measured max |err| 0.017)
    p = cli("compare", cls_models / "cls.onnx", cls_models / "cls_int8.tflite", *CLS_SHAPE,
            "--no-layers", "--atol", "0.1")
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.rstrip().endswith("PASS")


def test_compare_a_perturbed_model_fails_with_exit_1(tmp_path):
    m = onnx.load(str(TINY))
    w = next(t for t in m.graph.initializer if t.name == "classifier.fc.weight")
    arr = onnx.numpy_helper.to_array(w).copy()
    arr[0] += 0.5  # one class's weights moved
    w.CopyFrom(onnx.numpy_helper.from_array(arr, w.name))
    bad = tmp_path / "perturbed.onnx"
    onnx.save(m, str(bad))
    p = cli("compare", TINY, bad)
    assert p.returncode == 1, p.stderr
    assert "FAIL" in p.stdout and "Traceback" not in p.stderr
    same = cli("compare", TINY, TINY)
    assert same.returncode == 0 and "inf dB" in same.stdout


def test_compare_nchw_source_with_nhwc_interface_is_transposed(tmp_path):
    """A model taking NHWC is fed A's NCHW inputs transposed (and says so)."""
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]),
         helper.make_node("Relu", ["t"], ["y"])], "nhwc_in",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 8, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])])
    nhwc = tmp_path / "nhwc.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(nhwc))
    g2 = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "nchw_in",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])])
    nchw = tmp_path / "nchw.onnx"
    onnx.save(helper.make_model(g2, opset_imports=[helper.make_opsetid("", 17)]), str(nchw))
    rep = cli_json("compare", nchw, nhwc)
    assert rep["pass"] is True and rep["outputs"][0]["max_abs_err"] == 0.0
    assert any("fed transposed NCHW -> NHWC" in n for n in rep["notes"])


def test_compare_inputs_that_cannot_be_matched_exit_2(tmp_path):
    p = cli("compare", TINY, model_path("tflite/tflite-micro/hello_world_float.tflite"))
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "do not take the same inputs" in p.stderr
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["y"])], "two_in",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 3, 32, 32]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 32, 32])])
    two = tmp_path / "two.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(two))
    p = cli("compare", TINY, two)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "cannot be fed alike" in p.stderr


def test_run_onnx_with_an_op_infercc_cannot_load_runs_in_onnxruntime(tmp_path):
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [helper.make_node("Det", ["x"], ["y"], name="det0")], "det_net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])])
    model = tmp_path / "det.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(model))
    x = np.array([[2, 0, 0], [0, 3, 0], [1, 1, 4]], np.float32)
    np.savez(tmp_path / "in.npz", x=x)
    rep = cli_json("run", model, "--inputs", tmp_path / "in.npz", "--iterations", "1",
                   "--save-outputs", tmp_path / "o.npz")
    assert any("onnxruntime runs ops infercc cannot load (Det)" in n for n in rep["notes"])
    with np.load(tmp_path / "o.npz") as saved:
        assert float(saved["y"]) == pytest.approx(24.0)  # det of a triangular matrix
    p = cli("run", model, "--executor", "onnxruntime")  # through infercc's IR: refused
    assert p.returncode == 2 and "Det" in p.stderr and "Traceback" not in p.stderr


def test_run_caffe_source_matches_opencv(tmp_path):
    """A format without a runtime of its own runs as infercc's IR in onnxruntime; OpenCV's
    Caffe importer runs the same prototxt and weights."""
    cv2 = pytest.importorskip("cv2")
    from tests.support.caffe_nets import seeded_caffemodel

    proto = tmp_path / "lenet.prototxt"
    proto.write_text(model_path("caffe/bvlc/mnist_lenet.prototxt").read_text())
    weights = tmp_path / "lenet.caffemodel"  # found beside the prototxt
    seeded_caffemodel(proto, weights, seed=0)
    x = np.random.default_rng(5).random((64, 1, 28, 28), dtype=np.float32)
    np.savez(tmp_path / "in.npz", data=x)
    rep = cli_json("run", proto, "--inputs", tmp_path / "in.npz", "--iterations", "2",
                   "--save-outputs", tmp_path / "o.npz")
    assert rep["executor"] == "onnxruntime"
    net = cv2.dnn.readNetFromCaffe(str(proto), str(weights))
    net.setInput(x)
    want = net.forward()
    with np.load(tmp_path / "o.npz") as saved:
        (got,) = saved.values()
    # float32 both sides: measured max |err| 7.5e-8 (softmax probabilities 0.04..0.20)
    np.testing.assert_allclose(got, want, atol=1e-6)
