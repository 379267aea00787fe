"""The ``tensorrt`` executor: a serialized TensorRT engine run with TensorRT's Python runtime.

Written against TensorRT's documented Python API (the ``tensorrt`` module's ``Runtime``,
``ICudaEngine`` and ``IExecutionContext``; "Performing Inference" in TensorRT's Python API
guide) with device buffers from ``torch.cuda``. It has never run against a real TensorRT
here: no machine infercc is tested on has TensorRT or a GPU (docs/tensorrt.md).

Contract (see :mod:`compiler.runtime.base`):

* The model is a ``.engine``/``.plan`` path or the engine bytes, built for this machine's
  GPU and TensorRT version (TensorRT refuses others; the error says so).
* Feeds and outputs are keyed by the engine's I/O tensor names, in the engine's I/O order
  (infercc's engines name them after the IR values; an output that is also an input is
  ``<name>_out``). ``tensor_map`` (IR value name -> engine tensor name, or a
  :class:`targets.base.DeployedTensor`) keys the mapped ones by IR name instead.
* A feed is cast to the element type the engine declares for its input (a float32 array
  for a HALF input is rounded to half); its shape sets the input's shape
  (``set_input_shape``), so dynamic dims take the feed's, within the engine's optimization
  profile. Outputs come back as numpy arrays of the engine's type (BF16 as float32, which
  numpy lacks).
* An engine keeps only its I/O tensors: ``capture`` may name outputs only.
* ``device``: the CUDA device index (default 0); one this machine lacks is an
  :class:`ExecutorError` naming the option. ``threads`` is accepted (the option all
  executors take) and ignored: TensorRT schedules on the GPU.
* Where the runtime cannot run (``tensorrt`` does not import or is type stubs only, torch is
  not installed, or torch sees no CUDA device), opening it raises :class:`ExecutorError`
  saying what is missing and what to run instead; :func:`unavailable_reason` answers the
  same question without raising, for callers that pick an executor on their own.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from compiler.runtime.base import ExecutorError, RunResult, check_feeds

from .api import real_tensorrt

if TYPE_CHECKING:
    import tensorrt

    from .api import TrtModule

log = logging.getLogger(__name__)

# TensorRT DataType member name -> the numpy dtype of the arrays fed and returned. BF16 is
# fed and returned as float32 (numpy has no bfloat16); the FP8, INT4 and FP4 types have no
# numpy or torch buffer type an engine's I/O could use here.
NUMPY_DTYPES: dict[str, np.dtype[Any]] = {
    "FLOAT": np.dtype(np.float32), "HALF": np.dtype(np.float16),
    "BF16": np.dtype(np.float32), "INT8": np.dtype(np.int8), "UINT8": np.dtype(np.uint8),
    "INT32": np.dtype(np.int32), "INT64": np.dtype(np.int64), "BOOL": np.dtype(np.bool_)}

# TensorRT DataType member name -> the torch dtype of its device buffer.
_TORCH_DTYPES = {"FLOAT": "float32", "HALF": "float16", "BF16": "bfloat16", "INT8": "int8",
                 "UINT8": "uint8", "INT32": "int32", "INT64": "int64", "BOOL": "bool"}

INSTEAD = ("To run the model on this machine, compile it to the TensorRT-profile ONNX "
           "(infercc compile MODEL --target tensorrt -o model.onnx) and run that in "
           "onnxruntime (infercc run model.onnx); an engine runs where TensorRT and an "
           "NVIDIA GPU are (infercc run model.engine, or trtexec --loadEngine=model.engine).")


@dataclass(frozen=True)
class IOTensor:
    """One I/O tensor of an engine: its name, whether it is an input, its TensorRT type
    (DataType member name) and its shape as the engine declares it (-1 for dynamic dims)."""

    name: str
    is_input: bool
    dtype: str
    shape: tuple[int, ...]

    @property
    def numpy_dtype(self) -> np.dtype[Any]:
        """The numpy dtype of this tensor's feeds or results (see :data:`NUMPY_DTYPES`)."""
        return NUMPY_DTYPES[self.dtype]


