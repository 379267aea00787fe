"""The ATen op handlers of the PyTorch frontend, registered in :mod:`.registry`.

A handler takes the lowering context (:class:`.lowering._Lowering`) and one FX node whose
ATen op it is registered for, emits IR nodes through the context and returns the node's IR
value (a list for multi-output ops, ``None`` for outputs that are never read). Handlers
may assume their op's registered ``check`` passed. Each registration carries the note
docs/frontends.md shows for the op.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...ir.graph import Value
from ...ir.types import DType
from .lowering import (
    _ONNX_CODE,
    _TORCH_DTYPES,
    INT64_MAX,
    PytorchImportError,
    _arg,
    _is_fx,
    _list,
    _Lowering,
    _norm_axis,
    _static_int,
    op_key,
)
from .registry import Handler, register
from .registry import handles as _h


def _only_first_output(n: Any) -> str | None:
    for u in n.users:
        if u.target is operator.getitem and u.args[1] != 0 and u.users:
            return "only output 0 is supported"
    return None


# convolution ---------------------------------------------------------------------------


def _conv(cx: _Lowering, x: Any, w: Any, b: Any, stride: Any, padding: Any, dilation: Any,
          transposed: bool, output_padding: Any, groups: int) -> Value:
    wv = cx.val(w)
    k = len(wv.type.shape) - 2
    ks = list(wv.type.shape[2:])
    attrs: dict[str, Any] = {
        "strides": _list(stride, k), "dilations": _list(dilation, k), "group": int(groups),
        "kernel_shape": [int(s) for s in ks],
    }
    if isinstance(padding, str):
        if padding == "valid":
            pads = [0] * k
            attrs["pads"] = pads * 2
        else:  # "same": torch pads d*(k-1) in total, the extra pixel at the end
            total = [d * (kk - 1) for d, kk in zip(attrs["dilations"], ks)]
            attrs["pads"] = [t // 2 for t in total] + [t - t // 2 for t in total]
    else:
        p = _list(padding, k)
        attrs["pads"] = p + p
    inputs = [cx.val(x), wv, cx.val(b) if b is not None else None]
    if transposed:
        op = _list(output_padding, k)
        if any(op):
            attrs["output_padding"] = op
        return cx.final("conv_transpose", inputs, attrs)
    return cx.final("conv", inputs, attrs)


@_h("convolution", note="conv / conv_transpose (pads, strides, dilations, group, output_padding)")
def _convolution(cx, n):
    a = n.args
    return _conv(cx, a[0], a[1], a[2], a[3], a[4], a[5], bool(a[6]), a[7], a[8])


@_h("conv1d", "conv2d", "conv3d", note="conv (padding ints, 'same' or 'valid')")
def _convnd(cx, n):
    return _conv(cx, n.args[0], n.args[1], _arg(n, 2, "bias"), _arg(n, 3, "stride", 1),
                 _arg(n, 4, "padding", 0), _arg(n, 5, "dilation", 1), False, 0, _arg(n, 6, "groups", 1))


@_h("conv_transpose1d", "conv_transpose2d", "conv_transpose3d", note="conv_transpose")
def _conv_t(cx, n):
    # (input, weight, bias, stride, padding, output_padding, groups, dilation)
    return _conv(cx, n.args[0], n.args[1], _arg(n, 2, "bias"), _arg(n, 3, "stride", 1),
                 _arg(n, 4, "padding", 0), _arg(n, 7, "dilation", 1), True,
                 _arg(n, 5, "output_padding", 0), _arg(n, 6, "groups", 1))


# matmul family ------------------------------------------------------------------------


def _transposed_weight(cx: _Lowering, a: Any) -> Value | None:
    """When FX arg ``a`` is a 2-D [1,0] transpose, the un-transposed IR value (for transB)."""
    if not _is_fx(a) or a.op != "call_function":
        return None
    key = op_key(a)
    if key == "t" or (key == "permute" and list(a.args[1]) == [1, 0]) or (
        key == "transpose" and len(a.meta["val"].shape) == 2
    ):
        src = cx.env.get(a.args[0])
        if isinstance(src, Value) and src.type.rank == 2:
            return src
    return None


@_h("addmm", note="gemm (alpha, beta; a transposed weight becomes transB=1)")
def _addmm(cx, n):
    bias, m1, m2 = n.args[:3]
    beta, alpha = float(n.kwargs.get("beta", 1)), float(n.kwargs.get("alpha", 1))
    wt = _transposed_weight(cx, m2)
    attrs: dict[str, Any] = {}
    if alpha != 1:
        attrs["alpha"] = alpha
    if beta != 1:
        attrs["beta"] = beta
    if wt is not None:
        attrs["transB"] = 1
        return cx.final("gemm", [cx.val(m1), wt, cx.val(bias)], attrs)
    return cx.final("gemm", [cx.val(m1), cx.val(m2), cx.val(bias)], attrs)


@_h("mm", note="matmul (or gemm with transB=1 on a transposed weight)")
def _mm(cx, n):
    wt = _transposed_weight(cx, n.args[1])
    if wt is not None:
        return cx.final("gemm", [cx.val(n.args[0]), wt], {"transB": 1})
    return cx.final("matmul", [cx.val(n.args[0]), cx.val(n.args[1])])


@_h("bmm", "matmul", note="matmul")
def _matmul(cx, n):
    return cx.final("matmul", [cx.val(n.args[0]), cx.val(n.args[1])])


@_h("linear", note="gemm(transB=1) for 2-D input, else matmul(x, transpose(W)) + add")
def _linear(cx, n):
    x, w = cx.val(n.args[0]), cx.val(n.args[1])
    b = _arg(n, 2, "bias")
    if x.type.rank == 2:
        return cx.final("gemm", [x, w] + ([cx.val(b)] if b is not None else []), {"transB": 1})
    wt = cx.emit("transpose", [w], {"perm": [1, 0]})
    if b is None:
        return cx.final("matmul", [x, wt])
    y = cx.emit("matmul", [x, wt])
    return cx.final("add", [y, cx.val(b)])


# normalization -------------------------------------------------------------------------


def _ones_like_channels(cx: _Lowering, x: Value, value: float, n: int) -> Value:
    return cx.const(np.full((n,), value, dtype=x.type.dtype.numpy), hint="default")


def _bn(cx, x, w, b, mean, var, eps):
    xv = cx.val(x)
    c = cx.val(mean).type.shape[0]
    wv = cx.val(w) if w is not None else _ones_like_channels(cx, xv, 1.0, c)
    bv = cx.val(b) if b is not None else _ones_like_channels(cx, xv, 0.0, c)
    return cx.emit("batch_norm", [xv, wv, bv, cx.val(mean), cx.val(var)], {"epsilon": float(eps)},
                   name=cx.node.name)


@_h("_native_batch_norm_legit_no_training", note="batch_norm", check=_only_first_output)
def _bn_legit(cx, n):
    x, w, b, m, v, _mom, eps = n.args[:7]
    return [_bn(cx, x, w, b, m, v, eps), None, None]


def _check_bn_eval(n):
    if bool(_arg(n, 5, "training", False)):
        return "training mode"
    return None


@_h("batch_norm", note="batch_norm (eval only)", check=_check_bn_eval)
def _batch_norm(cx, n):
    a = n.args
    if a[3] is None or a[4] is None:
        raise PytorchImportError(f"{cx.label}: {cx.source[0]}: batch norm without running statistics")
    return _bn(cx, a[0], a[1], a[2], a[3], a[4], _arg(n, 7, "eps", 1e-5))


def _ln(cx, x, shape, w, b, eps):
    xv = cx.val(x)
    k = len(shape)
    size = [int(s) for s in shape]
    wv = cx.val(w) if w is not None else cx.const(np.ones(size, xv.type.dtype.numpy), hint="scale")
    inputs = [xv, wv, cx.val(b) if b is not None else None]
    return cx.emit("layer_norm", inputs, {"axis": -k, "epsilon": float(eps)}, name=cx.node.name)


@_h("native_layer_norm", note="layer_norm (axis=-k)", check=_only_first_output)
def _native_ln(cx, n):
    x, shape, w, b, eps = n.args[:5]
    return [_ln(cx, x, shape, w, b, eps), None, None]


@_h("layer_norm", note="layer_norm (axis=-k)")
def _layer_norm(cx, n):
    return _ln(cx, n.args[0], n.args[1], _arg(n, 2, "weight"), _arg(n, 3, "bias"), _arg(n, 4, "eps", 1e-5))


# activations --------------------------------------------------------------------------


def _unary(ir_op: str, attrs: dict | None = None) -> Handler:
    def h(cx, n):
        return cx.final(ir_op, [cx.val(n.args[0])], attrs)

    return h


for _name, _op in {"relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "hardswish": "hard_swish",
                   "mish": "mish", "sqrt": "sqrt", "exp": "exp", "log": "log", "neg": "neg",
                   "abs": "abs", "reciprocal": "reciprocal", "erf": "erf", "sin": "sin",
                   "cos": "cos", "floor": "floor", "ceil": "ceil", "sign": "sign"}.items():
    register(_name, _unary(_op), _op)
register("hardsigmoid", _unary("hard_sigmoid", {"alpha": 1.0 / 6.0, "beta": 0.5}), "hard_sigmoid(alpha=1/6)")


def _check_round(n):
    return "decimals" if _arg(n, 1, "decimals", 0) else None


register("round", _unary("round"), "round", _check_round)


@_h("rsqrt", note="reciprocal(sqrt)")
def _rsqrt(cx, n):
    return cx.final("reciprocal", [cx.emit("sqrt", [cx.val(n.args[0])])])


@_h("log1p", note="log(x + 1)")
def _log1p(cx, n):
    x = cx.val(n.args[0])
    return cx.final("log", [cx.emit("add", [x, cx.const(np.asarray(1, x.type.dtype.numpy), hint="one")])])


@_h("expm1", note="exp(x) - 1")
def _expm1(cx, n):
    x = cx.val(n.args[0])
    return cx.final("sub", [cx.emit("exp", [x]), cx.const(np.asarray(1, x.type.dtype.numpy), hint="one")])


@_h("silu", note="mul(x, sigmoid(x))")
def _silu(cx, n):
    x = cx.val(n.args[0])
    return cx.final("mul", [x, cx.emit("sigmoid", [x])])


def _clip(cx: _Lowering, x: Any, lo: Any, hi: Any) -> Value:
    xv = cx.val(x)
    dt = xv.type.dtype
    if _is_fx(lo) or _is_fx(hi):  # tensor bounds: max/min with broadcasting
        y = xv
        if lo is not None:
            y = cx.emit("max", [y, cx.operand(lo, dt)])
        if hi is not None:
            y = cx.emit("min", [y, cx.operand(hi, dt)])
        return y
    ins = [xv, cx.const(np.asarray(lo, dt.numpy), hint="min") if lo is not None else None,
           cx.const(np.asarray(hi, dt.numpy), hint="max") if hi is not None else None]
    return cx.final("clip", ins)


@_h("relu6", note="clip(0, 6)")
def _relu6(cx, n):
    return _clip(cx, n.args[0], 0.0, 6.0)


@_h("hardtanh", note="clip(min, max)")
def _hardtanh(cx, n):
    return _clip(cx, n.args[0], float(_arg(n, 1, "min_val", -1.0)), float(_arg(n, 2, "max_val", 1.0)))


@_h("clamp", note="clip (scalar bounds) / max+min (tensor bounds)")
def _clamp(cx, n):
    return _clip(cx, n.args[0], _arg(n, 1, "min"), _arg(n, 2, "max"))


@_h("clamp_min", note="clip / max")
def _clamp_min(cx, n):
    return _clip(cx, n.args[0], n.args[1], None)


@_h("clamp_max", note="clip / min")
def _clamp_max(cx, n):
    return _clip(cx, n.args[0], None, n.args[1])


@_h("leaky_relu", note="leaky_relu")
def _leaky(cx, n):
    return cx.final("leaky_relu", [cx.val(n.args[0])], {"alpha": float(_arg(n, 1, "negative_slope", 0.01))})


def _check_elu(n):
    if float(_arg(n, 2, "scale", 1)) != 1 or float(_arg(n, 3, "input_scale", 1)) != 1:
        return "scale/input_scale other than 1"
    return None


@_h("elu", note="elu (scale=input_scale=1)", check=_check_elu)
def _elu(cx, n):
    return cx.final("elu", [cx.val(n.args[0])], {"alpha": float(_arg(n, 1, "alpha", 1.0))})


@_h("gelu", note="gelu (approximate none/tanh)")
def _gelu(cx, n):
    approx = n.kwargs.get("approximate", n.args[1] if len(n.args) > 1 else "none")
    return cx.final("gelu", [cx.val(n.args[0])], {"approximate": str(approx)})


def _check_softplus(n):
    return "beta other than 1" if float(_arg(n, 1, "beta", 1)) != 1 else None


@_h("softplus", note="softplus (beta=1)", check=_check_softplus)
def _softplus(cx, n):
    return cx.final("softplus", [cx.val(n.args[0])])


def _softmax_like(ir_op: str) -> Handler:
    def h(cx, n):
        x = cx.val(n.args[0])
        dt = cx.out_dtype()
        return cx.final(ir_op, [cx.cast(x, dt)], {"axis": int(n.args[1])})

    return h


register(("_softmax", "softmax"), _softmax_like("softmax"), "softmax")
register(("_log_softmax", "log_softmax"), _softmax_like("log_softmax"), "log_softmax")


# pooling ------------------------------------------------------------------------------


def _pool_rank(n: Any) -> int:
    key = op_key(n)
    return 1 if "1d" in key else 3 if "3d" in key else 2


def _check_pool(n):
    if len(n.args[0].meta["val"].shape) != _pool_rank(n) + 2:
        return "unbatched input"
    if op_key(n).startswith("avg") and _arg(n, 6, "divisor_override") is not None:
        return "divisor_override"
    return _only_first_output(n)


def _pool_attrs(n: Any, k: int, stride_i: int, pad_i: int) -> dict:
    ks = _list(n.args[1], k)
    stride = _arg(n, stride_i, "stride", [])
    stride = ks if not stride else _list(stride, k)
    pad = _list(_arg(n, pad_i, "padding", 0), k)
    return {"kernel_shape": ks, "strides": stride, "pads": pad + pad}


@_h("max_pool2d", "max_pool2d_with_indices", "max_pool3d_with_indices", "max_pool1d",
    "max_pool3d", note="max_pool (ceil_mode, padding, dilation; values only)", check=_check_pool)
def _max_pool(cx, n):
    x = cx.val(n.args[0])
    k = _pool_rank(n)
    attrs = _pool_attrs(n, k, 2, 3)
    dil = _list(_arg(n, 4, "dilation", 1), k)
    if any(d != 1 for d in dil):
        attrs["dilations"] = dil
    if bool(_arg(n, 5, "ceil_mode", False)):
        attrs["ceil_mode"] = 1
    y = cx.final("max_pool", [x], attrs)
    return [y, None] if "with_indices" in op_key(n) else y


@_h("avg_pool2d", "avg_pool3d", "avg_pool1d", note="avg_pool (count_include_pad, ceil_mode; no divisor_override)", check=_check_pool)
def _avg_pool(cx, n):
    x = cx.val(n.args[0])
    k = _pool_rank(n)
    attrs = _pool_attrs(n, k, 2, 3)
    attrs["ceil_mode"] = int(bool(_arg(n, 4, "ceil_mode", False)))
    attrs["count_include_pad"] = int(bool(_arg(n, 5, "count_include_pad", True)))
    return cx.final("avg_pool", [x], attrs)


def _check_adaptive(n):
    shape = n.args[0].meta["val"].shape
    out = _list(n.args[1], 2)
    hw = [_static_int(s) for s in shape[-2:]]
    if out == [1, 1]:
        return None
    if all(s is not None and s % o == 0 for s, o in zip(hw, out)):
        return None
    return "output size not dividing the input"


@_h("adaptive_avg_pool2d", "_adaptive_avg_pool2d", note="global_avg_pool (output 1) / avg_pool (divisible sizes)", check=_check_adaptive)
def _adaptive_avg(cx, n):
    x = cx.val(n.args[0])
    out = _list(n.args[1], 2)
    if out == [1, 1]:
        if x.type.rank == 3:  # unbatched [C,H,W]
            y = cx.emit("global_avg_pool", [cx.emit("unsqueeze", [x, cx.ints([0])])])
            return cx.final("squeeze", [y, cx.ints([0])])
        return cx.final("global_avg_pool", [x])
    hw = [int(s) for s in x.type.shape[-2:]]
    ks = [s // o for s, o in zip(hw, out)]
    return cx.final("avg_pool", [x], {"kernel_shape": ks, "strides": ks})


# reductions ---------------------------------------------------------------------------


def _reduce(ir_op: str, dim_i: int = 1, keep_i: int = 2) -> Handler:
    def h(cx, n):
        x = cx.val(n.args[0])
        dims = _arg(n, dim_i, "dim", None)
        keep = int(bool(_arg(n, keep_i, "keepdim", False)))
        dt = cx.out_dtype()
        x = cx.cast(x, dt)
        if dims is None or (isinstance(dims, (list, tuple)) and len(dims) == 0):
            return cx.final(ir_op, [x], {"keepdims": keep})
        dims = [dims] if isinstance(dims, int) else list(dims)
        r = x.type.rank
        return cx.final(ir_op, [x, cx.ints([_norm_axis(d, r) for d in dims], "axes")], {"keepdims": keep})

    return h


for _name, _op in {"mean": "reduce_mean", "sum": "reduce_sum", "amax": "reduce_max", "amin": "reduce_min"}.items():
    register(_name, _reduce(_op), _op)


def _max_min(red: str, arg: str, binary: str) -> Handler:
    def h(cx, n):
        if len(n.args) >= 2 and _is_fx(n.args[1]):  # max.other: elementwise
            return _binary_ir(cx, n, binary, n.args[0], n.args[1])
        x = cx.val(n.args[0])
        if len(n.args) == 1:  # max.default: a 0-d result
            return cx.final(red, [x], {"keepdims": 0})
        d = _norm_axis(int(n.args[1]), x.type.rank)
        keep = int(bool(_arg(n, 2, "keepdim", False)))
        vals = cx.emit(red, [x, cx.ints([d], "axes")], {"keepdims": keep}, name=f"{n.name}_values")
        idx = cx.emit(arg, [x], {"axis": d, "keepdims": keep}, name=f"{n.name}_indices")
        return [vals, idx]

    return h


register("max", _max_min("reduce_max", "arg_max", "max"), "reduce_max (+ arg_max for max.dim) / max (binary)")
register("min", _max_min("reduce_min", "arg_min", "min"), "reduce_min (+ arg_min for min.dim) / min (binary)")


def _argminmax(ir_op: str) -> Handler:
    def h(cx, n):
        x = cx.val(n.args[0])
        d = _arg(n, 1, "dim")
        keep = int(bool(_arg(n, 2, "keepdim", False)))
        if d is None:
            x = cx.emit("reshape", [x, cx.ints([-1])])
            return cx.final(ir_op, [x], {"axis": 0, "keepdims": 0})
        return cx.final(ir_op, [x], {"axis": _norm_axis(int(d), x.type.rank), "keepdims": keep})

    return h


register("argmax", _argminmax("arg_max"), "arg_max")
register("argmin", _argminmax("arg_min"), "arg_min")


@_h("cumsum", note="cumsum")
def _cumsum(cx, n):
    x = cx.cast(cx.val(n.args[0]), cx.out_dtype())
    return cx.final("cumsum", [x, cx.const(np.asarray(int(n.args[1]), np.int64), hint="axis")])


# shapes -------------------------------------------------------------------------------


def _reshape_to(cx: _Lowering, x: Value, dims: Sequence[Any]) -> Value:
    like = tuple(cx.meta(cx.node.args[0]).shape)
    if [cx.dim(d) for d in like] == [cx.dim(d.meta["val"] if _is_fx(d) else d) for d in dims]:
        return x  # a view to the same shape
    target, _ = cx.shape_value(dims, like)
    return cx.final("reshape", [x, target])


@_h("view", "_unsafe_view", "reshape", note="reshape")
def _view(cx, n):
    return _reshape_to(cx, cx.val(n.args[0]), list(n.args[1]))


@_h("flatten", "unflatten", note="reshape")
def _flatten_op(cx, n):
    return _reshape_to(cx, cx.val(n.args[0]), list(cx.out_shape()))


@_h("permute", note="transpose")
def _permute(cx, n):
    x = cx.val(n.args[0])
    r = x.type.rank
    perm = [_norm_axis(int(d), r) for d in n.args[1]]
    if perm == list(range(r)):
        return x
    return cx.final("transpose", [x], {"perm": perm})


@_h("transpose", note="transpose")
def _transpose(cx, n):
    x = cx.val(n.args[0])
    r = x.type.rank
    a, b = _norm_axis(int(n.args[1]), r), _norm_axis(int(n.args[2]), r)
    perm = list(range(r))
    perm[a], perm[b] = perm[b], perm[a]
    if a == b:
        return x
    return cx.final("transpose", [x], {"perm": perm})


@_h("t", note="transpose")
def _t(cx, n):
    x = cx.val(n.args[0])
    if x.type.rank < 2:
        return x
    return cx.final("transpose", [x], {"perm": [1, 0]})


@_h("unsqueeze", note="unsqueeze")
def _unsqueeze(cx, n):
    x = cx.val(n.args[0])
    d = _norm_axis(int(n.args[1]), x.type.rank + 1)
    return cx.final("unsqueeze", [x, cx.ints([d], "axes")])


@_h("squeeze", note="squeeze (size-1 dims only)")
def _squeeze(cx, n):
    x = cx.val(n.args[0])
    shape = cx.meta(n.args[0]).shape
    r = len(shape)
    dims = _arg(n, 1, "dim", None)
    if dims is None:
        dims = list(range(r))
    elif isinstance(dims, int):
        dims = [dims]
    axes = sorted({_norm_axis(int(d), r) for d in dims if r and _static_eq(shape[_norm_axis(int(d), r)], 1)})
    if not axes:
        return x  # torch's squeeze of a non-1 dim is a no-op
    return cx.final("squeeze", [x, cx.ints(axes, "axes")])


def _static_eq(s: Any, v: int) -> bool:
    return _static_int(s) == v


@_h("cat", note="concat")
def _cat(cx, n):
    vals = [cx.val(a) for a in n.args[0]]
    r = len(cx.out_shape())
    d = _norm_axis(int(_arg(n, 1, "dim", 0)), r)
    dt = cx.out_dtype()
    vals = [cx.cast(v, dt) for v in vals if not (v.type.rank == 1 and v.type.shape == (0,))]
    if len(vals) == 1:
        return vals[0]
    return cx.final("concat", vals, {"axis": d})


def _split_sizes_check(n):
    d = _arg(n, 2, "dim", 0) if op_key(n) != "unbind" else _arg(n, 1, "dim", 0)
    shape = n.args[0].meta["val"].shape
    return "split along a symbolic dim" if _static_int(shape[d]) is None else None


@_h("split", "split_with_sizes", "chunk", note="split", check=_split_sizes_check)
def _split(cx, n):
    x = cx.val(n.args[0])
    r = x.type.rank
    d = _norm_axis(int(_arg(n, 2, "dim", 0)), r)
    sizes = [int(t.shape[d]) for t in n.meta["val"]]
    outs = cx.emit("split", [x, cx.ints(sizes, "split")], {"axis": d}, name=n.name,
                   num_outputs=len(sizes))
    return outs


@_h("unbind", note="split + squeeze", check=_split_sizes_check)
def _unbind(cx, n):
    x = cx.val(n.args[0])
    r = x.type.rank
    d = _norm_axis(int(_arg(n, 1, "dim", 0)), r)
    k = int(x.type.shape[d])
    parts = cx.emit("split", [x, cx.ints([1] * k, "split")], {"axis": d}, num_outputs=k)
    axes = cx.ints([d], "axes")
    return [cx.emit("squeeze", [p, axes], name=f"{n.name}_{i}") for i, p in enumerate(parts)]


@_h("slice", note="slice")
def _slice(cx, n):
    x = cx.val(n.args[0])
    shape = cx.meta(n.args[0]).shape
    r = len(shape)
    d = _norm_axis(int(_arg(n, 1, "dim", 0)), r)
    start, end, step = _arg(n, 2, "start", None), _arg(n, 3, "end", None), int(_arg(n, 4, "step", 1) or 1)
    start = 0 if start is None else start
    end = INT64_MAX if end is None else end
    if (not _is_fx(start) and int(start) == 0 and step == 1 and not _is_fx(end)
            and _static_ge(end, shape[d])):
        return x  # the whole axis

    def bound(v):
        if _is_fx(v):
            return cx.sym_value(v.meta["val"])
        return cx.ints([min(int(v), INT64_MAX)])

    return cx.final("slice", [x, bound(start), bound(end), cx.ints([d], "axes"), cx.ints([step], "steps")])


def _static_ge(end: Any, size: Any) -> bool:
    s = _static_int(size)
    return int(end) >= (INT64_MAX // 2 if s is None else s)


@_h("select", note="gather (scalar index)")
def _select(cx, n):
    x = cx.val(n.args[0])
    d = _norm_axis(int(n.args[1]), x.type.rank)
    idx = n.args[2]
    iv = cx.const(np.asarray(int(idx), np.int64), hint="index") if not _is_fx(idx) else \
        cx.emit("reshape", [cx.sym_value(idx.meta["val"]), cx.ints([])])
    return cx.final("gather", [x, iv], {"axis": d})


def _check_index(n):
    idx = n.args[1]
    tensors = [i for i in idx if i is not None]
    if len(tensors) != 1:
        return "more than one index tensor"
    if str(tensors[0].meta["val"].dtype) == "torch.bool":
        return "boolean mask index"
    return None


@_h("index", note="gather (one index tensor)", check=_check_index)
def _index(cx, n):
    x = cx.val(n.args[0])
    pos = next(i for i, t in enumerate(n.args[1]) if t is not None)
    iv = cx.cast(cx.val(n.args[1][pos]), DType.I64)
    return cx.final("gather", [x, iv], {"axis": pos})


@_h("embedding", note="gather(axis=0)")
def _embedding(cx, n):
    return cx.final("gather", [cx.val(n.args[0]), cx.cast(cx.val(n.args[1]), DType.I64)], {"axis": 0})


@_h("expand", note="expand (or nothing when no dim grows)")
def _expand(cx, n):
    x = cx.val(n.args[0])
    src = list(cx.meta(n.args[0]).shape)
    out = list(cx.out_shape())
    pad = len(out) - len(src)
    src = [1] * pad + src
    if [cx.dim(s) for s in src] == [cx.dim(s) for s in out] and pad == 0:
        return x
    target = []
    for s, o in zip(src, out):
        target.append(1 if str(s) == str(o) else o)
    shape, _ = cx.shape_value(target)
    if -1 in [cx.dim(t) for t in target]:
        raise PytorchImportError(f"{cx.label}: {cx.source[0]}: expand to an unknown size")
    return cx.final("expand", [x, shape])


def _identity(cx, n):
    return cx.val(n.args[0])


register(("contiguous", "clone", "alias", "detach", "lift_fresh_copy"), _identity, "removed")


def _check_dropout(n):
    return "training mode" if bool(_arg(n, 2, "train", False)) else None


register(("dropout", "feature_dropout", "alpha_dropout"), _identity, "removed", _check_dropout)


@_h("native_dropout", note="removed", check=_check_dropout)
def _native_dropout(cx, n):
    return [cx.val(n.args[0]), None]


@_h("_to_copy", "to", "type_as", note="cast (removed when the dtype stays)")
def _to_copy(cx, n):
    x = cx.val(n.args[0])
    dt = cx.out_dtype()
    if x.type.dtype == dt:
        return x
    return cx.final("cast", [x], {"to": _ONNX_CODE[dt]})


# elementwise --------------------------------------------------------------------------


def _promote(cx: _Lowering, a: Any, b: Any) -> DType:
    """torch's result dtype of a binary op on FX args/scalars (before comparisons)."""
    import torch

    def as_t(x):
        if _is_fx(x):
            mv = x.meta.get("val")
            if hasattr(mv, "dtype"):
                return mv
            return 0 if isinstance(mv, (int, torch.SymInt)) else 0.0
        return x

    dt = torch.result_type(as_t(a), as_t(b))
    return _TORCH_DTYPES[str(dt)]


