"""Passes loaded from a plain .py file (``load_pass_file``, ``--pass-plugin``).

The API tests use a registry of their own, so the process-wide one is never changed; the
CLI tests run ``python -m compiler.cli`` in a subprocess, as a user would.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from compiler.errors import PipelineError
from compiler.pass_manager import PassRegistry, load_pass_file, parse_pipeline
from tests.support.plugin_dists import TINY_IR, run_cli

COUNT_PASS = """
    from dataclasses import dataclass
    from typing import ClassVar
    from compiler.pass_manager import Pass, PassResult

    @dataclass
    class CountNodes(Pass):
        name: ClassVar[str] = "count-nodes"
        summary: ClassVar[str] = "Count the nodes (test pass)"
        label: str = "nodes"

        def run(self, graph, ctx):
            return PassResult(modified=False, stats={self.label: len(graph.nodes)})
"""


def _write(tmp_path: Path, name: str, src: str) -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(src))
    return p


@pytest.fixture
def registry() -> PassRegistry:
    return PassRegistry(plugins=False)


@pytest.fixture
def model(tmp_path) -> Path:
    p = tmp_path / "tiny.ir"
    p.write_text(TINY_IR)
    return p


def test_passes_of_the_file_are_registered(tmp_path, registry):
    path = _write(tmp_path, "count.py", COUNT_PASS)
    [cls] = load_pass_file(path, registry)
    assert cls.__name__ == "CountNodes"
    assert registry.get("count-nodes") is cls
    assert registry.info("count-nodes").origin == f"plugin file ({path.resolve()}:CountNodes)"
    [p] = parse_pipeline("count-nodes{label=n}", registry)
    assert p.label == "n"


def test_imported_pass_classes_are_not_registered_again(tmp_path, registry):
    """A file importing a builtin pass class defines only its own passes."""
    path = _write(tmp_path, "count.py", COUNT_PASS + """
    from passes.cleanup.dce import DeadCodeElimination
    """)
    assert [c.name for c in load_pass_file(path, registry)] == ["count-nodes"]


def test_loading_the_same_file_twice_keeps_one_pass(tmp_path, registry):
    path = _write(tmp_path, "count.py", COUNT_PASS)
    first = load_pass_file(path, registry)[0]
    second = load_pass_file(path, registry)[0]
    assert second is not first
    assert registry.get("count-nodes") is second


def test_missing_file(tmp_path, registry):
    with pytest.raises(PipelineError, match=r"nope\.py: no such file"):
        load_pass_file(tmp_path / "nope.py", registry)


def test_file_raising_on_import_names_file_line_and_error(tmp_path, registry):
    path = _write(tmp_path, "broken.py", """\
        x = 1
        raise RuntimeError("plugin is broken")
    """)
    with pytest.raises(PipelineError) as e:
        load_pass_file(path, registry)
    msg = str(e.value)
    assert str(path) in msg and "(line 2)" in msg
    assert "RuntimeError: plugin is broken" in msg
    assert "\n" not in msg


def test_syntax_error_names_the_line(tmp_path, registry):
    path = _write(tmp_path, "syntax.py", "x = 1\ndef f(:\n")
    with pytest.raises(PipelineError, match=r"syntax\.py failed to import \(line 2\): "
                                            r"SyntaxError"):
        load_pass_file(path, registry)


def test_file_defining_no_pass(tmp_path, registry):
    path = _write(tmp_path, "empty.py", "X = 1\n")
    with pytest.raises(PipelineError, match=r"empty\.py defines no pass"):
        load_pass_file(path, registry)


def test_name_taken_by_a_builtin(tmp_path, registry):
    path = _write(tmp_path, "dup.py", COUNT_PASS.replace('"count-nodes"', '"dce"'))
    with pytest.raises(PipelineError) as e:
        load_pass_file(path, registry)
    msg = str(e.value)
    assert "dup.py" in msg and "'dce'" in msg and "builtin" in msg and "rename" in msg
    assert registry.info("dce").kind == "builtin"


# -- the CLI ---------------------------------------------------------------------------------


def test_cli_opt_runs_a_pass_from_a_file(tmp_path, model):
    path = _write(tmp_path, "count.py", COUNT_PASS)
    r = run_cli(["opt", str(model), "-p", "count-nodes{label=seen}", "--timing",
                 "--pass-plugin", str(path)])
    assert r.returncode == 0, r.stderr
    assert "seen=3" in r.stderr  # TINY_IR has three nodes


def test_cli_passes_lists_the_file_as_the_source(tmp_path):
    path = _write(tmp_path, "count.py", COUNT_PASS)
    r = run_cli(["passes", "count-nodes", "--pass-plugin", str(path)])
    assert r.returncode == 0, r.stderr
    assert "Count the nodes (test pass)" in r.stdout
    assert f"plugin file ({path.resolve()}:CountNodes)" in r.stdout


def test_cli_compile_runs_a_pass_from_a_file(tmp_path):
    path = _write(tmp_path, "count.py", COUNT_PASS)
    model = tmp_path / "relu.ir"
    model.write_text("graph @g(%x: f32[2,3]) -> (f32[2,3]) {\n"
                     "  %y: f32[2,3] = relu(%x)\n  return %y\n}\n")
    out = tmp_path / "m.onnx"
    r = run_cli(["compile", str(model), "-o", str(out), "-p", "count-nodes", "--timing",
                 "--pass-plugin", str(path)])
    assert r.returncode == 0, r.stderr
    assert "count-nodes" in r.stderr and "nodes=1" in r.stderr
    assert out.is_file()


@pytest.mark.parametrize("name, src, expected", [
    ("missing.py", None, "missing.py: no such file"),
    ("broken.py", "raise ValueError('bad plugin')\n",
     "broken.py failed to import (line 1): ValueError: bad plugin"),
    ("empty.py", "X = 1\n", "empty.py defines no pass"),
    ("dup.py", COUNT_PASS.replace('"count-nodes"', '"cse"'), "already defines a pass"),
])
def test_cli_bad_plugin_file_is_a_clean_error(tmp_path, model, name, src, expected):
    path = tmp_path / name
    if src is not None:
        _write(tmp_path, name, src)
    out = tmp_path / "out.ir"
    r = run_cli(["opt", str(model), "-p", "dce", "-o", str(out), "--pass-plugin", str(path)])
    assert r.returncode == 2, r.stderr
    assert expected in r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists()
