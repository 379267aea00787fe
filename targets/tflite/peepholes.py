"""Local rewrites the TFLite emitter applies while lowering, one rule per function.

Each rule states its algebra; a lowering calls the rule and, when it applies, emits less.

* :func:`identity_operand`: ``x + 0 = x - 0 = x * 1 = x / 1 = x`` (a constant that does not
  broadcast ``x`` to a larger shape): no op is written.
* :func:`fold_pad` / :func:`folded_pad`: ``conv(pad0(x, p)) = conv_SAME(x)`` when the zero
  padding ``p`` is exactly TFLite's SAME padding of every conv reading the padded value
  (directly, or through one transpose that stores it NHWC): no ``PAD`` is written.
* :func:`unit_reshape_to_nhwc`: ``reshape(x, [N,C,1,1])`` read by an NHWC op moves only
  size-1 axes, so ``transpose(reshape(x), NHWC) = reshape(x, [N,1,1,C])``: one ``RESHAPE``
  straight to the NHWC order instead of ``RESHAPE`` + ``TRANSPOSE``.
* :func:`resolved_reshape`: a reshape whose inferred type kept unknown dims but whose shape
  input is a constant has the static shape ``np.reshape`` gives.
* :func:`pow_by_constant`: ``x ** 1 = x``, ``x ** 2 = x * x``, ``x ** 0.5 = sqrt(x)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from compiler.ir.graph import Node, Value

from .layout import NHWC_OPS, TO_NHWC, after_transpose, permute, same_pads

if TYPE_CHECKING:
    from .context import EmitContext


def identity_operand(ctx: EmitContext, node: Node, attrs: dict) -> Value | None:
    """The operand a binary node returns unchanged (the other is a constant 0 or 1 that
    does not broadcast it to a larger shape), else None."""
    # x + 0 = 0 + x = x - 0 = x ; x * 1 = 1 * x = x / 1 = x (not 0 - x, not 1 / x)
    if attrs.get("activation", ""):
        return None
    unit = 0.0 if node.op in ("add", "sub") else 1.0
    sides = (1,) if node.op in ("sub", "div") else (1, 0)
    out_v = node.outputs[0]
    for c in sides:
        x, k = node.inputs[1 - c], node.inputs[c]
        if x.is_const or not k.is_const or x.type.shape != out_v.type.shape:
            continue
        a = ctx.const_array(k)
        if a.dtype == np.float32 and a.size and np.all(a == unit):
            if x in ctx.g.inputs and out_v.is_graph_output:
                return None  # the output needs a tensor of its own
            return x
    return None


def _conv_takes_pad(conv: Node, y: Value, sizes: Sequence[int], pads: list[list[int]]) -> bool:
    """Whether ``conv`` reads ``y`` (the zero-padded input, ``pads`` per NCHW axis of the
    conv input) as its data only and the padding equals TFLite's SAME for it."""
    if conv.op != "conv" or conv.inputs[0] is not y or any(v is y for v in conv.inputs[1:]):
        return False
    w = conv.inputs[1]
    if w is None or not w.is_const or w.type.rank != 4:
        return False
    a = conv.attrs
    if (a.get("auto_pad", "NOTSET") or "NOTSET") not in ("NOTSET", "VALID") or \
            any(int(q) for q in (a.get("pads") or [])) or pads[0] != [0, 0] or \
            pads[1] != [0, 0]:
        return False
    kernel = list(w.type.shape[2:])
    strides = [int(q) for q in (a.get("strides") or [1, 1])]
    dils = [int(q) for q in (a.get("dilations") or [1, 1])]
    sb, se = same_pads(sizes, kernel, strides, dils)
    return [pads[2][0], pads[3][0]] == sb and [pads[2][1], pads[3][1]] == se


