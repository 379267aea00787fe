"""Pooling (IPoolingLayer) and global pooling (IReduceLayer over the spatial axes).

``ceil_mode`` is the EXPLICIT_ROUND_UP padding mode; ``count_include_pad`` is the inverse
of ``average_count_excludes_padding``; SAME_UPPER/SAME_LOWER are the matching padding modes.
1-D pooling runs as 2-D pooling on an appended size-1 axis.
"""

from __future__ import annotations

from compiler.ir.graph import Node

from ..context import ConversionContext
from ..registry import converter
from ._util import ints, rank_of
from .conv import _back_to_1d, _one_d


def _check(node: Node) -> str | None:
    k = node.attrs.get("kernel_shape")
    if k is None or len(k) not in (1, 2, 3):
        return "pooling window that is not 1-, 2- or 3-D"
    if any(int(d) != 1 for d in node.attrs.get("dilations") or ()):
        return "dilated pooling"
    if len(node.outputs) > 1:
        return "max_pool with an Indices output"
    if str(node.attrs.get("auto_pad") or "NOTSET") not in ("NOTSET", "VALID", "SAME_UPPER",
                                                            "SAME_LOWER"):
        return f"auto_pad '{node.attrs.get('auto_pad')}'"
    return None


def _pool(ctx: ConversionContext, node: Node, average: bool) -> None:
    P = ctx.trt.PaddingMode
    k = ints(node.attrs.get("kernel_shape"), ())
    nd = len(k)
    strides = ints(node.attrs.get("strides"), [1] * nd)
    pads = ints(node.attrs.get("pads"), [0] * (2 * nd))
    auto_pad = str(node.attrs.get("auto_pad") or "NOTSET")
    if auto_pad == "VALID":
        pads = [0] * (2 * nd)
    begin, end = pads[:nd], pads[nd:]
    x = ctx.tensor(node.input(0))
    if nd == 1:
        x = _one_d(ctx, x, node)
        k, strides, begin, end = k + [1], strides + [1], begin + [0], end + [0]
    kind = ctx.trt.PoolingType.AVERAGE if average else ctx.trt.PoolingType.MAX
    layer = ctx.network.add_pooling_nd(x, kind, ctx.dims(k))
    layer.stride_nd = ctx.dims(strides)
    if auto_pad == "SAME_UPPER":
        layer.padding_mode = P.SAME_UPPER
    elif auto_pad == "SAME_LOWER":
        layer.padding_mode = P.SAME_LOWER
    else:
        layer.pre_padding = ctx.dims(begin)
        layer.post_padding = ctx.dims(end)
        layer.padding_mode = (P.EXPLICIT_ROUND_UP if node.attrs.get("ceil_mode")
                              else P.EXPLICIT_ROUND_DOWN)
    if average:
        layer.average_count_excludes_padding = not node.attrs.get("count_include_pad")
    ctx.name(layer, node)
    y = layer.get_output(0)
    ctx.set_output(node, _back_to_1d(ctx, y, node) if nd == 1 else y)


@converter("max_pool", supports=_check)
def convert_max_pool(ctx: ConversionContext, node: Node) -> None:
    _pool(ctx, node, average=False)


@converter("avg_pool", supports=_check)
def convert_avg_pool(ctx: ConversionContext, node: Node) -> None:
    _pool(ctx, node, average=True)


def _check_global(node: Node) -> str | None:
    r = rank_of(node)
    return None if r is not None and r >= 3 else "input of unknown rank or rank < 3"


def _global(ctx: ConversionContext, node: Node) -> None:
    x = ctx.tensor(node.input(0))
    R = ctx.trt.ReduceOperation
    mask = sum(1 << a for a in range(2, ctx.rank(x)))
    layer = ctx.network.add_reduce(x, R.AVG if node.op == "global_avg_pool" else R.MAX, mask,
                                   True)
    ctx.name(layer, node)
    ctx.set_output(node, layer.get_output(0))


converter("global_avg_pool", supports=_check_global)(_global)
converter("global_max_pool", supports=_check_global)(_global)
