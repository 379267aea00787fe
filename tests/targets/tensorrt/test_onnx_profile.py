"""The TensorRT-profile ONNX (``--target tensorrt -o model.onnx``) and the engine request
on a machine without TensorRT.

Oracles: onnxruntime runs the profile model with default session options and is compared
with onnxruntime on the source model (float32) and with the reference interpreter on the
quantized IR graph, the fake-quant reference (int8). What TensorRT's parser takes is checked
against onnx/onnx-tensorrt's operator list as transcribed in ``PARSER_OPS``; no real
TensorRT runs here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import compiler
from compiler.interpreter import run_graph
from compiler.ir import Graph, TensorType
from compiler.ir.types import DType
from compiler.ir.parser import parse_graph
from targets import resolve_target
from targets.tensorrt.onnx_profile import (PARSER_OPS, PROFILE_OPSET, OnnxProfileError,
                                           export_profile)
from targets.tensorrt.preflight import TensorRTUnsupportedError
from tests.conftest import REPO, model_path

CLS = "onnx/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx"


def _ort(path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def _write_residual_onnx(path: Path) -> Path:
    """A seeded bias-free conv net with a residual add and a matmul head:
    x[1,4,8,8] -> conv -> relu -> conv -> add(x) -> relu -> global avg pool -> flatten ->
    matmul -> y[1,5]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1)
    inits = [numpy_helper.from_array(a.astype(np.float32), n) for n, a in (
        ("w1", rng.standard_normal((4, 4, 3, 3)) * 0.3),
        ("w2", rng.standard_normal((4, 4, 3, 3)) * 0.3),
        ("wf", rng.standard_normal((4, 5))))]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1], name="conv2"),
             helper.make_node("Add", ["c2", "x"], ["s"], name="skip"),
             helper.make_node("Relu", ["s"], ["r2"], name="relu2"),
             helper.make_node("GlobalAveragePool", ["r2"], ["p"], name="pool"),
             helper.make_node("Flatten", ["p"], ["f"], name="flat"),
             helper.make_node("MatMul", ["f", "wf"], ["y"], name="fc")]
    g = helper.make_graph(nodes, "residual", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, 4, 8, 8])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, [1, 5])], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def test_named_tensorrt_target_writes_onnx_and_the_extension_alone_stays_onnx():
    assert resolve_target("tensorrt", "m.onnx")[0].name == "tensorrt"
    assert resolve_target(None, "m.onnx")[0].name == "onnx"
    assert resolve_target("tensorrt", "m.engine")[0].name == "tensorrt"


def test_int8_compiles_quantize_with_the_tensorrt_scheme():
    from compiler.compile import compile_pipeline
    from targets import get_target

    passes = list(compile_pipeline(get_target("tensorrt"), int8=True))
    assert [p.scheme for p in passes if p.name == "quantize"] == ["tensorrt"]
    passes = list(compile_pipeline(get_target("tflite"), int8=True))
    assert [p.scheme for p in passes if p.name == "quantize"] == ["tflite"]


def test_float_profile_matches_the_source_model_in_onnxruntime(tmp_path):
    import onnx

    src = model_path(CLS)
    out = tmp_path / "cls.onnx"
    compiler.compile(src, "tensorrt", output=out, input_shapes={"x": (1, 3, 48, 192)})
    model = onnx.load(out)
    assert {o.version for o in model.opset_import if o.domain in ("", "ai.onnx")} == {
        PROFILE_OPSET}
    assert {n.op_type for n in model.graph.node} <= PARSER_OPS
    x = np.random.default_rng(0).random((1, 3, 48, 192), dtype=np.float32)
    want = _ort(src, {"x": x})[0]
    got = _ort(out, {model.graph.input[0].name: x})[0]
    # measured: 2.4e-7 (softmax probabilities)
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)


def test_silero_vad_profile_keeps_its_lstm_and_matches_the_source_in_onnxruntime(tmp_path):
    import onnx

    src = model_path("onnx/silero-vad/silero_vad_16k_op15.onnx")
    out = tmp_path / "silero.onnx"
    compiler.compile(src, "tensorrt", output=out,
                     input_shapes={"input": (1, 512), "state": (2, 1, 128)})
    model = onnx.load(out)
    ops = {n.op_type for n in model.graph.node}
    assert "LSTM" in ops and "If" not in ops and ops <= PARSER_OPS
    r = np.random.default_rng(0)
    feeds = {"input": r.uniform(-1, 1, (1, 512)).astype(np.float32),
             "state": r.uniform(-1, 1, (2, 1, 128)).astype(np.float32),
             "sr": np.array(16000, np.int64)}
    got = _ort(out, {i.name: feeds[i.name] for i in model.graph.input})
    want = _ort(src, feeds)
    # measured: 0 on both outputs (the same LSTM kernel runs both models)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-6, rtol=0)


