"""Ops of sequence (audio) models in the TFLite target: pow and an unrolled LSTM.

Contract:

* ``pow`` with a constant exponent 2 -> ``MUL(x, x)``, 0.5 -> ``SQRT``, 1 -> nothing
  (:func:`targets.tflite.peepholes.pow_by_constant`); any other exponent -> ``POW``.
* ``lstm`` (ONNX LSTM, forward direction, ``layout=0``, default activations sigmoid / tanh /
  tanh, no clip, no peepholes, ``input_forget=0``, no ``sequence_lens``, constant W / R / B,
  a static sequence length T) is unrolled into builtin ops: one ``FULLY_CONNECTED`` over
  every time step for ``X W^T + Wb``, then per step ``FULLY_CONNECTED`` for ``H R^T + Rb``,
  ``ADD``, ``SPLIT`` into the gates (ONNX order i, o, f, c), ``LOGISTIC`` / ``TANH``,
  ``MUL`` / ``ADD`` for ``C = f*C + i*c`` and ``H = o*tanh(C)``.
* All three outputs are available: ``Y`` (T, 1, B, H), ``Y_h`` and ``Y_c`` (1, B, H); a
  missing initial state is zeros (then the batch dim must be static).
* Why not ``UNIDIRECTIONAL_SEQUENCE_LSTM``: its state lives in variable tensors and only
  the output sequence comes out, so ``Y_c`` (which streaming models such as silero-vad
  return as their next state) would be lost.

(1-D convolutions of these models are lowered with the 2-D ones in :mod:`.conv`.)
"""

from __future__ import annotations

import numpy as np

from compiler.ir.graph import Node

from .. import peepholes
from ..context import EmitContext
from ..errors import Unsupported
from ..registry import lowering
from .elementwise import unary

_DEFAULT_ACTS = ["Sigmoid", "Tanh", "Tanh"]


@lowering("pow")
def lower_pow(ctx: EmitContext, node: Node, attrs: dict) -> None:
    x, e, y = node.inputs[0], node.inputs[1], node.outputs[0]
    k = peepholes.pow_by_constant(ctx, node)
    if k == 1.0:
        ctx.alias(y, ctx.get(x), ctx.perm_of(x))
        return
    if k == 2.0:
        src = ctx.get(x)
        ctx.w.add_operator("MUL", [src, src], [ctx.out(y, ctx.perm_of(x))],
                           ctx.w.options("Mul"))
        return
    if k == 0.5:
        unary(ctx, node, "SQRT")
        return
    p = ctx.pick_perm(node.inputs[:2], y.type.rank)
    ctx.w.add_operator("POW", [ctx.operand(x, p), ctx.operand(e, p)], [ctx.out(y, p)])


def lstm_checks(node: Node, attrs: dict) -> None:
    if (attrs.get("direction") or "forward") != "forward":
        raise Unsupported(f"direction={attrs.get('direction')!r}: only forward LSTMs are unrolled")
    acts = attrs.get("activations")
    if acts and [a.lower() for a in acts] != [a.lower() for a in _DEFAULT_ACTS]:
        raise Unsupported(f"activations {acts} differ from sigmoid/tanh/tanh")
    if attrs.get("clip") is not None or int(attrs.get("input_forget", 0) or 0) or \
            int(attrs.get("layout", 0) or 0):
        raise Unsupported("clip, input_forget and layout=1 are not supported")
    if node.input(4) is not None or node.input(7) is not None:
        raise Unsupported("sequence_lens and peepholes are not supported")
    for i, what in ((1, "W"), (2, "R"), (3, "B")):
        v = node.input(i)
        if v is not None and not v.is_const:
            raise Unsupported(f"{what} must be a constant")
    t = node.inputs[0].type.shape[0]
    if not isinstance(t, int):
        raise Unsupported("the sequence length must be static to unroll the LSTM")


