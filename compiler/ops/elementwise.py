"""Elementwise ops: arithmetic, comparison, logic, math functions, cast, clip, where.

Every op has the semantics of the latest ONNX opset of the op it is named after
(:func:`compiler.ops.onnx_names.ir_name`), with ONNX's input and attribute names.

Contracts:

* Multi-input ops broadcast numpy-style (ONNX multidirectional broadcasting); the output
  shape comes from :func:`compiler.ops.registry.broadcast_shapes`, so symbolic dims flow.
* Inputs that ONNX constrains to one type ``T`` must share an element type; a mismatch is a
  :class:`SchemaError` that says which types met (insert a ``cast``).
* Kernels return exactly the inferred dtype: integer arithmetic stays in its own type
  (wrapping like C), ``div`` on integers truncates toward zero, ``pow`` returns the base's
  type, float16/bfloat16 transcendental functions are computed in float32 and rounded back.
* ``add``/``sub``/``mul``/``div`` take the IR-only ``activation`` attribute (see
  :data:`FUSED_ACTIVATIONS`); :func:`apply_activation` is the one implementation of it and
  other op modules (conv, gemm, matmul) reuse it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from ..ir.types import DType, TensorType
from .registry import InferContext, SchemaError, broadcast_shapes, defop

# -- shared helpers (also used by activation.py and quant.py) ------------------------------

FUSED_ACTIVATIONS = ("", "relu", "relu6", "relu_n1_to_1", "tanh", "sigmoid")

# ONNX TensorProto.DataType codes -> IR element types (those the IR can store).
ONNX_DTYPES: dict[int, DType] = {
    1: DType.F32, 2: DType.U8, 3: DType.I8, 4: DType.U16, 5: DType.I16, 6: DType.I32,
    7: DType.I64, 8: DType.STR, 9: DType.BOOL, 10: DType.F16, 11: DType.F64, 12: DType.U32,
    13: DType.U64, 16: DType.BF16, 21: DType.U4, 22: DType.I4,
}
_ONNX_DTYPE_NAMES = {
    14: "complex64", 15: "complex128", 17: "float8e4m3fn", 18: "float8e4m3fnuz",
    19: "float8e5m2", 20: "float8e5m2fnuz", 23: "float4e2m1", 24: "float8e8m0",
    25: "uint2", 26: "int2",
}


def dtype_from_attr(op: str, field: str, code: Any) -> DType:
    """The element type named by a dtype attribute: an ONNX TensorProto code or IR spelling."""
    if isinstance(code, str):
        try:
            return DType(code)
        except ValueError:
            raise SchemaError(
                f"{op}: attribute '{field}'={code!r} is not an element type "
                f"(use one of {', '.join(d.value for d in DType)} or an ONNX DataType code)"
            ) from None
    code = int(code)
    if code in ONNX_DTYPES:
        return ONNX_DTYPES[code]
    name = _ONNX_DTYPE_NAMES.get(code, f"code {code}")
    raise SchemaError(f"{op}: attribute '{field}' asks for element type {name}, which infercc does not support")


def int_range(dt: DType) -> tuple[int, int]:
    """The representable range of an integer element type (4-bit types included)."""
    if dt == DType.I4:
        return -8, 7
    if dt == DType.U4:
        return 0, 15
    info = np.iinfo(dt.numpy)
    return int(info.min), int(info.max)


def as_dtype(r: Any, dt: np.dtype) -> np.ndarray:
    """``r`` as an ndarray of exactly ``dt`` (ufuncs on 0-d arrays return numpy scalars)."""
    r = np.asarray(r)
    return r if r.dtype == dt else r.astype(dt)


def _is_low_float(dt: np.dtype) -> bool:
    return dt == np.float16 or dt.name == "bfloat16"


def work_float(x: np.ndarray) -> np.ndarray:
    """``x`` widened to float32 when it is float16/bfloat16 (the precision kernels compute in)."""
    return x.astype(np.float32) if _is_low_float(x.dtype) else x


def same_dtype(ctx: InferContext, idx: list[int] | None = None) -> DType:
    """The element type shared by the given present inputs (all by default)."""
    idx = [i for i in (idx if idx is not None else range(ctx.num_inputs)) if ctx.has(i)]
    dts = [ctx.dtype(i) for i in idx]
    if len(set(dts)) > 1:
        shown = ", ".join(f"input {i} is {d}" for i, d in zip(idx, dts))
        raise SchemaError(f"{ctx.op}: inputs must share one element type ({shown}); insert a cast")
    return dts[0]


def infer_broadcast(out: DType | None = None, same: bool = True, args: list[int] | None = None):
    """Inference for broadcasting ops: output dtype ``out`` (default: input 0's)."""

    def infer(ctx: InferContext) -> list[TensorType]:
        if ctx.num_inputs == 0 or not ctx.has(0):
            raise SchemaError(f"{ctx.op}: needs at least one input")
        dt = same_dtype(ctx, args) if same else ctx.dtype(0)
        if "activation" in ctx.attrs:
            check_activation(ctx.op, ctx.attr("activation"))
        shapes = [ctx.shape(i) for i in range(ctx.num_inputs) if ctx.has(i)]
        try:
            shape = broadcast_shapes(*shapes)
        except SchemaError as e:
            raise SchemaError(f"{ctx.op}: {e}") from None
        return [TensorType(out or dt, shape)]

    return infer


def infer_unary(out: DType | None = None, kinds: str | None = None):
    """Inference for one-input elementwise ops; ``kinds`` restricts numpy dtype kinds."""

    def infer(ctx: InferContext) -> list[TensorType]:
        t = ctx.type(0)
        if kinds is not None and t.dtype.numpy.kind not in kinds and t.dtype != DType.BF16:
            raise SchemaError(f"{ctx.op}: input of type {t.dtype} is not supported")
        return [TensorType(out or t.dtype, t.shape)]

    return infer


def check_activation(op: str, name: str) -> None:
    if name not in FUSED_ACTIVATIONS:
        allowed = ", ".join(repr(a) for a in FUSED_ACTIVATIONS)
        raise SchemaError(f"{op}: attribute activation={name!r} is not one of {allowed}")


def apply_activation(y: np.ndarray, name: str) -> np.ndarray:
    """Apply a fused activation (the ``activation`` attribute) keeping ``y``'s dtype."""
    if not name:
        return y
    dt = y.dtype
    if name == "relu":
        r = np.maximum(y, np.zeros((), dt))
    elif name == "relu6":
        r = np.clip(y, np.zeros((), dt), np.asarray(6, dt))
    elif name == "relu_n1_to_1":
        r = np.clip(y, np.asarray(-1, dt), np.ones((), dt))
    elif name == "tanh":
        r = np.tanh(work_float(y))
    elif name == "sigmoid":
        r = sigmoid(work_float(y))
    else:
        check_activation("activation", name)
    return as_dtype(r, dt)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Overflow-free logistic function in ``x``'s float dtype."""
    from scipy.special import expit

    return expit(x)


def _quiet(fn: Callable) -> Callable:
    """Run a kernel with numpy's floating-point warnings off (inf/NaN are valid results)."""

    @functools.wraps(fn)
    def run(inputs, attrs):
        with np.errstate(all="ignore"):
            return fn(inputs, attrs)

    return run


# -- arithmetic ----------------------------------------------------------------------------

_ACT = {"activation": ("str", "")}


def _arith(name: str, onnx: str, ufunc: Callable) -> None:
    @defop(name, inputs=("A", "B"), outputs=("C",), attrs=_ACT, infer=infer_broadcast(),
           summary=f"Elementwise {onnx} with broadcasting (optional fused activation).",
           category="elementwise", quant_role="compute", quant_inputs=(0, 1))
    @_quiet
    def kernel(inputs, attrs):
        a, b = inputs
        return apply_activation(as_dtype(ufunc(a, b), a.dtype), attrs["activation"])


_arith("add", "Add", np.add)
_arith("sub", "Sub", np.subtract)
_arith("mul", "Mul", np.multiply)


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "iu":
        if a.dtype.kind == "u":
            return np.floor_divide(a, b)
        # truncate toward zero (C semantics, as ONNX runtimes do), in integer arithmetic
        q = np.floor_divide(a, b)
        r = np.remainder(a, b)
        return q + ((r != 0) & ((a < 0) ^ (b < 0))).astype(q.dtype)
    if _is_low_float(a.dtype):
        return np.divide(a.astype(np.float32), b.astype(np.float32))
    return np.divide(a, b)


# Quantized, only the dividend is a data operand: division by an int8 value is no kernel a
# target has; division by a float constant is (TFLite: MUL by its reciprocal).
@defop("div", inputs=("A", "B"), outputs=("C",), attrs=_ACT, infer=infer_broadcast(),
       category="elementwise", quant_role="compute", quant_inputs=(0,))
@_quiet
def div(inputs, attrs):
    """Elementwise division; integer division truncates toward zero (optional fused activation)."""
    a, b = inputs
    return apply_activation(as_dtype(_div(a, b), a.dtype), attrs["activation"])


@defop("pow", inputs=("X", "Y"), outputs=("Z",), infer=infer_broadcast(same=False),
       category="elementwise")
@_quiet
def pow_(inputs, attrs):
    """X ** Y with broadcasting; the result has X's type whatever Y's type is."""
    x, y = inputs
    if x.dtype.kind in "iu" and y.dtype.kind in "iu" and np.any(y < 0):
        r = np.power(x.astype(np.float64), y.astype(np.float64))  # C's pow, then truncation
    elif x.dtype.kind in "iu" and y.dtype.kind in "iub":
        r = np.power(x, y.astype(x.dtype))
    else:
        r = np.power(work_float(x), work_float(y) if y.dtype.kind == "f" else y)
    return as_dtype(r, x.dtype)


@defop("mod", inputs=("A", "B"), outputs=("C",), attrs={"fmod": ("int", 0)},
       infer=infer_broadcast(), category="elementwise")
@_quiet
def mod(inputs, attrs):
    """Remainder: fmod=0 takes the divisor's sign (Python %), fmod=1 the dividend's (C fmod)."""
    a, b = inputs
    if attrs["fmod"]:
        r = np.fmod(work_float(a), work_float(b))
    else:
        r = np.mod(work_float(a), work_float(b))
    return as_dtype(r, a.dtype)


def _variadic(name: str, reduce: Callable, summary: str) -> None:
    @defop(name, inputs=("data_0*",), outputs=("out",), infer=infer_broadcast(), summary=summary,
           category="elementwise")
    @_quiet
    def kernel(inputs, attrs):
        if not inputs:
            raise SchemaError(f"{name}: needs at least one input")
        return as_dtype(reduce(inputs), inputs[0].dtype)


def _mean(xs: list[np.ndarray]) -> np.ndarray:
    acc = functools.reduce(np.add, [work_float(x) for x in xs])
    return acc / np.asarray(len(xs), acc.dtype)


_variadic("max", lambda xs: functools.reduce(np.maximum, xs), "Elementwise maximum of 1..N inputs.")
_variadic("min", lambda xs: functools.reduce(np.minimum, xs), "Elementwise minimum of 1..N inputs.")
_variadic("sum", lambda xs: functools.reduce(np.add, [work_float(x) for x in xs]),
          "Elementwise sum of 1..N inputs.")
_variadic("mean", _mean, "Elementwise mean of 1..N inputs.")

# -- comparison and logic ------------------------------------------------------------------


def _binary(name: str, fn: Callable, out: DType | None, summary: str, onnx_in=("A", "B")) -> None:
    @defop(name, inputs=onnx_in, outputs=("C",), infer=infer_broadcast(out), summary=summary,
           category="elementwise")
    @_quiet
    def kernel(inputs, attrs):
        a, b = inputs
        return as_dtype(fn(a, b), np.dtype(bool) if out == DType.BOOL else a.dtype)


_binary("equal", np.equal, DType.BOOL, "A == B elementwise (bool result).")
_binary("less", np.less, DType.BOOL, "A < B elementwise (bool result).")
_binary("less_or_equal", np.less_equal, DType.BOOL, "A <= B elementwise (bool result).")
_binary("greater", np.greater, DType.BOOL, "A > B elementwise (bool result).")
_binary("greater_or_equal", np.greater_equal, DType.BOOL, "A >= B elementwise (bool result).")
_binary("and", np.logical_and, DType.BOOL, "Logical and of two bool tensors.")
_binary("or", np.logical_or, DType.BOOL, "Logical or of two bool tensors.")
_binary("xor", np.logical_xor, DType.BOOL, "Logical xor of two bool tensors.")
_binary("bitwise_and", np.bitwise_and, None, "Bitwise and of two integer tensors.")
_binary("bitwise_or", np.bitwise_or, None, "Bitwise or of two integer tensors.")
_binary("bitwise_xor", np.bitwise_xor, None, "Bitwise xor of two integer tensors.")


def _infer_bit_shift(ctx: InferContext) -> list[TensorType]:
    d = ctx.attr("direction")
    if d not in ("LEFT", "RIGHT"):
        raise SchemaError(f"bit_shift: attribute direction={d!r} must be 'LEFT' or 'RIGHT'")
    return infer_broadcast()(ctx)


@defop("bit_shift", inputs=("X", "Y"), outputs=("Z",), attrs={"direction": ("str",)},
       infer=_infer_bit_shift, category="elementwise")
def bit_shift(inputs, attrs):
    """Shift the bits of unsigned X by Y places, LEFT or RIGHT."""
    x, y = inputs
    fn = np.left_shift if attrs["direction"] == "LEFT" else np.right_shift
    return as_dtype(fn(x, y.astype(x.dtype)), x.dtype)


def _infer_where(ctx: InferContext) -> list[TensorType]:
    if ctx.dtype(0) != DType.BOOL:
        raise SchemaError(f"where: condition must be bool, got {ctx.dtype(0)}; insert a cast")
    return infer_broadcast(same=True, args=[1, 2])(ctx)


@defop("where", inputs=("condition", "X", "Y"), outputs=("output",), infer=_infer_where,
       category="elementwise")
def where(inputs, attrs):
    """Elements of X where condition is true, else of Y (all three broadcast)."""
    c, x, y = inputs
    return as_dtype(np.where(c.astype(bool, copy=False), x, y), x.dtype)


# -- unary math ----------------------------------------------------------------------------


def _unary(name: str, fn: Callable, summary: str, *, out: DType | None = None,
           kinds: str | None = None, widen: bool = True, onnx_io=("X", "Y")) -> None:
    """Register a one-input op; ``widen`` computes float16/bfloat16 in float32."""

    @defop(name, inputs=(onnx_io[0],), outputs=(onnx_io[1],), infer=infer_unary(out, kinds),
           summary=summary, category="elementwise")
    @_quiet
    def kernel(inputs, attrs):
        x = inputs[0]
        r = fn(work_float(x) if widen else x)
        return as_dtype(r, out.numpy if out is not None else x.dtype)


def _erf(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return erf(x)


_F = "f"  # float kinds only
_unary("neg", np.negative, "-X.", widen=False)
_unary("abs", np.abs, "|X|.", widen=False)
_unary("sign", np.sign, "-1, 0 or 1 by the sign of X (NaN stays NaN).", widen=False)
_unary("sqrt", np.sqrt, "Square root.", kinds=_F)
_unary("exp", np.exp, "e ** X.", kinds=_F)
_unary("log", np.log, "Natural logarithm.", kinds=_F)
_unary("reciprocal", np.reciprocal, "1 / X.", kinds=_F)
_unary("floor", np.floor, "Round toward -inf.", kinds=_F, widen=False)
_unary("ceil", np.ceil, "Round toward +inf.", kinds=_F, widen=False)
_unary("round", np.rint, "Round to nearest, ties to even.", kinds=_F)
_unary("erf", _erf, "The error function.", kinds=_F + "iu")
for _name, _fn in [("sin", np.sin), ("cos", np.cos), ("tan", np.tan), ("asin", np.arcsin),
                   ("acos", np.arccos), ("atan", np.arctan), ("sinh", np.sinh), ("cosh", np.cosh),
                   ("asinh", np.arcsinh), ("acosh", np.arccosh), ("atanh", np.arctanh)]:
    _unary(_name, _fn, f"Elementwise {_name}.", kinds=_F, onnx_io=("input", "output"))
_unary("not", np.logical_not, "Logical negation of a bool tensor.", out=DType.BOOL, kinds="b")
_unary("bitwise_not", np.invert, "Bitwise complement of an integer tensor.", kinds="iub", widen=False)
_unary("isnan", np.isnan, "True where X is NaN.", out=DType.BOOL, kinds=_F, widen=False)


@defop("isinf", inputs=("X",), infer=infer_unary(DType.BOOL, _F),
       attrs={"detect_negative": ("int", 1), "detect_positive": ("int", 1)}, category="elementwise")
def isinf(inputs, attrs):
    """True where X is infinite (each sign selectable by detect_negative/detect_positive)."""
    x = inputs[0]
    pos = bool(attrs["detect_positive"])
    neg = bool(attrs["detect_negative"])
    if pos and neg:
        r = np.isinf(x)
    elif pos:
        r = np.isposinf(x)
    elif neg:
        r = np.isneginf(x)
    else:
        r = np.zeros(x.shape, bool)
    return as_dtype(r, np.dtype(bool))


# -- clip ------------------------------------------------------------------------------------


def _infer_clip(ctx: InferContext) -> list[TensorType]:
    dt = same_dtype(ctx)
    for i in (1, 2):
        s = ctx.shape(i) if ctx.has(i) else None
        if s is not None and (len(s) > 1 or (len(s) == 1 and isinstance(s[0], int) and s[0] != 1)):
            raise SchemaError(f"clip: input {i} ({('min', 'max')[i - 1]}) must be a scalar, got shape {list(s)}")
    return [TensorType(dt, ctx.shape(0))]


@defop("clip", inputs=("input", "min?", "max?"), outputs=("output",), infer=_infer_clip,
       category="elementwise", quant_role="compute")
def clip(inputs, attrs):
    """Limit values to [min, max]; a missing bound is open; min > max gives max everywhere."""
    x = inputs[0]
    lo = inputs[1] if len(inputs) > 1 else None
    hi = inputs[2] if len(inputs) > 2 else None
    r = x
    if lo is not None:
        r = np.maximum(r, np.asarray(lo, x.dtype).reshape(()))
    if hi is not None:
        r = np.minimum(r, np.asarray(hi, x.dtype).reshape(()))
    return as_dtype(r, x.dtype)


# -- cast ------------------------------------------------------------------------------------


def cast_array(x: np.ndarray, to: DType) -> np.ndarray:
    """ONNX Cast of ``x`` to element type ``to`` (4-bit targets round and saturate)."""
    if to == DType.STR:
        return _to_strings(x)
    if x.dtype == object or x.dtype.kind in "US":
        s = np.asarray(x, dtype=object)
        if to == DType.BOOL:
            f = np.array([float(v) for v in s.ravel()], np.float64).reshape(s.shape)
            return f != 0
        if to.is_int:
            try:
                return cast_array(np.asarray(s.tolist(), dtype=np.str_).astype(np.int64), to)
            except ValueError:
                pass
        x = np.asarray(s.tolist(), dtype=np.str_).astype(np.float64)
    with np.errstate(all="ignore"):
        if to in (DType.I4, DType.U4):
            # like any fixed-point target: truncate toward zero, then keep the low 4 bits
            # (two's complement for i4), as ONNX's expected outputs (ml_dtypes) do
            v = np.trunc(x.astype(np.float64)).astype(np.int64) if x.dtype.kind not in "iub" else x.astype(np.int64)
            v = v & 15
            if to == DType.I4:
                v = np.where(v > 7, v - 16, v)
            return v.astype(to.numpy)
        return x.astype(to.numpy)


def _to_strings(x: np.ndarray) -> np.ndarray:
    """Numbers as text the way onnxruntime writes them: ``%.8g``, NaN, INF, -INF, 1/0."""
    if x.dtype == object or x.dtype.kind in "US":
        return np.asarray(x, dtype=object)
    if x.dtype.kind == "b":
        s = np.where(x, "1", "0")
    elif x.dtype.kind in "iu":
        s = x.astype(np.str_)
    else:
        f = x.astype(np.float64)
        s = np.char.mod("%.8g", f).astype(np.str_)
        s = np.where(np.isnan(f), "NaN", s)
        s = np.where(np.isposinf(f), "INF", s)
        s = np.where(np.isneginf(f), "-INF", s)
    return np.asarray(s, dtype=object).reshape(x.shape)


def _infer_cast(ctx: InferContext) -> list[TensorType]:
    to = dtype_from_attr("cast", "to", ctx.attr("to"))
    return [TensorType(to, ctx.shape(0))]


_CAST_ATTRS = {"saturate": ("int", 1), "round_mode": ("str", "up")}


@defop("cast", inputs=("input",), outputs=("output",), infer=_infer_cast,
       attrs={"to": ("any",), **_CAST_ATTRS}, category="elementwise")
def cast(inputs, attrs):
    """Convert to element type ``to`` (ONNX DataType code or IR spelling such as "f32").

    ``saturate`` and ``round_mode`` only concern float8 targets, which infercc does not
    have; they are accepted and ignored.
    """
    return cast_array(inputs[0], dtype_from_attr("cast", "to", attrs["to"]))


@defop("cast_like", inputs=("input", "target_type"), outputs=("output",),
       infer=lambda ctx: [TensorType(ctx.dtype(1), ctx.shape(0))], attrs=dict(_CAST_ATTRS),
       category="elementwise")
def cast_like(inputs, attrs):
    """Convert ``input`` to the element type of ``target_type``."""
    x, target = inputs
    return cast_array(x, DType.from_numpy(target.dtype))


__all__ = [
    "FUSED_ACTIVATIONS",
    "ONNX_DTYPES",
    "apply_activation",
    "as_dtype",
    "cast_array",
    "check_activation",
    "dtype_from_attr",
    "infer_broadcast",
    "infer_unary",
    "int_range",
    "same_dtype",
    "sigmoid",
    "work_float",
]
