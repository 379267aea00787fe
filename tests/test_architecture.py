"""The layers of infercc, checked by import-linter (the contract is in pyproject.toml).

Bottom up: the IR, the op set and the reference interpreter; the pass manager, the runtime,
graph statistics and input-shape parsing; comparison metrics and evaluation; the quantization
library; frontends and passes; targets; the drivers (compile, cli). A module may import only
from its own layer or below. Upward crossings go through registries by name (the pass,
target and executor registries), never an import.

The contract is only as good as its coverage and its teeth, so besides running it:
every module of the three packages must fall in some layer, and an upward import planted in
a copy of the tree must break it (so the first test cannot pass by checking nothing).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("compiler", "passes", "targets")


def lint(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the tree at ``root`` with its pyproject.toml, in a fresh process
    (so it imports that tree's packages, not the ones this process has loaded)."""
    exe = Path(sys.executable).with_name("lint-imports")
    found = str(exe) if exe.exists() else shutil.which("lint-imports")
    assert found, "lint-imports is missing: pip install -e '.[dev]' (import-linter)"
    return subprocess.run([found, "--no-logo", "--no-cache", str(root / "pyproject.toml")],
                          capture_output=True, text=True, cwd=root, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)})


def _layers() -> list[list[str]]:
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    return [[m.strip() for m in layer.replace(":", "|").split("|")]
            for layer in contract["layers"]]


def _modules() -> list[str]:
    out = []
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


def test_layers_are_kept():
    proc = lint(REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "infercc layers (upper may import lower, never the reverse) KEPT" in proc.stdout


def test_every_module_is_in_a_layer():
    layers = [m for layer in _layers() for m in layer]
    # the root package `compiler` is the facade over all layers (compiler.compile, .load)
    uncovered = [m for m in _modules() if m != "compiler" and not any(
        m == top or m.startswith(top + ".") for top in layers)]
    assert not uncovered, f"modules in no layer of pyproject.toml: {uncovered}"


def test_no_module_imports_the_root_facade():
    # `import compiler` pulls in compiler.compile, the top layer: an import of the bare
    # package from inside a layer would hide an upward dependency from the contract.
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    importers = sorted(graph.find_modules_that_directly_import("compiler"))
    assert importers == [], importers


def test_an_upward_import_breaks_the_contract(tmp_path: Path):
    for pkg in PACKAGES:
        shutil.copytree(REPO / pkg, tmp_path / pkg,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    types = tmp_path / "compiler" / "ir" / "types.py"
    types.write_text(types.read_text() + "\n\ndef _upward():\n    import targets.tflite  # noqa\n")
    proc = lint(tmp_path)
    assert proc.returncode != 0, proc.stdout
    out = " ".join(proc.stdout.split())
    assert "BROKEN" in out and "compiler.ir is not allowed to import targets" in out, out
    assert "compiler.ir.types -> targets.tflite" in out, out