def _binary_ir(cx: _Lowering, n: Any, ir_op: str, a: Any, b: Any) -> Value:
    dt = cx.out_dtype()
    return cx.final(ir_op, [cx.operand(a, dt), cx.operand(b, dt)])


def _scaled(cx: _Lowering, v: Any, alpha: Any, dt: DType) -> Value:
    x = cx.operand(v, dt)
    if alpha is None or alpha == 1:
        return x
    return cx.emit("mul", [x, cx.const(np.asarray(alpha, dt.numpy), hint="alpha")])


@_h("add", note="add (alpha -> mul)")
def _add(cx, n):
    a, b = n.args[0], n.args[1]
    dt = cx.out_dtype()
    return cx.final("add", [cx.operand(a, dt), _scaled(cx, b, n.kwargs.get("alpha"), dt)])


@_h("sub", note="sub (alpha -> mul)")
def _sub(cx, n):
    a, b = n.args[0], n.args[1]
    dt = cx.out_dtype()
    return cx.final("sub", [cx.operand(a, dt), _scaled(cx, b, n.kwargs.get("alpha"), dt)])


@_h("rsub", note="sub")
def _rsub(cx, n):
    a, b = n.args[0], n.args[1]
    dt = cx.out_dtype()
    return cx.final("sub", [cx.operand(b, dt), _scaled(cx, a, _arg(n, 2, "alpha"), dt)])