def numpy_dtype(dtype_name: str) -> np.dtype[Any] | None:
    """The numpy dtype arrays of TensorRT type ``dtype_name`` are fed and returned as, or
    None when the executor cannot exchange that type."""
    return NUMPY_DTYPES.get(dtype_name)


def io_tensors(engine: tensorrt.ICudaEngine, trt: TrtModule) -> list[IOTensor]:
    """The engine's I/O tensors in its own order (``get_tensor_name(0..num_io_tensors)``),
    which is the order feeds and outputs follow."""
    out = []
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        dims = engine.get_tensor_shape(name)
        out.append(IOTensor(name=name,
                            is_input=engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT,
                            dtype=engine.get_tensor_dtype(name).name,
                            shape=tuple(int(dims[k]) for k in range(len(dims)))))
    return out


def _import_torch() -> tuple[Any, str]:
    """``(torch module, "")``, or ``(None, why it cannot be used)``; typed Any so a type
    check of this module does not analyse torch."""
    try:
        torch = importlib.import_module("torch")
    except ImportError as e:
        return None, f"torch, which provides the device buffers, does not import ({e})"
    if not torch.cuda.is_available():
        return None, "torch sees no CUDA device (no NVIDIA GPU or driver, or a CPU-only torch)"
    return torch, ""


def unavailable_reason() -> str | None:
    """Why the ``tensorrt`` executor cannot run on this machine, or None when it can."""
    trt, why = real_tensorrt()
    if trt is None:
        return why
    torch, why = _import_torch()
    return why if torch is None else None


def _unavailable(label: str, why: str) -> ExecutorError:
    return ExecutorError(f"{label}: the tensorrt executor cannot run here: {why}. It needs "
                         f"TensorRT's Python runtime (pip install tensorrt) and torch with "
                         f"CUDA, on a machine with an NVIDIA GPU. {INSTEAD}",
                         f"the tensorrt executor cannot run here: {why}")


def _engine_name(entry: Any) -> str:
    """An engine tensor name from a tensor map entry (a name or a DeployedTensor)."""
    return entry if isinstance(entry, str) else str(getattr(entry, "name", entry))


