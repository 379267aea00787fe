"""Reductions: reduce_sum, reduce_mean, reduce_max, ... (ONNX opset-18 form).

All take ``axes`` as an optional i64 INPUT and the attributes ``keepdims`` (default 1) and
``noop_with_empty_axes`` (default 0): with no (or an empty) ``axes`` input the op reduces
every axis, or, when ``noop_with_empty_axes=1``, reduces none: the shape is kept and each
element is reduced on its own (so reduce_l1 gives ``|x|``, reduce_sum_square ``x*x``).

Reducing an empty set gives the reduction's identity, as ONNX specifies: 0 for sum / l1 /
l2 / sum_square, 1 for prod, -inf (the dtype's lowest value for integers, false for bool)
for max, +inf (highest, true) for min, -inf for log_sum and log_sum_exp; for mean ONNX
leaves it undefined and this gives NaN.
The output dtype is the input's; integer inputs are accumulated in their own type like
ONNX runtimes do (sum/prod wrap around) and float16 is accumulated in float32.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..ir.types import UNKNOWN_DIM, TensorType
from .registry import InferContext, SchemaError, defop, normalize_axis

Q = UNKNOWN_DIM

_ATTRS = {"keepdims": ("int", 1), "noop_with_empty_axes": ("int", 0)}


def _norm(axes, rank: int, op: str) -> list[int]:
    out = sorted({normalize_axis(int(a), rank, op) for a in axes})
    if len(out) != len(list(axes)):
        raise SchemaError(f"{op}: axes {list(axes)} repeat an axis")
    return out


def _infer_reduce(ctx: InferContext) -> list[TensorType]:
    t = ctx.type(0)
    keep = bool(ctx.attr("keepdims"))
    noop = bool(ctx.attr("noop_with_empty_axes"))
    shape = t.shape
    axes = None
    if ctx.has(1):
        v = ctx.value(1)
        if v is not None:
            axes = [int(a) for a in np.asarray(v).reshape(-1)]
        else:
            s = ctx.shape(1)
            n = s[0] if s is not None and len(s) == 1 and isinstance(s[0], int) else None
            if n != 0:  # axes not known: which dims go (or stay as 1) is unknown
                if shape is None:
                    return [TensorType(t.dtype, None)]
                if keep:
                    return [TensorType(t.dtype, tuple(1 if d == 1 else Q for d in shape))]
                if n is None or noop:
                    return [TensorType(t.dtype, None)]
                return [TensorType(t.dtype, (Q,) * (len(shape) - n))]
    if not axes:
        if noop:
            return [TensorType(t.dtype, shape)]
        if shape is None:
            return [TensorType(t.dtype, None)]
        axes = list(range(len(shape)))
    if shape is None:
        return [TensorType(t.dtype, None)]
    ax = _norm(axes, len(shape), ctx.op)
    if keep:
        out = tuple(1 if i in ax else d for i, d in enumerate(shape))
    else:
        out = tuple(d for i, d in enumerate(shape) if i not in ax)
    return [TensorType(t.dtype, out)]


def _lowest(dt: np.dtype):
    if dt == np.bool_:
        return False
    if np.issubdtype(dt, np.integer):
        return np.iinfo(dt).min
    return -np.inf


def _highest(dt: np.dtype):
    if dt == np.bool_:
        return True
    if np.issubdtype(dt, np.integer):
        return np.iinfo(dt).max
    return np.inf


def _work(x: np.ndarray) -> np.ndarray:
    """The array in the type the reduction accumulates in (f16/bf16 -> f32)."""
    if x.dtype.kind == "f" and x.dtype.itemsize < 4 or x.dtype.name == "bfloat16":
        return x.astype(np.float32)
    return x


def _sum(x, ax, keep):
    return np.sum(x, axis=ax, keepdims=keep, dtype=x.dtype if x.dtype != np.bool_ else None)


def _mean(x, ax, keep):
    n = int(np.prod([x.shape[a] for a in ax], dtype=np.int64))
    if np.issubdtype(x.dtype, np.integer):
        s = np.sum(x, axis=ax, keepdims=keep, dtype=np.int64)
        # integer mean truncates toward zero (C++ integer division, as in onnxruntime)
        return np.where(n == 0, 0, np.trunc(s / max(n, 1))).astype(np.int64)
    s = np.sum(x, axis=ax, keepdims=keep)
    with np.errstate(invalid="ignore", divide="ignore"):
        return s / x.dtype.type(n)  # an empty set gives 0/0 = NaN


def _max(x, ax, keep):
    return np.max(x, axis=ax, keepdims=keep, initial=_lowest(x.dtype))


def _min(x, ax, keep):
    return np.min(x, axis=ax, keepdims=keep, initial=_highest(x.dtype))


def _prod(x, ax, keep):
    return np.prod(x, axis=ax, keepdims=keep, dtype=x.dtype)


def _l1(x, ax, keep):
    return _sum(np.abs(x), ax, keep)


def _sum_square(x, ax, keep):
    return _sum(x * x, ax, keep)


def _l2(x, ax, keep):
    s = _sum_square(x.astype(np.float64) if x.dtype.kind in "iub" else x, ax, keep)
    return np.sqrt(s)


def _log_sum(x, ax, keep):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(_sum(x.astype(np.float64) if x.dtype.kind in "iub" else x, ax, keep))


def _log_sum_exp(x, ax, keep):
    xf = x.astype(np.float64) if x.dtype.kind in "iub" else x
    m = np.max(xf, axis=ax, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0).astype(xf.dtype)  # all -inf / empty: no shift
    with np.errstate(divide="ignore", over="ignore"):
        s = np.log(np.sum(np.exp(xf - m), axis=ax, keepdims=True)) + m
    return s if keep else np.squeeze(s, axis=ax)


def _make_kernel(fn: Callable) -> Callable:
    def kernel(inputs, attrs):
        x = np.asarray(inputs[0])
        axes = inputs[1] if len(inputs) > 1 else None
        if axes is None or np.size(axes) == 0:
            # noop_with_empty_axes reduces over no axis: each element is its own set, so
            # l1/l2/log_sum/sum_square still transform it (as onnxruntime and ONNX's
            # reference evaluator do)
            ax = () if attrs["noop_with_empty_axes"] else tuple(range(x.ndim))
        else:
            ax = tuple(_norm(np.asarray(axes).reshape(-1), x.ndim, "reduce"))
        y = fn(_work(x), ax, bool(attrs["keepdims"]))
        return np.asarray(y).astype(x.dtype, copy=False)

    return kernel


# how quantization treats a reduction: a max/min picks an input value, a mean makes new ones
_QUANT_ROLES = {"reduce_max": "same_scale", "reduce_mean": "compute"}


def _register(name: str, fn: Callable, doc: str) -> None:
    kernel = _make_kernel(fn)
    kernel.__doc__ = doc
    kernel.__name__ = name
    kernel.__module__ = __name__
    defop(name, inputs=("data", "axes?"), outputs=("reduced",), attrs=dict(_ATTRS),
          infer=_infer_reduce, summary=doc, category="reduce", cost="reduce",
          quant_role=_QUANT_ROLES.get(name, "none"))(kernel)


for _name, _fn, _doc in [
    ("reduce_sum", _sum, "Sum over the axes."),
    ("reduce_mean", _mean, "Arithmetic mean over the axes."),
    ("reduce_max", _max, "Maximum over the axes (-inf / lowest for an empty set)."),
    ("reduce_min", _min, "Minimum over the axes (+inf / highest for an empty set)."),
    ("reduce_prod", _prod, "Product over the axes."),
    ("reduce_l1", _l1, "Sum of absolute values over the axes."),
    ("reduce_l2", _l2, "Euclidean norm over the axes."),
    ("reduce_log_sum", _log_sum, "Log of the sum over the axes."),
    ("reduce_log_sum_exp", _log_sum_exp, "Log of the sum of exponentials (stable) over the axes."),
    ("reduce_sum_square", _sum_square, "Sum of squares over the axes."),
]:
    _register(_name, _fn, _doc)