@_h("mul", note="mul")
def _mul(cx, n):
    return _binary_ir(cx, n, "mul", n.args[0], n.args[1])


def _check_div(n):
    mode = n.kwargs.get("rounding_mode")
    if mode == "trunc" and n.meta["val"].dtype.is_floating_point:
        return "rounding_mode=trunc on floats"
    return None


@_h("div", note="div (floor: floor(div) / exact integer floor division)", check=_check_div)
def _div(cx, n):
    a, b = n.args[0], n.args[1]
    dt = cx.out_dtype()
    y = [cx.operand(a, dt), cx.operand(b, dt)]
    mode = n.kwargs.get("rounding_mode")
    if mode == "floor" and dt.is_float:
        return cx.final("floor", [cx.emit("div", y)])
    if mode == "floor":  # integers: (a - a mod b) / b is exact, and mod takes b's sign
        rem = cx.emit("mod", y, {"fmod": 0})
        return cx.final("div", [cx.emit("sub", [y[0], rem]), y[1]])
    return cx.final("div", y)  # true division (floats) or trunc (integer div truncates)


@_h("pow", note="pow")
def _pow(cx, n):
    a, b = n.args[0], n.args[1]
    dt = cx.out_dtype()
    if not _is_fx(b) and float(b) == 2.0:
        x = cx.operand(a, dt)
        return cx.final("mul", [x, x])
    if not _is_fx(b) and float(b) == 0.5:
        return cx.final("sqrt", [cx.operand(a, dt)])
    return cx.final("pow", [cx.operand(a, dt), cx.operand(b, dt)])


