"""IR-in/IR-out pass tests written as ``.ir`` files, checked with FileCheck.

Each ``*.ir`` file under ``tests/passes/`` holds one or more graphs in IR text and the lines

    // RUN: infercc opt %s -p 'remove-identity'
    // CHECK: %y: f32[2,3] = relu(%x)
    // CHECK-NOT: identity

``%s`` is the file itself. Every RUN command's standard output is piped into the ``filecheck``
program from PyPI (the LLVM FileCheck port xDSL uses), which matches the CHECK lines of the same
file against it, so a test pins only the lines it cares about. A RUN line may name another
prefix with ``--check-prefix=P`` as in LLVM (``// P: ...``). ``infercc`` runs as
``python -m compiler.cli`` under this interpreter, so the checkout under test is the one run.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
REPO = HERE.parent.parent
CASES = sorted(HERE.rglob("*.ir"))
RUN = re.compile(r"^\s*//\s*RUN:\s*(.*)$")


def run_lines(path: Path) -> list[str]:
    return [m.group(1) for line in path.read_text().splitlines() if (m := RUN.match(line))]


def _filecheck() -> list[str]:
    exe = Path(sys.executable).with_name("filecheck")
    return [str(exe)] if exe.exists() else ["filecheck"]


def run_case(path: Path) -> None:
    runs = run_lines(path)
    assert runs, f"{path} has no '// RUN:' line"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    for cmd in runs:
        cmd, _, check_args = cmd.partition("|")
        argv = shlex.split(cmd.replace("%s", shlex.quote(str(path))))
        assert argv[0] == "infercc", f"{path}: RUN lines start with infercc, got {argv[0]!r}"
        proc = subprocess.run([sys.executable, "-m", "compiler.cli", *argv[1:]],
                              capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
        assert proc.returncode == 0, f"{path}: `{cmd}` exited {proc.returncode}:\n{proc.stderr}"
        fc_args = shlex.split(check_args.replace("filecheck", "", 1)) if check_args else []
        check = subprocess.run([*_filecheck(), str(path), *fc_args], input=proc.stdout,
                               capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, (
            f"{path}: FileCheck failed for `{cmd}`:\n{check.stdout}{check.stderr}\n"
            f"--- output of the RUN command ---\n{proc.stdout}")


def test_cases_exist():
    assert CASES, "no .ir FileCheck cases found"


@pytest.mark.parametrize("path", CASES, ids=[str(p.relative_to(HERE)) for p in CASES])
def test_filecheck(path: Path):
    run_case(path)


def test_a_wrong_check_fails(tmp_path: Path):
    # The harness must be able to fail: a CHECK line the output does not contain.
    case = tmp_path / "wrong.ir"
    case.write_text(
        "// RUN: infercc opt %s -p remove-identity\n"
        "graph @g(%x: f32[2]) -> (f32[2]) {\n"
        "  %y: f32[2] = identity(%x)\n"
        "  return %y\n"
        "}\n"
        "// CHECK: = softmax(\n")
    with pytest.raises(AssertionError, match="FileCheck failed"):
        run_case(case)
