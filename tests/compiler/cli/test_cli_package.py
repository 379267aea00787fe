"""The ``infercc`` command line as a package: ``--version``, ``python -m compiler.cli``, every
command's help, and a cheap start-up (building the parser imports no framework)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from compiler._version import __version__
from compiler.cli import main
from tests.conftest import REPO
from tests.support.plugin_dists import run_cli

COMMANDS = ["inspect", "opt", "compile", "run", "compare", "passes", "targets", "ops"]

# importing any of these costs seconds; listing passes or printing help needs none of them
HEAVY = {"onnx", "onnxruntime", "torch", "tensorflow", "keras", "tf_keras", "ai_edge_litert",
         "h5py", "flatbuffers", "cv2"}


def test_version_in_process(capsys):
    assert main(["--version"]) == 0
    out = capsys.readouterr().out
    assert out == f"infercc {__version__}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", __version__)


def test_version_in_a_real_process():
    r = run_cli(["--version"])
    assert (r.returncode, r.stdout, r.stderr) == (0, f"infercc {__version__}\n", "")


def test_exit_code_of_a_real_process_is_mains():
    """``python -m compiler.cli`` exits with main's code: 2 for a user error."""
    r = run_cli(["ops", "no-such-op"])
    assert r.returncode == 2
    assert "unknown op 'no-such-op'" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(capsys, command):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: infercc {command} ")
    assert "--debug" in out  # the common flags reach every command


def test_top_level_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s+\S", out, re.M), command


def _loaded_after(code: str) -> set[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-c", code + "\nimport sys, json\n"
                        "print(json.dumps(sorted(sys.modules)))"],
                       capture_output=True, text=True, env=env, cwd=REPO, check=True)
    return set(json.loads(r.stdout.strip().splitlines()[-1]))


def test_building_the_parser_imports_no_framework():
    mods = _loaded_after("from compiler.cli import build_parser\nbuild_parser()")
    assert "compiler.cli.compile" in mods  # every command module was imported ...
    assert {m.split(".")[0] for m in mods} & HEAVY == set()  # ... without a framework
    assert not any(m.startswith("targets") for m in mods)  # targets load when a command runs


def test_infercc_passes_imports_no_framework():
    mods = _loaded_after("import contextlib, io\nfrom compiler.cli import main\n"
                         "with contextlib.redirect_stdout(io.StringIO()):\n"
                         "    assert main(['passes']) == 0")
    assert {m.split(".")[0] for m in mods} & HEAVY == set()
