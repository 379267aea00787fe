"""A reproducer's recorded pipeline is parsed, never evaluated as Python.

``infercc opt REPRO.ir`` replays the pipeline in the file's ``// infercc-reproducer:``
line. A pass option written as a Python expression that would create a marker file is a
pipeline syntax error (exit 2), and the marker stays absent.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_python_in_a_pass_option_is_a_parse_error(tmp_path):
    marker = tmp_path / "PAYLOAD_RAN"
    repro = tmp_path / "repro.ir"
    repro.write_text(
        "// infercc-reproducer: pipeline=quantize{method=__import__('builtins')"
        f".open({str(marker)!r},'w')}},dce\n"
        "graph @g(%x: f32[1,4]) -> (f32[1,4]) {\n"
        "  %y : f32[1,4] = relu(%x)\n"
        "  return %y\n"
        "}\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-m", "compiler.cli", "opt", str(repro),
                          "-o", str(tmp_path / "out.ir")],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert res.returncode == 2, res.stderr
    assert "pipeline" in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert not marker.exists(), "a pass option was evaluated as Python"
    assert not (tmp_path / "out.ir").exists()
