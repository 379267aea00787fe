"""The worked examples of docs/architecture.md run, and its excerpts are the real code.

* Python blocks of the page without an ``excerpt`` marker are executed in order (the new-op
  example), in a copy of the op registry so the op does not outlive the test.
* A block preceded by ``<!-- excerpt: PATH -->`` must appear verbatim in PATH.
* The plugin target of examples/plugin_target is installed the way pip lays it out (and once
  by pip itself), listed by ``infercc targets``, chosen by ``infercc compile`` from the
  output's extension, and its executor's outputs are checked against onnxruntime running
  the source model.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest

import compiler
from compiler.errors import InferccError
from compiler.ir import DType, Graph, TensorType, parse_graph
from compiler.ops import registry as op_registry
from compiler.runtime import ExecutorError
from tests.support.plugin_dists import REPO, TINY_IR, run_cli, write_dist

PAGE = REPO / "docs" / "architecture.md"
EXAMPLE = REPO / "examples" / "plugin_target"
PKG = "infercc_example_target"
MODEL = REPO / "examples" / "models" / "tiny_cnn.onnx"

_BLOCK = re.compile(r"(?:<!-- excerpt: (?P<path>\S+) -->\n)?```(?P<lang>\w*)\n(?P<code>.*?)```",
                    re.S)


def page_blocks() -> list[tuple[str | None, str, str]]:
    """``(excerpt path or None, language, code)`` of every fenced block of the page."""
    return [(m["path"], m["lang"], m["code"]) for m in _BLOCK.finditer(PAGE.read_text())]


# -- the page ----------------------------------------------------------------------------------


def test_excerpts_appear_verbatim_in_the_files_they_name():
    excerpts = [(p, code) for p, _, code in page_blocks() if p is not None]
    assert {p for p, _ in excerpts} >= {
        "examples/plugin_pass/pyproject.toml",
        "examples/plugin_pass/infercc_example_plugin/__init__.py",
        "examples/plugin_target/pyproject.toml",
        "examples/plugin_target/infercc_example_target/target.py",
        "examples/plugin_target/infercc_example_target/runtime.py",
    }
    for path, code in excerpts:
        assert code in (REPO / path).read_text(), f"the excerpt of {path} is out of date"


def test_every_section_the_page_promises_is_there():
    heads = re.findall(r"^## (.+)$", PAGE.read_text(), flags=re.M)
    for h in ("The flow", "The layers", "A new pass", "A new op", "A new frontend",
              "A new target", "A new executor"):
        assert h in heads


def test_the_registry_tables_name_real_places():
    # the page's registry table names the builtin tables and groups the code uses
    from compiler.runtime import registry as executors
    from passes import BUILTIN_PASSES
    from targets import registry as target_registry

    text = PAGE.read_text()
    assert BUILTIN_PASSES and executors.BUILTIN_EXECUTORS and target_registry.BUILTIN_TARGETS
    for group in (executors.ENTRY_POINT_GROUP, target_registry.ENTRY_POINT_GROUP,
                  "infercc.passes"):
        assert f"`{group}`" in text


@pytest.fixture
def op_sandbox(monkeypatch):
    """A copy of the op registry: ops registered during the test vanish afterwards."""
    monkeypatch.setattr(op_registry, "_REGISTRY", dict(op_registry.all_schemas()))


@pytest.fixture
def ns():
    """A real module to exec doc code in (dataclasses and defop read ``__module__``)."""
    mod = types.ModuleType("infercc_architecture_example")
    sys.modules[mod.__name__] = mod
    yield mod.__dict__
    del sys.modules[mod.__name__]


def test_new_op_example_registers_infers_and_runs(op_sandbox, ns, capsys):
    code = [c for p, lang, c in page_blocks() if p is None and lang == "python"]
    assert len(code) == 2
    for i, block in enumerate(code):
        exec(compile(block, f"architecture.md python block {i}", "exec"), ns)
    assert capsys.readouterr().out == "f32[N,4]\n"
    np.testing.assert_array_equal(ns["y"], np.array([[0.0, 0.0, 0.125, 4.5]], np.float32))
    assert ns["y"].dtype == np.float32

    # the traits it declared are what passes and targets read
    schema = op_registry.get_schema("scaled_relu_squared")
    assert schema.quant_role == "compute" and schema.pure and schema.weight_axes() == {}
    g = Graph("static")
    v = g.add_input("x", TensorType(DType.F32, (3, 5)))
    n = g.add_node("scaled_relu_squared", [v])
    g.outputs = [n.output]
    assert schema.flops(n) == (15, 0)  # one per element
    # without the attribute, alpha is its default 1.0
    x35 = np.linspace(-3, 3, 15, dtype=np.float32).reshape(3, 5)
    got = compiler.run_graph(g, {"x": x35})[n.output.name]
    np.testing.assert_allclose(got, np.where(x35 > 0, x35 * x35, 0), rtol=1e-6)


# -- the plugin target -------------------------------------------------------------------------


def example_entry_points(group: str) -> dict[str, str]:
    data = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())
    return dict(data["project"]["entry-points"][group])


def install_by_hand(site: Path) -> None:
    """The example as pip lays it out: the package and a dist-info with both groups."""
    data = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())
    shutil.copytree(EXAMPLE / PKG, site / PKG, ignore=shutil.ignore_patterns("__pycache__"))
    info = write_dist(site, data["project"]["name"], example_entry_points("infercc.targets"),
                      {}, data["project"]["version"], group="infercc.targets")
    eps = "".join(f"{k} = {v}\n" for k, v in example_entry_points("infercc.executors").items())
    with open(info / "entry_points.txt", "a") as f:
        f.write(f"[infercc.executors]\n{eps}")


@pytest.fixture(scope="module")
def target_site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("target_site")
    install_by_hand(site)
    return site


@pytest.fixture
def plugin_installed(target_site, monkeypatch):
    """The example distribution on sys.path of this process, with fresh registries."""
    import targets
    from compiler import runtime

    monkeypatch.syspath_prepend(str(target_site))
    targets.reset_default_registry()
    runtime.reset_registry()
    yield target_site
    targets.reset_default_registry()
    runtime.reset_registry()
    for name in [m for m in sys.modules if m == PKG or m.startswith(PKG + ".")]:
        del sys.modules[name]


def onnxruntime_outputs(x: np.ndarray) -> np.ndarray:
    """The oracle: onnxruntime on the source model, independent of infercc."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    (name,) = [i.name for i in sess.get_inputs()]
    return sess.run(None, {name: x})[0]


