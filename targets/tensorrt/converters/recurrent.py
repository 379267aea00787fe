"""Recurrent ops (lstm, gru, rnn) unrolled over a static sequence into matrix multiplies,
slices, elementwise and activation layers.

Why unrolled: TensorRT's ONNX parser builds recurrences with ``ILoopLayer`` (trip limit,
recurrence, iterator and loop-output layers), which keeps the network small for long or
dynamic sequences. The models infercc meets (silero-vad's one-step decoder, small
``nn.LSTM``/``nn.GRU`` layers) have short static sequences, where an unrolled network is
plain layers the stand-in already executes from TensorRT's documented semantics, so the
whole recurrence is verified on CPU, and TensorRT still fuses the per-step elementwise
chains. The cost is about 16 layers per step and direction, so the capability check takes
sequences of at most :data:`MAX_STEPS` steps; longer or dynamic ones are refused with that
reason (an ``ILoopLayer`` converter can sit beside this one in the registry later).

Semantics are the IR's (ONNX LSTM/GRU/RNN, :mod:`compiler.ops.nn`): gate orders i, o, f, c
(LSTM) and z, r, h (GRU); ``W``/``R``/``B`` per direction; forward, reverse and
bidirectional; ``layout`` 0 (``[seq, batch, in]``) and 1 (``[batch, seq, in]``); initial
states optional (zeros); ``clip`` on the input of each gate activation (after an LSTM
peephole term is added); LSTM peepholes ``P`` (order i, o, f) and ``input_forget``; GRU
``linear_before_reset``; every activation the IR knows (``activation_alpha``/
``activation_beta`` consumed in turn by the activations that take them,
:func:`compiler.ops.nn.rnn_activation_params`). The input projection of all steps is one
matrix multiply ``[seq, batch, in] x [1, in, gates*H]`` with both biases folded in (GRU
keeps ``Rb_h`` apart, since the reset gate multiplies it); each step then slices its row,
adds ``h @ R^T`` and applies the gates on ``[1, batch, H]`` tensors, so no step needs a
reshape.

Refused, with the reason the pre-flight prints: weights, biases or peepholes computed at run
time; a sequence length that is dynamic or above :data:`MAX_STEPS`; ``sequence_lens`` not a
constant equal to the sequence length for every batch entry (ragged batches would need a
select per step); a dynamic batch or input size (naming the dim, as other dynamic-dim
refusals do).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from compiler.ir.graph import Node
from compiler.ir.types import DType
from compiler.ops.nn import RNN_SPEC, rnn_activation_params

from ..context import ConversionContext
from ..registry import converter
from ._util import const_input_reason, static_shape

if TYPE_CHECKING:
    import tensorrt

#: The longest sequence unrolled: 256 steps of a bidirectional LSTM are 8,213 layers, a
#: network TensorRT builds (engines of tens of thousands of layers are common in
#: transformers); longer sequences want ILoopLayer.
MAX_STEPS = 256

# ONNX activation name (lower case) -> ActivationType member ("": affine, which has none and
# is built from elementwise layers). Alphas, betas and their defaults are the IR's
# (compiler.ops.nn.rnn_activation_params); where the IR's function takes no parameter,
# TensorRT's is fixed at the value in _FIXED.
_ACTIVATIONS: dict[str, str] = {
    "sigmoid": "SIGMOID", "tanh": "TANH", "relu": "RELU", "leakyrelu": "LEAKY_RELU",
    "thresholdedrelu": "THRESHOLDED_RELU", "scaledtanh": "SCALED_TANH",
    "hardsigmoid": "HARD_SIGMOID", "elu": "ELU", "softsign": "SOFTSIGN",
    "softplus": "SOFTPLUS", "affine": ""}
# softplus is log(1 + e^x); TensorRT's SOFTPLUS is alpha * log(e^(beta * x) + 1).
_FIXED = {"softplus": (1.0, 1.0)}


def _activations(node: Node) -> list[str]:
    ndir = 2 if node.attrs.get("direction") == "bidirectional" else 1
    acts = node.attrs.get("activations")
    return [str(a) for a in acts] if acts else list(RNN_SPEC[node.op][1]) * ndir


def _check(node: Node) -> str | None:
    x = node.input(0)
    if x is None or x.type.shape is None or len(x.type.shape) != 3:
        return "input X without a 3-D shape"
    for i, d in enumerate(x.type.shape):
        if not isinstance(d, int):
            return (f"dynamic dim {i} ('{d}') of %{x.name} reaches a recurrent op, which is "
                    "unrolled over static shapes: TensorRT needs its size at build time "
                    "here; fix it with --input-shape")
    shape = static_shape(x.type.shape)
    assert shape is not None
    if x.type.dtype not in (DType.F32, DType.F16):
        return f"element type {x.type.dtype} (float32 and float16 are converted)"
    layout = int(node.attrs.get("layout") or 0)
    if layout not in (0, 1):
        return f"layout {layout} (ONNX has 0 and 1)"
    seq = shape[1] if layout else shape[0]
    if seq < 1:
        return "an empty sequence"
    if seq > MAX_STEPS:
        return (f"a sequence of {seq} steps; the converter unrolls at most {MAX_STEPS} "
                "(shorten the input or split the sequence)")
    direction = node.attrs.get("direction", "forward")
    if direction not in ("forward", "reverse", "bidirectional"):
        return f"direction {direction!r}"
    weights = (1, 2, 3, 7) if node.op == "lstm" else (1, 2, 3)
    why = const_input_reason(node, *weights)
    if why is not None:
        return why
    acts = _activations(node)
    unknown = [a for a in acts if a.lower() not in _ACTIVATIONS]
    if unknown:
        return f"activation {unknown[0]!r}"
    if len(acts) != len(RNN_SPEC[node.op][1]) * (2 if direction == "bidirectional" else 1):
        return f"{len(acts)} activations for direction {direction!r}"
    lens = node.input(4)
    if lens is not None:
        if lens.const_value is None:
            return ("sequence_lens computed at run time (the unrolled network runs every "
                    "sequence to its full length)")
        if not np.all(np.asarray(lens.const_value) == seq):
            return (f"sequence_lens {np.asarray(lens.const_value).tolist()} shorter than the "
                    f"{seq} steps (ragged batches are not unrolled)")
    return None


class _Step:
    """Layer helpers of one node. Layers are named ``<source layer>/<tag>``, the tag saying
    direction, step and gate (``0/t3/i``: direction 0, step 3, input gate); constants
    ``<first output>/<tag>``."""

    def __init__(self, ctx: ConversionContext, node: Node):
        self.ctx, self.node = ctx, node
        self.E = ctx.trt.ElementWiseOperation
        self.acts = _activations(node)
        self.params = rnn_activation_params(self.acts, node.attrs.get("activation_alpha"),
                                            node.attrs.get("activation_beta"))
        self.out = node.outputs[0].name if node.outputs else node.label
        self.consts: dict[str, tensorrt.ITensor] = {}
        self.states: dict[str, tensorrt.ITensor] = {}
        # Weights take X's type (a strongly typed network mixes no types); in an fp16
        # network float32 means HALF and ctx.weights makes them half.
        x = node.input(0)
        self.float = np.float16 if x is not None and x.type.dtype == DType.F16 else np.float32

    def const(self, array: Any, tag: str) -> tensorrt.ITensor:
        """A float constant named ``<output>/<tag>``, made once per tag (weights that every
        step reads are one constant layer)."""
        if tag not in self.consts:
            self.consts[tag] = self.ctx.constant(np.asarray(array, self.float),
                                                 f"{self.out}/{tag}")
        return self.consts[tag]

    def ew(self, a: tensorrt.ITensor, b: tensorrt.ITensor, op: tensorrt.ElementWiseOperation,
           tag: str) -> tensorrt.ITensor:
        return self.ctx.elementwise(a, b, op, self.node, tag)

    def slice(self, t: tensorrt.ITensor, axis: int, start: int, size: int,
              tag: str) -> tensorrt.ITensor:
        shape = self.ctx.shape(t)
        begin = [0] * len(shape)
        begin[axis], shape[axis] = start, size
        layer = self.ctx.network.add_slice(t, self.ctx.dims(begin), self.ctx.dims(shape),
                                           self.ctx.dims([1] * len(shape)))
        self.ctx.name(layer, self.node, tag)
        return layer.get_output(0)

    def matmul(self, a: tensorrt.ITensor, b: tensorrt.ITensor, tag: str) -> tensorrt.ITensor:
        M = self.ctx.trt.MatrixOperation
        layer = self.ctx.network.add_matrix_multiply(a, M.NONE, b, M.NONE)
        self.ctx.name(layer, self.node, tag)
        return layer.get_output(0)

    def concat(self, ts: list[tensorrt.ITensor], axis: int, tag: str) -> tensorrt.ITensor:
        if len(ts) == 1:
            return ts[0]
        layer = self.ctx.network.add_concatenation(ts)
        layer.axis = axis
        self.ctx.name(layer, self.node, tag)
        return layer.get_output(0)

    def act(self, t: tensorrt.ITensor, index: int, tag: str) -> tensorrt.ITensor:
        """Activation number ``index`` of the node's list applied to ``t``."""
        name = self.acts[index].lower()
        kind = _ACTIVATIONS[name]
        alpha, beta = _FIXED.get(name, self.params[index])
        if not kind:  # affine: alpha * x + beta
            a = self.const(np.full((1, 1, 1), alpha), f"alpha{index}")
            b = self.const(np.full((1, 1, 1), beta), f"beta{index}")
            return self.ew(self.ew(t, a, self.E.PROD, tag), b, self.E.SUM, f"{tag}/beta")
        return self.ctx.activation(t, getattr(self.ctx.trt.ActivationType, kind), self.node,
                                   alpha, beta, suffix=tag)

    def clip(self, t: tensorrt.ITensor, tag: str) -> tensorrt.ITensor:
        c = self.node.attrs.get("clip")
        if c is None:
            return t
        return self.ctx.activation(t, self.ctx.trt.ActivationType.CLIP, self.node,
                                   -float(c), float(c), suffix=f"{tag}/clip")

    def state(self, i: int, d: int, layout: int, batch: int, hidden: int,
              tag: str) -> tensorrt.ITensor:
        """Direction ``d`` of initial state input ``i`` as ``[1, batch, H]`` (zeros when
        absent)."""
        v = self.node.input(i)
        if v is None:
            return self.const(np.zeros((1, batch, hidden)), f"{tag}0")
        key = f"{tag}0/layout0"
        if key not in self.states:
            t = self.ctx.tensor(v)
            if layout:  # [batch, ndir, H] -> [ndir, batch, H]
                t = self.ctx.transpose(t, (1, 0, 2), self.node, key)
            self.states[key] = t
        return self.slice(self.states[key], 0, d, 1, f"{d}/{tag}0")


