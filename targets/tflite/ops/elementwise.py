"""Elementwise float ops and activations of the TFLite target.

Contract: add/sub/mul/div with broadcasting (``ADD``/``SUB``/``MUL``/``DIV``, the IR
``activation`` fused for the RELU family, see :meth:`EmitContext.act`; ``x + 0``, ``x * 1``
... emit nothing, see :func:`targets.tflite.peepholes.identity_operand`); relu, clip
(``RELU``, ``RELU6``, ``RELU_N1_TO_1``, ``RELU_0_TO_1`` or ``MAXIMUM``/``MINIMUM``), sigmoid,
tanh, leaky_relu, hard_swish, hard_sigmoid (``MUL``, ``ADD``, ``RELU_0_TO_1``), prelu, gelu,
exp, log, sqrt, neg, abs; softmax on the stored last axis (the input is transposed when its
axis is not stored last). Every op works in the order its input is stored.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from compiler.ir.graph import Node

from ..context import EmitContext, const_scalar
from ..errors import Unsupported
from ..registry import lowering
from .. import peepholes
from ..layout import TO_NHWC, ident, permute

_BINARY = {"add": ("ADD", "Add"), "sub": ("SUB", "Sub"), "mul": ("MUL", "Mul"),
           "div": ("DIV", "Div")}
_UNARY = {"relu": "RELU", "sigmoid": "LOGISTIC", "tanh": "TANH", "hard_swish": "HARD_SWISH",
          "exp": "EXP", "log": "LOG", "sqrt": "SQRT", "neg": "NEG", "abs": "ABS"}


@lowering("add", "sub", "mul", "div")
def lower_binary(ctx: EmitContext, node: Node, attrs: dict) -> None:
    opname, opt = _BINARY[node.op]
    out_v = node.outputs[0]
    r = out_v.type.rank
    if r is None or r > 6:
        raise Unsupported(f"result rank {r}: only ranks up to 6 are supported")
    same = peepholes.identity_operand(ctx, node, attrs)
    if same is not None:  # x + 0, x - 0, x * 1, x / 1 (e.g. Keras swish's beta = 1)
        ctx.alias(out_v, ctx.get(same), ctx.perm_of(same))
        return
    p = ctx.pick_perm(node.inputs[:2], r)
    a, b = (ctx.operand(v, p) for v in node.inputs[:2])
    fused, out, post = ctx.act(out_v, attrs.get("activation", ""), p)
    ctx.w.add_operator(opname, [a, b], [out],
                       ctx.w.options(opt, fusedActivationFunction=fused))
    post()


def unary(ctx: EmitContext, node: Node, opname: str, options: Any = None) -> None:
    """``opname`` applied to the single input, the result stored in the input's order."""
    x = node.inputs[0]
    ctx.w.add_operator(opname, [ctx.get(x)], [ctx.out(node.outputs[0], ctx.perm_of(x))],
                       options)


@lowering(*_UNARY)
def lower_unary(ctx: EmitContext, node: Node, attrs: dict) -> None:
    unary(ctx, node, _UNARY[node.op])


@lowering("gelu")
def lower_gelu(ctx: EmitContext, node: Node, attrs: dict) -> None:
    approx = attrs.get("approximate", "none")
    if approx not in ("none", "tanh"):
        raise Unsupported(f"approximate={approx!r} has no TFLite form")
    unary(ctx, node, "GELU", ctx.w.options("Gelu", approximate=approx == "tanh"))


@lowering("leaky_relu")
def lower_leaky_relu(ctx: EmitContext, node: Node, attrs: dict) -> None:
    unary(ctx, node, "LEAKY_RELU", ctx.w.options("LeakyRelu", alpha=float(attrs["alpha"])))


@lowering("hard_sigmoid")
def lower_hard_sigmoid(ctx: EmitContext, node: Node, attrs: dict) -> None:
    x, y = node.inputs[0], node.outputs[0]
    p = ctx.perm_of(x)
    shape = permute(y.type.shape, p)
    t1, t2 = ctx.tmp(y.name + "_ax", shape), ctx.tmp(y.name + "_axb", shape)
    alpha = ctx.w.add_const(y.name + "_alpha", np.asarray([attrs["alpha"]], np.float32))
    beta = ctx.w.add_const(y.name + "_beta", np.asarray([attrs["beta"]], np.float32))
    ctx.w.add_operator("MUL", [ctx.get(x), alpha], [t1], ctx.w.options("Mul"))
    ctx.w.add_operator("ADD", [t1, beta], [t2], ctx.w.options("Add"))
    ctx.w.add_operator("RELU_0_TO_1", [t2], [ctx.out(y, p)])


@lowering("clip")
def lower_clip(ctx: EmitContext, node: Node, attrs: dict) -> None:
    lo, hi = const_scalar(node.input(1)), const_scalar(node.input(2))
    named = {(0.0, 6.0): "RELU6", (0.0, None): "RELU", (-1.0, 1.0): "RELU_N1_TO_1",
             (0.0, 1.0): "RELU_0_TO_1"}
    if (lo, hi) in named:
        unary(ctx, node, named[(lo, hi)])
        return
    if lo is None and hi is None:
        raise Unsupported("clip without bounds is an identity; run remove-identity")
    x = node.inputs[0]
    p = ctx.perm_of(x)
    src = ctx.get(x)
    out_v = node.outputs[0]
    steps = [("MAXIMUM", lo), ("MINIMUM", hi)]
    steps = [(k, c) for k, c in steps if c is not None]
    for i, (opname, c) in enumerate(steps):
        if i == len(steps) - 1:
            dst = ctx.out(out_v, p)
        else:
            dst = ctx.tmp(out_v.name + "_lo", permute(out_v.type.shape, p))
        bound = ctx.w.add_const(f"{out_v.name}_{opname.lower()}",
                                np.asarray([c], np.float32))
        ctx.w.add_operator(opname, [src, bound], [dst])
        src = dst


@lowering("prelu")
def lower_prelu(ctx: EmitContext, node: Node, attrs: dict) -> None:
    x, out_v = node.inputs[0], node.outputs[0]
    p = ctx.perm_of(x) if x.type.rank == out_v.type.rank else ident(out_v.type.rank)
    slope = ctx.operand(node.inputs[1], p)
    ctx.w.add_operator("PRELU", [ctx.as_perm(x, p), slope], [ctx.out(out_v, p)])


@lowering("softmax")
def lower_softmax(ctx: EmitContext, node: Node, attrs: dict) -> None:
    x = node.inputs[0]
    r = x.type.rank
    axis = int(attrs["axis"]) % r
    p = ctx.perm_of(x)
    if p[-1] != axis:
        p = TO_NHWC if (r == 4 and axis == 1) else \
            tuple([a for a in range(r) if a != axis] + [axis])
    ctx.w.add_operator("SOFTMAX", [ctx.as_perm(x, p)], [ctx.out(node.outputs[0], p)],
                       ctx.w.options("Softmax", beta=1.0))