class TensorRTExecutor:
    """Runs a serialized TensorRT engine (see the module doc for the contract)."""

    name = "tensorrt"

    def __init__(self, model: str | Path | bytes, *, device: int = 0,
                 tensor_map: Mapping[str, Any] | None = None, threads: int | None = None,
                 label: str | None = None) -> None:
        source: Path | bytes
        if isinstance(model, (bytes, bytearray, memoryview)):
            self.label = label or "engine"
            source = bytes(model)
        elif isinstance(model, (str, Path)):
            self.label = label or str(model)
            source = Path(model)
            if not source.is_file():
                raise ExecutorError(f"{self.label}: no such engine file", "no such file")
        else:
            raise ExecutorError(f"the tensorrt executor runs a serialized engine (.engine/.plan "
                                f"path or bytes), not {type(model).__name__}; compile with "
                                f"--target tensorrt -o model.engine first")
        trt, why = real_tensorrt()
        torch, why_torch = _import_torch() if trt is not None else (None, "")
        if trt is None or torch is None:
            raise _unavailable(self.label, why or why_torch)
        data = source.read_bytes() if isinstance(source, Path) else source
        self.trt, self.torch = trt, torch
        count = int(torch.cuda.device_count())
        if not 0 <= int(device) < count:
            raise ExecutorError(f"{self.label}: device={device}: this machine has {count} CUDA "
                                f"device(s), numbered 0 to {count - 1}; pass one of them",
                                f"no CUDA device {device}")
        self.device = torch.device("cuda", int(device))
        torch.cuda.set_device(self.device)
        self._logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self._logger)
        engine: tensorrt.ICudaEngine | None = self.runtime.deserialize_cuda_engine(data)
        if engine is None:
            raise ExecutorError(f"{self.label}: TensorRT {getattr(trt, '__version__', '?')} "
                                "cannot deserialize this engine (its log above says why: an "
                                "engine runs only on the TensorRT version and GPU model it "
                                "was built with); rebuild it on this machine",
                                "TensorRT cannot deserialize the engine")
        self.engine = engine
        context = engine.create_execution_context()
        if context is None:  # TensorRT returns None when it cannot create one, and logs why
            raise ExecutorError(f"{self.label}: TensorRT could not create an execution context "
                                "for this engine (its log above says why; often the GPU has "
                                "too little free memory for the engine's activations); free "
                                "GPU memory or run on another device (device=N)",
                                "TensorRT cannot create an execution context")
        self.context = context
        self.io = io_tensors(engine, trt)
        odd = [f"{t.name} ({t.dtype})" for t in self.io if numpy_dtype(t.dtype) is None]
        if odd:
            raise ExecutorError(f"{self.label}: I/O tensors of types this executor cannot "
                                f"exchange as arrays: {', '.join(odd)}")
        rename = {_engine_name(e): ir for ir, e in (tensor_map or {}).items()}
        self._key = {t.name: rename.get(t.name, t.name) for t in self.io}
        self.input_names = [self._key[t.name] for t in self.io if t.is_input]
        self.output_names = [self._key[t.name] for t in self.io if not t.is_input]
        self.stream = torch.cuda.Stream(self.device)

    def run(self, feeds: Mapping[str, np.ndarray], capture: Sequence[str] = ()) -> RunResult:
        """Run once on ``feeds``; ``capture`` may name outputs only (see the module doc)."""
        check_feeds(feeds, self.input_names, self.label)
        inner = [n for n in capture if n not in self.output_names]
        if inner:
            raise ExecutorError(f"{self.label}: a TensorRT engine keeps only its inputs and "
                                f"outputs; {inner[:5]} cannot be captured (mark them as "
                                "outputs, or run the IR with --executor onnxruntime)")
        torch, ctx = self.torch, self.context
        with torch.cuda.stream(self.stream):  # copies, allocations and the run: one stream
            buffers = self._bind(feeds)
            if not ctx.execute_async_v3(int(self.stream.cuda_stream)):
                raise ExecutorError(f"{self.label}: TensorRT's execute_async_v3 failed (its "
                                    "log above says why)")
        self.stream.synchronize()
        outputs = {}
        for t in self.io:
            if not t.is_input:
                out = buffers[t.name]
                if t.dtype == "BF16":
                    out = out.float()
                outputs[self._key[t.name]] = out.cpu().numpy()
        return RunResult(outputs=outputs,
                         captured={n: outputs[n] for n in dict.fromkeys(capture)})

    def _bind(self, feeds: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """Device buffers for every I/O tensor (inputs filled from ``feeds``, outputs sized
        from the input shapes), their addresses set on the execution context."""
        torch, ctx = self.torch, self.context
        buffers: dict[str, Any] = {}
        for t in self.io:  # inputs first: output shapes follow from them
            if not t.is_input:
                continue
            # np.require, not ascontiguousarray: that would make a 0-d feed 1-d
            a = np.require(np.asarray(feeds[self._key[t.name]], dtype=t.numpy_dtype),
                           requirements="C")
            buf = torch.from_numpy(a).to(self.device)
            if t.dtype == "BF16":
                buf = buf.to(torch.bfloat16)
            if not ctx.set_input_shape(t.name, tuple(a.shape)):
                raise ExecutorError(f"{self.label}: input {self._key[t.name]} of shape "
                                    f"{list(a.shape)} is outside the engine's optimization "
                                    f"profile (declared {list(t.shape)}, -1 dynamic)")
            buffers[t.name] = buf
        missing = ctx.infer_shapes()
        if missing:
            raise ExecutorError(f"{self.label}: TensorRT cannot infer the shapes of "
                                f"{missing[:5]} from the inputs given")
        for t in self.io:
            if not t.is_input:
                dims = ctx.get_tensor_shape(t.name)
                shape = tuple(int(dims[k]) for k in range(len(dims)))
                if any(d < 0 for d in shape):
                    raise ExecutorError(f"{self.label}: output {self._key[t.name]} has a "
                                        f"shape {list(shape)} known only after the run "
                                        "(data-dependent); this executor runs engines "
                                        "whose output shapes follow from the input shapes")
                buffers[t.name] = torch.empty(shape, dtype=getattr(torch, _TORCH_DTYPES[t.dtype]),
                                              device=self.device)
        for name, buf in buffers.items():
            ctx.set_tensor_address(name, int(buf.data_ptr()))
        return buffers
