"""Convolution and deconvolution (IConvolutionLayer / IDeconvolutionLayer).

Weights are constant inputs in the IR's ONNX layout (conv: O, I/group, k...; conv_transpose:
I, O/group, k...), which is TensorRT's kernel layout too. 1-D convolutions run as 2-D ones
on an appended size-1 axis. ``pads`` become pre/post padding; SAME_UPPER/SAME_LOWER become
the matching padding modes. A conv_transpose ``output_padding`` shortens the post padding;
beyond it the extra rows hold only the bias, so the layer runs without bias, pads zeros and
adds the bias after.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from compiler.ir.graph import Node

from ..context import ConversionContext, ConversionError, fused_activation_reason
from ..registry import converter
from ._util import const_input_reason, first, ints, static_shape
from .quantize import is_1d_kernel

if TYPE_CHECKING:
    import tensorrt


def _quantized_kernel(node: Node) -> bool:
    """Whether the kernel is ``dequantize`` of an int8 constant (explicit quantization:
    the dequantize output is wired as the layer's input 1)."""
    w = node.input(1)
    p = w.producer if w is not None else None
    q = p.input(0) if p is not None and p.op == "dequantize" else None
    return q is not None and q.is_const


def _check(node: Node) -> str | None:
    w = node.input(1)
    if w is None or (w.const_value is None and not _quantized_kernel(node)):
        return "weights computed at run time (TensorRT takes constant kernels)"
    nd = (w.type.rank or 0) - 2
    if nd == 1 and w.const_value is None and not is_1d_kernel(w):
        return ("1-D convolution whose quantized kernel other layers read too (keep this "
                "layer float)")
    if nd not in (1, 2, 3):
        return f"{nd}-D convolution (TensorRT takes 1-D, 2-D and 3-D)"
    if str(node.attrs.get("auto_pad") or "NOTSET") not in ("NOTSET", "VALID", "SAME_UPPER",
                                                            "SAME_LOWER"):
        return f"auto_pad '{node.attrs.get('auto_pad')}'"
    return first(const_input_reason(node, 2), fused_activation_reason(node))


def _check_transpose(node: Node) -> str | None:
    if node.attrs.get("output_shape") is not None:
        return "output_shape given (run shape inference to turn it into pads)"
    if str(node.attrs.get("auto_pad") or "NOTSET") not in ("NOTSET", "VALID"):
        return f"auto_pad '{node.attrs.get('auto_pad')}' on a transposed convolution"
    return _check(node)


def _one_d(ctx: ConversionContext, x: tensorrt.ITensor, node: Node) -> tensorrt.ITensor:
    """(N, C, L) -> (N, C, L, 1): 0 copies a dim, so dynamic N and L stay dynamic."""
    layer = ctx.network.add_shuffle(x)
    layer.reshape_dims = ctx.dims([0, 0, 0, 1])
    layer.zero_is_placeholder = True
    ctx.name(layer, node, "to_2d")
    return layer.get_output(0)


def _back_to_1d(ctx: ConversionContext, y: tensorrt.ITensor, node: Node) -> tensorrt.ITensor:
    layer = ctx.network.add_shuffle(y)
    layer.reshape_dims = ctx.dims([0, 0, 0])
    layer.zero_is_placeholder = True
    ctx.name(layer, node, "to_1d")
    return layer.get_output(0)


def _geometry(node: Node, nd: int) -> tuple[list[int], list[int], list[int], list[int]]:
    """strides, dilations, begin pads, end pads (1-D extended by a trivial second axis)."""
    strides = ints(node.attrs.get("strides"), [1] * nd)
    dilations = ints(node.attrs.get("dilations"), [1] * nd)
    pads = ints(node.attrs.get("pads"), [0] * (2 * nd))
    if str(node.attrs.get("auto_pad") or "NOTSET") == "VALID":
        pads = [0] * (2 * nd)
    begin, end = pads[:nd], pads[nd:]
    if nd == 1:
        strides, dilations, begin, end = strides + [1], dilations + [1], begin + [0], end + [0]
    return strides, dilations, begin, end


def _padding_mode(ctx: ConversionContext, node: Node) -> tensorrt.PaddingMode | None:
    mode = str(node.attrs.get("auto_pad") or "NOTSET")
    if mode == "SAME_UPPER":
        return ctx.trt.PaddingMode.SAME_UPPER
    if mode == "SAME_LOWER":
        return ctx.trt.PaddingMode.SAME_LOWER
    return None


def _kernel(ctx: ConversionContext, node: Node) -> tuple[np.ndarray, tensorrt.Weights]:
    """The kernel array (zeros of the kernel's shape when quantized: only its shape is
    read) and the layer's kernel weights (empty when quantized)."""
    if _quantized_kernel(node):
        v = node.input(1)
        shape = static_shape(v.type.shape) if v is not None else None
        if shape is None:
            raise ConversionError(f"{node.label}: quantized kernel of unknown shape")
        return np.zeros(shape, np.float32), ctx.trt.Weights()
    w = np.asarray(ctx.const_array(node, 1), dtype=np.float32)
    return w, ctx.weights(w)


@converter("conv", supports=_check)
def convert_conv(ctx: ConversionContext, node: Node) -> None:
    """Grouped, depthwise (group == C), dilated and strided convolution; a quantized
    kernel (dequantize of int8) is the layer's input 1 with empty kernel weights."""
    w, kw = _kernel(ctx, node)
    b = ctx.const_array(node, 2)
    nd = w.ndim - 2
    x = ctx.tensor(node.input(0))
    if nd == 1:  # a quantized kernel is already 2-D (see .quantize): kw stays empty
        x, w = _one_d(ctx, x, node), w[..., None]
        kw = kw if _quantized_kernel(node) else ctx.weights(w)
    strides, dilations, begin, end = _geometry(node, nd)
    kernel = ctx.dims(w.shape[2:])
    if b is None:
        layer = ctx.network.add_convolution_nd(x, int(w.shape[0]), kernel, kw)
    else:
        layer = ctx.network.add_convolution_nd(x, int(w.shape[0]), kernel, kw,
                                               ctx.weights(np.asarray(b, np.float32)))
    if _quantized_kernel(node):
        layer.set_input(1, ctx.tensor(node.input(1)))
    layer.stride_nd = ctx.dims(strides)
    layer.dilation_nd = ctx.dims(dilations)
    layer.num_groups = int(node.attrs.get("group") or 1)
    mode = _padding_mode(ctx, node)
    if mode is not None:
        layer.padding_mode = mode
    else:
        layer.pre_padding = ctx.dims(begin)
        layer.post_padding = ctx.dims(end)
    ctx.name(layer, node)
    y = layer.get_output(0)
    if nd == 1:
        y = _back_to_1d(ctx, y, node)
    ctx.set_output(node, ctx.fused_activation(y, node))


@converter("conv_transpose", supports=_check_transpose)
def convert_conv_transpose(ctx: ConversionContext, node: Node) -> None:
    """Transposed convolution; ``output_padding`` handled as described in the module."""
    w, kw = _kernel(ctx, node)
    b = ctx.const_array(node, 2)
    nd = w.ndim - 2
    group = int(node.attrs.get("group") or 1)
    x = ctx.tensor(node.input(0))
    if nd == 1:  # a quantized kernel is already 2-D (see .quantize): kw stays empty
        x, w = _one_d(ctx, x, node), w[..., None]
        kw = kw if _quantized_kernel(node) else ctx.weights(w)
    strides, dilations, begin, end = _geometry(node, nd)
    out_pad = ints(node.attrs.get("output_padding"), [0] * nd) + ([0] if nd == 1 else [])
    post = [e - p for e, p in zip(end, out_pad)]
    extra = [max(0, -p) for p in post]
    post = [max(0, p) for p in post]
    bias_after = b is not None and any(extra)
    maps = int(w.shape[1]) * group
    kernel = ctx.dims(w.shape[2:])
    if b is None or bias_after:
        layer = ctx.network.add_deconvolution_nd(x, maps, kernel, kw)
    else:
        layer = ctx.network.add_deconvolution_nd(x, maps, kernel, kw,
                                                 ctx.weights(np.asarray(b, np.float32)))
    if _quantized_kernel(node):
        layer.set_input(1, ctx.tensor(node.input(1)))
    layer.stride_nd = ctx.dims(strides)
    layer.dilation_nd = ctx.dims(dilations)
    layer.num_groups = group
    layer.pre_padding = ctx.dims(begin)
    layer.post_padding = ctx.dims(post)
    ctx.name(layer, node)
    y = layer.get_output(0)
    if any(extra):
        pad = ctx.network.add_padding_nd(y, ctx.dims([0] * len(extra)), ctx.dims(extra))
        ctx.name(pad, node, "output_padding")
        y = pad.get_output(0)
    if bias_after:
        bias = np.asarray(b, np.float32).reshape((1, -1) + (1,) * len(extra))
        y = ctx.elementwise(y, ctx.constant(bias, f"{node.outputs[0].name}/bias"),
                            ctx.trt.ElementWiseOperation.SUM, node, "bias")
    if nd == 1:
        y = _back_to_1d(ctx, y, node)
    ctx.set_output(node, ctx.fused_activation(y, node))
