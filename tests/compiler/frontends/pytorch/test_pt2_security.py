""".pt2 files must not run code planted in them.

Each vector rewrites a ``torch.export.save`` archive so that loading it the way
``torch.export.load`` does would create a marker file (a pickle whose ``__reduce__`` opens
the marker for writing, or the same call written as Python source). The tests load the
file with infercc and assert the marker was not created, the exit code (2, or 0 where the
payload sits in a part infercc never reads), that the message names the file, and that no
traceback reaches stderr. ``test_payloads_are_live`` checks with torch itself that each
planted payload really runs under ``torch.export.load(f).module()(x)``, so the absence of the
marker is not an accident of a broken payload.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from compiler.errors import ModelLoadError  # noqa: E402
from compiler.frontends.pytorch import load_pytorch_file  # noqa: E402
from compiler.frontends.pytorch.pt2_archive import parse_sym_expr  # noqa: E402
from compiler.interpreter import run_graph  # noqa: E402

ROOT = Path(__file__).resolve().parents[4]


class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4, 2)
        self.register_buffer("scale", torch.tensor([2.0, 0.5]))

    def forward(self, x):
        y = self.conv(x).relu().mean((2, 3))
        return self.fc(y) * self.scale + torch.tensor([1.0, -1.0])  # a lifted constant


class _Payload:
    """Unpickling this opens ``path`` for writing: the planted code."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _payload_pickle(marker: Path) -> bytes:
    return pickle.dumps(_Payload(marker), protocol=2)


def _expr(marker: Path) -> str:
    return f"__import__('builtins').open({str(marker)!r}, 'w') and Symbol('s77', integer=True)"


def _save(tmp: Path, dynamic: bool) -> Path:
    torch.manual_seed(0)
    m = _Net().eval()
    x = torch.randn(2, 3, 8, 8)
    shapes = ({0: torch.export.Dim("N")},) if dynamic else None
    path = tmp / ("dyn.pt2" if dynamic else "static.pt2")
    torch.export.save(torch.export.export(m, (x,), dynamic_shapes=shapes), str(path))
    return path


def _rewrite(src: Path, dst: Path, edit) -> Path:
    """Copy the archive, letting ``edit(records)`` change the {name: bytes} map (names
    without the archive folder)."""
    with zipfile.ZipFile(src) as zf:
        root = zf.namelist()[0].split("/", 1)[0] + "/"
        records = {n[len(root):]: zf.read(n) for n in zf.namelist()}
    edit(records)
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zf:
        for name, data in records.items():
            zf.writestr(root + name, data)
    return dst


def _edit_json(records: dict, name: str, fn) -> None:
    doc = json.loads(records[name])
    fn(doc)
    records[name] = json.dumps(doc).encode()


W_CFG = "data/weights/model_weights_config.json"
C_CFG = "data/constants/model_constants_config.json"


def _pickled_weight(marker):
    def edit(r):
        def cfg(d):
            meta = d["config"]["conv.weight"]
            meta["use_pickle"] = True
            r["data/weights/" + meta["path_name"]] = _payload_pickle(marker)
        _edit_json(r, W_CFG, cfg)
    return edit


def _opaque_constant(marker):
    def edit(r):
        r["data/constants/opaque_obj_0"] = _payload_pickle(marker)
        _edit_json(r, C_CFG, lambda d: d["config"]["lifted_tensor_0"].update(
            path_name="opaque_obj_0", use_pickle=True))
    return edit


def _script_object(marker):
    def edit(r):
        r["data/constants/custom_obj_0"] = _payload_pickle(marker)
        _edit_json(r, C_CFG, lambda d: d["config"]["lifted_tensor_0"].update(
            path_name="custom_obj_0", use_pickle=True))
    return edit


def _sample_inputs(marker):
    def edit(r):
        r["data/sample_inputs/model.pt"] = _payload_pickle(marker)
    return edit


def _legacy_weights(marker):
    def edit(r):
        r["data/weights/model.pt"] = _payload_pickle(marker)
    return edit


def _sym_expression(marker):
    def edit(r):
        text = r["models/model.json"].decode()
        old = json.dumps("Symbol('s77', positive=True, integer=True)")
        assert old in text, "the dynamic export no longer names its batch symbol s77"
        r["models/model.json"] = text.replace(old, json.dumps(_expr(marker))).encode()
    return edit


def _guards_code(marker):
    def edit(r):
        _edit_json(r, "models/model.json", lambda d: d.update(
            guards_code=[f"__import__('builtins').open({str(marker)!r}, 'w') is not None"]))
    return edit


def _node_name(marker):
    def edit(r):
        text = r["models/model.json"].decode()
        evil = f"relu\nopen({str(marker)!r}, 'w')\ndef _f(relu):\n    relu"
        r["models/model.json"] = text.replace('"relu"', json.dumps(evil)).encode()
    return edit


