"""The LiteRT executor: a ``.tflite`` flatbuffer run in the LiteRT interpreter
(``ai_edge_litert``, or ``tf.lite`` as a fallback).

Contract (see :mod:`compiler.runtime.base`):

* The model is a ``.tflite`` path or its bytes. Without a tensor map, feeds, outputs and
  capture names are TFLite tensor names (infercc's emitter names interface tensors after
  their IR values).
* ``tensor_map`` (IR value name -> deployed tensor) lets callers speak IR: feeds, outputs
  and captures whose tensor is in the map are keyed by the IR name, and arrays are moved
  between the IR's axis order and the tensor's physical one. An entry is a tensor index or
  name, or an object or mapping with ``tensor`` (index or name; ``index``/``name`` are read
  too) and optionally ``perm`` (``deployed = ir.transpose(perm)``). Quantization is read
  from the flatbuffer itself, so an entry's own quantization field is not needed.
* A float feed to an int8/uint8 input is quantized with the tensor's scale and zero point
  (round half to even, saturate); integer feeds go in as they are. With
  ``dequantize=True`` integer outputs and captures that carry quantization parameters are
  returned as float32 (per-tensor or per-axis); otherwise as stored.
* Capture uses a second interpreter, opened on first use with
  ``experimental_preserve_all_tensors=True`` and the builtin kernels only (a delegate such
  as XNNPACK keeps its intermediates to itself); plain runs keep the default delegates.
* :attr:`LiteRTExecutor.last_invoke_ms` is the time of the last ``invoke`` alone.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from compiler.runtime.base import ExecutorError, RunResult, check_feeds

log = logging.getLogger(__name__)


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - LiteRT ships with the TFLite target
        try:
            from tensorflow.lite import Interpreter  # type: ignore[no-redef]
        except ImportError:
            return None
    return Interpreter


class LiteRTExecutor:
    """Runs a ``.tflite`` model in LiteRT (see the module doc for the contract).

    ``threads``: LiteRT's thread count (default 1, reproducible latencies).
    """

    name = "litert"

    def __init__(self, model: str | Path | bytes, *, tensor_map: Mapping[str, Any] | None = None,
                 threads: int = 1, dequantize: bool = False, label: str | None = None) -> None:
        if isinstance(model, (bytes, bytearray, memoryview)):
            self.data = bytes(model)
            self.label = label or "model"
        elif isinstance(model, (str, Path)):
            p = Path(model)
            self.label = label or str(p)
            if not p.exists():
                raise ExecutorError(f"{self.label}: model {p} does not exist", "does not exist")
            self.data = p.read_bytes()
        else:
            raise ExecutorError(f"the LiteRT executor runs a .tflite path or bytes, not "
                                f"{type(model).__name__}; compile to TFLite first")
        self.threads = int(threads)
        self.dequantize = dequantize
        self._cls = _interpreter_class()
        if self._cls is None:
            raise ExecutorError(f"{self.label}: LiteRT is not installed (pip install "
                                "ai-edge-litert)", "LiteRT is not installed")
        self.interpreter = self._open(preserve=False)
        self._preserving: Any = None
        self.inputs = self.interpreter.get_input_details()
        self.output_details = self.interpreter.get_output_details()
        self._details = {d["index"]: d for d in self.interpreter.get_tensor_details()}
        self._by_name = {d["name"]: i for i, d in self._details.items()}
        # IR name -> (tensor index, perm) and back
        self._map: dict[str, tuple[int, tuple[int, ...] | None]] = {}
        for ir_name, entry in (tensor_map or {}).items():
            self._map[ir_name] = self._entry(ir_name, entry)
        by_index = {idx: n for n, (idx, _) in self._map.items()}
        self.input_names = [by_index.get(d["index"], d["name"]) for d in self.inputs]
        self.output_names = [by_index.get(d["index"], d["name"]) for d in self.output_details]
        self.last_invoke_ms = float("nan")
        # id(interpreter) -> input tensor index -> the shape it is allocated for
        self._shapes: dict[int, dict[int, tuple[int, ...]]] = {}

    # -- opening ---------------------------------------------------------------------------
    def _open(self, preserve: bool) -> Any:
        kw: dict[str, Any] = {"model_content": self.data, "num_threads": self.threads}
        if preserve:
            from ai_edge_litert.interpreter import OpResolverType

            kw["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
            kw["experimental_preserve_all_tensors"] = True
        try:
            interp = self._cls(**kw)
            interp.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            why = " ".join(str(e).split())  # LiteRT's message spans lines: one paragraph
            raise ExecutorError(f"{self.label}: LiteRT cannot load the model ({why})",
                                f"LiteRT cannot load the model ({why})") from e
        return interp

    def _entry(self, ir_name: str, entry: Any) -> tuple[int, tuple[int, ...] | None]:
        perm = None
        if isinstance(entry, tuple):
            entry, perm = entry
        elif not isinstance(entry, (int, str)):
            get = entry.get if isinstance(entry, Mapping) else (
                lambda k, e=entry: getattr(e, k, None))
            perm = get("perm")
            entry = next((x for x in (get("tensor"), get("index"), get("name"))
                          if x is not None), None)
        if isinstance(entry, str):
            if entry not in self._by_name:
                raise ExecutorError(f"{self.label}: tensor map entry %{ir_name} names tensor "
                                    f"{entry!r}, which the model does not have")
            entry = self._by_name[entry]
        if not isinstance(entry, (int, np.integer)):
            raise ExecutorError(f"{self.label}: tensor map entry %{ir_name} has no tensor "
                                f"index or name ({entry!r})")
        return int(entry), None if perm is None else tuple(int(a) for a in perm)

    def op_counts(self) -> dict[str, int]:
        """Operators by LiteRT name, as written in the model (before any delegate)."""
        interp = self._cls(model_content=self.data)  # not allocated: no DELEGATE nodes yet
        return dict(Counter(o["op_name"] for o in interp._get_ops_details()))

    # -- running ---------------------------------------------------------------------------
    def run(self, feeds: Mapping[str, np.ndarray], capture: Sequence[str] = ()) -> RunResult:
        """Run once; ``capture`` names tensors (IR names where the tensor map has them)."""
        check_feeds(feeds, self.input_names, self.label)
        where = [self._locate(n) for n in capture]
        interp = self.interpreter
        if capture:
            if self._preserving is None:
                self._preserving = self._open(preserve=True)
            interp = self._preserving
        arrays = []
        for name, d in zip(self.input_names, self.inputs):
            x = np.asarray(feeds[name])
            perm = self._map.get(name, (None, None))[1]
            if perm is not None:
                x = np.transpose(x, perm)
            arrays.append(quantize_input(x, d))
        shapes = self._shapes.setdefault(id(interp), {
            d["index"]: tuple(int(n) for n in d["shape"]) for d in self.inputs})
        changed = [(d, x) for d, x in zip(self.inputs, arrays) if shapes[d["index"]] != x.shape]
        if changed:  # a dynamic dimension, or a model LiteRT lets us resize
            try:
                for d, x in changed:
                    interp.resize_tensor_input(d["index"], list(x.shape))
                    shapes[d["index"]] = x.shape
                interp.allocate_tensors()
            except (ValueError, RuntimeError) as e:
                shapes.clear()
                self._shapes.pop(id(interp))
                got = {d["name"]: list(x.shape) for d, x in changed}
                raise ExecutorError(f"{self.label}: LiteRT cannot take inputs of shapes {got} "
                                    f"({e})") from e
        for d, x in zip(self.inputs, arrays):
            interp.set_tensor(d["index"], x)
        t0 = time.perf_counter()
        try:
            interp.invoke()
        except (ValueError, RuntimeError) as e:
            why = " ".join(str(e).split())
            raise ExecutorError(f"{self.label}: LiteRT failed to run the model ({why})",
                                f"LiteRT failed to run the model ({why})") from e
        self.last_invoke_ms = (time.perf_counter() - t0) * 1e3
        outputs = {name: self._read(interp, d["index"], name)
                   for name, d in zip(self.output_names, self.output_details)}
        captured = {n: self._read(interp, idx, n) for n, (idx, _) in zip(capture, where)}
        return RunResult(outputs, captured)

    def _locate(self, name: str) -> tuple[int, tuple[int, ...] | None]:
        if name in self._map:
            return self._map[name]
        if name in self._by_name:
            return self._by_name[name], None
        hint = " (IR value names need tensor_map=)" if not self._map else ""
        raise ExecutorError(f"{self.label}: no tensor named {name!r} to capture{hint}")

    def _read(self, interp: Any, index: int, name: str) -> np.ndarray:
        try:
            y = interp.get_tensor(index)
        except ValueError as e:
            raise ExecutorError(f"{self.label}: tensor {name!r} was not kept by LiteRT ({e})"
                                ) from e
        y = np.array(y, copy=True)
        if self.dequantize and y.dtype.kind in "iu":
            y = dequantize(y, self._details[index])
        perm = self._map.get(name, (None, None))[1]
        if perm is not None:
            y = np.transpose(y, np.argsort(perm))
        return y


def quantize_input(x: np.ndarray, detail: Mapping[str, Any]) -> np.ndarray:
    """``x`` in the dtype of the input tensor ``detail``: float data to an integer tensor is
    quantized with its scale and zero point (round half to even, saturate)."""
    dtype = np.dtype(detail["dtype"])
    if x.dtype == dtype:
        return x
    if dtype.kind in "iu" and x.dtype.kind == "f":
        scale, zp = detail["quantization"]
        if scale == 0:
            raise ExecutorError(f"input {detail['name']!r} is {dtype} without quantization "
                                "parameters; feed integer data")
        info = np.iinfo(dtype)
        q = np.rint(x.astype(np.float64) / scale) + zp
        return np.clip(q, info.min, info.max).astype(dtype)
    return x.astype(dtype)


def dequantize(y: np.ndarray, detail: Mapping[str, Any]) -> np.ndarray:
    """An integer tensor as float32 through its quantization parameters (per tensor or per
    axis); returned unchanged when it has none."""
    qp = detail.get("quantization_parameters") or {}
    scales = np.asarray(qp.get("scales", ()), np.float64)
    zps = np.asarray(qp.get("zero_points", ()), np.float64)
    if scales.size == 0:
        scale, zp = detail.get("quantization", (0.0, 0))
        if not scale:
            return y
        scales, zps = np.array([scale]), np.array([zp], np.float64)
    if scales.size == 1:
        return ((y.astype(np.float64) - zps[0]) * scales[0]).astype(np.float32)
    axis = int(qp.get("quantized_dimension", 0))
    shape = [1] * y.ndim
    shape[axis] = -1
    return ((y.astype(np.float64) - zps.reshape(shape)) * scales.reshape(shape)).astype(np.float32)
