"""The TFLite target's sparse rule: what storing one pruned weight sparse buys in LiteRT.

Registered as ``"tflite"`` with :func:`compiler.sparse_payoff.register_rule` when the TFLite
target is imported. The storage decision is :func:`targets.tflite.sparse_tensors.choose`'s
(the ``sparse_weights`` emit option and its thresholds live there, not here); this module
adds what that storage changes, from measurements on this x86 machine (docs/tflite.md,
"Sparse weights"; ``python3 bench/tflite_sparse.py --sparsity 0.5,0.8,0.9 --runs 5``):

* ``densify`` (a CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED float weight stored CSR behind
  DENSIFY): size (the ratio of the stored bytes, values plus index vectors, as
  :func:`~targets.tflite.sparse_tensors.encode` writes them, to the dense bytes) and load
  time (slower: LiteRT densifies, then XNNPACK packs; MediaPipe's sparse models load 2.3-2.8x
  slower than their dense twins, the single-layer bench models 2.5-35x); latency unchanged
  on x86 (XNNPACK switches its sparse NCHW path off on CPUs with AVX; on ARM see
  :mod:`targets.tflite.xnnpack_sparse`).
* ``fc_blocks`` (a float FULLY_CONNECTED weight stored 1x4 block-sparse without DENSIFY, at
  or above the measured break-even): latency and load from the bench (interpolated
  linearly in the zero-block fraction between the measured points :data:`FC_BLOCKS_MEASURED`,
  clamped outside them), size as above.
* int8 weights: never stored sparse (LiteRT 2.3 fails at ``allocate_tensors`` on int8
  fully-connected weights behind DENSIFY).

Options the rule reads (the ``options`` mapping): ``sparse_weights`` (a mode of
:data:`~targets.tflite.sparse_tensors.MODES`; absent: the mode that buys most for this
weight, ``fc_blocks`` before ``densify``; ``"none"``: dense, the evidence saying what that
mode would buy), ``sparse_threshold`` (None: the mode's default) and ``xnnpack_sparse``
(layer labels that XNNPACK on ARM would run with its sparse kernels, from
:meth:`targets.tflite.xnnpack_sparse.XnnpackReport.sparse_ops` on the written file: their
answer gains an unverified latency effect).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from compiler.ir.graph import Node, is_sparse
from compiler.sparse_payoff import SparsePayoff, register_rule
from compiler.sparsity_axes import weight_axes

from . import sparse_tensors, xnnpack_sparse
from .sparse_tensors import DEFAULT_THRESHOLDS, FC_BLOCK

#: (zero-block fraction, latency ratio, load ratio) of a 1000x1280 FULLY_CONNECTED stored
#: 1x4 block-sparse without DENSIFY against the dense file, LiteRT 2.3, one thread, x86:
#: ``python3 bench/tflite_sparse.py --sparsity 0.5,0.8,0.9 --runs 5`` (docs/tflite.md)
FC_BLOCKS_MEASURED = ((0.5, 2.26, 0.29), (0.8, 1.00, 0.24), (0.9, 0.32, 0.13))
#: load ratio of weights behind DENSIFY: the low end of MediaPipe's sparse models against
#: their dense twins (2.3-2.8x); single-layer models measured 2.5-35x (docs/tflite.md)
DENSIFY_LOAD = 2.3

_SOURCE = "docs/tflite.md \"Sparse weights\", bench/tflite_sparse.py"


def tflite_weight(node: Node, weight: np.ndarray) -> tuple[str, np.ndarray] | None:
    """(TFLite op, weight in that op's layout) of how the TFLite target lowers ``node``'s
    weight (conv group 1: CONV_2D OHWI; depthwise: DEPTHWISE_CONV_2D 1HWC; 2-D gemm/matmul
    weight: FULLY_CONNECTED [out, in]), or None for weights it never stores sparse."""
    w = np.asarray(weight)
    if node.op == "conv" and w.ndim == 4:
        group = int(node.attrs.get("group") or 1)
        if group == 1:
            return "CONV_2D", w.transpose(0, 2, 3, 1)
        if w.shape[1] == 1 and w.shape[0] == group:
            return "DEPTHWISE_CONV_2D", w.transpose(1, 2, 3, 0)
        return None
    if node.op in ("gemm", "matmul") and w.ndim == 2:
        axes = weight_axes(node)
        if axes is None:
            return None
        return "FULLY_CONNECTED", w.transpose(axes.output, axes.reduction)
    return None


def stored_bytes(array: np.ndarray, block: int | None) -> int:
    """Bytes of the values and index vectors :func:`sparse_tensors.encode` stores for
    ``array`` (the flatbuffer's own tables aside)."""
    values, params = sparse_tensors.encode(array, block=block)
    total = int(np.asarray(values).nbytes)
    for md in params.dimMetadata:
        for vec in (md.arraySegments, md.arrayIndices):
            if vec is not None and getattr(vec, "values", None) is not None:
                total += int(np.asarray(vec.values).nbytes)
    return total


def _interpolate(x: float, column: int) -> float:
    xs = [p[0] for p in FC_BLOCKS_MEASURED]
    ys = [p[column] for p in FC_BLOCKS_MEASURED]
    return round(float(np.interp(x, xs, ys)), 2)


def rule(node: Node, weight: np.ndarray, options: Mapping[str, Any]) -> SparsePayoff:
    """The TFLite answer for ``node``'s dense ``weight`` (IR layout; see the module doc)."""
    answer = _storage_rule(node, weight, options)
    if node.label not in options.get("xnnpack_sparse", ()):
        return answer
    f = dict(answer.factors or {})
    effects = ("latency",) + tuple(e for e in answer.effects if e != "latency")
    return SparsePayoff(
        "tflite", answer.layer, answer.storage, effects, f or None,
        f"XNNPACK on ARM would run this layer with its sparse NCHW kernel (the graph meets "
        f"its conditions, {xnnpack_sparse.SOURCE}; unverified: on x86 with AVX it never "
        f"does). Storage: {answer.evidence}", verified=False)


def _storage_rule(node: Node, weight: np.ndarray, options: Mapping[str, Any]) -> SparsePayoff:
    """What the file's storage of the weight changes (the module doc's first three points)."""
    w = np.asarray(weight)
    label = node.label

    def dense(why: str) -> SparsePayoff:
        return SparsePayoff("tflite", label, None, evidence=why)

    zeros = float((w == 0).mean()) if w.size else 0.0
    if w.dtype.kind in "iu":
        return dense(f"{w.dtype} weight: stored dense (LiteRT 2.3 fails at allocate_tensors "
                     f"on int8 fully-connected weights behind DENSIFY; {_SOURCE})")
    lowered = tflite_weight(node, w)
    if lowered is None:
        return dense(f"{node.op} weight {list(w.shape)}: the TFLite target stores it dense "
                     "(sparse storage covers CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED)")
    consumer, tw = lowered
    if options.get("sparse_weights") == "none":
        best = _storage_rule(node, weight, {})
        if best.storage is None:
            return best
        f = dict(best.factors or {})
        mode = "fc_blocks" if best.storage == "tflite-1x4" else "densify"
        return dense(f"stored dense in this file (sparse_weights=none); with "
                     f"tflite{{sparse_weights={mode}}}: "
                     + ", ".join(f"{e} {f[e]:g}x" for e in best.effects) + f" ({_SOURCE})")
    tw = np.ascontiguousarray(tw, dtype=np.float32) if w.dtype.kind == "f" else tw
    mode = options.get("sparse_weights")
    threshold = options.get("sparse_threshold") if mode else None  # a mode's own figure
    axes = weight_axes(node)
    v = node.input(axes.index) if axes is not None else None
    ir_sparse = v is not None and is_sparse(v.const_value)
    modes = [mode] if mode else ["fc_blocks", "densify"]
    choice, used = None, None
    for m in modes:
        choice = sparse_tensors.choose(m, threshold, consumer, tw, ir_sparse)
        if choice is not None:
            used = m
            break
    if choice is None:
        return dense(_why_dense(mode, threshold, consumer, tw, zeros))
    dense_bytes = tw.size * tw.dtype.itemsize
    size = round(stored_bytes(tw, choice.block) / dense_bytes, 3)
    how = f"tflite{{sparse_weights={used}}}" if not mode else f"sparse_weights={used}"
    if choice.densify:
        return SparsePayoff(
            "tflite", label, "tflite-csr", ("size", "load"),
            {"size": size, "load": DENSIFY_LOAD},
            f"{consumer} weight {zeros:.0%} zeros, CSR behind DENSIFY ({how}): {size:.2f}x "
            f"the bytes; LiteRT densifies at load ({DENSIFY_LOAD}x-2.8x slower load on "
            "MediaPipe's sparse models) and runs the dense kernel, no faster on x86 (XNNPACK "
            f"turns its sparse path off with AVX; {_SOURCE})")
    blocks = sparse_tensors.block_zero_fraction(tw)
    lat, load = _interpolate(blocks, 1), _interpolate(blocks, 2)
    return SparsePayoff(
        "tflite", label, "tflite-1x4", ("latency", "size", "load"),
        {"latency": lat, "size": size, "load": load},
        f"FULLY_CONNECTED weight {blocks:.0%} zero 1x{FC_BLOCK} blocks, stored block-sparse "
        f"without DENSIFY ({how}): LiteRT's sparse kernel runs it, latency {lat}x (measured "
        f"2.26x at 50%, 1.00x at 80%, 0.32x at 90% zero blocks), load {load}x, size "
        f"{size:.2f}x ({_SOURCE})")


def _why_dense(mode: str | None, threshold: float | None, consumer: str, tw: np.ndarray,
               zeros: float) -> str:
    """Why no mode stores ``tw`` sparse."""
    parts = []
    if mode in (None, "densify"):
        t = DEFAULT_THRESHOLDS["densify"] if threshold is None else threshold
        parts.append(f"{zeros:.0%} zeros, below densify's {t:.0%}")
    if mode in (None, "fc_blocks"):
        if consumer != "FULLY_CONNECTED":
            parts.append(f"fc_blocks stores only FULLY_CONNECTED weights, not {consumer}")
        else:
            t = DEFAULT_THRESHOLDS["fc_blocks"] if threshold is None else threshold
            parts.append(f"{sparse_tensors.block_zero_fraction(tw):.0%} zero 1x{FC_BLOCK} "
                         f"blocks, below fc_blocks' break-even {t:.0%} (slower below it)")
    return f"{consumer} weight stays dense: " + "; ".join(parts) + f" ({_SOURCE})"


register_rule("tflite", rule)

__all__ = ["DENSIFY_LOAD", "FC_BLOCKS_MEASURED", "rule", "stored_bytes", "tflite_weight"]
