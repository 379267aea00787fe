"""Plugin passes found through real ``infercc.passes`` entry points, run via the CLI.

Each test puts distributions (dist-info + package) in a temporary directory and runs
``python -m compiler.cli`` with that directory on PYTHONPATH: the registry finds them
through importlib.metadata exactly as it would after ``pip install``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.ir import parse_graph
from tests.support.plugin_dists import (
    TINY_IR,
    example_entry_points,
    install_example_by_hand,
    pip_install_example,
    run_cli,
    write_dist,
)


@pytest.fixture(scope="module")
def example_site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("site")
    install_example_by_hand(site)
    return site


@pytest.fixture
def model(tmp_path) -> Path:
    p = tmp_path / "tiny.ir"
    p.write_text(TINY_IR)
    return p


def test_example_pyproject_declares_entry_points():
    eps = example_entry_points()
    assert eps == {
        "count-ops": "infercc_example_plugin:CountOps",
        "strip-provenance": "infercc_example_plugin:StripProvenance",
    }


def test_pip_install_of_the_example_is_found(tmp_path, model):
    # The real installation path, offline: pip builds the wheel with the installed setuptools.
    site = tmp_path / "site"
    r = pip_install_example(site, tmp_path)
    assert r.returncode == 0, r.stderr
    assert list(site.glob("infercc_example_plugin-0.1.0.dist-info/entry_points.txt"))
    r = run_cli(["passes", "count-ops"], site)
    assert r.returncode == 0, r.stderr
    assert "count-ops" in r.stdout
    assert "infercc-example-plugin" in r.stdout  # the source distribution is named
    r = run_cli(["opt", str(model), "-p", "count-ops", "--timing"], site)
    assert r.returncode == 0, r.stderr
    assert "identity=1" in r.stderr and "dropout=1" in r.stderr  # count-ops' stats


def test_passes_lists_plugins_with_options(example_site):
    r = run_cli(["passes"], example_site)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "count-ops  -  Count nodes per op" in out
    assert "strip-provenance  -  Remove source-layer names" in out
    assert "plugin from distribution 'infercc-example-plugin'" in out
    assert "keep_first: bool = false" in out
    assert "ops: list[str] = []" in out
    # builtins are listed too, with their module path
    assert "remove-identity" in out and "passes.cleanup.remove_identity" in out


def test_opt_runs_plugin_passes(example_site, model, tmp_path):
    out = tmp_path / "out.ir"
    r = run_cli(
        ["opt", str(model), "-p", "count-ops{include_const=false},strip-provenance", "-o",
         str(out), "--timing"],
        example_site,
    )
    assert r.returncode == 0, r.stderr
    assert "count-ops{include_const=false}" in r.stderr  # the table names the configured pass
    assert "const=" not in r.stderr.split("count-ops{include_const=false}")[1].split("\n")[0]
    assert "stripped=2" in r.stderr
    g = parse_graph(out.read_text())
    assert [n.op for n in g.nodes] == ["const", "identity", "dropout"]
    assert all(n.source == () for n in g.nodes)


def test_duplicate_plugin_names_both_distributions(example_site, tmp_path, model):
    dup = tmp_path / "dup"
    write_dist(dup, "dup-plugin", {"count-ops": "dup_plugin:CountOps"},
               {"dup_plugin/__init__.py": "raise ImportError('must not be imported')\n"})
    for args in (["passes"], ["opt", str(model), "-p", "count-ops"]):
        r = run_cli(args, example_site, dup)
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr
        assert "'count-ops' is defined twice" in r.stderr
        assert "infercc-example-plugin" in r.stderr and "dup-plugin" in r.stderr
        assert "infercc_example_plugin:CountOps" in r.stderr and "dup_plugin:CountOps" in r.stderr


def test_plugin_shadowing_a_builtin_is_an_error(tmp_path):
    site = tmp_path / "site"
    write_dist(site, "shadow-plugin", {"dce": "shadow:Dce"}, {"shadow.py": ""})
    r = run_cli(["passes"], site)
    assert r.returncode == 2
    assert "'dce' is defined twice" in r.stderr
    assert "builtin (passes.cleanup.dce:DeadCodeElimination)" in r.stderr
    assert "shadow-plugin" in r.stderr
    assert "Traceback" not in r.stderr


def test_entry_point_name_must_match_class_name(tmp_path, model):
    site = tmp_path / "site"
    write_dist(
        site,
        "misnamed-plugin",
        {"wrong-name": "misnamed:P"},
        {"misnamed.py": """
            from dataclasses import dataclass
            from typing import ClassVar
            from compiler.pass_manager import Pass, PassResult

            @dataclass
            class P(Pass):
                name: ClassVar[str] = "right-name"
                def run(self, graph, ctx):
                    return PassResult(False)
        """},
    )
    r = run_cli(["opt", str(model), "-p", "wrong-name"], site)
    assert r.returncode == 2
    assert "'wrong-name'" in r.stderr and "'right-name'" in r.stderr
    assert "misnamed-plugin" in r.stderr
    assert "must be the same" in r.stderr
    assert "Traceback" not in r.stderr


def test_broken_plugin_import_is_reported(tmp_path, model):
    site = tmp_path / "site"
    write_dist(site, "broken-plugin", {"broken": "broken_mod:P"},
               {"broken_mod.py": "import no_such_module_for_infercc_tests\n"})
    r = run_cli(["opt", str(model), "-p", "broken"], site)
    assert r.returncode == 2
    assert "broken-plugin" in r.stderr and "cannot be loaded" in r.stderr
    assert "no_such_module_for_infercc_tests" in r.stderr
    assert "Traceback" not in r.stderr