def _aoti_library(marker):
    def edit(r):  # torch.export.load hands data/aotinductor/<model>/ to AOTInductor's loader
        r["data/aotinductor/model/model.so"] = b"\x7fELF not a real library " + str(marker).encode()
        r["data/aotinductor/model/model_metadata.json"] = b'{"AOTI_DEVICE_KEY": "cpu"}'
    return edit


# name -> (archive edit, dynamic base?, exit code of `infercc inspect`, message fragment)
VECTORS = {
    "pickled-weights": (_pickled_weight, False, 2, "stored as a pickle"),
    "opaque-object-constant": (_opaque_constant, False, 2, "opaque Python object"),
    "script-object-constant": (_script_object, False, 2, "TorchScript object"),
    "pickled-sample-inputs": (_sample_inputs, False, 0, None),
    "legacy-weights-file": (_legacy_weights, False, 2, "weights_only=True"),
    "expression-in-size": (_sym_expression, True, 2, "symbolic size rejected"),
    "guards-code": (_guards_code, True, 0, None),
    "code-in-node-name": (_node_name, False, 2, "not an identifier"),
    "aotinductor-library": (_aoti_library, False, 0, None),
}
# the vectors torch.export.load(f).module()(x) runs; torch 2.13 fails on the script-object
# payload before unpickling it and regenerates node names, so those two are defence in depth;
# the AOTInductor entry is a stand-in (not a loadable library): it checks infercc ignores it
LIVE = [k for k in VECTORS
        if k not in ("script-object-constant", "code-in-node-name", "aotinductor-library")]


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pt2")
    return {False: _save(tmp, False), True: _save(tmp, True)}


def _build(bases, tmp_path: Path, vector: str) -> tuple[Path, Path]:
    edit, dynamic, _, _ = VECTORS[vector]
    marker = tmp_path / "PAYLOAD_RAN"
    path = _rewrite(bases[dynamic], tmp_path / f"{vector}.pt2", edit(marker))
    return path, marker


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "compiler.cli", *args], capture_output=True,
                          text=True, env=env, timeout=300, cwd=ROOT)


@pytest.mark.parametrize("vector", sorted(VECTORS))
def test_payload_does_not_run_on_load(bases, tmp_path, vector):
    path, marker = _build(bases, tmp_path, vector)
    _, _, code, fragment = VECTORS[vector]
    if code == 0:
        graph = load_pytorch_file(path)
        assert [v.name for v in graph.inputs] == ["x"]
    else:
        with pytest.raises(ModelLoadError) as ei:
            load_pytorch_file(path)
        msg = str(ei.value)
        assert str(path) in msg and fragment in msg, msg
        assert "\n" not in msg.strip(), msg
    assert not marker.exists(), f"{vector}: the planted payload ran"


@pytest.mark.parametrize("vector", ["pickled-weights", "guards-code"])
def test_cli_inspect_keeps_payload_dead(bases, tmp_path, vector):
    path, marker = _build(bases, tmp_path, vector)
    res = _cli("inspect", str(path))
    assert not marker.exists(), f"{vector}: the planted payload ran"
    assert res.returncode == VECTORS[vector][2], res.stderr
    assert "Traceback" not in res.stderr, res.stderr
    if res.returncode == 2:
        assert str(path) in res.stderr and len(res.stderr.strip().splitlines()) <= 3, res.stderr


@pytest.mark.slow
@pytest.mark.parametrize("vector", sorted(VECTORS))
def test_cli_inspect_every_vector(bases, tmp_path, vector):
    path, marker = _build(bases, tmp_path, vector)
    res = _cli("inspect", str(path))
    assert not marker.exists(), f"{vector}: the planted payload ran"
    assert res.returncode == VECTORS[vector][2], res.stderr
    assert "Traceback" not in res.stderr, res.stderr
    if res.returncode == 2:
        assert str(path) in res.stderr and VECTORS[vector][3] in res.stderr, res.stderr


def test_payloads_are_live(bases, tmp_path):
    """torch's own loader runs every planted payload: the vectors are real."""
    files = {}
    for vector in LIVE:
        d = tmp_path / vector
        d.mkdir()
        files[vector] = _build(bases, d, vector)
    script = (
        "import sys, torch\n"
        "for f in sys.argv[1:]:\n"
        "    try:\n"
        "        torch.export.load(f).module()(torch.randn(2, 3, 8, 8))\n"
        "    except Exception:\n"
        "        pass\n"
    )
    subprocess.run([sys.executable, "-c", script, *(str(p) for p, _ in files.values())],
                   capture_output=True, timeout=600)
    dead = [v for v, (_, marker) in files.items() if not marker.exists()]
    assert not dead, f"payloads torch no longer runs (update the vectors): {dead}"