@lowering("lstm")
def lower_lstm(ctx: EmitContext, node: Node, attrs: dict) -> None:
    lstm_checks(node, attrs)
    x = node.inputs[0]
    T, B, _ = x.type.shape
    w = ctx.const_array(node.inputs[1]).astype(np.float32)[0]  # [4H, I]
    r = ctx.const_array(node.inputs[2]).astype(np.float32)[0]  # [4H, H]
    hid = r.shape[1]
    b = node.input(3)
    bias = (ctx.const_array(b).astype(np.float32)[0] if b is not None
            else np.zeros(8 * hid, np.float32))
    n = node.outputs[0].name
    w_idx = ctx.float_const(n + "_W", w)
    r_idx = ctx.float_const(n + "_R", r)
    wb = ctx.float_const(n + "_Wb", bias[:4 * hid])
    rb = ctx.float_const(n + "_Rb", bias[4 * hid:])
    fc = ctx.w.options("FullyConnected", keepNumDims=True)
    # X W^T + Wb for every step at once: [T, B, 4H]
    gx = ctx.tmp(n + "_xw", [T, B, 4 * hid])
    ctx.w.add_operator("FULLY_CONNECTED", [ctx.logical(x), w_idx, wb], [gx], fc,
                       version=5)  # keep_num_dims needs version 5 (op_version.cc)
    steps = [ctx.tmp(f"{n}_xw{t}", [B, 4 * hid]) for t in range(T)]
    if T > 1:
        ctx.w.add_operator("UNPACK", [gx], steps, ctx.w.options("Unpack", num=T, axis=0))
    else:
        ctx.reshape_known(gx, steps[0], [B, 4 * hid])
    h = lstm_state(ctx, node.input(5), n + "_h0", B, hid)
    c = lstm_state(ctx, node.input(6), n + "_c0", B, hid)
    hs = []
    split_axis = ctx.i32(n + "_gate_axis", np.asarray(1, np.int32).reshape(()))
    for t, g_x in enumerate(steps):
        k = f"{n}_t{t}"
        sh = [B, hid]
        gh, gates = ctx.tmp(k + "_hr", [B, 4 * hid]), ctx.tmp(k + "_gates", [B, 4 * hid])
        ctx.w.add_operator("FULLY_CONNECTED", [h, r_idx, rb], [gh],
                           ctx.w.options("FullyConnected"))
        ctx.w.add_operator("ADD", [g_x, gh], [gates], ctx.w.options("Add"))
        raw = [ctx.tmp(f"{k}_{q}", sh) for q in "iofc"]
        ctx.w.add_operator("SPLIT", [split_axis, gates], raw,
                           ctx.w.options("Split", numSplits=4))
        i, o, f, cc = (ctx.tmp(f"{k}_{q}_act", sh) for q in "iofc")
        for src, dst, op in zip(raw, (i, o, f, cc), ("LOGISTIC",) * 3 + ("TANH",)):
            ctx.w.add_operator(op, [src], [dst])
        fc_, ic, c_new = (ctx.tmp(k + q, sh) for q in ("_fc", "_ic", "_c"))
        ctx.w.add_operator("MUL", [f, c], [fc_], ctx.w.options("Mul"))
        ctx.w.add_operator("MUL", [i, cc], [ic], ctx.w.options("Mul"))
        ctx.w.add_operator("ADD", [fc_, ic], [c_new], ctx.w.options("Add"))
        tc, h_new = ctx.tmp(k + "_tanh_c", sh), ctx.tmp(k + "_h", sh)
        ctx.w.add_operator("TANH", [c_new], [tc])
        ctx.w.add_operator("MUL", [o, tc], [h_new], ctx.w.options("Mul"))
        h, c = h_new, c_new
        hs.append(h)
    y, y_h, y_c = (list(node.outputs) + [None, None, None])[:3]
    if y is not None and y.has_uses:
        parts = []
        for t, ht in enumerate(hs):
            p = ctx.tmp(f"{n}_y{t}", [1, 1, B, hid])
            ctx.reshape_known(ht, p, [1, 1, B, hid])
            parts.append(p)
        if len(parts) == 1:
            ctx.alias(y, parts[0], tuple(range(4)))
        else:
            ctx.w.add_operator("CONCATENATION", parts, [ctx.out(y)],
                               ctx.w.options("Concatenation", axis=0))
    for v, last in ((y_h, h), (y_c, c)):
        if v is not None and v.has_uses:
            ctx.reshape_known(last, ctx.out(v), [1, B, hid])


def lstm_state(ctx: EmitContext, v, name: str, batch, hid: int) -> int:
    if v is None:
        if not isinstance(batch, int):
            raise Unsupported("a missing initial state needs a static batch dim")
        return ctx.float_const(name, np.zeros((batch, hid), np.float32))
    out = ctx.tmp(name, [batch, hid])
    ctx.reshape_known(ctx.logical(v), out, [batch, hid])
    return out