def _weights(ctx: ConversionContext, node: Node, i: int) -> np.ndarray:
    arr = ctx.const_array(node, i)
    assert arr is not None  # the capability check refuses computed weights
    return np.asarray(arr, np.float32)


def _convert(ctx: ConversionContext, node: Node) -> None:
    op = node.op
    gates, defaults = RNN_SPEC[op]
    s = _Step(ctx, node)
    layout = int(node.attrs.get("layout") or 0)
    direction = str(node.attrs.get("direction") or "forward")
    x = ctx.tensor(node.input(0))
    if layout:  # [batch, seq, in] -> [seq, batch, in]
        x = ctx.transpose(x, (1, 0, 2), node, "x/layout")
    seq, batch, _ = ctx.shape(x)
    w, r = _weights(ctx, node, 1), _weights(ctx, node, 2)
    ndir, hidden = w.shape[0], r.shape[-1]
    b = ctx.const_array(node, 3)
    bias = (np.zeros((ndir, 2 * gates * hidden), np.float32) if b is None
            else np.asarray(b, np.float32))
    p = ctx.const_array(node, 7) if op == "lstm" else None
    na = len(defaults)
    ys: list[tensorrt.ITensor] = []
    hs: list[tensorrt.ITensor] = []
    cs: list[tensorrt.ITensor] = []
    for d in range(ndir):
        reverse = direction == "reverse" or (direction == "bidirectional" and d == 1)
        wb, rb = bias[d, :gates * hidden], bias[d, gates * hidden:]
        folded = wb + rb
        if op == "gru":  # the reset gate multiplies Rb_h: keep it out of the projection
            folded = wb + np.concatenate([rb[:2 * hidden], np.zeros(hidden, np.float32)])
        # Input projection of every step at once: [seq, batch, in] x [1, in, G*H].
        xw = s.matmul(x, s.const(w[d].T[None], f"{d}/W"), f"{d}/xW")
        xw = s.ew(xw, s.const(folded[None, None], f"{d}/bias"), s.E.SUM, f"{d}/xW+b")
        h = s.state(5, d, layout, batch, hidden, "h")
        c = s.state(6, d, layout, batch, hidden, "c") if op == "lstm" else None
        rt = r[d].T[None]  # [1, H, G*H]
        step_ys: dict[int, tensorrt.ITensor] = {}
        steps = range(seq - 1, -1, -1) if reverse else range(seq)
        for t in steps:
            tag = f"{d}/t{t}/"
            xt = s.slice(xw, 0, t, 1, tag + "x")  # [1, batch, G*H]
            f = [na * d + k for k in range(na)]  # this direction's activation indices
            if op == "gru":
                h = _gru_step(s, node, xt, h, rt, rb[2 * hidden:], d, hidden, f, tag)
            elif op == "lstm":
                assert c is not None
                h, c = _lstm_step(s, node, xt, h, c, rt, p, d, hidden, f, tag)
            else:
                g = s.ew(xt, s.matmul(h, s.const(rt, f"{d}/R"), tag + "hR"), s.E.SUM,
                         tag + "gates")
                h = s.act(s.clip(g, tag + "gates"), f[0], tag + "h")
            step_ys[t] = h
        ys.append(s.concat([step_ys[t] for t in range(seq)], 0, f"{d}/Y"))  # [seq, batch, H]
        hs.append(h)
        if c is not None:
            cs.append(c)
    y = s.concat(ys, 2, "Y/directions") if ndir > 1 else ys[0]
    # [seq, batch, ndir*H] -> [seq, ndir, batch, H]: ONNX's Y.
    y = ctx.transpose(ctx.reshape(y, (seq, batch, ndir, hidden), node, "Y/split"),
                      (0, 2, 1, 3), node, "Y")
    finals = [s.concat(hs, 0, "Y_h")] + ([s.concat(cs, 0, "Y_c")] if cs else [])
    if layout:
        y = ctx.transpose(y, (2, 0, 1, 3), node, "Y/layout")
        finals = [ctx.transpose(state, (1, 0, 2), node, f"Y_{k}/layout")
                  for state, k in zip(finals, "hc")]
    for i, out in enumerate([y, *finals][:len(node.outputs)]):
        ctx.set_output(node, out, i)


