"""What `infercc compile` shows on the terminal while it works: progress bars and the
framework-loading line only when stderr is a terminal (and not with -q), framework noise
only with -v, and --timing covering every phase.

A terminal is a real pseudo-terminal (``pty``) given to the subprocess as its stderr.
"""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest

from compiler.cli import main
from tests.conftest import REPO, model_path
from tests.support.onnx_models import write_fixed_batch_onnx


@pytest.fixture(scope="module")
def fixed_batch_onnx(tmp_path_factory):
    d = tmp_path_factory.mktemp("terminal")
    return write_fixed_batch_onnx(d / "fixed_batch.onnx", d / "cal.npz")


def _run(args: list[str], *, terminal: bool, timeout: float = 300) -> tuple[int, str, str]:
    """``python -m compiler.cli ARGS``; stderr is a pseudo-terminal when ``terminal``.
    Returns (exit code, stdout, stderr)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "compiler.cli", *args]
    if not terminal:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(REPO),
                           timeout=timeout)
        return r.returncode, r.stdout, r.stderr
    master, slave = pty.openpty()
    # 24 x 120 characters: a pty starts at 0 x 0, where tqdm draws nothing
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=slave, env=env, cwd=str(REPO))
    os.close(slave)
    chunks = []
    while True:  # drain the terminal while the process writes to it
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the process closed its end
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    out = proc.stdout.read().decode()
    proc.stdout.close()
    rc = proc.wait(timeout=timeout)
    return rc, out, b"".join(chunks).decode(errors="replace")


def test_timing_lists_every_phase(fixed_batch_onnx, tmp_path, capsys):
    path, cal = fixed_batch_onnx
    rc = main(["compile", str(path), "--int8", "--calibration", str(cal), "--report",
               str(tmp_path / "rep"), "--timing", "-o", str(tmp_path / "m.tflite")])
    out, err = capsys.readouterr()
    assert rc == 0, err
    phases = next(line for line in err.splitlines() if line.startswith("phases: "))
    names = [p.strip().split()[0] for p in phases[len("phases: "):].split(";")[0].split(",")]
    assert names == ["load", "optimize", "calibrate", "quantize", "accuracy", "emit", "run"]
    assert "; total " in phases and "LiteRT run" in out


def test_progress_bars_only_on_a_terminal(fixed_batch_onnx, tmp_path):
    path, cal = fixed_batch_onnx
    args = ["compile", str(path), "--int8", "--calibration", str(cal), "--report",
            str(tmp_path / "rep"), "-o", str(tmp_path / "m.tflite"), "--no-run"]
    rc, out, err = _run(args, terminal=True)
    assert rc == 0, err
    assert "calibrating @fixed_batch" in err and "report @fixed_batch" in err
    assert "sample/s" in err
    assert "onnxruntime" not in err  # the failed batch probe's error line stays hidden
    assert "int8 vs float on 24 calibration samples" in out
    rc, out, err = _run(args, terminal=False)  # redirected: a log gets no bars
    assert rc == 0 and "sample/s" not in err and "onnxruntime" not in err, err
    rc, out, err = _run(["-q", *args], terminal=True)  # -q: none either
    assert rc == 0 and "sample/s" not in err, err


@pytest.mark.slow
def test_framework_noise_only_with_verbose(tmp_path):
    """Keras (TensorFlow) prints absl/oneDNN/CPU-feature lines from C++ as it imports, and
    LiteRT an XNNPACK INFO line when the written file runs; measured: 5 such lines on TF
    2.21 and ai-edge-litert 2.3 without the CLI's care. ~40 s: three TF imports."""
    model = model_path("keras/fer/emotion_model.hdf5")
    args = ["compile", str(model), "-o", str(tmp_path / "fer.tflite")]
    noise = ("absl::InitializeLog", "oneDNN", "cpu_feature_guard", "I0000", "XNNPACK")
    rc, out, err = _run(args, terminal=False)
    assert rc == 0, err
    assert not any(n in err for n in noise), err
    assert "loading" not in err and "wrote" in out and "LiteRT run" in out
    rc, out, err = _run(args, terminal=True)  # a terminal also hears what is loading
    assert rc == 0, err
    assert "infercc: loading emotion_model.hdf5 with tensorflow ..." in err
    assert not any(n in err for n in noise), err
    rc, out, err = _run(["-v", *args], terminal=False)
    assert rc == 0, err
    assert "oneDNN" in err and "XNNPACK" in err, err  # -v lets the frameworks speak


def test_int8_summary_counts_agree_with_the_warnings(tmp_path, capsys):
    """conv1 -> HardSigmoid gate -> Mul (hard swish) -> conv2: TFLite has no int8 kernel
    infercc emits for HardSigmoid, so it runs in float between DEQUANTIZE/QUANTIZE (one
    warning); the summary counts it among the float nodes, once."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array((rng.standard_normal(s) * 0.3).astype(np.float32), n)
             for n, s in (("w1", (8, 3, 3, 3)), ("b1", (8,)), ("w2", (4, 8, 3, 3)),
                          ("b2", (4,)))]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1],
                              name="conv1"),
             helper.make_node("HardSigmoid", ["c1"], ["h"], name="gate"),
             helper.make_node("Mul", ["c1", "h"], ["m"], name="hswish"),
             helper.make_node("Conv", ["m", "w2", "b2"], ["y"], pads=[1, 1, 1, 1],
                              name="conv2")]
    g = helper.make_graph(nodes, "hs",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
                          inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]),
              tmp_path / "hs.onnx")
    np.savez(tmp_path / "cal.npz", x=rng.standard_normal((8, 1, 3, 8, 8)).astype(np.float32))
    rc = main(["compile", str(tmp_path / "hs.onnx"), "--int8", "--calibration",
               str(tmp_path / "cal.npz"), "-o", str(tmp_path / "hs.tflite"), "--no-run"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    warnings = [line for line in err.splitlines() if "runs in float" in line]
    assert len(warnings) == 1 and "layer gate" in warnings[0], err
    # 4 nodes: conv1, hswish, conv2 as int8 kernels; the gate in float
    assert "3 node(s) run in int8, 1 in float" in out, out
