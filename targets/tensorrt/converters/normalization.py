"""Normalization: layer_norm and instance_norm through INormalizationLayer, lrn through
ILRNLayer, batch_norm as a per-channel scale and shift (the pipeline usually folds it into
the preceding conv).

TensorRT 11 adds ``add_normalization_v2`` and deprecates ``add_normalization``;
:func:`add_normalization` is the one adapter that picks whichever the injected module has.
Scale and bias are broadcast to the input's rank, as TensorRT requires.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from compiler.ir.graph import Node
from compiler.ir.types import DType

from ..context import ConversionContext
from ..registry import converter
from ._util import const_input_reason, first, rank_of

if TYPE_CHECKING:
    import tensorrt


def add_normalization(ctx: ConversionContext, x: tensorrt.ITensor, scale: tensorrt.ITensor,
                      bias: tensorrt.ITensor, axes_mask: int) -> tensorrt.INormalizationLayer:
    """The v2 normalization layer where the module has it (TensorRT 11), else v1."""
    v2 = getattr(ctx.network, "add_normalization_v2", None)
    if v2 is not None:
        layer: tensorrt.INormalizationLayer = v2(x, scale, bias, axes_mask)
        return layer
    return ctx.network.add_normalization(x, scale, bias, axes_mask)


def _check_layer_norm(node: Node) -> str | None:
    if len([v for v in node.outputs if v.has_uses]) > 1:
        return "layer_norm whose Mean/InvStdDev outputs are used"
    if rank_of(node) is None:
        return "input of unknown rank"
    return None


@converter("layer_norm", supports=_check_layer_norm)
def convert_layer_norm(ctx: ConversionContext, node: Node) -> None:
    x = ctx.tensor(node.input(0))
    rank = ctx.rank(x)
    axis = int(node.attrs.get("axis", -1)) % rank
    scale = ctx.tensor(node.input(1))
    v_bias = node.input(2)
    if v_bias is not None:
        bias = ctx.tensor(v_bias)
    else:
        bias = ctx.constant(np.zeros(tuple(ctx.shape(scale)), np.float32),
                            f"{node.outputs[0].name}/zero_bias")
    scale, bias = (ctx.to_rank(t, rank, node, f"broadcast{i}")
                   for i, t in enumerate((scale, bias)))
    layer = add_normalization(ctx, x, scale, bias, sum(1 << a for a in range(axis, rank)))
    layer.epsilon = float(node.attrs.get("epsilon", 1e-5))
    ctx.name(layer, node)
    ctx.set_output(node, layer.get_output(0))


def _check_instance_norm(node: Node) -> str | None:
    r = rank_of(node)
    return "input of unknown rank or rank < 3" if r is None or r < 3 else None


@converter("instance_norm", supports=_check_instance_norm)
def convert_instance_norm(ctx: ConversionContext, node: Node) -> None:
    x = ctx.tensor(node.input(0))
    rank = ctx.rank(x)
    scale, bias = (ctx.reshape(ctx.tensor(node.input(i)), [1, -1] + [1] * (rank - 2), node,
                               f"broadcast{i}") for i in (1, 2))
    layer = add_normalization(ctx, x, scale, bias, sum(1 << a for a in range(2, rank)))
    layer.epsilon = float(node.attrs.get("epsilon", 1e-5))
    ctx.name(layer, node)
    ctx.set_output(node, layer.get_output(0))


def _check_batch_norm(node: Node) -> str | None:
    if node.attrs.get("training_mode"):
        return "batch_norm in training mode"
    if rank_of(node) is None:
        return "input of unknown rank"
    return first(const_input_reason(node, 1, 2, 3, 4))


@converter("batch_norm", supports=_check_batch_norm)
def convert_batch_norm(ctx: ConversionContext, node: Node) -> None:
    """y = x * s + t with s = scale / sqrt(var + eps), t = B - mean * s, per channel."""
    gamma, beta, mean, var = (np.asarray(ctx.const_array(node, i), np.float64)
                              for i in (1, 2, 3, 4))
    s = gamma / np.sqrt(var + float(node.attrs.get("epsilon", 1e-5)))
    t = beta - mean * s
    x = ctx.tensor(node.input(0))
    shape = (1, -1) + (1,) * (ctx.rank(x) - 2)
    E = ctx.trt.ElementWiseOperation
    name = node.outputs[0].name
    y = ctx.elementwise(x, ctx.constant(s.astype(np.float32).reshape(shape), f"{name}/scale"),
                        E.PROD, node, "scale")
    y = ctx.elementwise(y, ctx.constant(t.astype(np.float32).reshape(shape), f"{name}/shift"),
                        E.SUM, node, "shift")
    ctx.set_output(node, y)


def _check_lrn(node: Node) -> str | None:
    size = int(node.attrs.get("size", 0))
    if size not in range(1, 16, 2):
        return f"lrn window {size} (TensorRT's ILRNLayer takes an odd window of 1 to 15)"
    if rank_of(node) != 4:
        return "lrn of a tensor not of rank 4 (ILRNLayer normalizes dimension rank-3 = 1)"
    x = node.input(0)
    if x is not None and x.type.dtype != DType.F32:
        return f"lrn of {x.type.dtype} (TensorRT's LRN takes float32 only)"
    return None


@converter("lrn", supports=_check_lrn, float32_only=(
    "TensorRT's LRN takes float32 only (Data Types, "
    "https://docs.nvidia.com/deeplearning/tensorrt/latest/_static/operators/LRN.html)"))
def convert_lrn(ctx: ConversionContext, node: Node) -> None:
    """ILRNLayer across channels: the IR's ``size`` channels centred on each (odd window, as
    checked), ``alpha`` divided by the window by both, ``bias`` as TensorRT's ``k``."""
    layer = ctx.network.add_lrn(ctx.tensor(node.input(0)), int(node.attrs["size"]),
                                float(node.attrs.get("alpha", 1e-4)),
                                float(node.attrs.get("beta", 0.75)),
                                float(node.attrs.get("bias", 1.0)))
    ctx.name(layer, node)
    ctx.set_output(node, layer.get_output(0))