def test_int8_profile_keeps_the_quantize_pass_placement_and_matches_fake_quant(tmp_path):
    import onnx
    from onnx import numpy_helper

    src = _write_residual_onnx(tmp_path / "res.onnx")
    rng = np.random.default_rng(2)
    cal = [rng.standard_normal((1, 4, 8, 8)).astype(np.float32) for _ in range(16)]
    out = tmp_path / "res8.onnx"
    result = compiler.compile(src, "tensorrt", output=out, int8=True, calibration=cal)
    graph = result.graph
    model = onnx.load(out)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    qs = [n for n in model.graph.node if n.op_type == "QuantizeLinear"]
    dqs = [n for n in model.graph.node if n.op_type == "DequantizeLinear"]
    # the same Q/DQ as the quantize pass's graph, TensorRT's rules on each
    ir_q = [n for n in graph.nodes if n.op == "quantize"]
    ir_dq = [n for n in graph.nodes if n.op == "dequantize"]
    biases = [n for n in ir_dq if n.input(0).type.dtype == DType.I32]
    # int32 biases become float constants; every other pair is written as placed
    assert len(ir_q) >= 3 and len(qs) == len(ir_q) and len(dqs) == len(ir_dq) - len(biases)
    assert not any(a.dtype == np.int32 for a in inits.values())
    for b in biases:
        q, sc = (np.asarray(b.input(i).const_value) for i in (0, 1))
        np.testing.assert_array_equal(inits[b.outputs[0].name], (q * sc).astype(np.float32))
    for n in qs + dqs:
        zp = inits[n.input[2]]
        assert zp.dtype == np.int8 and not zp.any(), n.name
        assert n.input[1] in inits
    # the tensorrt spec puts Q/DQ on the residual add's skip input only; the conv output it
    # adds stays float, so TensorRT fuses conv+bias+add
    producers = {o: n for n in model.graph.node for o in n.output}
    add = next(n for n in model.graph.node if n.op_type == "Add")
    kinds = sorted(producers[i].op_type for i in add.input)
    assert kinds == ["Conv", "DequantizeLinear"], (add.input, kinds)
    x = rng.standard_normal((1, 4, 8, 8)).astype(np.float32)
    ref = run_graph(graph, {"x": x})[graph.outputs[0].name]
    got = _ort(out, {"x": x})[0]
    fl = _ort(src, {"x": x})[0]
    scale = np.abs(ref).max()
    # measured: 0 (onnxruntime and the interpreter agree exactly on this net)
    assert np.abs(got - ref).max() <= 1e-5 * scale
    sqnr = 10 * np.log10((fl ** 2).sum() / ((got - fl) ** 2).sum())
    assert sqnr > 30, sqnr  # measured: 44 dB


def test_int8_profile_of_ppocr_cls_matches_fake_quant(tmp_path):
    import onnx

    src = model_path(CLS)
    rng = np.random.default_rng(0)
    cal = [rng.random((1, 3, 48, 192), dtype=np.float32) for _ in range(8)]
    out = tmp_path / "cls8.onnx"
    graph = compiler.compile(src, "tensorrt", output=out, int8=True, calibration=cal,
                             input_shapes={"x": (1, 3, 48, 192)}).graph
    model = onnx.load(out)
    assert {n.op_type for n in model.graph.node} <= PARSER_OPS
    for _ in range(4):
        x = rng.random((1, 3, 48, 192), dtype=np.float32)
        ref = run_graph(graph, {"x": x})[graph.outputs[0].name]
        # measured: at most 5.3e-3 on softmax probabilities over 8 inputs (onnxruntime
        # fuses DQ -> op -> Q into integer kernels that round once where fake-quant rounds
        # twice)
        np.testing.assert_allclose(_ort(out, {"x": x})[0], ref, atol=2e-2, rtol=0)


def _qdq_graph(zp: str, qtype: str) -> Graph:
    return parse_graph(f"""
graph @qdq(%x: f32[1,4]) -> (f32[1,4]) {{
  %s: f32[] = const() {{value=dense<f32[] [0.5]>}}
  %z: {qtype}[] = const() {{value=dense<{qtype}[] [{zp}]>}}
  %q: {qtype}[1,4] = quantize(%x, %s, %z)  // act_q
  %y: f32[1,4] = dequantize(%q, %s, %z)  // act_dq
  return %y
}}
""")