def _binary(ir_op: str) -> Handler:
    return lambda cx, n: _binary_ir(cx, n, ir_op, n.args[0], n.args[1])


register("maximum", _binary("max"), "max")
register("minimum", _binary("min"), "min")


def _compare(ir_op: str, negate: bool = False) -> Handler:
    def h(cx, n):
        a, b = n.args[0], n.args[1]
        dt = _promote(cx, a, b)
        ins = [cx.operand(a, dt), cx.operand(b, dt)]
        if negate:
            return cx.final("not", [cx.emit(ir_op, ins)])
        return cx.final(ir_op, ins)

    return h


for _name, _op in {"eq": "equal", "lt": "less", "le": "less_or_equal", "gt": "greater",
                   "ge": "greater_or_equal"}.items():
    register(_name, _compare(_op), _op)
register("ne", _compare("equal", True), "not(equal)")


def _as_bool(cx: _Lowering, a: Any) -> Value:
    v = cx.val(a)
    if v.type.dtype == DType.BOOL:
        return v
    zero = cx.const(np.asarray(0, v.type.dtype.numpy), hint="zero")
    return cx.emit("not", [cx.emit("equal", [v, zero])])


@_h("logical_not", note="not")
def _logical_not(cx, n):
    return cx.final("not", [_as_bool(cx, n.args[0])])


