"""Normalisation ops of the TFLite target: batch_norm (inference) -> ``MUL`` + ``ADD`` with
the folded scale and shift; layer_norm -> ``MEAN``, ``SUB``, ``MUL``, ``ADD``, ``RSQRT``
over the stored axes. Both work in the order their input is stored.
"""

from __future__ import annotations

import numpy as np

from compiler.ir.graph import Node

from ..context import EmitContext
from ..errors import Unsupported
from ..registry import lowering
from ..layout import permute


@lowering("batch_norm")
def lower_batch_norm(ctx: EmitContext, node: Node, attrs: dict) -> None:
    x, y = node.inputs[0], node.outputs[0]
    if any(v.has_uses for v in node.outputs[1:]):
        raise Unsupported("training-mode outputs have no TFLite form")
    scale, b, mean, var = (ctx.weight(node.input(i), n).astype(np.float64)
                           for i, n in ((1, "scale"), (2, "B"), (3, "mean"), (4, "var")))
    r = x.type.rank
    f = scale / np.sqrt(var + float(attrs["epsilon"]))
    t = b - mean * f
    p = ctx.perm_of(x)
    cs = (1, -1) + (1,) * (r - 2)
    fs = ctx.bcast_const(y.name + "_scale", f.reshape(cs), p)
    ts = ctx.bcast_const(y.name + "_shift", t.reshape(cs), p)
    mid = ctx.tmp(y.name + "_scaled", permute(y.type.shape, p))
    ctx.w.add_operator("MUL", [ctx.get(x), fs], [mid], ctx.w.options("Mul"))
    ctx.w.add_operator("ADD", [mid, ts], [ctx.out(y, p)], ctx.w.options("Add"))


@lowering("layer_norm")
def lower_layer_norm(ctx: EmitContext, node: Node, attrs: dict) -> None:
    x, y = node.inputs[0], node.outputs[0]
    if any(v.has_uses for v in node.outputs[1:]):
        raise Unsupported("the mean/inv_std_dev outputs have no TFLite form")
    r = x.type.rank
    axis = int(attrs.get("axis", -1)) % r
    p = ctx.perm_of(x)
    stored_axes = sorted(p.index(a) for a in range(axis, r))
    shape = permute(y.type.shape, p)
    red = [1 if i in stored_axes else d for i, d in enumerate(shape)]
    n = y.name
    axes = ctx.i32(n + "_axes", stored_axes)
    keep = ctx.w.options("Reducer", keepDims=True)
    mean, d, sq, var, ve, inv, nrm = (
        ctx.tmp(n + s, sh) for s, sh in (("_mean", red), ("_centered", shape),
                                         ("_sq", shape), ("_var", red),
                                         ("_var_eps", red), ("_rstd", red),
                                         ("_normed", shape)))
    src = ctx.get(x)
    ctx.w.add_operator("MEAN", [src, axes], [mean], keep)
    ctx.w.add_operator("SUB", [src, mean], [d], ctx.w.options("Sub"))
    ctx.w.add_operator("MUL", [d, d], [sq], ctx.w.options("Mul"))
    ctx.w.add_operator("MEAN", [sq, axes], [var], keep)
    eps = ctx.w.add_const(n + "_eps", np.asarray([attrs.get("epsilon", 1e-5)], np.float32))
    ctx.w.add_operator("ADD", [var, eps], [ve], ctx.w.options("Add"))
    ctx.w.add_operator("RSQRT", [ve], [inv])
    cur = nrm
    ctx.w.add_operator("MUL", [d, inv], [nrm], ctx.w.options("Mul"))
    sc, bias = node.input(1), node.input(2)
    steps = [("MUL", "Mul", sc)] + ([("ADD", "Add", bias)] if bias is not None else [])
    for i, (opname, opt, v) in enumerate(steps):
        dst = ctx.out(y, p) if i == len(steps) - 1 else ctx.tmp(n + "_scaled", shape)
        ctx.w.add_operator(opname, [cur, ctx.operand(v, p)], [dst], ctx.w.options(opt))
        cur = dst
