"""Per-op lowerings of TFLite builtin operators into IR ops.

Each lowering is ``fn(c, op)`` where ``c`` is the converter of
:mod:`compiler.frontends.tflite.converter` (tensor access, layout bookkeeping, node emission) and
``op`` an :class:`~compiler.frontends.tflite.converter.OpView`. Lowerings read inputs with
``c.get(i, layout)`` (real-valued: quantized tensors come dequantized) and record results
with ``c.emit(..., out=i, layout=...)`` (which re-quantizes quantized outputs).

Layout rule: conv/pool/resize/depth-space ops compute in NCHW; layout-neutral ops keep the
layout their (non-constant) inputs already have; everything else reads NHWC.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ...ir.types import DType
from .. import strided_slice

NHWC, NCHW = "nhwc", "nchw"
TO_NCHW = (0, 3, 1, 2)
INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min

LOWERINGS: dict[str, Callable[[Any, Any], None]] = {}
SUPPORTED_OPS: dict[str, str] = {}

_FUSED = {0: "", 1: "relu", 2: "relu_n1_to_1", 3: "relu6", 4: "tanh"}


def lowers(*kinds: str, note: str) -> Callable:
    def wrap(fn: Callable) -> Callable:
        for k in kinds:
            LOWERINGS[k] = fn
            SUPPORTED_OPS[k] = note
        return fn

    return wrap


def _err(c: Any, msg: str) -> Exception:
    from .converter import TfliteImportError

    return TfliteImportError(f"{c.label}: {c.where}: {msg}")


def fused(c: Any, op: Any) -> str:
    code = int(op.opt("fusedActivationFunction", 0) or 0)
    if code not in _FUSED:
        raise _err(c, f"fused activation {code} (SIGN_BIT) is not supported")
    return _FUSED[code]


def apply_act(c: Any, v: Any, act: str) -> Any:
    """``act`` as a separate node after ``v`` (for ops without an ``activation`` attr)."""
    if not act:
        return v
    if act == "relu":
        return c.node("relu", [v])
    if act == "tanh":
        return c.node("tanh", [v])
    lo, hi = (0.0, 6.0) if act == "relu6" else (-1.0, 1.0)
    return _clip(c, v, lo, hi)


def _clip(c: Any, v: Any, lo: float | None, hi: float | None) -> Any:
    dt = v.type.dtype
    mn = c.scalar(lo, dt, "min") if lo is not None else None
    mx = c.scalar(hi, dt, "max") if hi is not None else None
    return c.node("clip", [v, mn, mx])


def _axis(a: int, rank: int) -> int:
    return a + rank if a < 0 else a


def _out(op: Any, k: int = 0) -> int:
    return op.outputs[k]


# -- elementwise ---------------------------------------------------------------------------

_BINARY = {"ADD": "add", "SUB": "sub", "MUL": "mul", "DIV": "div"}


@lowers("ADD", "SUB", "MUL", "DIV", note="add/sub/mul/div with the fused activation as `activation`")
def _binary(c, op):
    a, b = op.input(0), op.input(1)
    out = _out(op)
    r = c.rank(out)
    lay = c.pick_layout([a, b], r)
    act = fused(c, op)
    c.emit(_BINARY[op.kind], [c.bcast(a, lay, r), c.bcast(b, lay, r)],
           {"activation": act} if act else {}, out=out, layout=lay)


_BINARY_PLAIN = {
    "MAXIMUM": "max", "MINIMUM": "min", "POW": "pow", "EQUAL": "equal", "LESS": "less",
    "LESS_EQUAL": "less_or_equal", "GREATER": "greater", "GREATER_EQUAL": "greater_or_equal",
    "LOGICAL_AND": "and", "LOGICAL_OR": "or",
}


@lowers(*_BINARY_PLAIN, note="the matching broadcasting IR op (max, min, pow, equal, less, ...)")
def _binary_plain(c, op):
    a, b = op.input(0), op.input(1)
    out = _out(op)
    r = c.rank(out)
    lay = c.pick_layout([a, b], r)
    c.emit(_BINARY_PLAIN[op.kind], [c.bcast(a, lay, r), c.bcast(b, lay, r)], out=out, layout=lay)


@lowers("NOT_EQUAL", note="not(equal)")
def _not_equal(c, op):
    a, b = op.input(0), op.input(1)
    e = c.node("equal", [c.get(a), c.get(b)])
    c.emit("not", [e], out=_out(op))


@lowers("SQUARED_DIFFERENCE", note="sub then mul by itself")
def _sq_diff(c, op):
    out = _out(op)
    r = c.rank(out)
    a, b = op.input(0), op.input(1)
    lay = c.pick_layout([a, b], r)
    d = c.node("sub", [c.bcast(a, lay, r), c.bcast(b, lay, r)])
    c.emit("mul", [d, d], out=out, layout=lay)


@lowers("FLOOR_DIV", note="div then floor (float tensors)")
def _floor_div(c, op):
    out = _out(op)
    if not c.dtype(out).is_float:
        raise _err(c, "FLOOR_DIV on integer tensors is not supported")
    d = c.node("div", [c.get(op.input(0)), c.get(op.input(1))])
    c.emit("floor", [d], out=out)


_UNARY = {
    "RELU": "relu", "LOGISTIC": "sigmoid", "TANH": "tanh", "HARD_SWISH": "hard_swish",
    "EXP": "exp", "LOG": "log", "SQRT": "sqrt", "NEG": "neg", "ABS": "abs", "FLOOR": "floor",
    "CEIL": "ceil", "SIN": "sin", "COS": "cos", "ROUND": "round", "SIGN": "sign",
    "LOGICAL_NOT": "not", "ELU": "elu",
}


def _unary_layout(c, x):
    return c.layout(x) if not c.is_const(x) else NHWC


@lowers(*_UNARY, note="the matching IR activation/math op (LOGISTIC -> sigmoid), layout kept")
def _unary(c, op):
    x = op.input(0)
    lay = _unary_layout(c, x)
    c.emit(_UNARY[op.kind], [c.get(x, lay)], out=_out(op), layout=lay)


@lowers("RSQRT", note="reciprocal(sqrt)")
def _rsqrt(c, op):
    x = op.input(0)
    lay = _unary_layout(c, x)
    s = c.node("sqrt", [c.get(x, lay)])
    c.emit("reciprocal", [s], out=_out(op), layout=lay)


@lowers("SQUARE", note="mul(x, x)")
def _square(c, op):
    x = op.input(0)
    lay = _unary_layout(c, x)
    v = c.get(x, lay)
    c.emit("mul", [v, v], out=_out(op), layout=lay)


_CLIPS = {"RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0), "RELU_0_TO_1": (0.0, 1.0)}


@lowers(*_CLIPS, note="clip with constant bounds")
def _clip_op(c, op):
    x = op.input(0)
    lay = _unary_layout(c, x)
    lo, hi = _CLIPS[op.kind]
    v = c.get(x, lay)
    c.emit("clip", [v, c.scalar(lo, v.type.dtype, "min"), c.scalar(hi, v.type.dtype, "max")],
           out=_out(op), layout=lay)


@lowers("LEAKY_RELU", note="leaky_relu(alpha)")
def _leaky(c, op):
    x = op.input(0)
    lay = _unary_layout(c, x)
    c.emit("leaky_relu", [c.get(x, lay)], {"alpha": float(op.opt("alpha", 0.2))}, out=_out(op), layout=lay)


@lowers("GELU", note="gelu (approximate -> 'tanh')")
def _gelu(c, op):
    x = op.input(0)
    lay = _unary_layout(c, x)
    c.emit("gelu", [c.get(x, lay)], {"approximate": "tanh" if op.opt("approximate", False) else "none"},
           out=_out(op), layout=lay)


@lowers("PRELU", note="prelu with the slope broadcast into the data's layout")
def _prelu(c, op):
    x, alpha = op.input(0), op.input(1)
    out = _out(op)
    r = c.rank(out)
    lay = c.pick_layout([x, alpha], r)
    c.emit("prelu", [c.bcast(x, lay, r), c.bcast(alpha, lay, r)], out=out, layout=lay)


@lowers("CAST", note="cast to the output tensor's type")
def _cast(c, op):
    x, out = op.input(0), _out(op)
    lay = _unary_layout(c, x)
    c.emit("cast", [c.get(x, lay)], {"to": c.dtype(out).value}, out=out, layout=lay)


@lowers("DEQUANTIZE", note="float16 constant: const f16 + cast f32; int8: dequantize")
def _dequantize(c, op):
    from .converter import _ConstSrc

    x, out = op.input(0), _out(op)
    if c.is_const(x):
        src = c.constsrc[x]
        if c.dtype(x) == DType.F16:
            c.constsrc[out] = _ConstSrc(src.array, None, f16=True)
            return
        if c.is_quant(x):
            c.constsrc[out] = _ConstSrc(src.array, c.quant(x))
            return
    lay = _unary_layout(c, x)
    v = c.get(x, lay)  # real value: already dequantized when quantized
    if v.type.dtype != c.dtype(out):
        c.emit("cast", [v], {"to": c.dtype(out).value}, out=out, layout=lay)
    else:
        c.set_out(out, v, lay)


@lowers("QUANTIZE", note="quantize (requantize for integer inputs)")
def _quantize(c, op):
    x, out = op.input(0), _out(op)
    lay = _unary_layout(c, x)
    c.set_out(out, c.get(x, lay), lay)


@lowers("DENSIFY", note="the sparse constant is decoded at import; DENSIFY reads it (identity)")
def _densify(c, op):
    x, out = op.input(0), _out(op)
    if c.is_const(x):
        c.constsrc[out] = c.constsrc[x]
        return
    c.set_out(out, c.get(x, c.layout(x)), c.layout(x))


@lowers("SELECT", "SELECT_V2", note="where")
def _select(c, op):
    cond, a, b = op.input(0), op.input(1), op.input(2)
    cv = c.get(cond)
    r = c.rank(a)
    if op.kind == "SELECT" and c.rank(cond) == 1 and r > 1:  # a 1-D condition picks rows
        cv = c.node("reshape", [cv, c.i64([-1] + [1] * (r - 1))])
    c.emit("where", [cv, c.get(a), c.get(b)], out=_out(op))


# -- conv / pool ---------------------------------------------------------------------------


def _same_pads(in_sizes, kernel, strides, dilations):
    """TFLite SAME padding (extra at the end) as ONNX pads; None if a size is unknown."""
    begins, ends = [], []
    for n, k, s, d in zip(in_sizes, kernel, strides, dilations):
        if not isinstance(n, int):
            return None
        out = -(-n // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
        begins.append(total // 2)
        ends.append(total - total // 2)
    return begins + ends


def _spatial_attrs(c, x, kernel, strides, dilations, padding):
    attrs: dict[str, Any] = {"strides": list(strides), "dilations": list(dilations)}
    if int(padding) == 1:  # VALID
        attrs["pads"] = [0, 0, 0, 0]
        return attrs
    shape = c.get(x, NCHW).type.shape
    pads = _same_pads(shape[2:] if shape else (None, None), kernel, strides, dilations)
    if pads is None:
        attrs["auto_pad"] = "SAME_UPPER"
    else:
        attrs["pads"] = pads
    return attrs


def _bias(c, op, k):
    b = op.input(k)
    return c.get(b) if b >= 0 else None


def _conv_attrs(c, op, group_of) -> tuple[Any, Any, dict]:
    """(x, w, attrs) shared by CONV_2D and DEPTHWISE_CONV_2D: pads, strides, dilations,
    kernel shape, fused activation, and ``group_of(c_in, weight_shape)``."""
    x, w = op.input(0), op.input(1)
    ws = c.shape(w)
    strides = (int(op.opt("strideH", 1)), int(op.opt("strideW", 1)))
    dil = (int(op.opt("dilationHFactor", 1)), int(op.opt("dilationWFactor", 1)))
    attrs = _spatial_attrs(c, x, ws[1:3], strides, dil, op.opt("padding", 0))
    attrs.update({"group": int(group_of(c.shape(x)[3], ws)), "kernel_shape": [ws[1], ws[2]]})
    act = fused(c, op)
    if act:
        attrs["activation"] = act
    return x, w, attrs


@lowers("CONV_2D", note="NCHW conv (weights OHWI -> OIHW, group = C_in / I)")
def _conv(c, op):
    x, w, attrs = _conv_attrs(
        c, op, lambda cin, ws: cin // ws[3] if ws[3] and cin % ws[3] == 0 else 1
    )
    c.emit("conv", [c.get(x, NCHW), c.weight(w, TO_NCHW), _bias(c, op, 2)], attrs, out=_out(op), layout=NCHW)


@lowers("DEPTHWISE_CONV_2D", note="NCHW grouped conv (weights 1HW(C*M) -> (C*M)1HW, group = C)")
def _dwconv(c, op):
    x, w, attrs = _conv_attrs(c, op, lambda cin, ws: cin)
    c.emit("conv", [c.get(x, NCHW), c.weight(w, (3, 0, 1, 2)), _bias(c, op, 2)], attrs,
           out=_out(op), layout=NCHW)


@lowers("TRANSPOSE_CONV", note="NCHW conv_transpose (weights OHWI -> IOHW), pads from output_shape")
def _tconv(c, op):
    oshape = [int(v) for v in c.const_array(op.input(0), "output_shape")]
    w, x = op.input(1), op.input(2)
    ws = c.shape(w)
    xs = c.shape(x)
    strides = (int(op.opt("strideH", 1)), int(op.opt("strideW", 1)))
    pads_b, pads_e, opad = [], [], []
    for n, k, s, o in zip(xs[1:3], ws[1:3], strides, oshape[1:3]):
        total = (n - 1) * s + k - o
        b = max(total, 0) // 2 if int(op.opt("padding", 0)) == 0 else 0
        e = total - b
        opad.append(max(-e, 0))
        pads_e.append(max(e, 0))
        pads_b.append(b)
    attrs: dict[str, Any] = {"strides": list(strides), "pads": pads_b + pads_e,
                             "kernel_shape": [ws[1], ws[2]]}
    if any(opad):
        attrs["output_padding"] = opad
    act = fused(c, op)
    if act:
        attrs["activation"] = act
    c.emit("conv_transpose", [c.get(x, NCHW), c.weight(w, (3, 0, 1, 2)), _bias(c, op, 3)], attrs,
           out=_out(op), layout=NCHW)


@lowers("AVERAGE_POOL_2D", "MAX_POOL_2D", note="NCHW avg_pool (padding not counted) / max_pool")
def _pool(c, op):
    x = op.input(0)
    k = (int(op.opt("filterHeight", 1)), int(op.opt("filterWidth", 1)))
    strides = (int(op.opt("strideH", 1)), int(op.opt("strideW", 1)))
    attrs = _spatial_attrs(c, x, k, strides, (1, 1), op.opt("padding", 0))
    attrs.pop("dilations")
    attrs["kernel_shape"] = list(k)
    irop = "avg_pool" if op.kind == "AVERAGE_POOL_2D" else "max_pool"
    if irop == "avg_pool":
        attrs["count_include_pad"] = 0
    act = fused(c, op)
    v = c.node(irop, [c.get(x, NCHW)], attrs)
    if act:
        v = apply_act(c, v, act)
    c.set_out(_out(op), v, NCHW)


@lowers("FULLY_CONNECTED", note="gemm(x, W, b, transB=1) after flattening to [-1, K]")
def _fc(c, op):
    x, w = op.input(0), op.input(1)
    out = _out(op)
    ws = c.shape(w)
    if int(op.opt("weightsFormat", 0) or 0) != 0:
        raise _err(c, "shuffled FULLY_CONNECTED weights are not supported")
    xv = c.get(x)
    if c.rank(x) != 2 or c.shape(x)[1] != ws[1]:
        xv = c.node("reshape", [xv, c.i64([-1, ws[1]])])
    attrs: dict[str, Any] = {"transB": 1}
    act = fused(c, op)
    if act:
        attrs["activation"] = act
    keep = bool(op.opt("keepNumDims", False)) and c.rank(out) != 2
    if not keep:
        c.emit("gemm", [xv, c.get(w), _bias(c, op, 2)], attrs, out=out)
        return
    y = c.node("gemm", [xv, c.get(w), _bias(c, op, 2)], attrs)
    shape = [-1 if d == "?" else d for d in c.sig_shape(out)]
    c.emit("reshape", [y, c.i64(shape)], out=out)


@lowers("BATCH_MATMUL", note="matmul (adj_x/adj_y as transposes of the last two dims)")
def _bmm(c, op):
    a, b = c.get(op.input(0)), c.get(op.input(1))
    for flag, k in (("adjX", 0), ("adjY", 1)):
        if op.opt(flag, False):
            r = c.rank(op.input(k))
            perm = list(range(r - 2)) + [r - 1, r - 2]
            v = c.node("transpose", [a if k == 0 else b], {"perm": perm})
            a, b = (v, b) if k == 0 else (a, v)
    c.emit("matmul", [a, b], out=_out(op))


# -- reductions ----------------------------------------------------------------------------

_REDUCE = {"MEAN": "reduce_mean", "SUM": "reduce_sum", "REDUCE_MAX": "reduce_max",
           "REDUCE_MIN": "reduce_min", "REDUCE_PROD": "reduce_prod"}


@lowers(*_REDUCE, note="reduce_* with constant axes (in the data's layout when possible)")
def _reduce(c, op):
    x = op.input(0)
    r = c.rank(x)
    axes = sorted({_axis(int(a), r) for a in np.asarray(c.const_array(op.input(1), "axes")).ravel()})
    keep = int(bool(op.opt("keepDims", False)))
    attrs = {"keepdims": keep}
    if not axes:
        attrs["noop_with_empty_axes"] = 1
    lay = NHWC
    if r == 4 and c.layout(x) == NCHW and not c.is_const(x):
        nchw_axes = sorted(TO_NCHW.index(a) for a in axes)
        rest = [d for d in TO_NCHW if d not in axes]
        if keep or rest == sorted(rest):
            lay = NCHW
            axes = nchw_axes
    out_lay = lay if keep else NHWC
    v = c.node(_REDUCE[op.kind], [c.get(x, lay), c.i64(axes, "axes")], attrs)
    c.set_out(_out(op), v, out_lay)


@lowers("ARG_MAX", "ARG_MIN", note="arg_max/arg_min (keepdims=0) + cast to the output type")
def _arg(c, op):
    x = op.input(0)
    axis = _axis(int(np.asarray(c.const_array(op.input(1), "axis")).ravel()[0]), c.rank(x))
    v = c.node("arg_max" if op.kind == "ARG_MAX" else "arg_min", [c.get(x)], {"axis": axis, "keepdims": 0})
    out = _out(op)
    c.emit("cast", [v], {"to": c.dtype(out).value}, out=out)


@lowers("SOFTMAX", note="softmax over the last axis (beta as a prior mul)")
def _softmax(c, op):
    x = c.get(op.input(0))
    beta = float(op.opt("beta", 1.0) or 1.0)
    if beta != 1.0:
        x = c.node("mul", [x, c.scalar(beta, x.type.dtype, "beta")])
    c.emit("softmax", [x], {"axis": -1}, out=_out(op))


@lowers("LOG_SOFTMAX", note="log_softmax over the last axis")
def _log_softmax(c, op):
    c.emit("log_softmax", [c.get(op.input(0))], {"axis": -1}, out=_out(op))


# -- shape and data movement ---------------------------------------------------------------


def _pads_of(c, op, x, lay):
    p = np.asarray(c.const_array(op.input(1), "paddings"), np.int64).reshape(-1, 2)
    if lay == NCHW:
        p = p[list(TO_NCHW)]
    return list(p[:, 0]) + list(p[:, 1])


@lowers("PAD", "PADV2", note="pad mode=constant (in the data's layout)")
def _pad(c, op):
    x = op.input(0)
    lay = _unary_layout(c, x)
    pads = _pads_of(c, op, x, lay)
    ins = [c.get(x, lay), c.i64(pads, "pads")]
    if op.kind == "PADV2" and op.input(2) >= 0:
        ins.append(c.get(op.input(2)))
        # the constant value must be a scalar of the data's type
        if c.rank(op.input(2)) != 0:
            ins[-1] = c.node("reshape", [ins[-1], c.i64([], "scalar")])
    c.emit("pad", ins, {"mode": "constant"}, out=_out(op), layout=lay)


@lowers("MIRROR_PAD", note="pad mode=reflect; SYMMETRIC as reversed slices + concat")
def _mirror_pad(c, op):
    x = op.input(0)
    lay = _unary_layout(c, x)
    pads = _pads_of(c, op, x, lay)
    v = c.get(x, lay)
    out = _out(op)
    if int(op.opt("mode", 0)) == 0:
        c.emit("pad", [v, c.i64(pads, "pads")], {"mode": "reflect"}, out=out, layout=lay)
        return
    r = len(pads) // 2
    for ax in range(r):
        b, e = int(pads[ax]), int(pads[r + ax])
        if not b and not e:
            continue
        parts = []
        if b:  # x[b-1::-1] along ax
            parts.append(c.node("slice", [v, c.i64([b - 1]), c.i64([INT64_MIN]), c.i64([ax]), c.i64([-1])]))
        parts.append(v)
        if e:  # the last e elements reversed
            parts.append(c.node("slice", [v, c.i64([-1]), c.i64([-e - 1]), c.i64([ax]), c.i64([-1])]))
        v = c.node("concat", parts, {"axis": ax})
    c.set_out(out, v, lay)


@lowers("CONCATENATION", note="concat (in NCHW when the inputs are)")
def _concat(c, op):
    out = _out(op)
    r = c.rank(out)
    axis = _axis(int(op.opt("axis", 0)), r)
    lay = c.pick_layout(op.inputs, r)
    if lay == NCHW:
        axis = TO_NCHW.index(axis)
    v = c.node("concat", [c.bcast(i, lay, r) for i in op.inputs], {"axis": axis})
    v = apply_act(c, v, fused(c, op))
    c.set_out(out, v, lay)


def _shape_input(c, op, k):
    """A shape operand as an i64 value (constant when it is one)."""
    i = op.input(k)
    if c.is_const(i):
        return c.i64(np.asarray(c.const_array(i)).ravel(), "shape"), np.asarray(c.const_array(i)).ravel()
    v = c.get(i)
    if v.is_const:
        a = np.asarray(v.const_value).ravel().astype(np.int64)
        return c.i64(a, "shape"), a
    if v.type.dtype != DType.I64:
        v = c.node("cast", [v], {"to": "i64"})
    return v, None


@lowers("RESHAPE", note="reshape (new shape from the input or the options)")
def _reshape(c, op):
    x, out = op.input(0), _out(op)
    if op.input(1) >= 0:
        sv, arr = _shape_input(c, op, 1)
    else:
        ns = op.opt("newShape")
        if ns is None:
            ns = [-1 if d == "?" else d for d in c.sig_shape(out)]
        arr = np.asarray(ns, np.int64).ravel()
        sv = c.i64(arr, "shape")
    attrs = {"allowzero": 1} if arr is not None and np.any(arr == 0) else {}
    c.emit("reshape", [c.get(x), sv], attrs, out=out)


@lowers("SQUEEZE", note="squeeze")
def _squeeze(c, op):
    dims = op.opt("squeezeDims")
    ins = [c.get(op.input(0))]
    if dims is not None and len(dims):
        ins.append(c.i64([int(d) for d in dims], "axes"))
    c.emit("squeeze", ins, out=_out(op))


@lowers("EXPAND_DIMS", note="unsqueeze")
def _expand_dims(c, op):
    a = int(np.asarray(c.const_array(op.input(1), "axis")).ravel()[0])
    c.emit("unsqueeze", [c.get(op.input(0)), c.i64([a], "axes")], out=_out(op))


@lowers("TRANSPOSE", note="transpose (composed with layout transposes by cancel-transposes)")
def _transpose(c, op):
    perm = [int(p) for p in np.asarray(c.const_array(op.input(1), "perm")).ravel()]
    c.emit("transpose", [c.get(op.input(0))], {"perm": perm}, out=_out(op))


@lowers("SHAPE", note="a constant when the shape is static, else shape + cast")
def _shape(c, op):
    x, out = op.input(0), _out(op)
    t = c.get(x, c.layout(x) if not c.is_const(x) else NHWC)
    if t.type.is_static and c.layout(x) == NHWC:
        c.set_out(out, c.const(np.asarray(t.type.shape, c.dtype(out).numpy), c.name(out)))
        return
    v = c.node("shape", [c.get(x)])
    c.emit("cast", [v], {"to": c.dtype(out).value}, out=out)


@lowers("STRIDED_SLICE", note="slice (+ squeeze for shrink_axis, unsqueeze for new_axis)")
def _strided_slice(c, op):
    x = op.input(0)
    begin = [int(v) for v in np.asarray(c.const_array(op.input(1), "begin")).ravel()]
    end = [int(v) for v in np.asarray(c.const_array(op.input(2), "end")).ravel()]
    strides = ([int(v) for v in np.asarray(c.const_array(op.input(3), "strides")).ravel()]
               if op.input(3) >= 0 else None)
    # A bad spec raises ValueError, which the importer reports with the op's location.
    p = strided_slice.plan(
        c.rank(x), begin, end, strides, int(op.opt("beginMask", 0)), int(op.opt("endMask", 0)),
        int(op.opt("ellipsisMask", 0)), int(op.opt("newAxisMask", 0)),
        int(op.opt("shrinkAxisMask", 0)), offset=bool(op.opt("offset", False)))
    v = c.get(x)
    if p.axes:
        v = c.node("slice", [v, c.i64(p.starts, "starts"), c.i64(p.ends, "ends"),
                             c.i64(p.axes, "axes"), c.i64(p.steps, "steps")])
    if p.squeeze_axes:
        v = c.node("squeeze", [v, c.i64(p.squeeze_axes, "axes")])
    if p.unsqueeze_axes:
        v = c.node("unsqueeze", [v, c.i64(p.unsqueeze_axes, "axes")])
    if v is c.get(x):
        v = c.node("identity", [v])
    c.set_out(_out(op), v)


@lowers("SLICE", note="slice (size -1 = to the end)")
def _slice(c, op):
    begin = [int(v) for v in np.asarray(c.const_array(op.input(1), "begin")).ravel()]
    size = [int(v) for v in np.asarray(c.const_array(op.input(2), "size")).ravel()]
    ends = [INT64_MAX if s < 0 else b + s for b, s in zip(begin, size)]
    c.emit("slice", [c.get(op.input(0)), c.i64(begin, "starts"), c.i64(ends, "ends"),
                     c.i64(list(range(len(begin))), "axes")], out=_out(op))


@lowers("GATHER", note="gather (batch_dims=0)")
def _gather(c, op):
    if int(op.opt("batchDims", 0) or 0) != 0:
        raise _err(c, "GATHER with batch_dims != 0 is not supported")
    x = op.input(0)
    axis = _axis(int(op.opt("axis", 0)), c.rank(x))
    c.emit("gather", [c.get(x), c.get(op.input(1), real=False)], {"axis": axis}, out=_out(op))


@lowers("GATHER_ND", note="gather_nd")
def _gather_nd(c, op):
    c.emit("gather_nd", [c.get(op.input(0)), c.get(op.input(1), real=False)], out=_out(op))


def _split_emit(c, op, x, sizes_v, axis, n):
    lay = NHWC
    if c.rank(x) == 4 and c.layout(x) == NCHW and not c.is_const(x):
        lay = NCHW
        axis = TO_NCHW.index(axis)
    attrs: dict[str, Any] = {"axis": axis}
    if sizes_v is None:
        attrs["num_outputs"] = n
    outs = c.node("split", [c.get(x, lay), sizes_v], attrs, n_out=n)
    outs = outs if isinstance(outs, list) else [outs]
    for o, v in zip(op.outputs, outs):
        c.set_out(o, v, lay)


@lowers("SPLIT", note="split into num_splits equal parts")
def _split(c, op):
    x = op.input(1)
    axis = _axis(int(np.asarray(c.const_array(op.input(0), "axis")).ravel()[0]), c.rank(x))
    _split_emit(c, op, x, None, axis, len(op.outputs))


@lowers("SPLIT_V", note="split with explicit sizes (-1 resolved)")
def _split_v(c, op):
    x = op.input(0)
    axis = _axis(int(np.asarray(c.const_array(op.input(2), "axis")).ravel()[0]), c.rank(x))
    sizes = [int(s) for s in np.asarray(c.const_array(op.input(1), "size_splits")).ravel()]
    if -1 in sizes:
        sizes[sizes.index(-1)] = c.shape(x)[axis] - sum(s for s in sizes if s != -1)
    _split_emit(c, op, x, c.i64(sizes, "split"), axis, len(op.outputs))


@lowers("PACK", note="unsqueeze each input + concat")
def _pack(c, op):
    out = _out(op)
    axis = _axis(int(op.opt("axis", 0)), c.rank(out))
    parts = [c.node("unsqueeze", [c.get(i), c.i64([axis], "axes")]) for i in op.inputs]
    v = parts[0] if len(parts) == 1 else c.node("concat", parts, {"axis": axis})
    c.set_out(out, v)


@lowers("UNPACK", note="split + squeeze each part")
def _unpack(c, op):
    x = op.input(0)
    axis = _axis(int(op.opt("axis", 0)), c.rank(x))
    n = len(op.outputs)
    parts = c.node("split", [c.get(x)], {"axis": axis, "num_outputs": n}, n_out=n)
    parts = parts if isinstance(parts, list) else [parts]
    for o, p in zip(op.outputs, parts):
        c.emit("squeeze", [p, c.i64([axis], "axes")], out=o)


@lowers("TILE", note="tile")
def _tile(c, op):
    rep, _ = _shape_input(c, op, 1)
    c.emit("tile", [c.get(op.input(0)), rep], out=_out(op))


@lowers("BROADCAST_TO", note="expand")
def _broadcast_to(c, op):
    shp, _ = _shape_input(c, op, 1)
    c.emit("expand", [c.get(op.input(0)), shp], out=_out(op))


@lowers("DEPTH_TO_SPACE", "SPACE_TO_DEPTH", note="NCHW depth_to_space/space_to_depth mode=DCR")
def _d2s(c, op):
    irop = "depth_to_space" if op.kind == "DEPTH_TO_SPACE" else "space_to_depth"
    c.emit(irop, [c.get(op.input(0), NCHW)], {"blocksize": int(op.opt("blockSize")), "mode": "DCR"},
           out=_out(op), layout=NCHW)


@lowers("RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR",
        note="NCHW resize over axes [2,3]; align_corners / half_pixel / asymmetric modes")
def _resize(c, op):
    x = op.input(0)
    size = [int(v) for v in np.asarray(c.const_array(op.input(1), "size")).ravel()]
    align = bool(op.opt("alignCorners", False))
    half = bool(op.opt("halfPixelCenters", False))
    ctm = "align_corners" if align else ("half_pixel" if half else "asymmetric")
    if op.kind == "RESIZE_BILINEAR":
        attrs = {"mode": "linear", "coordinate_transformation_mode": ctm}
    else:
        nearest = "round_prefer_ceil" if (align or half) else "floor"
        attrs = {"mode": "nearest", "coordinate_transformation_mode": ctm, "nearest_mode": nearest}
    attrs["axes"] = [2, 3]
    c.emit("resize", [c.get(x, NCHW), None, None, c.i64(size, "sizes")], attrs, out=_out(op), layout=NCHW)


__all__ = ["LOWERINGS", "SUPPORTED_OPS"]
