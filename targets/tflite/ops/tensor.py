"""Shape and data-movement ops of the TFLite target.

Contract: reshape/flatten/squeeze/unsqueeze -> ``RESHAPE`` (from the logical order; see
:mod:`targets.tflite.peepholes` for the reshape written straight in NHWC and the one whose
constant target is resolved here); concat and split on any axis (``CONCATENATION`` /
``SPLIT_V`` in the operands' stored order); an IR ``transpose`` only changes the physical
order and emits nothing; pad (constant/reflect/symmetric) -> ``PAD``/``PADV2``/
``MIRROR_PAD`` (a zero pad that convs take as SAME padding is folded into them); slice ->
``STRIDED_SLICE``; gather with constant indices -> ``GATHER``; identity emits nothing.
"""

from __future__ import annotations

import numpy as np

from compiler.ir.graph import Node, Value
from compiler.ir.types import DType

from .. import peepholes
from ..context import EmitContext, const_ints, const_scalar, np_dtype
from ..errors import Unsupported
from ..layout import TO_NHWC, after_transpose, drop_axes, ident, permute
from ..registry import lowering
from ..writer import tflite_type

_I32_MAX = 2**31 - 1


@lowering("reshape", "flatten", "squeeze", "unsqueeze")
def lower_reshape(ctx: EmitContext, node: Node, attrs: dict) -> None:
    x, y = node.inputs[0], node.outputs[0]
    shape = peepholes.resolved_reshape(node)
    target = node.input(1)
    new = [d if isinstance(d, int) else -1 for d in shape]
    if new.count(-1) > 1 and node.op == "reshape" and target is not None \
            and not target.is_const:
        return reshape_dynamic(ctx, node)  # the target tensor itself
    if new.count(-1) > 1:
        raise Unsupported(f"result shape {list(shape)} has more than one unknown dim")
    if peepholes.unit_reshape_to_nhwc(ctx, x, y, shape):
        nhwc = permute(shape, TO_NHWC)
        ctx.w.add_operator("RESHAPE", [ctx.get(x), ctx.i32("shape", nhwc)],
                           [ctx.out(y, TO_NHWC)], ctx.w.options("Reshape", newShape=nhwc))
        return
    opts = ctx.w.options("Reshape", newShape=new)
    if shape != list(y.type.shape):
        out = ctx.tmp(y.name, shape)
        ctx.alias(y, out, ident(len(shape)))
    else:
        out = ctx.out(y)
    ctx.w.add_operator("RESHAPE", [ctx.logical(x), ctx.i32("shape", new)], [out], opts)


@lowering("identity")
def lower_identity(ctx: EmitContext, node: Node, attrs: dict) -> None:
    x = node.inputs[0]
    ctx.alias(node.outputs[0], ctx.get(x), ctx.perm_of(x))


@lowering("concat")
def lower_concat(ctx: EmitContext, node: Node, attrs: dict) -> None:
    y = node.outputs[0]
    r = y.type.rank
    axis = int(attrs["axis"]) % r
    p = ctx.pick_perm(node.inputs, r)
    ins = [ctx.as_perm(v, p) for v in node.inputs]
    ctx.w.add_operator("CONCATENATION", ins, [ctx.out(y, p)],
                       ctx.w.options("Concatenation", axis=p.index(axis)))


@lowering("transpose")
def lower_transpose(ctx: EmitContext, node: Node, attrs: dict) -> None:
    # y = x.transpose(P): stored_x axis i is x axis px[i], which is y axis P^-1[px[i]];
    # so the same tensor holds y in order P^-1[px[i]], and nothing is emitted
    x, y = node.inputs[0], node.outputs[0]
    r = x.type.rank
    perm = [int(a) for a in (attrs.get("perm") or range(r - 1, -1, -1))]
    if peepholes.transpose_folded_pad(ctx, x, y, perm):
        return  # the convs reading y read the unpadded input
    ctx.alias(y, ctx.get(x), after_transpose(ctx.perm_of(x), perm))


@lowering("pad")
def lower_pad(ctx: EmitContext, node: Node, attrs: dict) -> None:
    x, y = node.inputs[0], node.outputs[0]
    mode = attrs.get("mode", "constant")
    if mode not in ("constant", "reflect", "symmetric"):
        raise Unsupported(f"pad mode {mode!r} has no TFLite form")
    r = x.type.rank
    pads = const_ints(node.input(1), "pads")
    axes = const_ints(node.input(3), "axes") or list(range(r))
    axes = [a % r for a in axes]
    full = [[0, 0] for _ in range(r)]
    for i, a in enumerate(axes):
        full[a] = [pads[i], pads[i + len(axes)]]
    if any(v < 0 for pr in full for v in pr):
        raise Unsupported("negative pads (cropping) are not supported")
    if mode == "constant" and not (const_scalar(node.input(2)) or 0.0) and \
            peepholes.fold_pad(ctx, node, x, full):
        return
    p = ctx.perm_of(x)
    stored = [full[a] for a in p]
    ins = [ctx.get(x), ctx.i32("paddings", stored)]
    if mode != "constant":
        opname, opts = "MIRROR_PAD", ctx.w.options("MirrorPad", mode=int(mode == "symmetric"))
    else:
        cv = const_scalar(node.input(2)) or 0.0
        opname, opts = "PAD", None
        if cv != 0.0:
            opname = "PADV2"
            ins.append(ctx.w.add_const(y.name + "_value", np.asarray([cv], np.float32)))
    ctx.w.add_operator(opname, ins, [ctx.out(y, p)], opts)


