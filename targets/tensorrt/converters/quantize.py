"""Explicit quantization: quantize and dequantize (IQuantizeLayer / IDequantizeLayer).

The IR's QDQ form (:mod:`compiler.quantization.rewrite`, ``tensorrt`` scheme) maps one to
one: ``quantize(x, scale, zp)`` is ``add_quantize(x, scale, INT8)`` and ``dequantize(q,
scale, zp)`` is ``add_dequantize(q, scale, FLOAT)``; a 1-D scale is per-axis along the
node's ``axis``. TensorRT's rules (IQuantizeLayer / IDequantizeLayer docstrings): the scale
is a build-time constant, a scalar or 1-D as long as the axis, of the float side's type; the
zero point is INT8 and all zeros, so it is checked and left out (its default). An int8
weight is a constant layer holding int8 values that a dequantize reads, which is how
TensorRT recognises a quantized kernel; int32 biases never reach here (the ``tensorrt``
scheme stores them back as float). The kernel of a 1-D convolution, which runs as a 2-D one
on an appended axis (:mod:`.conv`), is dequantized as that 2-D kernel: the int8 constant
takes the appended size-1 axis, so the dequantize still reads the constant directly.
"""

from __future__ import annotations

import numpy as np

from compiler.ir.graph import Node, Value
from compiler.ir.types import DType

from ..context import ConversionContext
from ..registry import converter


def _params_reason(node: Node) -> str | None:
    scale, zp = node.input(1), node.input(2)
    if scale is None or scale.const_value is None:
        return "scale computed at run time (TensorRT takes a build-time constant scale)"
    s = np.asarray(scale.const_value)
    if s.ndim > 1 or int(node.attrs.get("block_size") or 0):
        return "block quantization (TensorRT takes a scalar or per-axis 1-D INT8 scale)"
    if s.dtype != np.float32:
        return f"scale of type {s.dtype} (float32 networks take a float32 scale)"
    if zp is not None:
        if zp.const_value is None:
            return "zero point computed at run time"
        if np.any(np.asarray(zp.const_value) != 0):
            return ("non-zero zero point (TensorRT's Q/DQ are symmetric: quantize with the "
                    "tensorrt scheme)")
    return None


def _dtype(node: Node, i: int) -> DType | None:
    v = node.input(i)
    return v.type.dtype if v is not None else None


def _check_quantize(node: Node) -> str | None:
    if node.outputs[0].type.dtype != DType.I8:
        return f"quantize to {node.outputs[0].type.dtype} (TensorRT's Q/DQ here are INT8)"
    if _dtype(node, 0) != DType.F32:
        return f"quantize of a {_dtype(node, 0)} tensor (float32 networks only)"
    return _params_reason(node)


def _check_dequantize(node: Node) -> str | None:
    dt = _dtype(node, 0)
    if dt != DType.I8:
        return f"dequantize of {dt} (TensorRT dequantizes INT8; int32 biases stay float)"
    if node.outputs[0].type.dtype != DType.F32:
        return f"dequantize to {node.outputs[0].type.dtype} (float32 networks only)"
    return _params_reason(node)


def _axis(node: Node) -> int | None:
    """The per-axis quantization axis (non-negative) when the scale is 1-D, else None."""
    x, scale = node.input(0), node.input(1)
    if x is None or scale is None or np.ndim(scale.const_value) != 1:
        return None
    return int(node.attrs.get("axis", 1)) % max(x.type.rank or 1, 1)


def is_1d_kernel(v: Value | None) -> bool:
    """Whether ``v`` is the rank-3 dequantize of an int8 constant that only 1-D convolutions
    and transposed convolutions read, as their kernel (input 1)."""
    p = v.producer if v is not None else None
    if v is None or p is None or p.op != "dequantize" or v.type.rank != 3:
        return False
    q = p.input(0)
    uses = v.uses()
    return q is not None and q.is_const and bool(uses) and all(
        n.op in ("conv", "conv_transpose") and i == 1 for n, i in uses)


@converter("quantize", supports=_check_quantize)
def convert_quantize(ctx: ConversionContext, node: Node) -> None:
    layer = ctx.network.add_quantize(ctx.tensor(node.input(0)), ctx.tensor(node.input(1)),
                                     ctx.trt.DataType.INT8)
    axis = _axis(node)
    if axis is not None:
        layer.axis = axis
    ctx.name(layer, node, "quantize")
    ctx.set_output(node, layer.get_output(0))


@converter("dequantize", supports=_check_dequantize)
def convert_dequantize(ctx: ConversionContext, node: Node) -> None:
    x = node.input(0)
    if is_1d_kernel(node.outputs[0]) and x is not None:  # (O, I, K) -> (O, I, K, 1)
        q = ctx.constant(np.asarray(x.const_value)[..., None], f"{x.name}/2d")
    else:
        q = ctx.tensor(x)
    layer = ctx.network.add_dequantize(q, ctx.tensor(node.input(1)), ctx.trt.DataType.FLOAT)
    axis = _axis(node)
    if axis is not None:
        layer.axis = axis
    ctx.name(layer, node, "dequantize")
    ctx.set_output(node, layer.get_output(0))
