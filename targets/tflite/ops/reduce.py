"""Reductions of the TFLite target: global_avg_pool/global_max_pool and
reduce_mean/max/min/sum -> ``MEAN``/``REDUCE_MAX``/``REDUCE_MIN``/``SUM`` over the stored
axes (the input keeps its physical order; a dropped axis is removed from it).
"""

from __future__ import annotations

from collections.abc import Sequence

from compiler.ir.graph import Node, Value

from ..context import EmitContext, const_ints
from ..errors import Unsupported
from ..layout import drop_axes
from ..registry import lowering

_GLOBAL = {"global_avg_pool": "MEAN", "global_max_pool": "REDUCE_MAX"}
_REDUCE = {"reduce_mean": "MEAN", "reduce_max": "REDUCE_MAX", "reduce_min": "REDUCE_MIN",
           "reduce_sum": "SUM"}


def reduce(ctx: EmitContext, x: Value, y: Value, axes: Sequence[int], keep: bool,
           opname: str) -> None:
    """``opname`` over logical ``axes`` of ``x`` into ``y``, in ``x``'s stored order."""
    r = x.type.rank
    axes = sorted({a % r for a in axes})
    p = ctx.perm_of(x)
    stored = sorted(p.index(a) for a in axes)
    out_perm = p if keep else drop_axes(p, axes)
    ctx.w.add_operator(opname, [ctx.get(x), ctx.i32("axes", stored)],
                       [ctx.out(y, out_perm)], ctx.w.options("Reducer", keepDims=keep))


@lowering(*_GLOBAL)
def lower_global_pool(ctx: EmitContext, node: Node, attrs: dict) -> None:
    x = node.inputs[0]
    if x.type.rank != 4:
        raise Unsupported(f"input rank {x.type.rank}: only rank 4 (NCHW) is supported")
    reduce(ctx, x, node.outputs[0], [2, 3], True, _GLOBAL[node.op])


@lowering(*_REDUCE)
def lower_reduce(ctx: EmitContext, node: Node, attrs: dict) -> None:
    x = node.inputs[0]
    axes = const_ints(node.input(1), "axes")
    if axes is None:
        axes = attrs.get("axes")  # older opsets kept axes as an attribute
    if not axes:
        if int(attrs.get("noop_with_empty_axes", 0)):
            raise Unsupported("a no-op reduction; run the cleanup passes")
        axes = list(range(x.type.rank))
    reduce(ctx, x, node.outputs[0], axes, bool(int(attrs.get("keepdims", 1))),
           _REDUCE[node.op])
