"""Cast (ICastLayer) to the TensorRT type of the output's IR element type."""

from __future__ import annotations

from compiler.ir.graph import Node

from ..context import ConversionContext, trt_dtype_name
from ..registry import converter


def _check(node: Node) -> str | None:
    dtype = node.outputs[0].type.dtype
    return None if trt_dtype_name(dtype) else f"cast to {dtype} (TensorRT has no such type)"


@converter("cast", supports=_check)
def convert_cast(ctx: ConversionContext, node: Node) -> None:
    layer = ctx.network.add_cast(ctx.tensor(node.input(0)),
                                 ctx.dtype(node.outputs[0].type.dtype))
    ctx.name(layer, node)
    ctx.set_output(node, layer.get_output(0))