def _check_bitwise_not(n):
    return None if str(n.args[0].meta["val"].dtype) == "torch.bool" else "integer operand"


@_h("bitwise_not", note="not (bool)", check=_check_bitwise_not)
def _bitwise_not(cx, n):
    return cx.final("not", [cx.val(n.args[0])])


def _logical(ir_op: str) -> Handler:
    return lambda cx, n: cx.final(ir_op, [_as_bool(cx, n.args[0]), _as_bool(cx, n.args[1])])


def _check_bool_operands(n):
    ok = all(str(a.meta["val"].dtype) == "torch.bool" for a in n.args[:2] if _is_fx(a))
    return None if ok else "integer operands"


for _name, _op in {"logical_and": "and", "logical_or": "or", "logical_xor": "xor"}.items():
    register(_name, _logical(_op), _op)
for _name, _op in {"bitwise_and": "and", "bitwise_or": "or", "bitwise_xor": "xor"}.items():
    register(_name, _logical(_op), f"{_op} (bool)", _check_bool_operands)


@_h("where", note="where")
def _where(cx, n):
    c, a, b = n.args[:3]
    dt = cx.out_dtype()
    return cx.final("where", [_as_bool(cx, c), cx.operand(a, dt), cx.operand(b, dt)])


# creation -----------------------------------------------------------------------------


