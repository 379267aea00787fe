"""Comparison metrics of a tensor against its reference: the one home of their formulas.

Contract: every figure is over all elements, in float64.

* ``SQNR = 10 log10(sum ref^2 / sum (ref - x)^2)`` dB; ``inf`` when the two agree exactly,
  ``-inf`` for any noise on an all-zero reference.
* ``cosine = sum ref x / sqrt(sum ref^2 sum x^2)``; 1 when both are all zero, 0 when one is.
* ``max_abs_err = max |ref - x|``.
* top-1 agreement: the fraction of rows (axis 0) whose argmax over the flattened rest is the
  same in both.

:func:`sqnr_db` and :func:`top1_agreement` compare two arrays; :class:`ErrorStats` folds
pairs of arrays in one at a time (samples of a data set) and gives the same figures over
everything folded; :func:`update_many` folds several references against one array. Only numpy is imported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from compiler.errors import InferccError


class EvaluationError(InferccError):
    """The model, the data or the arrays compared cannot be used; the message says why."""


def _ratio_db(signal: float, noise: float) -> float:
    """``10 log10(signal / noise)``; ``inf`` for no noise, ``-inf`` for noise on silence."""
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def _cosine(dot: float, signal: float, quant: float) -> float:
    if signal == 0.0 and quant == 0.0:
        return 1.0
    if signal == 0.0 or quant == 0.0:
        return 0.0
    return dot / math.sqrt(signal * quant)


# elements per step of ErrorStats.update: 64 KiB float64 temporaries stay below malloc's
# mmap threshold, and OpenBLAS computes dot products up to 10,000 elements on one thread
_CHUNK = 8192


class ErrorStats:
    """Running reference-vs-``x`` energies of one tensor (float64 sums), see the module doc."""

    __slots__ = ("signal", "noise", "dot", "quant", "max_abs_err", "count")

    def __init__(self) -> None:
        self.signal = self.noise = self.dot = self.quant = 0.0
        self.max_abs_err = 0.0
        self.count = 0

    def update(self, ref: np.ndarray, got: np.ndarray) -> None:
        """Fold in one pair (same number of elements; shapes are not compared)."""
        update_many([(self, ref)], got)

    @property
    def sqnr_db(self) -> float:
        return _ratio_db(self.signal, self.noise)

    @property
    def cosine(self) -> float:
        return _cosine(self.dot, self.signal, self.quant)


def update_many(refs: Sequence[tuple[ErrorStats, np.ndarray]], got: np.ndarray) -> None:
    """``stats.update(ref, got)`` for each ``(stats, ref)`` of ``refs``, in one pass over
    ``got`` (its float64 conversion and energy are computed once): an accuracy report
    compares each dequantized tensor with two references."""
    q32 = np.asarray(got).ravel()
    if q32.size == 0:
        return
    f32s = [np.asarray(ref).ravel() for _, ref in refs]
    sums = [[0.0, 0.0, 0.0, st.max_abs_err] for st, _ in refs]  # signal, noise, dot, max
    quant = 0.0
    # In chunks: whole-tensor float64 temporaries are fresh mmap'd pages on every call,
    # and OpenBLAS runs a dot product of over 10,000 elements on several threads, which
    # costs more than it gains on a busy machine (a 37k-element pair: 3.8 ms whole,
    # 0.1 ms chunked, measured on 2 shared cores).
    for i in range(0, q32.size, _CHUNK):
        q = q32[i:i + _CHUNK].astype(np.float64)
        quant += float(q @ q)
        for f32, acc in zip(f32s, sums):
            f = f32[i:i + _CHUNK].astype(np.float64)
            e = f - q
            acc[0] += float(f @ f)
            acc[1] += float(e @ e)
            acc[2] += float(f @ q)
            np.abs(e, out=e)
            acc[3] = max(acc[3], float(e.max()))
    for (st, _), (signal, noise, dot, worst) in zip(refs, sums):
        st.signal += signal
        st.noise += noise
        st.dot += dot
        st.quant += quant
        st.max_abs_err = worst
        st.count += q32.size


def sqnr_db(reference: np.ndarray, x: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio of ``x`` against ``reference`` in dB (module doc).

    Raises :class:`EvaluationError` when the shapes differ.
    """
    ref = np.asarray(reference, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    if ref.shape != x.shape:
        raise EvaluationError(f"SQNR of outputs of shapes {ref.shape} and {x.shape}")
    st = ErrorStats()
    st.update(ref, x)
    return st.sqnr_db


def top1_matches(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """``(rows whose argmax agrees, rows)`` of ``a`` and ``b``, rows along axis 0 (a 0-d
    array is one row). Raises :class:`EvaluationError` when the shapes differ."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise EvaluationError(f"top-1 agreement of outputs of shapes {a.shape} and {b.shape}")
    n = a.shape[0] if a.ndim else 1
    if n == 0:
        return 0, 0
    same = np.argmax(a.reshape(n, -1), axis=1) == np.argmax(b.reshape(n, -1), axis=1)
    return int(np.sum(same)), n


def top1_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of rows whose argmax is the same in ``a`` and ``b`` (both ``[N, ...]``)."""
    agree, rows = top1_matches(a, b)
    return agree / rows if rows else math.nan


__all__ = ["ErrorStats", "EvaluationError", "sqnr_db", "top1_agreement", "top1_matches",
           "update_many"]
