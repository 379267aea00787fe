"""Activation ops: relu family, sigmoid family, gelu, softplus, softmax and friends.

Semantics are those of the latest ONNX opset of each op (softmax, log_softmax and hardmax
use the opset-13 form: one ``axis``, default -1, normalizing along that axis only; the ONNX
frontend rewrites older models). Every output has its input's type; float16/bfloat16 inputs
are computed in float32 and rounded back once, so results match a float32 computation
rounded to the storage type.

:func:`compiler.ops.elementwise.apply_activation` (the fused ``activation`` attribute) is
re-exported here for convenience.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..ir.types import TensorType
from .elementwise import apply_activation, as_dtype, infer_unary, sigmoid, work_float
from .registry import InferContext, SchemaError, broadcast_shapes, defop, normalize_axis

_FLOAT = "f"


def _act(name: str, fn: Callable, attrs: dict | None = None, *, kinds: str = _FLOAT,
         io=("X", "Y"), summary: str = "", quant_role: str = "none") -> None:
    """Register a unary activation ``fn(x_widened, attrs)``."""

    @defop(name, inputs=(io[0],), outputs=(io[1],), attrs=attrs or {},
           infer=infer_unary(None, kinds), summary=summary, category="activation",
           quant_role=quant_role)
    def kernel(inputs, a):
        x = inputs[0]
        with np.errstate(all="ignore"):
            r = fn(work_float(x), a)
        return as_dtype(r, x.dtype)


def _zero(x):
    return np.zeros((), x.dtype)


def _relu(x, a):
    return np.maximum(x, _zero(x))


def _leaky(x, a):
    return np.where(x >= 0, x, x * np.asarray(a["alpha"], x.dtype))


def _elu(x, a):
    return np.where(x >= 0, x, np.asarray(a["alpha"], x.dtype) * np.expm1(np.minimum(x, 0)))


def _selu(x, a):
    al, g = np.asarray(a["alpha"], x.dtype), np.asarray(a["gamma"], x.dtype)
    return g * np.where(x > 0, x, al * np.expm1(np.minimum(x, 0)))


def _celu(x, a):
    al = np.asarray(a["alpha"], x.dtype)
    return np.maximum(x, 0) + np.minimum(0, al * np.expm1(x / al))


def _hard_sigmoid(x, a):
    return np.clip(np.asarray(a["alpha"], x.dtype) * x + np.asarray(a["beta"], x.dtype), 0, 1)


def _hard_swish(x, a):
    return x * np.clip(x * np.asarray(1 / 6, x.dtype) + np.asarray(0.5, x.dtype), 0, 1)


def _softplus(x, a):
    return np.logaddexp(_zero(x), x)


def _gelu(x, a):
    from scipy.special import erf

    if a["approximate"] == "tanh":
        c = np.asarray(math.sqrt(2 / math.pi), x.dtype)
        return 0.5 * x * (1 + np.tanh(c * (x + np.asarray(0.044715, x.dtype) * x ** 3)))
    return 0.5 * x * (1 + erf(x / np.asarray(math.sqrt(2), x.dtype)))


def _thresholded(x, a):
    return np.where(x > np.asarray(a["alpha"], x.dtype), x, _zero(x))


def _shrink(x, a):
    lambd, bias = a["lambd"], a["bias"]
    if x.dtype.kind in "iu":  # keep integer arithmetic (bias is a float attribute)
        b = np.asarray(int(bias), x.dtype)
        return np.where(x < -lambd, x + b, np.where(x > lambd, x - b, _zero(x)))
    b = np.asarray(bias, x.dtype)
    return np.where(x < -lambd, x + b, np.where(x > lambd, x - b, _zero(x)))


_act("relu", _relu, kinds="fi", summary="max(X, 0).", quant_role="compute")
_act("leaky_relu", _leaky, {"alpha": ("float", 0.01)}, summary="X if X >= 0 else alpha * X.",
     quant_role="compute")
_act("sigmoid", lambda x, a: sigmoid(x), summary="1 / (1 + exp(-X)).", quant_role="fixed_range")
_act("hard_sigmoid", _hard_sigmoid, {"alpha": ("float", 0.2), "beta": ("float", 0.5)},
     summary="max(0, min(1, alpha * X + beta)).")
_act("hard_swish", _hard_swish, summary="X * max(0, min(1, X / 6 + 1/2)).",
     quant_role="compute")
_act("tanh", lambda x, a: np.tanh(x), io=("input", "output"), summary="Hyperbolic tangent.",
     quant_role="fixed_range")
_act("gelu", _gelu, {"approximate": ("str", "none")},
     summary="Gaussian error linear unit (approximate: 'none' or 'tanh').")
_act("elu", _elu, {"alpha": ("float", 1.0)}, summary="X if X >= 0 else alpha * (exp(X) - 1).")
_act("selu", _selu, {"alpha": ("float", 1.67326319217681884765625),
                     "gamma": ("float", 1.05070102214813232421875)},
     summary="gamma * (X if X > 0 else alpha * (exp(X) - 1)).")
_act("celu", _celu, {"alpha": ("float", 1.0)},
     summary="max(0, X) + min(0, alpha * (exp(X / alpha) - 1)).")
_act("softplus", _softplus, summary="log(1 + exp(X)).")
_act("softsign", lambda x, a: x / (1 + np.abs(x)), io=("input", "output"), summary="X / (1 + |X|).")
_act("mish", lambda x, a: x * np.tanh(_softplus(x, a)), summary="X * tanh(softplus(X)).")
_act("swish", lambda x, a: x * sigmoid(np.asarray(a["alpha"], x.dtype) * x), {"alpha": ("float", 1.0)},
     summary="X * sigmoid(alpha * X).")
_act("thresholded_relu", _thresholded, {"alpha": ("float", 1.0)},
     summary="X if X > alpha else 0.")
_act("shrink", _shrink, {"bias": ("float", 0.0), "lambd": ("float", 0.5)}, kinds="fiu",
     io=("input", "output"),
     summary="X + bias if X < -lambd, X - bias if X > lambd, else 0.")


# -- prelu ----------------------------------------------------------------------------------


def _infer_prelu(ctx: InferContext) -> list[TensorType]:
    x, s = ctx.type(0), ctx.type(1)
    if x.dtype != s.dtype:
        raise SchemaError(f"prelu: slope is {s.dtype} but X is {x.dtype}; they must match")
    if x.shape is None:
        return [TensorType(x.dtype, None)]
    if s.shape is not None and len(s.shape) > len(x.shape):
        raise SchemaError(f"prelu: slope of rank {len(s.shape)} does not broadcast to X of rank {len(x.shape)}")
    try:
        shape = broadcast_shapes(x.shape, s.shape if s.shape is not None else x.shape)
    except SchemaError as e:
        raise SchemaError(f"prelu: slope does not broadcast to X: {e}") from None
    return [TensorType(x.dtype, shape)]


@defop("prelu", inputs=("X", "slope"), infer=_infer_prelu, category="activation",
       quant_role="compute", quant_inputs=(0, 1))
def prelu(inputs, attrs):
    """X if X >= 0 else slope * X; slope broadcasts unidirectionally to X."""
    x, s = inputs
    with np.errstate(all="ignore"):
        r = np.where(x < 0, x * s, x)
    return as_dtype(r, x.dtype)


# -- softmax family --------------------------------------------------------------------------


def _infer_axis_op(ctx: InferContext) -> list[TensorType]:
    t = ctx.type(0)
    if t.shape is not None:
        normalize_axis(int(ctx.attr("axis")), len(t.shape), ctx.op)
    return [TensorType(t.dtype, t.shape)]


def _axis(x: np.ndarray, axis: int) -> int:
    return axis + x.ndim if axis < 0 else axis


@defop("softmax", inputs=("input",), outputs=("output",), attrs={"axis": ("int", -1)},
       infer=_infer_axis_op, category="activation", quant_role="fixed_range", cost="softmax")
def softmax(inputs, attrs):
    """exp(x) / sum(exp(x)) along ``axis`` (opset-13 form)."""
    x = inputs[0]
    w = work_float(x)
    ax = _axis(x, attrs["axis"])
    with np.errstate(all="ignore"):
        e = np.exp(w - np.max(w, axis=ax, keepdims=True))
        r = e / np.sum(e, axis=ax, keepdims=True)
    return as_dtype(r, x.dtype)


@defop("log_softmax", inputs=("input",), outputs=("output",), attrs={"axis": ("int", -1)},
       infer=_infer_axis_op, category="activation", cost="softmax")
def log_softmax(inputs, attrs):
    """x - log(sum(exp(x))) along ``axis`` (opset-13 form)."""
    x = inputs[0]
    w = work_float(x)
    ax = _axis(x, attrs["axis"])
    with np.errstate(all="ignore"):
        s = w - np.max(w, axis=ax, keepdims=True)
        r = s - np.log(np.sum(np.exp(s), axis=ax, keepdims=True))
    return as_dtype(r, x.dtype)


@defop("hardmax", inputs=("input",), outputs=("output",), attrs={"axis": ("int", -1)},
       infer=_infer_axis_op, category="activation", cost="softmax")
def hardmax(inputs, attrs):
    """1 at the first maximum along ``axis``, 0 elsewhere (opset-13 form)."""
    x = inputs[0]
    ax = _axis(x, attrs["axis"])
    r = np.zeros(x.shape, x.dtype)
    if x.size:
        idx = np.expand_dims(np.argmax(x, axis=ax), ax)
        np.put_along_axis(r, idx, np.ones((), x.dtype), axis=ax)
    return r


__all__ = ["apply_activation"]
