"""Frontends sit below targets and the drivers, beside the passes: they import none of them
and run passes only through the PassManager by pipeline string."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

FRONTENDS = REPO / "compiler" / "frontends"
FORBIDDEN = ("passes", "targets", "compiler.cli", "compiler.compile", "compiler.debug")


def _module_name(path: Path) -> str:
    parts = path.relative_to(FRONTENDS.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved)."""
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
    return out


SOURCES = sorted(FRONTENDS.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(FRONTENDS)))
def test_frontend_imports_nothing_above_it(path):
    bad = sorted(m for m in _imports(path) if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))
    assert not bad, f"{path.name} imports {bad}; run passes with PassManager('a,b').run(graph)"


def test_no_frontend_probes_for_modules():
    probing = [p.name for p in SOURCES if "find_spec" in p.read_text() or "import_module(\"passes" in p.read_text()]
    assert not probing


def test_the_import_scan_resolves_relative_imports():
    # converter.py says "from ...pass_manager import PassManager" and "from .ops import ..."
    names = _imports(FRONTENDS / "tflite" / "converter.py")
    assert {"compiler.pass_manager.PassManager", "compiler.errors", "compiler.frontends.tflite.ops"} <= names