def _gru_step(s: _Step, node: Node, xt: tensorrt.ITensor, h: tensorrt.ITensor, rt: np.ndarray,
              rb_h: np.ndarray, d: int, hidden: int, f: list[int],
              tag: str) -> tensorrt.ITensor:
    """One GRU step (ONNX GRU, gates z, r, h); ``xt`` holds x W^T + Wb + [Rb_z, Rb_r, 0]."""
    E = s.E
    x_zr = s.slice(xt, 2, 0, 2 * hidden, tag + "x_zr")
    x_h = s.slice(xt, 2, 2 * hidden, hidden, tag + "x_h")
    rb = s.const(rb_h[None, None], f"{d}/Rb_h")
    if node.attrs.get("linear_before_reset"):
        hr = s.matmul(h, s.const(rt, f"{d}/R"), tag + "hR")
        h_zr = s.slice(hr, 2, 0, 2 * hidden, tag + "h_zr")
        h_h = s.slice(hr, 2, 2 * hidden, hidden, tag + "h_h")
        h_h = s.ew(h_h, rb, E.SUM, tag + "h_h+b")
    else:
        h_zr = s.matmul(h, s.const(rt[:, :, :2 * hidden], f"{d}/R_zr"), tag + "hR_zr")
    zr = s.ew(x_zr, h_zr, E.SUM, tag + "zr")
    z = s.act(s.clip(s.slice(zr, 2, 0, hidden, tag + "z_pre"), tag + "z"), f[0], tag + "z")
    r = s.act(s.clip(s.slice(zr, 2, hidden, hidden, tag + "r_pre"), tag + "r"), f[0], tag + "r")
    if node.attrs.get("linear_before_reset"):
        gate = s.ew(r, h_h, E.PROD, tag + "r*hR_h")
    else:
        rh = s.ew(r, h, E.PROD, tag + "r*h")
        gate = s.ew(s.matmul(rh, s.const(rt[:, :, 2 * hidden:], f"{d}/R_h"), tag + "rhR_h"),
                    rb, E.SUM, tag + "rhR_h+b")
    h_new = s.act(s.clip(s.ew(x_h, gate, E.SUM, tag + "h_pre"), tag + "h_pre"), f[1],
                  tag + "h~")
    # (1 - z) * h~ + z * h, as h~ + z * (h - h~)
    return s.ew(h_new, s.ew(z, s.ew(h, h_new, E.SUB, tag + "h-h~"), E.PROD, tag + "z*"),
                E.SUM, tag + "h")


