"""compiler.compile and `infercc compile`: load -> optimise -> emit TFLite / ONNX.

References are independent: onnxruntime on the original .onnx, torch on the original module;
the .tflite results run in the LiteRT interpreter (ai_edge_litert).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import compiler
from compiler.cli import main
from compiler.errors import InferccError

from tests.conftest import REPO as ROOT
from tests.support.onnx_models import write_nonzero_onnx

TINY_CNN = ROOT / "examples" / "models" / "tiny_cnn.onnx"

# Measured max abs differences (float32 everywhere): tiny_cnn tflite vs onnxruntime 7.5e-9
# (softmax outputs in [0, 1]); ONNX export vs onnxruntime ~0; torch Sequential tflite vs
# torch 1.5e-8 on outputs of magnitude ~0.3. 1e-5 leaves orders of magnitude of headroom for
# other summation orders (XNNPACK vs MLAS vs torch's CPU kernels on other machines) while
# still catching layout or weight-order bugs, which give errors of order 1e-1.
ATOL = 1e-5


def _run_tflite(data: bytes, *inputs: np.ndarray) -> list[np.ndarray]:
    from tests.support.oracles import run_litert_list

    return run_litert_list(data, inputs)


def _ort(path_or_bytes, x: np.ndarray) -> list[np.ndarray]:
    import onnxruntime as ort

    src = str(path_or_bytes) if isinstance(path_or_bytes, Path) else path_or_bytes
    sess = ort.InferenceSession(src, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})


@pytest.fixture(scope="module")
def tiny_input() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)


def test_compile_tiny_cnn_to_tflite(tmp_path, tiny_input):
    out = tmp_path / "tiny.tflite"
    r = compiler.compile(TINY_CNN, "tflite", output=out)
    assert r.target == "tflite" and r.output == out and out.exists()
    assert r.size == out.stat().st_size == len(r.data)
    assert out.read_bytes() == r.data
    assert set(r.timings) == {"load", "optimize", "emit"}
    assert [rec.name for rec in r.records][0] == "remove-identity"
    (got,) = _run_tflite(r.data, tiny_input)
    (want,) = _ort(TINY_CNN, tiny_input)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=ATOL, rtol=0)


def test_compile_tiny_cnn_to_tflite_float16(tiny_input):
    r16 = compiler.compile(TINY_CNN, "tflite", float16=True)
    r32 = compiler.compile(TINY_CNN, "tflite")
    assert r16.output is None and r16.size < r32.size
    (got,) = _run_tflite(r16.data, tiny_input)
    (want,) = _ort(TINY_CNN, tiny_input)
    # float16 weights (11-bit mantissa, relative error <= 2^-11 ~ 5e-4 per weight); measured
    # max abs diff on these softmax outputs 1.5e-5; 2e-4 is ~10x that
    np.testing.assert_allclose(got, want, atol=2e-4, rtol=0)


def test_compile_tiny_cnn_to_onnx(tmp_path, tiny_input):
    out = tmp_path / "tiny_opt.onnx"
    r = compiler.compile(str(TINY_CNN), target="onnx", output=out)
    assert r.target == "onnx" and out.exists()
    (got,) = _ort(out, tiny_input)
    (want,) = _ort(TINY_CNN, tiny_input)
    np.testing.assert_allclose(got, want, atol=ATOL, rtol=0)


def test_compile_torch_sequential_to_tflite():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8),
        torch.nn.ReLU6(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 5),
    ).eval()
    with torch.no_grad():  # non-trivial batch-norm statistics, so the fold is exercised
        model[1].running_mean.uniform_(-0.5, 0.5)
        model[1].running_var.uniform_(0.5, 2.0)
    x = torch.randn(1, 3, 16, 16)
    r = compiler.compile(model, "tflite", example_inputs=(x,))
    (got,) = _run_tflite(r.data, x.numpy())
    with torch.no_grad():
        want = model(x).numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=ATOL, rtol=0)


def test_unknown_target_lists_targets():
    with pytest.raises(InferccError, match="tflite, onnx"):
        compiler.compile(TINY_CNN, "coreml")


def test_cli_compile_tflite_report(capsys, tmp_path):
    out = tmp_path / "sub" / "tiny.tflite"
    code = main(["compile", str(TINY_CNN), "--target", "tflite", "-o", str(out)])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    assert out.exists()
    assert str(out) in stdout
    assert f"{out.stat().st_size:,} bytes" in stdout
    assert "CONV_2D" in stdout and "ms" in stdout
    assert "output probs: [1, 10] float32" in stdout


def test_cli_compile_onnx(capsys, tmp_path):
    out = tmp_path / "tiny.onnx"
    code = main(["compile", str(TINY_CNN), "--target", "onnx", "-o", str(out), "--timing"])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    assert str(out) in stdout and "phases: load" in err
    assert out.exists()


def test_cli_compile_unsupported_op_exits_2_and_writes_nothing(capsys, tmp_path):
    src = tmp_path / "nonzero.onnx"
    write_nonzero_onnx(src)
    out = tmp_path / "nonzero.tflite"
    code = main(["compile", str(src), "--target", "tflite", "-o", str(out)])
    stdout, err = capsys.readouterr()
    assert code == 2
    assert "nonzero" in err and "TFLite" in err
    assert "Traceback" not in err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [src]  # no temporary file left behind either


def test_compile_pauses_the_garbage_collector_and_restores_it():
    """A compile runs with the cyclic collector off (full collections walk every object in
    the process) and leaves it as it found it, also when it fails."""
    import gc

    seen = []

    class Probe:  # a "model" that records the collector's state while compile loads it
        def __fspath__(self):
            seen.append(gc.isenabled())
            return str(ROOT / "no-such-model.onnx")

    assert gc.isenabled()
    with pytest.raises(InferccError):
        compiler.compile(Probe(), "tflite")
    assert seen and not any(seen) and gc.isenabled()
    gc.disable()
    try:
        compiler.compile(TINY_CNN, "tflite")
        assert not gc.isenabled()  # a caller's choice stands
    finally:
        gc.enable()
