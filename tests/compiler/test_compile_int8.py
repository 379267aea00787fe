"""compiler.compile(..., int8=True) and `infercc compile --int8`: option checks, the
load -> pipeline -> calibrate -> quantize -> emit flow, statistics reuse, and the CLI's
LiteRT run report on int8 files. Numbers are checked against the fake-quant reference
(infercc's interpreter on the QDQ graph) run independently of LiteRT."""

from __future__ import annotations

import numpy as np
import pytest

import compiler
from compiler.cli import main
from compiler.errors import InferccError
from compiler.interpreter import Interpreter
from tests.support.oracles import op_counts, run_litert

onnx = pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def small_onnx(tmp_path_factory):
    """Conv(relu) -> Conv -> GlobalAveragePool -> Flatten -> Gemm -> Softmax, seeded."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(a.astype(np.float32), n) for n, a in (
        ("w1", rng.standard_normal((8, 3, 3, 3)) * 0.3), ("b1", rng.standard_normal(8) * 0.1),
        ("w2", rng.standard_normal((8, 8, 3, 3)) * 0.2), ("b2", rng.standard_normal(8) * 0.1),
        ("wf", rng.standard_normal((5, 8)) * 0.5), ("bf", rng.standard_normal(5) * 0.1))]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1],
                         strides=[2, 2], name="conv2"),
        helper.make_node("GlobalAveragePool", ["c2"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["g"], transB=1, name="fc"),
        helper.make_node("Softmax", ["g"], ["y"], axis=1, name="softmax"),
    ]
    graph = helper.make_graph(
        nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 12, 12])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    d = tmp_path_factory.mktemp("int8")
    path = d / "small.onnx"
    onnx.save(model, path)
    data = rng.standard_normal((16, 1, 3, 12, 12)).astype(np.float32)
    np.savez(d / "cal.npz", x=data)
    return path, d / "cal.npz", data


def _max_steps(result, feeds) -> float:
    g = result.graph
    out = g.outputs[0]
    step = out.producer.inputs[0].type.quant.scale[0]
    ref = Interpreter(g)
    return max(float(np.abs(run_litert(result.data, f)[out.name] - ref.run(f)[out.name]).max())
               for f in feeds) / step


@pytest.mark.parametrize("kwargs, words", [
    (dict(int8=True), "needs calibration"),
    (dict(int8=True, calibration=[np.zeros((1, 3, 12, 12), np.float32)], target="onnx"),
     "TFLite/TensorRT-only"),
    (dict(int8=True, calibration=[np.zeros((1, 3, 12, 12), np.float32)], float16=True),
     "float16"),
    (dict(int8=True, calibration=[np.zeros((1, 3, 12, 12), np.float32)], method="median"),
     "unknown calibration method"),
    (dict(io_dtype="int8"), "only apply with int8=True"),
])
def test_api_refuses_bad_int8_options_before_loading(kwargs, words):
    # the model path does not exist: the option check must come first
    with pytest.raises(InferccError, match=words):
        compiler.compile("does-not-exist.onnx", **kwargs)


def test_api_flow_and_statistics_reuse(small_onnx, tmp_path):
    path, _, data = small_onnx
    feeds = [{"x": a} for a in data]
    r = compiler.compile(path, int8=True, calibration=feeds, output=tmp_path / "m.tflite")
    assert r.calibration.num_samples == 16
    assert r.quantization.num_quantized >= 5 and r.quantization.num_float == 0
    assert {"calibrate", "quantize"} <= set(r.timings)
    assert sum(op_counts(r.data).get(k, 0) for k in ("QUANTIZE", "DEQUANTIZE")) == 2
    # measured: 0 steps on these samples (1 allowed: fixed-point requantization)
    assert _max_steps(r, feeds[:4]) <= 1.0 + 1e-4
    stats = tmp_path / "stats.npz"
    r.calibration.save(stats)
    again = compiler.compile(path, int8=True, calibration=stats)  # nothing is run
    assert again.data == r.data
    npz = compiler.compile(path, int8=True, calibration=small_onnx[1])  # a data .npz
    assert npz.data == r.data
    # the accuracy report needs sample inputs; saved statistics are refused before any load
    for given in (stats, r.calibration):
        with pytest.raises(InferccError, match="not saved statistics"):
            compiler.compile(tmp_path / "no_such_model.onnx", int8=True, calibration=given,
                             report=True)


def test_api_int8_io_and_keep_float(small_onnx):
    path, _, data = small_onnx
    feeds = [{"x": a} for a in data]
    r = compiler.compile(path, int8=True, calibration=feeds, io_dtype="int8")
    ops = op_counts(r.data)
    assert "QUANTIZE" not in ops and "DEQUANTIZE" not in ops
    assert _max_steps(r, feeds[:4]) <= 1.0 + 1e-4  # measured 0
    kept = compiler.compile(path, int8=True, calibration=feeds, keep_float=["conv2"])
    assert kept.quantization.num_float >= 1
    assert op_counts(kept.data)["DEQUANTIZE"] >= 2


def test_api_takes_representative_dataset_and_calibration_data_reader(small_onnx):
    """TFLiteConverter's representative_dataset and an onnxruntime CalibrationDataReader give
    the scales the .npz path gives; a reader (read once) still feeds the accuracy report."""
    from onnxruntime.quantization import CalibrationDataReader

    path, cal, data = small_onnx
    want = compiler.compile(path, int8=True, calibration=str(cal)).quantization

    def representative_dataset():
        for a in data:
            yield [a.astype(np.float32)]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(data)

        def get_next(self):
            a = next(self.it, None)
            return None if a is None else {"x": a}

    for source in (representative_dataset, Reader()):
        r = compiler.compile(path, int8=True, calibration=source, report=True)
        got = r.quantization
        assert list(got.params) == list(want.params)
        for name, qp in want.params.items():
            assert got.params[name] == qp, name
        assert r.calibration.num_samples == 16 and r.accuracy.report.num_samples == 16


def test_cli_int8_compile_and_run_report(small_onnx, tmp_path, capsys):
    path, cal, _ = small_onnx
    out, stats = tmp_path / "m.tflite", tmp_path / "s.npz"
    rc = main(["compile", str(path), "--int8", "--calibration", str(cal), "--method",
               "percentile", "--percentile", "99.9", "--save-calibration", str(stats), "-o",
               str(out), "-q"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "int8 (percentile, 16 calibration samples)" in text
    assert "CONV_2D 2" in text and "LiteRT run" in text and "output y: [1, 5] float32" in text
    assert out.exists() and stats.exists()
    rc = main(["compile", str(path), "--int8", "--calibration", str(stats), "--int8-io",
               "--keep-float", "fc", "-o", str(tmp_path / "io.tflite"), "-q"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "output y: [1, 5] int8" in text and "FULLY_CONNECTED" in text


@pytest.mark.parametrize("argv, words", [
    (["--int8"], "--int8 needs --calibration"),
    (["--int8", "--calibration", "CAL", "--float16"], "exclude each other"),
    (["--int8", "--calibration", "CAL", "-t", "onnx"], "TFLite/TensorRT-only"),
    (["--keep-float", "conv1"], "only apply with --int8"),
    (["--int8", "--calibration", "nope.npz"], "no such file"),
])
def test_cli_int8_errors(small_onnx, tmp_path, capsys, argv, words):
    path, cal, _ = small_onnx
    argv = [str(cal) if a == "CAL" else a for a in argv]
    rc = main(["compile", str(path), "-o", str(tmp_path / "x.tflite"), *argv])
    assert rc == 2
    assert words in capsys.readouterr().err
    assert not (tmp_path / "x.tflite").exists()


def test_cli_int8_image_directory(small_onnx, tmp_path, capsys):
    cv2 = pytest.importorskip("cv2")
    path = small_onnx[0]
    rng = np.random.default_rng(1)
    for i in range(4):
        cv2.imwrite(str(tmp_path / f"img{i}.png"), rng.integers(0, 256, (20, 16, 3), np.uint8))
    rc = main(["compile", str(path), "--int8", "--calibration", str(tmp_path), "--preprocess",
               "color=rgb,scale=1/255,mean=0.5,std=0.25", "-o", str(tmp_path / "m.tflite"),
               "-q"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "4 calibration samples" in text


def test_api_accuracy_report_and_mixed_precision(small_onnx):
    """report=True compares float and int8 activations; keep_sensitive/sqnr_budget re-quantize
    with the most sensitive layers float. The SQNR figures are recomputed here from the two
    graphs run by the interpreter, independently of the report code."""
    from compiler.pass_manager import PassContext, PassManager, parse_pipeline
    from passes import DEFAULT_PIPELINE

    path, _, data = small_onnx
    feeds = [{"x": a} for a in data]
    r = compiler.compile(path, int8=True, calibration=feeds, report=True)
    rep = r.accuracy.report
    assert rep.num_samples == 16 and rep.rows and r.accuracy.kept == []
    assert {"conv1", "conv2", "fc"} <= {s for row in rep.rows for s in row.source}
    float_graph = compiler.load(path)
    PassManager(parse_pipeline(DEFAULT_PIPELINE)).run(float_graph, PassContext())
    f, q = Interpreter(float_graph), Interpreter(r.graph)
    sig = noise = 0.0
    for feed in feeds:
        a, b = f.run(feed)["y"].astype(np.float64), q.run(feed)["y"].astype(np.float64)
        sig, noise = sig + float((a * a).sum()), noise + float(((a - b) ** 2).sum())
    # the report runs the graphs in onnxruntime, whose float32 kernels sum in another order
    # than the interpreter: measured 4.4e-5 dB apart
    assert rep.output_sqnr_db == pytest.approx(10 * np.log10(sig / noise), abs=1e-3)

    one = compiler.compile(path, int8=True, calibration=feeds, keep_sensitive=1)
    assert len(one.accuracy.kept) == 1 and one.accuracy.kept[0] == one.accuracy.ranking[0].layer
    assert one.quantization.num_float > r.quantization.num_float
    # measured: 43.1 dB fully int8, 44.5 dB with the worst layer (fc) float
    assert one.accuracy.report.output_sqnr_db > rep.output_sqnr_db
    # measured: every single layer costs <= 54.7 dB, so a 60 dB budget needs every layer
    # float; the (all-float) model is still emitted and meets it
    hi = compiler.compile(path, int8=True, calibration=feeds, sqnr_budget=60.0)
    assert hi.accuracy.met and hi.accuracy.report.output_sqnr_db >= 60.0
    assert len(hi.accuracy.kept) == len(hi.accuracy.ranking) and hi.size > 0


def test_cli_report_files(small_onnx, tmp_path, capsys):
    import xml.etree.ElementTree as ET

    path, cal, _ = small_onnx
    rc = main(["compile", str(path), "--int8", "--calibration", str(cal), "--report",
               str(tmp_path / "rep"), "--keep-sensitive", "1", "-o", str(tmp_path / "m.tflite"),
               "-q", "--no-run"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "output SQNR" in text and "kept float:" in text and "worst layers:" in text
    for name in ("layers.md", "layers.csv", "layers.svg", "sensitivity.md"):
        assert (tmp_path / "rep" / name).stat().st_size > 0
    ET.parse(tmp_path / "rep" / "layers.svg")
    rc = main(["compile", str(path), "--int8", "--calibration", str(cal), "--keep-sensitive",
               "1", "--sqnr-budget", "30", "-o", str(tmp_path / "x.tflite"), "-q"])
    assert rc == 2 and "not both" in capsys.readouterr().err
    assert not (tmp_path / "x.tflite").exists()


def test_cli_eval_table(small_onnx, tmp_path, capsys):
    """--eval runs the float32 and the int8 file on held-out data; the accuracy printed is
    recomputed here from LiteRT outputs of the written int8 file."""
    path, cal, data = small_onnx
    rng = np.random.default_rng(1)
    x = rng.standard_normal((12, 1, 3, 12, 12)).astype(np.float32)
    float_graph = compiler.load(path)
    labels = np.array([int(np.argmax(Interpreter(float_graph).run({"x": a})["y"])) for a in x])
    np.savez(tmp_path / "test.npz", x=x, labels=labels)
    out = tmp_path / "m.tflite"
    rc = main(["compile", str(path), "--int8", "--calibration", str(cal), "--eval",
               str(tmp_path / "test.npz"), "-o", str(out), "-q", "--no-run"])
    text = capsys.readouterr().out
    assert rc == 0, text
    rows = {line.split()[0]: line.split() for line in text.splitlines()
            if line.strip().startswith(("float32 ", "int8 "))}
    assert rows["float32"][1] == "100.00%"  # labels are the float model's own predictions
    acc = np.mean([int(np.argmax(run_litert(out.read_bytes(), {"x": a})["y"])) == lab
                   for a, lab in zip(x, labels)])
    assert rows["int8"][1] == f"{100 * acc:.2f}%"
    rc = main(["compile", str(path), "-t", "onnx", "--eval", str(tmp_path / "test.npz"),
               "-o", str(tmp_path / "m.onnx"), "-q"])
    assert rc == 2 and "--eval runs .tflite" in capsys.readouterr().err
