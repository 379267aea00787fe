"""Lowerings of QDQ graphs under the int8 policy (:mod:`targets.tflite.quantized`).

* ``quantize`` of a value already stored int8 with the same parameters emits nothing; else
  one ``QUANTIZE`` (float -> int8, or a requantizing int8 -> int8).
* ``dequantize`` emits nothing: its result is the int8 tensor, which float readers get
  through one ``DEQUANTIZE`` (``Int8Policy.float_view``).
* An int8 ``div`` by a constant is an int8 ``MUL`` by its reciprocal, quantized
  symmetrically per tensor (exact for a scalar: 127 steps).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from compiler.ir.graph import Node

from ..context import EmitContext
from ..errors import Unsupported
from ..layout import broadcast_to_order, dims, permute
from ..registry import lowering


def quantizing(node: Node, ctx: Any) -> bool:
    """The graph is emitted under the int8 policy."""
    return ctx is not None and ctx.quant is not None


def int8_kernel(node: Node, ctx: Any) -> bool:
    """``node`` runs as an int8 TFLite kernel."""
    return quantizing(node, ctx) and ctx.quant.is_int8(node)


@lowering("quantize", when=quantizing)
def lower_quantize(ctx: EmitContext, node: Node, attrs: dict) -> None:
    x, y = node.inputs[0], node.outputs[0]
    q = ctx.quant
    qp = q.act[id(y)]
    src = ctx.stored(x)  # the tensor as stored, int8 or float
    p = ctx.perm_of(x)
    want = ((np.float32(qp.scale[0]),), (int(qp.zero_point[0]),))
    if q.is_i8(src) and q.qp_key(src) == want:
        ctx.alias(y, src, p)
        return
    static, sig = dims(permute(y.type.shape, p))
    dst = ctx.w.add_tensor(y.name, np.int8, static, shape_signature=sig)
    q.set_quant(dst, qp)
    ctx.w.add_operator("QUANTIZE", [src], [dst])
    ctx.alias(y, dst, p)


@lowering("dequantize", when=quantizing)
def lower_dequantize(ctx: EmitContext, node: Node, attrs: dict) -> None:
    x, y = node.inputs[0], node.outputs[0]
    ctx.alias(y, ctx.t[id(x)], ctx.perm_of(x))


@lowering("div", when=int8_kernel, priority=1)
def lower_int8_div(ctx: EmitContext, node: Node, attrs: dict) -> None:
    # x / c = x * (1 / c): TFLite has no int8 DIV kernel
    x, c, y = node.inputs[0], node.inputs[1], node.outputs[0]
    r = y.type.rank
    p = ctx.pick_perm([x], r)
    recip = 1.0 / np.asarray(c.const_value, np.float64)
    if recip.ndim > r:
        raise Unsupported(f"constant %{c.name} has rank {recip.ndim} > {r}")
    recip = broadcast_to_order(recip, p)
    scale = float(np.abs(recip).max()) / 127
    idx = ctx.w.add_const(c.name + "_reciprocal",
                          np.clip(np.rint(recip / scale), -127, 127).astype(np.int8))
    ctx.quant.set_quant(idx, ((scale,), (0,)))
    fused, out, post = ctx.act(y, attrs.get("activation", ""), p)
    ctx.w.add_operator("MUL", [ctx.as_perm(x, p), idx], [out],
                       ctx.w.options("Mul", fusedActivationFunction=fused))
    post()