def _check_static_out(n):
    val = n.meta.get("val")
    if any(_static_int(s) is None for s in val.shape):
        return None if op_key(n).endswith("_like") else "symbolic size"
    return None


def _fill(cx: _Lowering, value: Any, like: Any = None) -> Value:
    dt = cx.out_dtype()
    static = [_static_int(s) for s in cx.out_shape()]
    if None not in static:
        return cx.const(np.full(static, value, dtype=dt.numpy), hint="fill")
    sh = cx.emit("shape", [cx.val(like)])
    return cx.final("constant_of_shape", [sh], {"value": np.asarray([value], dtype=dt.numpy)})


@_h("full", note="const", check=_check_static_out)
def _full(cx, n):
    return _fill(cx, n.args[1])


@_h("zeros", note="const", check=_check_static_out)
def _zeros(cx, n):
    return _fill(cx, 0)


@_h("ones", note="const", check=_check_static_out)
def _ones(cx, n):
    return _fill(cx, 1)


@_h("scalar_tensor", note="const")
def _scalar_tensor(cx, n):
    return _fill(cx, n.args[0])


@_h("full_like", note="const / constant_of_shape", check=_check_static_out)
def _full_like(cx, n):
    return _fill(cx, n.args[1], n.args[0])


@_h("zeros_like", note="const / constant_of_shape", check=_check_static_out)
def _zeros_like(cx, n):
    return _fill(cx, 0, n.args[0])


