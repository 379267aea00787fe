"""Reductions (IReduceLayer): the axes are a bitmask (bit i reduces axis i).

Axes come from the constant ``axes`` input (or, for the older schemas, attribute); none
means every axis unless ``noop_with_empty_axes`` is set, which makes the op the identity.
"""

from __future__ import annotations

from compiler.ir.graph import Node

from ..context import ConversionContext
from ..registry import converter
from ._util import const_input_reason, rank_of

# IR op -> ReduceOperation member.
REDUCE = {"reduce_mean": "AVG", "reduce_sum": "SUM", "reduce_max": "MAX",
          "reduce_min": "MIN", "reduce_prod": "PROD"}


def _check(node: Node) -> str | None:
    if rank_of(node) is None:
        return "input of unknown rank"
    return const_input_reason(node, 1)


def _axes(ctx: ConversionContext, node: Node, rank: int) -> list[int] | None:
    arr = ctx.const_array(node, 1)
    axes = [int(a) for a in arr.reshape(-1)] if arr is not None else node.attrs.get("axes")
    if not axes:
        return None if node.attrs.get("noop_with_empty_axes") else list(range(rank))
    return [int(a) % rank for a in axes]


def _reduce(ctx: ConversionContext, node: Node) -> None:
    x = ctx.tensor(node.input(0))
    axes = _axes(ctx, node, ctx.rank(x))
    if axes is None:
        layer = ctx.network.add_identity(x)
        ctx.name(layer, node)
        ctx.set_output(node, layer.get_output(0))
        return
    keep = bool(node.attrs.get("keepdims", 1))
    red = ctx.network.add_reduce(x, getattr(ctx.trt.ReduceOperation, REDUCE[node.op]),
                                 sum(1 << a for a in axes), keep)
    ctx.name(red, node)
    ctx.set_output(node, red.get_output(0))


for _op in REDUCE:
    converter(_op, supports=_check)(_reduce)
