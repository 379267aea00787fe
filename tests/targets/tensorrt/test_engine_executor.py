"""The ``tensorrt`` executor: registration, the errors where it cannot run, and its pure logic.

No engine is run here: this machine has neither TensorRT nor a GPU, and a fake engine would
test nothing but itself (the fakes below only let infercc's own checks run: a device index
the machine lacks, an engine without an execution context). What is checked: the registry
and the CLI name the executor; where ``import tensorrt`` fails (forced by a ``tensorrt``
module that raises ImportError, so the result is the same on every machine), is type stubs
only, or torch sees no CUDA device, opening it is one ExecutorError (exit 2 from the CLI)
saying what is missing and what to run instead; the TensorRT type -> numpy dtype table names
real ``DataType`` members (read from the ``tensorrt-stubs`` file, the independent record of
the API); and the I/O tensors are listed in the engine's own order.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from compiler.runtime import ExecutorError, executor_names, open_executor
from compiler.runtime.registry import executor_class
from targets import get_target
from targets.tensorrt import runtime
from tests.conftest import REPO
from tests.support.trt_stubs import stub_dir_or_skip

TINY = REPO / "examples" / "models" / "tiny_cnn.onnx"


@pytest.fixture
def engine_file(tmp_path: Path) -> Path:
    """A file named like an engine. Its bytes are no engine: every test using it expects
    the executor to refuse before reading them."""
    p = tmp_path / "model.engine"
    p.write_bytes(b"placeholder, not a serialized engine")
    return p


def _hide_tensorrt(tmp_path: Path) -> dict[str, str]:
    """An environment where ``import tensorrt`` fails whether or not TensorRT is installed."""
    hide = tmp_path / "no_tensorrt"
    hide.mkdir(exist_ok=True)
    (hide / "tensorrt.py").write_text("raise ImportError('hidden by the test')\n")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(hide), str(REPO)])}


def _cli(env: dict[str, str], *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "compiler.cli", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=300)


# -- registration ----------------------------------------------------------------------------
def test_the_registry_lists_the_executor_the_target_names():
    assert get_target("tensorrt").executor == "tensorrt"
    assert "tensorrt" in executor_names()
    assert executor_class("tensorrt") is runtime.TensorRTExecutor


# -- where it cannot run ---------------------------------------------------------------------
def test_without_tensorrt_opening_says_what_is_missing_and_what_to_run(monkeypatch,
                                                                       engine_file):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import tensorrt -> ImportError
    assert runtime.unavailable_reason().startswith("`import tensorrt` fails")
    with pytest.raises(ExecutorError) as e:
        open_executor("tensorrt", engine_file)
    msg = str(e.value)
    assert msg.startswith(f"{engine_file}: the tensorrt executor cannot run here: "
                          "`import tensorrt` fails")
    assert "pip install tensorrt" in msg and "NVIDIA GPU" in msg
    assert "--target tensorrt -o model.onnx" in msg and "infercc run model.onnx" in msg
    assert "\n" not in msg
    assert e.value.reason.startswith("the tensorrt executor cannot run here")


def test_type_stubs_alone_are_not_tensorrt(monkeypatch, engine_file):
    from targets.tensorrt.target import TensorRTNotInstalledError, import_tensorrt

    monkeypatch.setitem(sys.modules, "tensorrt", types.ModuleType("tensorrt"))
    why = "the installed 'tensorrt' package has no Builder or Runtime (type stubs only?)"
    with pytest.raises(ExecutorError) as e:
        open_executor("tensorrt", engine_file)
    assert e.value.reason == f"the tensorrt executor cannot run here: {why}"
    # the engine build decides the same way, in the same words
    with pytest.raises(TensorRTNotInstalledError) as built:
        import_tensorrt()
    assert f"cannot build a TensorRT engine here: {why}." in str(built.value)


def test_without_a_cuda_device_opening_says_so(monkeypatch, engine_file):
    torch = pytest.importorskip("torch")
    fake = types.ModuleType("tensorrt")
    fake.Builder = fake.Runtime = object  # enough to pass the stubs check; nothing is called
    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert runtime.unavailable_reason().startswith("torch sees no CUDA device")
    with pytest.raises(ExecutorError, match="cannot run here: torch sees no CUDA device"):
        open_executor("tensorrt", engine_file)


class _NoContextEngine:
    """An engine whose ``create_execution_context`` returns None, as TensorRT's does when it
    cannot create one (IExecutionContext creation failing, e.g. for want of GPU memory)."""

    def create_execution_context(self):
        return None


def _fake_gpu(monkeypatch, devices: int, engine=None):
    """A ``tensorrt`` module whose Runtime hands back ``engine`` and a torch that reports
    ``devices`` CUDA devices: only infercc's own checks around them run."""
    torch = pytest.importorskip("torch")
    fake = types.ModuleType("tensorrt")

    class Logger:
        WARNING = 2

        def __init__(self, severity):
            pass

    class Runtime:
        def __init__(self, logger):
            pass

        def deserialize_cuda_engine(self, data):
            return engine

    fake.Builder, fake.Logger, fake.Runtime = object, Logger, Runtime
    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: devices)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: None)


def test_a_device_this_machine_lacks_is_an_error_naming_the_option(monkeypatch, engine_file):
    _fake_gpu(monkeypatch, devices=2)
    for device in (2, -1):
        with pytest.raises(ExecutorError) as e:
            open_executor("tensorrt", engine_file, device=device)
        assert str(e.value) == (f"{engine_file}: device={device}: this machine has 2 CUDA "
                                "device(s), numbered 0 to 1; pass one of them")


