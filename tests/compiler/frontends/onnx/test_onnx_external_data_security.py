"""ONNX external data must stay inside the model's folder and be a regular file.

A tensor's ``location`` that climbs out of the folder (``../``), is absolute (including
``/proc/self/environ``), is a symbolic link to a file outside, or is a FIFO (reading it
would block forever) is refused with an error naming the model file and the tensor; the
bytes outside are never read into the model.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from compiler.errors import ModelLoadError  # noqa: E402
from compiler.frontends.onnx import load_onnx  # noqa: E402

ROOT = Path(__file__).resolve().parents[4]


def _model(folder: Path, location: str) -> Path:
    w = numpy_helper.from_array(np.ones((2, 2), np.float32), "w")
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    entry = w.external_data.add()
    entry.key, entry.value = "location", location
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], [w])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "m.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
                     .SerializeToString())
    return path


def _secret(tmp_path: Path) -> Path:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.full(4, 7.0, np.float32).tobytes())
    return secret


@pytest.mark.parametrize("kind", ["relative", "absolute", "proc", "symlink"])
def test_external_data_outside_the_folder_is_refused(tmp_path, kind):
    secret = _secret(tmp_path)
    folder = tmp_path / "model"
    location = {"relative": "../secret.bin", "absolute": str(secret),
                "proc": "/proc/self/environ", "symlink": "link.bin"}[kind]
    if kind == "symlink":
        folder.mkdir()
        os.symlink(secret, folder / "link.bin")
    path = _model(folder, location)
    with pytest.raises(ModelLoadError) as ei:
        load_onnx(path)
    msg = str(ei.value)
    assert str(path) in msg and "w" in msg, msg


def test_external_data_fifo_is_refused_without_blocking(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    os.mkfifo(folder / "data.bin")
    path = _model(folder, "data.bin")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-m", "compiler.cli", "inspect", str(path)],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert res.returncode == 2, res.stderr
    assert str(path) in res.stderr and "Traceback" not in res.stderr, res.stderr