@lowering("slice")
def lower_slice(ctx: EmitContext, node: Node, attrs: dict) -> None:
    x, y = node.inputs[0], node.outputs[0]
    r = x.type.rank
    starts = const_ints(node.input(1), "starts")
    ends = const_ints(node.input(2), "ends")
    axes = [a % r for a in (const_ints(node.input(3), "axes") or range(len(starts)))]
    steps = const_ints(node.input(4), "steps") or [1] * len(starts)
    p = ctx.perm_of(x)
    begin, end, stride = [0] * r, [0] * r, [1] * r
    bmask = emask = 0
    sliced = dict(zip(axes, zip(starts, ends, steps)))
    for i, a in enumerate(p):
        if a not in sliced:
            bmask |= 1 << i
            emask |= 1 << i
            continue
        s, e, st = sliced[a]
        dim = x.type.shape[a]
        if not isinstance(dim, int):  # TFLite resolves negative / open ends at run time
            begin[i], end[i], stride[i], to_end = slice_unknown_dim(s, e, st, a, x)
            emask |= int(to_end) << i
            continue
        s, e, st = slice(s, e, st).indices(dim)
        begin[i], end[i], stride[i] = s, e, st
        if e < 0:  # a negative step running to the front: TFLite would wrap -1
            emask |= 1 << i
    opts = ctx.w.options("StridedSlice", beginMask=bmask, endMask=emask)
    n = y.name
    ctx.w.add_operator("STRIDED_SLICE", [ctx.get(x), ctx.i32(n + "_begin", begin),
                                         ctx.i32(n + "_end", end),
                                         ctx.i32(n + "_strides", stride)],
                       [ctx.out(y, p)], opts)


@lowering("gather")
def lower_gather(ctx: EmitContext, node: Node, attrs: dict) -> None:
    x, y = node.inputs[0], node.outputs[0]
    iv = node.inputs[1]
    if iv.const_value is None:
        raise Unsupported("only constant indices are supported")
    idx = np.asarray(iv.const_value).astype(np.int64)
    r = x.type.rank
    axis = int(attrs.get("axis", 0)) % r
    dim = x.type.shape[axis]
    if (idx < 0).any():
        if not isinstance(dim, int):
            raise Unsupported("negative indices need a static axis")
        idx = np.where(idx < 0, idx + dim, idx)
    p = ctx.perm_of(x)
    if idx.ndim == 0:
        out_perm = drop_axes(p, [axis])
    elif idx.ndim == 1:
        out_perm = p
    else:
        p = out_perm = ident(r)
    src = ctx.as_perm(x, p)
    opts = ctx.w.options("Gather", axis=p.index(axis))
    ctx.w.add_operator("GATHER", [src, ctx.i32(y.name + "_indices", idx)],
                       [ctx.out(y, out_perm if idx.ndim <= 1 else None)], opts)


@lowering("split")
def lower_split(ctx: EmitContext, node: Node, attrs: dict) -> None:
    x = node.inputs[0]
    r = x.type.rank
    axis = int(attrs.get("axis", 0)) % r
    sizes = [v.type.shape[axis] for v in node.outputs]
    if not all(isinstance(s, int) for s in sizes):
        raise Unsupported("split sizes must be static")
    p = ctx.perm_of(x)
    outs = [ctx.out(v, p) for v in node.outputs]
    ctx.w.add_operator("SPLIT_V", [ctx.get(x), ctx.i32("size_splits", sizes),
                                   ctx.i32("split_axis", [p.index(axis)])], outs,
                       ctx.w.options("SplitV", numSplits=len(outs)))


def slice_unknown_dim(s: int, e: int, st: int, axis: int,
                      x: Value) -> tuple[int, int, int, bool]:
    """(begin, end, stride, end-mask) of one slice axis whose size is unknown: positive steps
    only; TFLite resolves negative and past-the-end bounds at run time as ONNX clamps them."""
    if st <= 0:
        raise Unsupported(f"axis {axis} of %{x.name} has an unknown size; only "
                          "positive steps can be sliced there")
    to_end = e >= _I32_MAX
    return max(min(s, _I32_MAX), -_I32_MAX), 0 if to_end else max(e, -_I32_MAX), st, to_end


def reshape_dynamic(ctx: EmitContext, node: Node) -> None:
    """RESHAPE reading a target computed at run time (cast to int32). ONNX's ``0`` = "copy
    this dim" is not expressible there; targets computed from the shapes of non-empty
    tensors never hold it."""
    x, target, y = node.inputs[0], node.inputs[1], node.outputs[0]
    if int(node.attrs.get("allowzero", 0) or 0):
        raise Unsupported("allowzero=1 with a run-time target has no TFLite form")
    shape = ctx.logical(target)
    if target.type.dtype != DType.I32:
        cast = ctx.tmp(target.name + "_i32", target.type.shape, np.int32)
        ctx.w.add_operator("CAST", [shape], [cast], ctx.w.options(
            "Cast", inDataType=tflite_type(np_dtype(target)),
            outDataType=tflite_type(np.int32)))
        shape = cast
    ctx.w.add_operator("RESHAPE", [ctx.logical(x), shape], [ctx.out(y)])