@pytest.mark.parametrize("zp,qtype,why", [
    ("3", "i8", "non-zero zero point"),
    ("0", "i32", "int8 only"),
    ("0", "u8", "int8 only"),
])
def test_preflight_refuses_qdq_tensorrt_cannot_take(tmp_path, zp, qtype, why):
    with pytest.raises(TensorRTUnsupportedError) as e:
        export_profile(_qdq_graph(zp, qtype), tmp_path / "m.onnx")
    assert why in str(e.value) and "act_q" in str(e.value) and "act_dq" in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_symmetric_int8_qdq_is_written(tmp_path):
    out = tmp_path / "m.onnx"
    export_profile(_qdq_graph("0", "i8"), out)
    x = np.array([[0.2, -0.7, 1.3, 100.0]], np.float32)
    np.testing.assert_array_equal(_ort(out, {"x": x})[0], [[0.0, -0.5, 1.5, 63.5]])


def test_preflight_lists_every_op_the_parser_lacks_with_source_layers(tmp_path):
    g = Graph("unsupported")
    x = g.add_input("x", TensorType("f32", (1, 4)))
    h = g.add_node("hardmax", [x], {"axis": -1}, source=["pick"]).output
    r = g.add_node("relu", [h], source=["act"]).output
    g.outputs = [g.add_node("isinf", [r], source=["check"]).output]
    with pytest.raises(TensorRTUnsupportedError) as e:
        export_profile(g, tmp_path / "m.onnx")
    assert [(p.op, p.layer) for p in e.value.problems] == [("Hardmax", "pick"),
                                                           ("IsInf", "check")]
    assert "pick" in str(e.value) and "does not import IsInf" in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_dynamic_input_is_refused_before_export(tmp_path):
    g = Graph("dyn")
    x = g.add_input("x", TensorType("f32", ("N", 4)))
    g.outputs = [g.add_node("relu", [x], source=["act"]).output]
    with pytest.raises(TensorRTUnsupportedError, match="--input-shape x:1x4"):
        export_profile(g, tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_fp16_is_refused_with_what_to_do_instead(tmp_path):
    g = Graph("tiny")
    x = g.add_input("x", TensorType("f32", (1, 4)))
    g.outputs = [g.add_node("relu", [x], source=["act"]).output]
    with pytest.raises(OnnxProfileError, match="float32 or int8"):
        export_profile(g, tmp_path / "m.onnx", float16=True)
    assert list(tmp_path.iterdir()) == []


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``infercc compile ARGS`` in ``cwd``, where ``import tensorrt`` fails whether or not
    this machine has TensorRT (a ``tensorrt`` module that raises ImportError comes first)."""
    hide = cwd / "no_tensorrt"
    hide.mkdir(exist_ok=True)
    (hide / "tensorrt.py").write_text("raise ImportError('hidden by the test')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hide), str(REPO)])}
    return subprocess.run([sys.executable, "-m", "compiler.cli", "compile", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300)


def test_cli_engine_without_tensorrt_says_how_to_get_the_onnx_and_writes_nothing(tmp_path):
    src = _write_residual_onnx(tmp_path / "res.onnx")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    r = _cli(str(src), "--target", "tensorrt", "-o", "out/res.engine", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "-o out/res.onnx" in r.stderr
    assert ("trtexec --onnx=out/res.onnx --stronglyTyped --saveEngine=out/res.engine"
            in r.stderr)
    assert "Traceback" not in r.stderr and list(out_dir.iterdir()) == []
    r = _cli(str(src), "--target", "tensorrt", "-o", "out/res.onnx", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (out_dir / "res.onnx").is_file() and "target tensorrt" in r.stdout


def test_the_trtexec_command_saves_the_engine_asked_for(tmp_path):
    """One spelling of the command: the CLI's (engine named after the ONNX) and a missing
    TensorRT's (the engine the user asked for, .plan included)."""
    from targets.tensorrt.onnx_profile import trtexec_command

    graph = compiler.load(str(_write_residual_onnx(tmp_path / "res.onnx")))
    assert trtexec_command(graph, "out/res.onnx") == (
        "trtexec --onnx=out/res.onnx --stronglyTyped --saveEngine=out/res.engine")
    assert trtexec_command(graph, Path("out/res.onnx"), engine=Path("out/res.plan")) == (
        "trtexec --onnx=out/res.onnx --stronglyTyped --saveEngine=out/res.plan")


def test_gpu_script_answers_help_and_refuses_to_run_without_tensorrt(tmp_path):
    hide = tmp_path / "no_tensorrt"
    hide.mkdir()
    (hide / "tensorrt.py").write_text("raise ImportError('hidden by the test')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hide), str(REPO)])}
    script = str(REPO / "tests/gpu/build_zoo_engines.py")
    r = subprocess.run([sys.executable, script, "--help"], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "onnxruntime" in r.stdout and "--verbose-log" in r.stdout
    r = subprocess.run([sys.executable, script, "--out", str(tmp_path / "zoo")], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "needs TensorRT" in r.stderr, r.stderr
    assert not (tmp_path / "zoo").exists()
