"""Helpers for tests that need real plugin distributions and the CLI in a subprocess.

A plugin becomes visible to infercc the way it would after ``pip install``: a
``<name>-<version>.dist-info`` directory with ``METADATA`` and ``entry_points.txt`` on
``sys.path`` (here through ``PYTHONPATH``). Nothing in the registry is patched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "plugin_pass"


def write_dist(
    site: Path,
    dist_name: str,
    entry_points: dict[str, str],
    modules: dict[str, str],
    version: str = "0.1.0",
    group: str = "infercc.passes",
) -> Path:
    """Write an installed-looking distribution into ``site`` whose entry points are in
    ``group``; returns its dist-info dir."""
    site.mkdir(parents=True, exist_ok=True)
    for rel, src in modules.items():
        p = site / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(src))
    info = site / f"{dist_name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: {version}\n"
    )
    eps = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{group}]\n{eps}")
    return info


def example_entry_points() -> dict[str, str]:
    """The ``infercc.passes`` entry points the example's pyproject.toml declares."""
    data = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())
    return dict(data["project"]["entry-points"]["infercc.passes"])


def install_example_by_hand(site: Path) -> None:
    """The example plugin as pip would lay it out, from its own pyproject.toml."""
    data = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())
    pkg = "infercc_example_plugin"
    shutil.copytree(EXAMPLE / pkg, site / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    write_dist(site, data["project"]["name"], example_entry_points(), {},
               data["project"]["version"])


def pip_install_example(site: Path, scratch: Path) -> subprocess.CompletedProcess:
    """``pip install --target`` of a copy of the example (offline, no build isolation)."""
    src = scratch / "plugin_src"
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("__pycache__", "build",
                                                                "*.egg-info"))
    return subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
         "--no-index", "--disable-pip-version-check", "-q", "--target", str(site), str(src)],
        capture_output=True, text=True, timeout=120,
    )


def run_cli(args: list[str], *sites: Path, cwd: Path | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m compiler.cli ARGS`` with ``sites`` (and the repo) on PYTHONPATH."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*map(str, sites), str(REPO)])
    env.pop("PYTHONSTARTUP", None)
    return subprocess.run(
        [sys.executable, "-m", "compiler.cli", *args],
        capture_output=True, text=True, cwd=str(cwd or REPO), env=env, timeout=timeout,
    )


# A plugin with test passes: one that crashes on a dropout node, one that removes identities.
CRASH_PLUGIN = {
    "crash_plugin/__init__.py": '''
        from dataclasses import dataclass
        from typing import ClassVar
        from compiler.pass_manager import Pass, PassResult

        @dataclass
        class CrashOnDropout(Pass):
            name: ClassVar[str] = "crash-on-dropout"
            summary: ClassVar[str] = "Raise when the graph holds a dropout node (test pass)"
            message: str = "boom"

            def run(self, graph, ctx):
                for n in graph.nodes:
                    if n.op == "dropout":
                        raise ValueError(f"{self.message} at %{n.outputs[0].name}")
                return PassResult(modified=False)

        @dataclass
        class DropIdentity(Pass):
            name: ClassVar[str] = "drop-identity"
            summary: ClassVar[str] = "Remove identity nodes (test pass)"

            def run(self, graph, ctx):
                k = 0
                for n in list(graph.nodes):
                    if n.op == "identity" and not n.outputs[0].is_graph_output:
                        n.outputs[0].replace_all_uses_with(n.inputs[0])
                        graph.erase_node(n)
                        k += 1
                return PassResult(modified=k > 0, stats={"removed": k})
    ''',
}
CRASH_ENTRY_POINTS = {
    "crash-on-dropout": "crash_plugin:CrashOnDropout",
    "drop-identity": "crash_plugin:DropIdentity",
}

# Three nodes of ops that always exist (const, identity, dropout), with provenance.
TINY_IR = """\
graph @tiny(%x: f32[2,3]) -> (f32[2,3]) {
  %c: f32[2,3] = const() {value=dense<f32[2,3] [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]>}
  %i: f32[2,3] = identity(%x)  // layer.id
  %d: f32[2,3] = dropout(%i)  // layer.drop
  return %d
}
"""