def test_torch_log_records_are_held_back(bases, tmp_path):
    """torch logs through handlers of its own (a filter on infercc's handler cannot reach
    them), so the load stops torch's records at their loggers; at debug level (-vv) they
    pass. A handler on torch's serializer logger sees what any handler would."""
    import logging

    def edit(r):
        _edit_json(r, "models/model.json", lambda d: d["range_constraints"].update(
            s99={"min_val": 2, "max_val": 5}))  # torch warns: not in the graph
    path = _rewrite(bases[False], tmp_path / "extra_symbol.pt2", edit)
    seen: list[str] = []
    probe = logging.Handler()
    probe.emit = lambda record: seen.append(record.getMessage())
    torch_log = logging.getLogger("torch._export.serde.serialize")
    root = logging.getLogger()
    old = root.level
    torch_log.addHandler(probe)
    try:
        root.setLevel(logging.WARNING)  # what `infercc` sets without -v
        load_pytorch_file(path)
        quiet = list(seen)
        root.setLevel(logging.DEBUG)  # -vv
        load_pytorch_file(path)
    finally:
        root.setLevel(old)
        torch_log.removeHandler(probe)
    assert not quiet, quiet
    assert any("Symbol s99 did not appear" in m for m in seen), seen  # it does log


def test_broken_archive_is_one_paragraph(tmp_path):
    bad = tmp_path / "broken.pt2"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("broken/archive_version", "0")
        zf.writestr("broken/models/model.json", "{\"graph_module\": {}}")
    with pytest.raises(ModelLoadError) as ei:
        load_pytorch_file(bad)
    msg = str(ei.value)
    assert msg.startswith(str(bad)) and "\n" not in msg, msg


# -- ordinary files still load --------------------------------------------------------------


@pytest.mark.parametrize("dynamic", [False, True])
def test_ordinary_pt2_matches_torch(bases, dynamic):
    graph = load_pytorch_file(bases[dynamic])
    torch.manual_seed(0)
    ref_model = torch.export.load(str(bases[dynamic])).module()  # torch as the oracle
    for batch in ([2] if not dynamic else [1, 3, 5]):
        x = torch.randn(batch, 3, 8, 8)
        with torch.no_grad():
            ref = ref_model(x).numpy()
        out = run_graph(graph, {graph.inputs[0].name: x.numpy()})[graph.outputs[0].name]
        assert out.shape == ref.shape
        assert np.abs(out - ref).max() < 1e-5  # measured 2.4e-7
    if dynamic:
        assert graph.inputs[0].type.shape[0] == "N"


def test_load_reaches_no_unpickler_and_no_sympify_of_text(bases, monkeypatch):
    """Loading ordinary archives (one with a symbolic batch) calls none of the functions
    that run code from their input: every unpickling entry point and sympify of a string
    raise here, and the loads still succeed."""
    import sympy

    def forbidden(name):
        def fail(*args, **kwargs):
            raise AssertionError(f"{name} called while loading a .pt2")
        return fail

    real_sympify = sympy.sympify

    def sympify(a, *args, **kwargs):
        if isinstance(a, str):
            raise AssertionError(f"sympify({a!r}) called while loading a .pt2")
        return real_sympify(a, *args, **kwargs)

    monkeypatch.setattr(pickle, "loads", forbidden("pickle.loads"))
    monkeypatch.setattr(pickle, "load", forbidden("pickle.load"))
    monkeypatch.setattr(pickle, "Unpickler", forbidden("pickle.Unpickler"))
    monkeypatch.setattr(torch, "load", forbidden("torch.load"))
    monkeypatch.setattr(torch._C, "_pickle_load_obj", forbidden("torch._C._pickle_load_obj"))
    monkeypatch.setattr(sympy, "sympify", sympify)
    for dynamic in (False, True):
        graph = load_pytorch_file(bases[dynamic])
        assert graph.inputs[0].type.shape[0] == ("N" if dynamic else 2)


def test_parse_sym_expr_matches_sympy_and_refuses_code():
    import sympy
    from torch.utils._sympy.functions import FloorDiv, ModularIndexing

    fns = {"FloorDiv": FloorDiv, "ModularIndexing": ModularIndexing}
    s = sympy.Symbol("s0", positive=True, integer=True)
    for expr in [s, FloorDiv(s, 2) + 1, 3 * s**2 - 7, sympy.Eq(s, 1), s <= 3,
                 sympy.Max(s, 2), sympy.Rational(1, 2) * s, sympy.Ne(ModularIndexing(s, 1, 4), 0),
                 sympy.Piecewise((s, s > 2), (1, True))]:
        assert parse_sym_expr(sympy.srepr(expr), fns) == expr
    for bad in ["__import__('os').system('true')", "Symbol.__class__", "Symbol('a; b')",
                "(lambda: 1)()", "Symbol('s', integer=__import__('os'))", "open('x')",
                "Add.mro()", "[1][0]"]:
        with pytest.raises(ValueError):
            parse_sym_expr(bad, fns)
