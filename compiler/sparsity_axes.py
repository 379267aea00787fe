"""Where a weight's reduction runs: the one rule that pruning and the targets' sparse-weight
checks share.

A conv, conv_transpose, gemm or matmul with a constant weight multiplies each output channel
by a slice of the weight and sums along the *reduction* axis. The op traits
(:meth:`~compiler.ops.registry.OpSchema.weight_axes`) say which weight axis indexes output
channels; the reduction axis follows from it: for a conv (``[O, I/group, k...]``) and a
conv_transpose (``[I, O/group, k...]``) it is the other of the first two axes (input
channels, one output channel and kernel position at a time); for a gemm or matmul
(``[..., K, N]``, or ``[N, K]`` with ``transB``) it is the other of the last two (K).
TensorRT's 2:4 tactics and structured pruning both group consecutive elements along it.
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.ir.graph import Node
from compiler.ops.registry import get_schema

#: ops whose constant weight has a reduction axis in the sense above
WEIGHT_REDUCTION_OPS = ("conv", "conv_transpose", "gemm", "matmul")


@dataclass(frozen=True)
class WeightAxes:
    """``node.input(index)`` is the weight; ``reduction`` and ``output`` are its axes
    (non-negative, for a weight of rank ``rank``)."""

    index: int
    reduction: int
    output: int
    rank: int


def weight_axes(node: Node) -> WeightAxes | None:
    """The weight axes of ``node``, or None when it is not one of
    :data:`WEIGHT_REDUCTION_OPS`, has no weight input, or the weight's rank is unknown or
    below 2. The weight need not be constant (callers check)."""
    if node.op not in WEIGHT_REDUCTION_OPS:
        return None
    schema = get_schema(node.op)
    axes = schema.weight_axes(node.attrs) if schema is not None else {}
    if not axes:
        return None
    index, out = next(iter(axes.items()))
    v = node.input(index)
    rank = v.type.rank if v is not None else None
    if not rank or rank < 2:
        return None
    out %= rank
    if node.op in ("conv", "conv_transpose"):
        red = 1 - out
    else:
        red = rank - 2 if out == rank - 1 else rank - 1
    return WeightAxes(index, red, out, rank)