def test_an_engine_without_an_execution_context_is_an_executor_error(monkeypatch,
                                                                     engine_file):
    _fake_gpu(monkeypatch, devices=1, engine=_NoContextEngine())
    with pytest.raises(ExecutorError) as e:
        open_executor("tensorrt", engine_file)
    assert str(e.value).startswith(f"{engine_file}: TensorRT could not create an execution "
                                   "context for this engine")
    assert e.value.reason == "TensorRT cannot create an execution context"


def test_a_missing_file_and_a_graph_are_refused_before_anything_else(tmp_path):
    with pytest.raises(ExecutorError, match="no such engine file"):
        open_executor("tensorrt", tmp_path / "absent.engine")
    with pytest.raises(ExecutorError, match="runs a serialized engine"):
        open_executor("tensorrt", object())


def test_cli_run_of_an_engine_without_tensorrt_exits_2_with_one_paragraph(tmp_path,
                                                                         engine_file):
    env = _hide_tensorrt(tmp_path)
    for args in ([engine_file], [engine_file, "--executor", "tensorrt"],
                 [engine_file.with_suffix(".plan")]):
        if args[0].suffix == ".plan":
            args[0].write_bytes(engine_file.read_bytes())
        r = _cli(env, "run", *args)
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr
        err = r.stderr.strip()
        assert err.startswith(f"infercc: error: {args[0]}: the tensorrt executor cannot run "
                              "here: `import tensorrt` fails"), err
        assert "infercc run model.onnx" in err and "\n" not in err


def test_cli_executor_tensorrt_on_a_model_file_says_it_runs_engines(tmp_path):
    r = _cli(_hide_tensorrt(tmp_path), "run", TINY, "--executor", "tensorrt")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "the tensorrt executor runs TensorRT engines (.engine, .plan)" in r.stderr
    assert "drop --executor" in r.stderr  # what works here instead


def test_cli_other_executors_refuse_an_engine(tmp_path, engine_file):
    r = _cli(_hide_tensorrt(tmp_path), "run", engine_file, "--executor", "reference")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "runs in the tensorrt executor only" in r.stderr


def test_the_compile_run_report_skips_an_engine_it_cannot_run(monkeypatch):
    from compiler.cli import compile as compile_cli

    monkeypatch.setitem(sys.modules, "tensorrt", None)
    lines = compile_cli._engine_run_report("never-opened.engine")
    assert lines == [f"  (not run: {runtime.unavailable_reason()})"]


# -- pure logic ------------------------------------------------------------------------------
def _stub_datatype_members() -> set[str]:
    tree = ast.parse((stub_dir_or_skip() / "tensorrt_bindings" / "tensorrt.pyi").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "DataType")
    return {t.target.id for t in cls.body
            if isinstance(t, ast.AnnAssign) and isinstance(t.target, ast.Name)
            and "ClassVar" in ast.unparse(t.annotation)}


def test_dtype_table_names_real_datatype_members():
    members = _stub_datatype_members()
    assert {"FLOAT", "HALF", "INT8", "INT32", "BOOL"} <= members  # the stub parse works
    assert set(runtime.NUMPY_DTYPES) <= members
    # what cannot be exchanged as a numpy array is refused, not guessed
    assert {m for m in members if runtime.numpy_dtype(m) is None} >= {"FP8", "INT4"}


@pytest.mark.parametrize("name, dtype", [
    ("FLOAT", np.float32), ("HALF", np.float16), ("INT8", np.int8), ("UINT8", np.uint8),
    ("INT32", np.int32), ("INT64", np.int64), ("BOOL", np.bool_),
    ("BF16", np.float32),  # numpy has no bfloat16: fed and returned as float32
])
def test_numpy_dtype(name, dtype):
    assert runtime.numpy_dtype(name) == np.dtype(dtype)


class _Dims(tuple):
    """Indexable and sized, as ``tensorrt.Dims`` is."""


class _Engine:
    """Just the four ICudaEngine queries :func:`io_tensors` makes (num_io_tensors,
    get_tensor_name/mode/shape/dtype); it runs nothing."""

    def __init__(self, io):
        self._io = io

    @property
    def num_io_tensors(self):
        return len(self._io)

    def get_tensor_name(self, i):
        return self._io[i][0]

    def _row(self, name):
        return next(r for r in self._io if r[0] == name)

    def get_tensor_mode(self, name):
        return self._row(name)[1]

    def get_tensor_shape(self, name):
        return _Dims(self._row(name)[3])

    def get_tensor_dtype(self, name):
        return types.SimpleNamespace(name=self._row(name)[2])


def test_io_tensors_keep_the_engine_order_and_modes():
    mode = types.SimpleNamespace(INPUT="in", OUTPUT="out")
    trt = types.SimpleNamespace(TensorIOMode=mode)
    engine = _Engine([("probs", "out", "FLOAT", (1, 10)), ("image", "in", "HALF", (-1, 3, 32, 32)),
                      ("mask", "in", "BOOL", (1, 4)), ("boxes", "out", "INT32", (1, 4, 4))])
    io = runtime.io_tensors(engine, trt)
    assert [(t.name, t.is_input, t.dtype, t.shape) for t in io] == [
        ("probs", False, "FLOAT", (1, 10)), ("image", True, "HALF", (-1, 3, 32, 32)),
        ("mask", True, "BOOL", (1, 4)), ("boxes", False, "INT32", (1, 4, 4))]
    assert [t.numpy_dtype for t in io] == [np.dtype(np.float32), np.dtype(np.float16),
                                           np.dtype(np.bool_), np.dtype(np.int32)]