def _lstm_step(s: _Step, node: Node, xt: tensorrt.ITensor, h: tensorrt.ITensor,
               c: tensorrt.ITensor, rt: np.ndarray, p: np.ndarray | None, d: int, hidden: int,
               f: list[int], tag: str) -> tuple[tensorrt.ITensor, tensorrt.ITensor]:
    """One LSTM step (ONNX LSTM, gates i, o, f, c; peepholes i, o, f)."""
    E = s.E
    g = s.ew(xt, s.matmul(h, s.const(rt, f"{d}/R"), tag + "hR"), E.SUM, tag + "gates")
    pd = None if p is None else np.asarray(p, np.float32)[d]

    def gate(k: int, name: str, cell: tensorrt.ITensor) -> tensorrt.ITensor:
        pre = s.slice(g, 2, k * hidden, hidden, tag + name + "_pre")
        if pd is not None:
            peep = s.const(pd[k * hidden:(k + 1) * hidden][None, None], f"{d}/P{name}")
            pre = s.ew(pre, s.ew(cell, peep, E.PROD, tag + name + "_peep"), E.SUM,
                       tag + name + "+peep")
        return s.act(s.clip(pre, tag + name), f[0], tag + name)  # clip after the peephole

    i_t = gate(0, "i", c)
    if node.attrs.get("input_forget"):
        one = s.const(np.ones((1, 1, 1)), "one")
        f_t = s.ew(one, i_t, E.SUB, tag + "f")
    else:
        f_t = gate(2, "f", c)
    cand = s.act(s.clip(s.slice(g, 2, 3 * hidden, hidden, tag + "c_pre"), tag + "c~"), f[1],
                 tag + "c~")
    c_new = s.ew(s.ew(f_t, c, E.PROD, tag + "f*c"), s.ew(i_t, cand, E.PROD, tag + "i*c~"),
                 E.SUM, tag + "c")
    o_t = gate(1, "o", c_new)
    h_new = s.ew(o_t, s.act(c_new, f[2], tag + "h_act"), E.PROD, tag + "h")
    return h_new, c_new


for _op in RNN_SPEC:
    converter(_op, supports=_check)(_convert)