@_h("ones_like", note="const / constant_of_shape", check=_check_static_out)
def _ones_like(cx, n):
    return _fill(cx, 1, n.args[0])


def _check_arange(n):
    return None if all(not _is_fx(a) for a in n.args) else "symbolic bounds"


@_h("arange", note="const", check=_check_arange)
def _arange(cx, n):
    a = [float(x) if isinstance(x, float) else int(x) for x in n.args]
    if len(a) == 1:
        a = [0, a[0], 1]
    elif len(a) == 2:
        a = [a[0], a[1], 1]
    dt = cx.out_dtype()
    return cx.const(np.arange(*a).astype(dt.numpy), hint="arange")


# padding and resizing -----------------------------------------------------------------


def _pads(cx: _Lowering, rank: int, torch_pad: Sequence[int]) -> Value:
    begin, end = [0] * rank, [0] * rank
    for i in range(len(torch_pad) // 2):
        d = rank - 1 - i
        begin[d], end[d] = int(torch_pad[2 * i]), int(torch_pad[2 * i + 1])
    return cx.ints(begin + end, "pads")


def _pad(cx: _Lowering, n: Any, mode: str, pad: Sequence[int], value: float = 0.0) -> Value:
    x = cx.val(n.args[0])
    if not any(int(p) for p in pad):
        return x
    pads = _pads(cx, x.type.rank, pad)
    if mode == "constant":
        cv = cx.const(np.asarray(value if value is not None else 0, x.type.dtype.numpy), hint="value")
        return cx.final("pad", [x, pads, cv], {"mode": "constant"})
    return cx.final("pad", [x, pads], {"mode": mode})


@_h("constant_pad_nd", note="pad (constant)")
def _constant_pad(cx, n):
    return _pad(cx, n, "constant", n.args[1], _arg(n, 2, "value", 0.0))


def _check_pad_mode(n):
    mode = _arg(n, 2, "mode", "constant")
    return None if mode in ("constant", "reflect", "replicate") else f"mode={mode}"


@_h("pad", note="pad (constant / reflect / edge)", check=_check_pad_mode)
def _pad_op(cx, n):
    mode = _arg(n, 2, "mode", "constant")
    mode = {"replicate": "edge"}.get(mode, mode)
    return _pad(cx, n, mode, n.args[1], _arg(n, 3, "value", 0.0))


register(("reflection_pad1d", "reflection_pad2d", "reflection_pad3d"),
         lambda cx, n: _pad(cx, n, "reflect", n.args[1]), "pad (reflect)")
register(("replication_pad1d", "replication_pad2d", "replication_pad3d"),
         lambda cx, n: _pad(cx, n, "edge", n.args[1]), "pad (edge)")


def _resize(cx: _Lowering, n: Any, mode: str, align: bool | None) -> Value:
    x = cx.val(n.args[0])
    key = str(n.target)
    attrs: dict[str, Any] = {"mode": mode}
    if mode == "nearest":
        attrs.update(coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    else:
        attrs["coordinate_transformation_mode"] = "align_corners" if align else "pytorch_half_pixel"
    if key.endswith(".vec"):
        scales = _arg(n, 3 if mode == "linear" else 2, "scale_factors")
    else:  # .default: (x, output_size, [align_corners,] scales_h=None, scales_w=None)
        first = 3 if mode == "linear" else 2
        scales = [_arg(n, first, "scales_h"), _arg(n, first + 1, "scales_w")]
        scales = None if None in scales else scales
    out = [_static_int(s) for s in cx.out_shape()[2:]]
    if scales and not align:
        # torch maps coordinates with the given scale factors, as resize does with scales
        sc = cx.const(np.asarray([1.0, 1.0] + [float(s) for s in scales], np.float32), hint="scales")
        return cx.final("resize", [x, None, sc], attrs)
    sizes = [int(s) for s in x.type.shape[:2]] + out if all(isinstance(s, int) for s in x.type.shape[:2]) else None
    if sizes is None:
        attrs["axes"] = [2, 3]
        return cx.final("resize", [x, None, None, cx.ints(out, "sizes")], attrs)
    return cx.final("resize", [x, None, None, cx.ints(sizes, "sizes")], attrs)


@_h("upsample_nearest2d", note="resize nearest (asymmetric, floor)")
def _up_nearest(cx, n):
    return _resize(cx, n, "nearest", None)


@_h("upsample_bilinear2d", note="resize linear (pytorch_half_pixel or align_corners)")
def _up_bilinear(cx, n):
    return _resize(cx, n, "linear", bool(n.args[2]))


# attention ----------------------------------------------------------------------------


def _check_sdpa(n):
    if float(_arg(n, 4, "dropout_p", 0.0) or 0.0) != 0.0:
        return "dropout_p"
    if n.kwargs.get("enable_gqa"):
        q, k = n.args[0].meta["val"], n.args[1].meta["val"]
        if q.shape[-3] != k.shape[-3]:
            return "grouped-query heads"
    return None


@_h("scaled_dot_product_attention", note="matmul, mul(scale), mask add, softmax, matmul", check=_check_sdpa)
def _sdpa(cx, n):
    q, k, v = (cx.val(a) for a in n.args[:3])
    mask = _arg(n, 3, "attn_mask")
    causal = bool(_arg(n, 5, "is_causal", False))
    scale = n.kwargs.get("scale")
    e = int(q.type.shape[-1])
    scale = 1.0 / math.sqrt(e) if scale is None else float(scale)
    dt = q.type.dtype
    r = k.type.rank
    perm = list(range(r))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    kt = cx.emit("transpose", [k], {"perm": perm})
    s = cx.emit("matmul", [q, kt])
    s = cx.emit("mul", [s, cx.const(np.asarray(scale, dt.numpy), hint="scale")])
    neg_inf = np.asarray(-np.inf, dt.numpy)
    if causal:
        L, S = int(q.type.shape[-2]), int(k.type.shape[-2])
        tri = np.tril(np.ones((L, S), dtype=bool))
        bias = np.where(tri, np.asarray(0, dt.numpy), neg_inf).astype(dt.numpy)
        s = cx.emit("add", [s, cx.const(bias, hint="causal_mask")])
    if mask is not None:
        m = cx.val(mask)
        if m.type.dtype == DType.BOOL:
            m = cx.emit("where", [m, cx.const(np.asarray(0, dt.numpy), hint="zero"),
                                  cx.const(neg_inf, hint="neg_inf")])
        s = cx.emit("add", [s, cx.cast(m, dt)])
    p = cx.emit("softmax", [s], {"axis": -1})
    return cx.final("matmul", [p, v])
