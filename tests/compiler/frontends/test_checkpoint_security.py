"""A ``.pt`` / ``.pth`` checkpoint is a pickle; infercc refuses it without unpickling.

The planted checkpoint opens a marker file when unpickled; ``infercc inspect`` exits 2
with a message naming the file, and the marker stays absent.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


class _Payload:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("suffix", [".pt", ".pth"])
def test_pickled_checkpoint_is_refused_unread(tmp_path, suffix):
    marker = tmp_path / "PAYLOAD_RAN"
    path = tmp_path / f"weights{suffix}"
    path.write_bytes(pickle.dumps({"w": _Payload(str(marker))}))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-m", "compiler.cli", "inspect", str(path)],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert res.returncode == 2, res.stderr
    assert str(path) in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert not marker.exists(), "infercc unpickled the checkpoint"
    pickle.loads(path.read_bytes())  # the payload is live: unpickling runs it
    assert marker.exists()
