"""Which convolution and matrix-multiply weights TensorRT can run as 2:4 structured sparse.

TensorRT's sparse tactics (``BuilderFlag.SPARSE_WEIGHTS``, Ampere and later) take a constant
weight in which every group of four consecutive elements along the reduction axis holds at
least two zeros: for a convolution, along the input channels for each output channel and
kernel position; for a matrix multiply, along K for each output column. This module checks
weights that already have that pattern (pruning makes them; nothing here prunes) and the
shape rule the sparse kernels need: output channels a multiple of 8 and the reduction a
multiple of 16. Grouped convolutions are not eligible.

:func:`verdicts` gives one :class:`SparseVerdict` per candidate node with the reason it does
or does not qualify; :func:`qualifying` the ones that do. polygraphy's ``SparsityPruner``
(``polygraphy inspect sparsity``) checks the same pattern along the same axes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from compiler.ir.graph import Graph, Node
from compiler.sparsity_axes import weight_axes

log = logging.getLogger(__name__)

OUT_MULTIPLE = 8
REDUCTION_MULTIPLE = 16


@dataclass(frozen=True)
class SparseVerdict:
    """``node``'s weight ``weight`` (IR value name) qualifies for 2:4 sparse tactics when
    ``ok``; ``why`` says why or why not."""

    op: str
    layer: str
    weight: str
    ok: bool
    why: str


def is_2_4(w: Any, axis: int) -> bool:
    """Whether every 4 consecutive elements of ``w`` along ``axis`` hold at least 2 zeros
    (the length of ``axis`` must be a multiple of 4)."""
    a = np.moveaxis(_dense(w), axis, -1)
    if a.shape[-1] % 4:
        return False
    groups = a.reshape(-1, a.shape[-1] // 4, 4)
    return bool(((groups != 0).sum(axis=-1) <= 2).all())


def _dense(w: Any) -> np.ndarray:
    return np.asarray(w.toarray() if hasattr(w, "toarray") else w)


def _weight_axes(node: Node) -> tuple[int, int, int] | None:
    """(weight input index, reduction axis, output axis) of a candidate node, else None."""
    if node.op not in ("conv", "matmul", "gemm"):
        return None
    axes = weight_axes(node)
    return None if axes is None else (axes.index, axes.reduction, axes.output)


def verdict(node: Node) -> SparseVerdict | None:
    """The 2:4 verdict of ``node``, or None when it is no conv/matmul/gemm with a constant
    weight (2-D for matmul/gemm)."""
    axes = _weight_axes(node)
    if axes is None:
        return None
    index, red, out = axes
    v = node.input(index)
    if v is None or v.const_value is None:
        return None
    w = v.const_value
    shape = tuple(int(d) for d in np.shape(w))
    if node.op != "conv" and len(shape) != 2:
        return None

    def say(ok: bool, why: str) -> SparseVerdict:
        return SparseVerdict(node.op, node.label, v.name, ok, why)

    if node.op == "conv" and int(node.attrs.get("group") or 1) != 1:
        return say(False, "grouped convolution")
    if np.dtype(_dense(w).dtype).kind != "f":
        return say(False, f"{_dense(w).dtype} weights (2:4 tactics take float weights)")
    k, n = shape[red], shape[out]
    if not is_2_4(w, red):
        return say(False, f"weight {list(shape)} is not 2:4 along axis {red}")
    if n % OUT_MULTIPLE or k % REDUCTION_MULTIPLE:
        return say(False, f"weight {list(shape)} is 2:4 but {n} outputs / reduction {k} are "
                          f"not multiples of {OUT_MULTIPLE} / {REDUCTION_MULTIPLE}")
    return say(True, f"weight {list(shape)} is 2:4 along axis {red}")


def verdicts(graph: Graph) -> list[SparseVerdict]:
    """The verdict of every candidate node of ``graph``, in graph order."""
    return [s for s in map(verdict, graph.nodes) if s is not None]


def qualifying(graph: Graph) -> list[SparseVerdict]:
    """The nodes whose weights TensorRT can run as 2:4 sparse (each one logged)."""
    found = [s for s in verdicts(graph) if s.ok]
    for s in found:
        log.info("2:4 sparse weights: %s (%s): %s", s.layer, s.op, s.why)
    return found
