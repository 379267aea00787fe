"""Evaluate .tflite models in LiteRT on held-out data and compare them side by side.

This is what ``infercc compile ... --int8 --eval TEST.npz`` prints: the float and the INT8
flatbuffer of the same model, run on the same samples.

Contract:

* ``data`` is an ``.npz`` path or a mapping of arrays. Each model input is fed from the array
  keyed by its name (the TFLite input tensor name or its signature name); a single-input
  model also takes the single non-``labels`` array whatever its key (so a converter's
  ``serving_default_x:0`` input reads the same file). Arrays are stacked along axis 0: an
  array one rank above the model input holds one sample per index, an array of the input's
  own rank holds rows fed one at a time (batch 1), the layout ``compiler.calibrate`` reads.
  An optional integer array ``labels`` (``[N]``) gives the true class of each sample.
* Samples are fed one at a time. A float sample fed to an int8/uint8 input tensor is
  quantized with that tensor's scale and zero point (round half to even, saturate); integer
  data is fed as is. Quantized outputs are dequantized, so every output is compared in float.
* :class:`EvalResult` keeps every output of every sample (stacked, ``[N, ...]``), the
  predicted class (argmax over the last axis of the first output), accuracy against
  ``labels`` when present, per-sample invoke latencies (milliseconds; median reported) and
  the model size in bytes.
* :func:`evaluate_many` times the models alternately (sample i on model A, then on model B,
  ..., the order rotating from sample to sample) so that machine noise affects all of them
  alike; latency *ratios* are the figures to
  read on shared machines.
* :func:`compare` renders a table: accuracy, top-1 agreement with the reference model, SQNR
  of the first output against the reference (dB, over all samples' elements; the formulas
  are :mod:`compiler.debug.metrics`), size and latency with their ratios to the reference.

Only the standard library and numpy are imported at import time; models run through the
``"litert"`` executor of :mod:`compiler.runtime` (imported when a model is run).
"""

from __future__ import annotations

import logging
import math
import os
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .metrics import EvaluationError, sqnr_db, top1_agreement

log = logging.getLogger(__name__)

LABELS = "labels"


@dataclass
class EvalResult:
    """What :func:`evaluate_tflite` measured for one model (see the module doc)."""

    name: str
    outputs: list[np.ndarray] = field(repr=False)  # one [N, ...] float array per model output
    labels: np.ndarray | None = field(repr=False)
    latencies_ms: list[float] = field(repr=False)
    size: int
    threads: int = 1

    @property
    def num_samples(self) -> int:
        return int(self.outputs[0].shape[0]) if self.outputs else 0

    @property
    def logits(self) -> np.ndarray:
        """The first output, one row per sample (``[N, C]``)."""
        out = self.outputs[0]
        return out.reshape(out.shape[0], -1)

    @property
    def predictions(self) -> np.ndarray:
        """Predicted class per sample: argmax of the first output's last axis."""
        return np.argmax(self.logits, axis=1)

    @property
    def accuracy(self) -> float | None:
        """Fraction of samples whose prediction equals ``labels`` (None without labels)."""
        if self.labels is None:
            return None
        return float(np.mean(self.predictions == self.labels))

    @property
    def latency_ms(self) -> float:
        """Median invoke latency of one sample, milliseconds."""
        return float(statistics.median(self.latencies_ms)) if self.latencies_ms else math.nan


