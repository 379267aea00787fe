"""Activations (IActivationLayer, IParametricReLULayer, ISoftMaxLayer).

hard_swish is x * hard_sigmoid(x) with alpha 1/6 and beta 1/2 (TensorRT has no hard-swish
activation); swish is x * sigmoid(alpha * x). clip takes its bounds from constant inputs, an
absent bound being the float32 limit. Softmax always sets its axis as a one-bit mask, since
TensorRT's default axis is not ONNX's.
"""

from __future__ import annotations

import numpy as np

from compiler.ir.graph import Node

from ..context import ConversionContext
from ..registry import converter
from ._util import const_input_reason

# IR op -> (ActivationType member, alpha attribute or value, beta attribute or value).
SIMPLE: dict[str, tuple[str, str | float | None, str | float | None]] = {
    "relu": ("RELU", None, None),
    "sigmoid": ("SIGMOID", None, None),
    "tanh": ("TANH", None, None),
    "leaky_relu": ("LEAKY_RELU", "alpha", None),
    "elu": ("ELU", "alpha", None),
    "selu": ("SELU", "alpha", "gamma"),
    "softplus": ("SOFTPLUS", 1.0, 1.0),
    "softsign": ("SOFTSIGN", None, None),
    "hard_sigmoid": ("HARD_SIGMOID", "alpha", "beta"),
    "thresholded_relu": ("THRESHOLDED_RELU", "alpha", None),
}

_DEFAULTS = {("leaky_relu", "alpha"): 0.01, ("elu", "alpha"): 1.0,
             ("selu", "alpha"): 1.6732631921768188, ("selu", "gamma"): 1.0507010221481323,
             ("hard_sigmoid", "alpha"): 0.2, ("hard_sigmoid", "beta"): 0.5,
             ("thresholded_relu", "alpha"): 1.0}


def _param(node: Node, spec: str | float | None) -> float | None:
    if spec is None or isinstance(spec, float):
        return spec
    value = node.attrs.get(spec)
    return float(_DEFAULTS[(node.op, spec)] if value is None else value)


def _simple(ctx: ConversionContext, node: Node) -> None:
    kind, alpha, beta = SIMPLE[node.op]
    y = ctx.activation(ctx.tensor(node.input(0)), getattr(ctx.trt.ActivationType, kind), node,
                       _param(node, alpha), _param(node, beta))
    ctx.set_output(node, y)


for _op in SIMPLE:
    converter(_op)(_simple)


def _check_clip(node: Node) -> str | None:
    return const_input_reason(node, 1, 2)


@converter("clip", supports=_check_clip)
def convert_clip(ctx: ConversionContext, node: Node) -> None:
    lo, hi = ctx.const_array(node, 1), ctx.const_array(node, 2)
    big = float(np.finfo(np.float32).max)
    y = ctx.activation(ctx.tensor(node.input(0)), ctx.trt.ActivationType.CLIP, node,
                       -big if lo is None else float(lo), big if hi is None else float(hi))
    ctx.set_output(node, y)


@converter("hard_swish")
def convert_hard_swish(ctx: ConversionContext, node: Node) -> None:
    x = ctx.tensor(node.input(0))
    gate = ctx.activation(x, ctx.trt.ActivationType.HARD_SIGMOID, node, 1.0 / 6.0, 0.5,
                          suffix="hard_sigmoid")
    ctx.set_output(node, ctx.elementwise(x, gate, ctx.trt.ElementWiseOperation.PROD, node))


@converter("swish")
def convert_swish(ctx: ConversionContext, node: Node) -> None:
    x = ctx.tensor(node.input(0))
    E = ctx.trt.ElementWiseOperation
    alpha = float(node.attrs.get("alpha", 1.0) or 1.0)
    z = x
    if alpha != 1.0:
        z = ctx.elementwise(x, ctx.scalar(alpha, ctx.rank(x),
                                          name=f"{node.outputs[0].name}/alpha"),
                            E.PROD, node, "alpha")
    gate = ctx.activation(z, ctx.trt.ActivationType.SIGMOID, node, suffix="sigmoid")
    ctx.set_output(node, ctx.elementwise(x, gate, E.PROD, node))


def _check_gelu(node: Node) -> str | None:
    approx = str(node.attrs.get("approximate") or "none")
    return None if approx in ("none", "tanh") else f"gelu approximate='{approx}'"


@converter("gelu", supports=_check_gelu)
def convert_gelu(ctx: ConversionContext, node: Node) -> None:
    A = ctx.trt.ActivationType
    tanh = str(node.attrs.get("approximate") or "none") == "tanh"
    ctx.set_output(node, ctx.activation(ctx.tensor(node.input(0)),
                                        A.GELU_TANH if tanh else A.GELU_ERF, node))


@converter("prelu")
def convert_prelu(ctx: ConversionContext, node: Node) -> None:
    x, slope = ctx.equal_ranks([ctx.tensor(node.input(0)), ctx.tensor(node.input(1))], node)
    layer = ctx.network.add_parametric_relu(x, slope)
    ctx.name(layer, node)
    ctx.set_output(node, layer.get_output(0))


def _check_softmax(node: Node) -> str | None:
    return None if node.inputs[0] is not None and node.inputs[0].type.rank else \
        "input of unknown rank"


@converter("softmax", supports=_check_softmax)
def convert_softmax(ctx: ConversionContext, node: Node) -> None:
    x = ctx.tensor(node.input(0))
    axis = int(node.attrs.get("axis", -1)) % ctx.rank(x)
    layer = ctx.network.add_softmax(x)
    layer.axes = 1 << axis
    ctx.name(layer, node)
    ctx.set_output(node, layer.get_output(0))