def fold_pad(ctx: EmitContext, node: Node, x: Value, full: list[list[int]]) -> bool:
    """Defer the zero pad ``node`` (of ``x``, ``full`` = [begin, end] per axis) when every
    reader (a conv, or a transpose feeding convs) can take it as TFLite SAME padding; the
    convs then read ``x`` directly (:func:`folded_pad`). Returns whether it was deferred."""
    # conv(pad0(x, p)) = conv_SAME(x) when p = SAME(x, conv) for every conv reading it
    y = node.outputs[0]
    if y.type.rank != 4 or not x.type.is_static or y.is_graph_output or not y.users:
        return False
    for u in y.users:
        if u.op == "transpose":
            t = u.outputs[0]
            perm = [int(a) for a in (u.attrs.get("perm") or range(3, -1, -1))]
            if (t.is_graph_output or not t.users
                    or after_transpose(ctx.perm_of(x), perm) != TO_NHWC):
                return False
            sizes = [x.type.shape[perm[2]], x.type.shape[perm[3]]]
            tp = [full[a] for a in perm]
            if not all(_conv_takes_pad(c, t, sizes, tp) for c in t.users):
                return False
        elif not _conv_takes_pad(u, y, list(x.type.shape[2:]), full):
            return False
    ctx.padfold[id(y)] = (x, None, list(x.type.shape[2:]))
    return True


def transpose_folded_pad(ctx: EmitContext, x: Value, y: Value, perm: Sequence[int]) -> bool:
    """If ``x`` is a deferred pad, record that ``y = x.transpose(perm)`` is one too (the convs
    reading ``y`` read the unpadded input, stored NHWC for them). Returns whether it was."""
    if id(x) not in ctx.padfold:
        return False
    src = ctx.padfold[id(x)][0]
    ctx.padfold[id(y)] = (src, after_transpose(ctx.perm_of(src), perm),
                          [src.type.shape[perm[2]], src.type.shape[perm[3]]])
    return True


def folded_pad(ctx: EmitContext, x: Value) -> tuple[int, list[int]] | None:
    """(NHWC tensor of the unpadded input, its spatial sizes) when the conv input ``x`` is a
    deferred pad, else None; the conv then uses SAME padding."""
    if id(x) not in ctx.padfold:
        return None
    pre, order, sizes = ctx.padfold[id(x)]
    return (ctx.nhwc(pre) if order is None else ctx.get(pre)), sizes


def unit_reshape_to_nhwc(ctx: EmitContext, x: Value, y: Value, shape: list[Any]) -> bool:
    """Whether the reshape ``x`` -> ``y`` (result ``shape``) only moves size-1 axes relative
    to ``x``'s stored order into a rank-4 value an NHWC op reads (e.g. the squeeze-excite
    [N,C] -> [N,C,1,1]); then one RESHAPE writes ``y`` straight in NHWC order."""
    xs = list(x.type.shape)
    big_x = [xs[a] for a in ctx.perm_of(x) if xs[a] != 1]
    return (len(shape) == 4 and shape == list(y.type.shape) and y.type.is_static
            and x.type.is_static and not y.is_graph_output
            and [d for d in permute(shape, TO_NHWC) if d != 1] == big_x
            and any(u.op in NHWC_OPS for u in y.users))


def resolved_reshape(node: Node) -> list[Any]:
    """The result shape of a reshape-like ``node``: its inferred type's, or, when that kept
    unknown dims but the target shape is a constant and the input static, the shape the
    constant gives (computed after type inference ran)."""
    x, y = node.inputs[0], node.outputs[0]
    shape = list(y.type.shape)
    target = node.input(1)
    if (node.op == "reshape" and not all(isinstance(d, int) for d in shape)
            and target is not None and target.const_value is not None
            and x.type.is_static):
        want = [int(d) for d in np.asarray(target.const_value).reshape(-1)]
        if not int(node.attrs.get("allowzero", 0) or 0):
            want = [x.type.shape[i] if d == 0 else d for i, d in enumerate(want)]
        with contextlib.suppress(ValueError):
            shape = list(np.empty(x.type.shape, np.uint8).reshape(want).shape)
    return shape


def pow_by_constant(ctx: EmitContext, node: Node) -> float | None:
    """The exponent of ``pow`` when it is a scalar constant among 1, 2 and 0.5 that keeps
    ``x``'s shape (``x ** 1 = x``, ``x ** 2 = x * x``, ``x ** 0.5 = sqrt(x)``), else None."""
    x, e, y = node.inputs[0], node.inputs[1], node.outputs[0]
    c = ctx.const_array(e) if e.is_const else None
    if c is not None and c.size == 1 and x.type.shape == y.type.shape:
        k = float(c.reshape(()))
        if k in (1.0, 2.0, 0.5):
            return k
    return None