# -- data ------------------------------------------------------------------------------------
def load_data(data: str | os.PathLike | Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` path or a mapping, as a dict of numpy arrays."""
    if isinstance(data, (str, os.PathLike)):
        p = Path(data)
        if not p.exists():
            raise EvaluationError(f"evaluation data {p} does not exist")
        try:
            with np.load(p, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError) as e:
            raise EvaluationError(f"evaluation data {p}: unreadable .npz ({e})") from e
    if isinstance(data, Mapping):
        return {str(k): np.asarray(v) for k, v in data.items()}
    raise EvaluationError(f"evaluation data of type {type(data).__name__}: give an .npz path "
                          "or a dict of arrays keyed by input name (plus optional 'labels')")


def _model_bytes(model: str | os.PathLike | bytes) -> bytes:
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model)
    p = Path(model)
    if not p.exists():
        raise EvaluationError(f"model {p} does not exist")
    return p.read_bytes()


def _strip_tensor_name(name: str) -> str:
    # TFLiteConverter names inputs "serving_default_<name>:0".
    base = name.split(":")[0]
    return base.removeprefix("serving_default_")


class _Runner:
    """One LiteRT interpreter plus the per-sample feeds of one data set."""

    def __init__(self, name: str, model: bytes, arrays: dict[str, np.ndarray], threads: int,
                 max_samples: int | None) -> None:
        from compiler.runtime import ExecutorError, open_executor

        self.name = name
        self.size = len(model)
        try:
            self.executor = open_executor("litert", model, threads=threads, dequantize=True,
                                          label=name)
        except ExecutorError as e:
            raise EvaluationError(str(e)) from e
        self.inputs = self.executor.inputs
        self.output_details = self.executor.output_details
        self.sources = self._match_inputs(arrays)
        counts = {d["name"]: a.shape[0] for d, a in zip(self.inputs, self.sources)}
        if len(set(counts.values())) > 1:
            raise EvaluationError(f"{name}: evaluation arrays have different sample counts "
                                  f"along axis 0: {counts}")
        n = next(iter(counts.values()), 0)
        self.count = n if max_samples is None else min(n, int(max_samples))

    def _match_inputs(self, arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
        candidates = {k: v for k, v in arrays.items() if k != LABELS}
        out = []
        for d in self.inputs:
            key = next((k for k in (d["name"], _strip_tensor_name(d["name"]))
                        if k in candidates), None)
            if key is None and len(self.inputs) == 1 and len(candidates) == 1:
                key = next(iter(candidates))
            if key is None:
                raise EvaluationError(
                    f"{self.name}: no evaluation array for model input {d['name']!r}; the "
                    f"data holds {sorted(arrays)}. Key one array per input by its name.")
            a = candidates[key]
            shape = tuple(int(s) for s in d["shape"])
            if a.ndim == len(shape) + 1:
                rows = a.shape[1:]
            elif a.ndim == len(shape):
                rows = (1, *a.shape[1:])
            else:
                raise EvaluationError(f"{self.name}: array {key!r} of shape {a.shape} does not "
                                      f"fit model input {d['name']!r} of shape {list(shape)}")
            if tuple(rows) != shape:
                raise EvaluationError(
                    f"{self.name}: a sample of {key!r} has shape {list(rows)}, model input "
                    f"{d['name']!r} takes {list(shape)} (one sample at a time)")
            out.append(a)
        return out

    def feed(self, i: int) -> None:
        self.feeds = {}
        for name, d, a in zip(self.executor.input_names, self.inputs, self.sources):
            shape = tuple(int(s) for s in d["shape"])
            self.feeds[name] = np.asarray(a[i]).reshape(shape)

    def invoke(self) -> float:
        """Run the fed sample; the invoke time alone, milliseconds."""
        from compiler.runtime import ExecutorError

        try:
            self.result = self.executor.run(self.feeds)
        except ExecutorError as e:
            raise EvaluationError(str(e)) from e
        return self.executor.last_invoke_ms

    def read(self) -> list[np.ndarray]:
        return [np.asarray(y, dtype=np.float32) for y in self.result.outputs.values()]


# -- evaluation ------------------------------------------------------------------------------
def evaluate_many(
    models: Mapping[str, str | os.PathLike | bytes],
    data: str | os.PathLike | Mapping[str, Any],
    *,
    threads: int = 1,
    max_samples: int | None = None,
    warmup: int = 5,
) -> dict[str, EvalResult]:
    """Run every model on every sample of ``data``, timing the models alternately.

    ``models`` maps a display name to a ``.tflite`` path or flatbuffer bytes. ``warmup``
    untimed invokes per model precede the timed ones.
    """
    arrays = load_data(data)
    labels = arrays.get(LABELS)
    runners = [_Runner(name, _model_bytes(m), arrays, threads, max_samples)
               for name, m in models.items()]
    if not runners:
        return {}
    counts = {r.name: r.count for r in runners}
    if len(set(counts.values())) > 1:
        raise EvaluationError(f"models see different sample counts: {counts}")
    n = runners[0].count
    if n == 0:
        raise EvaluationError("evaluation data holds no samples")
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        if labels.dtype.kind not in "iu":
            raise EvaluationError(f"'{LABELS}' must be integer class ids, got {labels.dtype}")
        if labels.shape[0] < n:
            raise EvaluationError(f"'{LABELS}' has {labels.shape[0]} entries for {n} samples")
        labels = labels[:n]
    for r in runners:
        r.feed(0)
        for _ in range(max(0, int(warmup))):
            r.invoke()
    outs: dict[str, list[list[np.ndarray]]] = {r.name: [] for r in runners}
    times: dict[str, list[float]] = {r.name: [] for r in runners}
    for i in range(n):
        k = i % len(runners)  # rotate the order so no model always runs first
        for r in runners[k:] + runners[:k]:
            r.feed(i)
            times[r.name].append(r.invoke())
            outs[r.name].append(r.read())
    results = {}
    for r in runners:
        per_output = [np.stack([s[k] for s in outs[r.name]]) for k in range(len(r.output_details))]
        results[r.name] = EvalResult(r.name, per_output, labels, times[r.name], r.size, threads)
        log.info("%s: %d samples, median %.3f ms, accuracy %s", r.name, n,
                 results[r.name].latency_ms, results[r.name].accuracy)
    return results


def evaluate_tflite(
    model: str | os.PathLike | bytes,
    data: str | os.PathLike | Mapping[str, Any],
    *,
    threads: int = 1,
    max_samples: int | None = None,
    warmup: int = 5,
    name: str = "model",
) -> EvalResult:
    """Run one ``.tflite`` model (path or bytes) on ``data``; see the module doc."""
    return evaluate_many({name: model}, data, threads=threads, max_samples=max_samples,
                         warmup=warmup)[name]


# -- report ----------------------------------------------------------------------------------
def _fmt(v: float | None, spec: str) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return format(v, spec)


def compare(results: Mapping[str, EvalResult], reference: str = "float") -> str:
    """A text table of ``results`` against ``results[reference]`` (see the module doc)."""
    if reference not in results:
        raise EvaluationError(f"compare: no result named {reference!r} among {list(results)}")
    ref = results[reference]
    header = ["model", "accuracy", "top-1 agree", "SQNR dB", "size KB", "size x",
              "latency ms", "latency x"]
    rows = []
    for name, r in results.items():
        same = r.logits.shape == ref.logits.shape
        agree = top1_agreement(ref.logits, r.logits) if same else None
        sq = sqnr_db(ref.logits, r.logits) if same and name != reference else None
        acc = r.accuracy
        rows.append([
            name,
            "-" if acc is None else f"{acc * 100:.2f}%",
            "-" if agree is None else f"{agree * 100:.2f}%",
            "-" if name == reference else _fmt(sq, ".1f"),
            f"{r.size / 1024:.1f}",
            f"{r.size / ref.size:.3f}" if ref.size else "-",
            f"{r.latency_ms:.4g}",
            f"{r.latency_ms / ref.latency_ms:.2f}" if ref.latency_ms else "-",
        ])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w)
                       for i, (h, w) in enumerate(zip(header, widths)))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths))))
    n = ref.num_samples
    lines.append(f"{n} samples, LiteRT {ref.threads} thread(s), median latency per sample; "
                 f"agreement and SQNR (first output) against {reference!r}")
    return "\n".join(lines)


__all__ = ["LABELS", "EvalResult", "EvaluationError", "compare", "evaluate_many",
           "evaluate_tflite", "load_data"]