def test_example_pyproject_declares_the_target_and_its_executor():
    assert example_entry_points("infercc.targets") == {
        "ir-archive": "infercc_example_target.target:IrArchiveTarget"}
    assert example_entry_points("infercc.executors") == {
        "ir-archive": "infercc_example_target.runtime:IrArchiveExecutor"}


def test_pip_install_of_the_example_target_is_found(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("__pycache__", "build",
                                                                "*.egg-info"))
    site = tmp_path / "site"
    r = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
         "--no-index", "--disable-pip-version-check", "-q", "--target", str(site), str(src)],
        capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    r = run_cli(["targets", "ir-archive"], site)
    assert r.returncode == 0, r.stderr
    assert "plugin distribution 'infercc-example-target'" in r.stdout


def test_targets_lists_the_plugin_target(target_site):
    r = run_cli(["targets"], target_site)
    assert r.returncode == 0, r.stderr
    out = r.stdout.split("ir-archive  -  ", 1)[1]
    assert out.startswith("IR text + signature in a zip (.irz)")
    assert "extensions: .irz" in out and "executor: ir-archive" in out
    assert "plugin distribution 'infercc-example-target'" in out
    assert "compress: bool = true" in out and "provenance: bool = true" in out
    assert "tflite  -  " in r.stdout and "onnx  -  " in r.stdout  # builtins still there


def test_compile_picks_it_by_extension_and_its_executor_matches_onnxruntime(
        target_site, plugin_installed, tmp_path):
    from targets import get_target

    out = tmp_path / "tiny.irz"
    r = run_cli(["compile", str(MODEL), "-o", str(out)], target_site)
    assert r.returncode == 0, r.stderr
    assert "target ir-archive" in r.stdout
    assert zipfile.ZipFile(out).namelist() == ["signature.json", "graph.ir"]

    target = get_target("ir-archive")
    ex = target.open_executor(out)
    assert type(ex).__name__ == "IrArchiveExecutor" and ex.input_names == ["input"]
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    got = ex.run({"input": x}).outputs
    assert list(got) == ex.output_names
    np.testing.assert_allclose(got[ex.output_names[0]], onnxruntime_outputs(x), rtol=1e-4,
                               atol=1e-5)


def test_options_change_what_is_written(plugin_installed, tmp_path):
    plain = compiler.compile(str(MODEL), output=tmp_path / "a.irz")
    bare = compiler.compile(str(MODEL), "ir-archive{compress=false,provenance=false}",
                            output=tmp_path / "b.irz")
    assert plain.target == bare.target == "ir-archive"
    kinds = {i.compress_type for i in zipfile.ZipFile(plain.output).infolist()}
    assert kinds == {zipfile.ZIP_DEFLATED}
    kinds = {i.compress_type for i in zipfile.ZipFile(bare.output).infolist()}
    assert kinds == {zipfile.ZIP_STORED}
    assert bare.size > plain.size

    with_src = parse_graph(zipfile.ZipFile(plain.output).read("graph.ir").decode())
    without = parse_graph(zipfile.ZipFile(bare.output).read("graph.ir").decode())
    assert any(n.source for n in with_src.nodes)
    assert not any(n.source for n in without.nodes)
    assert any(n.source for n in bare.graph.nodes)  # the caller's graph is left as it was
    # every IR value is in the tensor map under its own name
    assert set(plain.tensor_map) == {v.name for v in plain.graph.values()}
    out = plain.graph.outputs[0]
    assert plain.tensor_map[out.name].name == out.name
    assert plain.tensor_map[out.name].dtype == "float32"


def test_a_node_it_cannot_express_is_listed_and_nothing_is_written(plugin_installed,
                                                                   tmp_path):
    from targets import get_target

    g = parse_graph(TINY_IR)
    d = g.nodes[-1].output
    g.add_node("opaque_kernel", [d], out_types=[d.type], names=["o"])
    target = get_target("ir-archive")
    assert target.supports(g.nodes[-1]) == "is not an op of the IR op set"
    assert target.supports(g.nodes[1]) is None
    out = tmp_path / "x.irz"
    with pytest.raises(InferccError, match=r"1 node\(s\): %o \(opaque_kernel\) is not an op"):
        target.emit(g, None, out)
    assert not out.exists()


def test_its_executor_refuses_what_is_not_an_archive(plugin_installed, tmp_path):
    from compiler.runtime import open_executor

    with pytest.raises(ExecutorError, match="not an .irz archive"):
        open_executor("ir-archive", b"not a zip file")
    # the archive's bytes run as well as its path, and capture IR values by name
    g = parse_graph(TINY_IR)
    from targets import get_target

    emitted = get_target("ir-archive").emit(g)
    res = open_executor("ir-archive", emitted.data).run(
        {"x": np.ones((2, 3), np.float32)}, capture=["i"])
    np.testing.assert_array_equal(res.captured["i"], np.ones((2, 3), np.float32))
