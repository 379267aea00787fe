"""Neural-network ops: convolution, pooling, normalization, resize, pixel shuffles, RNNs.

Every op has the semantics of the latest ONNX opset of the op it is named after
(:func:`compiler.ops.onnx_names.ir_name`), with ONNX's input and attribute names.

Contracts:

* Spatial ops take ``[N, C, D1, ..., Dn]`` tensors (1-D, 2-D and 3-D all work). Output
  geometry comes from one helper, :func:`pool_geometry`, shared by inference and kernels,
  so the inferred shape is the computed one. Symbolic spatial dims survive where the op
  keeps them (``SAME`` padding at stride 1, 1x1 stride-1 windows); otherwise they become "?".
* Kernels are vectorized: convolution is im2col (one strided copy per kernel tap) plus one
  BLAS matmul per group batch; depthwise convolution and pooling accumulate one strided
  slice per kernel tap. No Python loop runs over pixels; RNNs loop over time steps only.
* float16/bfloat16 inputs are computed in float32 and rounded back, so outputs always have
  the inferred dtype.
* ``conv``/``conv_transpose`` take the IR-only ``activation`` attribute, applied after the
  bias (see :func:`compiler.ops.elementwise.apply_activation`).
* ``conv_transpose`` with ``output_shape`` or ``SAME_*`` padding splits the total padding as
  the ONNX specification (and its reference implementation) says; onnxruntime splits odd
  totals the other way round.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..ir.types import UNKNOWN_DIM, Dim, DType, TensorType
from .elementwise import apply_activation, check_activation, sigmoid, work_float
from .registry import InferContext, SchemaError, defop, normalize_axis

_AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")
_ACT = {"activation": ("str", "")}

# -- shared geometry -------------------------------------------------------------------------


def _ints(v: Any, n: int, default: int, op: str, field: str) -> list[int]:
    if v is None or len(v) == 0:
        return [default] * n
    if len(v) != n:
        raise SchemaError(f"{op}: attribute '{field}' has {len(v)} values, expected {n}")
    return [int(x) for x in v]


def _pads(v: Any, n: int, op: str) -> tuple[list[int], list[int]]:
    if v is None or len(v) == 0:
        return [0] * n, [0] * n
    if len(v) != 2 * n:
        raise SchemaError(f"{op}: attribute 'pads' has {len(v)} values, expected {2 * n} "
                          "(begin values of every spatial axis, then end values)")
    return [int(x) for x in v[:n]], [int(x) for x in v[n:]]


def pool_geometry(
    op: str,
    spatial: Sequence[Dim],
    kernel: Sequence[int],
    attrs: dict[str, Any],
    ceil_mode: bool = False,
) -> tuple[list[Dim], list[int | None], list[int | None]]:
    """Output dims and resolved (begin, end) pads of a sliding-window op.

    ``spatial`` dims may be symbolic; pads that depend on an unknown dim are None (only
    ``SAME_*`` padding does). Implements ONNX's rules: explicit pads, ``SAME_UPPER``/
    ``SAME_LOWER`` (output ``ceil(in / stride)``, odd total padding goes to the end/begin),
    ``VALID`` (no padding) and ``ceil_mode`` (a last window that would start in the end
    padding is dropped).
    """
    n = len(spatial)
    strides = _ints(attrs.get("strides"), n, 1, op, "strides")
    dils = _ints(attrs.get("dilations"), n, 1, op, "dilations")
    auto_pad = attrs.get("auto_pad", "NOTSET") or "NOTSET"
    if auto_pad not in _AUTO_PADS:
        raise SchemaError(f"{op}: auto_pad={auto_pad!r} is not one of {', '.join(_AUTO_PADS)}")
    if any(s <= 0 for s in strides) or any(d <= 0 for d in dils):
        raise SchemaError(f"{op}: strides and dilations must be positive (got {strides}, {dils})")
    pb, pe = _pads(attrs.get("pads"), n, op)
    out: list[Dim] = []
    begins: list[int | None] = []
    ends: list[int | None] = []
    for i, d in enumerate(spatial):
        ek = (kernel[i] - 1) * dils[i] + 1
        s = strides[i]
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            if isinstance(d, int):
                o = -(-d // s)
                total = max(0, (o - 1) * s + ek - d)
                small = total // 2
                b = small if auto_pad == "SAME_UPPER" else total - small
                out.append(o)
                begins.append(b)
                ends.append(total - b)
            else:
                out.append(d if s == 1 else UNKNOWN_DIM)
                begins.append(None)
                ends.append(None)
            continue
        b, e = (0, 0) if auto_pad == "VALID" else (pb[i], pe[i])
        begins.append(b)
        ends.append(e)
        if not isinstance(d, int):
            out.append(d if (ek == 1 and s == 1 and b + e == 0) else UNKNOWN_DIM)
            continue
        span = d + b + e - ek
        if span < 0:
            raise SchemaError(
                f"{op}: the window ({ek} with dilation) is larger than the padded input "
                f"({d} + {b + e}) along spatial axis {i}"
            )
        if ceil_mode:
            o = -(-span // s) + 1
            if (o - 1) * s >= d + b:  # the last window would start in the end padding
                o -= 1
        else:
            o = span // s + 1
        out.append(o)
    return out, begins, ends


def _padded_for_windows(
    x: np.ndarray,
    out: Sequence[int],
    begins: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    dils: Sequence[int],
    value: Any,
) -> np.ndarray:
    """``x`` padded with ``value`` (begin pads, then up to where the last window ends)."""
    n = len(out)
    width = [(0, 0)] * (x.ndim - n)
    crop = [slice(None)] * (x.ndim - n)
    need_pad = False
    for i in range(n):
        d = x.shape[x.ndim - n + i]
        need = (out[i] - 1) * strides[i] + (kernel[i] - 1) * dils[i] + 1 if out[i] > 0 else 0
        b = begins[i]
        e = need - d - b
        width.append((max(b, 0), max(e, 0)))
        need_pad |= b > 0 or e > 0
        crop.append(slice(max(-b, 0), max(-b, 0) + need))
    if need_pad:  # np.full + one copy: several times faster than np.pad on small tensors
        xp = np.full([d + lo + hi for d, (lo, hi) in zip(x.shape, width)], value, dtype=x.dtype)
        xp[tuple(slice(lo, lo + d) for d, (lo, _) in zip(x.shape, width))] = x
        x = xp
    return x[tuple(crop)]


def _taps(
    xp: np.ndarray, out: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
    dils: Sequence[int],
):
    """Yield, per kernel tap (row-major), the strided view of ``xp`` that tap reads."""
    for offs in itertools.product(*(range(k) for k in kernel)):
        sl = tuple(
            slice(o * d, o * d + (m - 1) * s + 1, s)
            for o, d, m, s in zip(offs, dils, out, strides)
        )
        yield xp[(Ellipsis,) + sl]


def _float_only(ctx: InferContext, i: int = 0) -> DType:
    dt = ctx.dtype(i)
    if not dt.is_float:
        raise SchemaError(f"{ctx.op}: input {i} has element type {dt}; only float types are "
                          "supported (insert a cast, or use the quantized op)")
    return dt


def _spatial_rank(ctx: InferContext, op: str) -> int | None:
    s = ctx.shape(0)
    if s is None:
        return None
    if len(s) < 3:
        raise SchemaError(f"{op}: input must be [N, C, D1, ...] (rank >= 3), got rank {len(s)}")
    return len(s) - 2


def _restore(y: np.ndarray, like: np.dtype) -> np.ndarray:
    return y if y.dtype == like else y.astype(like)


# -- convolution -----------------------------------------------------------------------------

_CONV_ATTRS = {
    "auto_pad": ("str", "NOTSET"),
    "dilations": ("ints", None),
    "group": ("int", 1),
    "kernel_shape": ("ints", None),
    "pads": ("ints", None),
    "strides": ("ints", None),
    **_ACT,
}


def _kernel_shape(ctx: InferContext, n: int | None) -> list[int] | None:
    ks = ctx.attrs.get("kernel_shape")
    if ks:
        return [int(k) for k in ks]
    ws = ctx.shape(1)
    if ws is not None and all(isinstance(d, int) for d in ws[2:]):
        return list(ws[2:])
    return None


def _infer_conv(ctx: InferContext) -> list[TensorType]:
    dt = _float_only(ctx)
    if ctx.dtype(1) != dt:
        raise SchemaError(f"{ctx.op}: X is {dt} but W is {ctx.dtype(1)}; insert a cast")
    check_activation(ctx.op, ctx.attr("activation"))
    xs, ws = ctx.shape(0), ctx.shape(1)
    n = _spatial_rank(ctx, ctx.op)
    if n is None and ws is not None:
        n = len(ws) - 2
    g = int(ctx.attr("group"))
    if n is None:
        return [TensorType(dt, None)]
    m: Dim = ws[0] if ws is not None else UNKNOWN_DIM
    if xs is not None and ws is not None:
        c, wc = xs[1], ws[1]
        if isinstance(c, int) and isinstance(wc, int) and c != wc * g:
            raise SchemaError(f"{ctx.op}: X has {c} channels but W expects {wc} x group {g}")
    if isinstance(m, int) and m % g:
        raise SchemaError(f"{ctx.op}: {m} output channels do not divide into {g} groups")
    k = _kernel_shape(ctx, n)
    if xs is None:
        return [TensorType(dt, (UNKNOWN_DIM, m) + (UNKNOWN_DIM,) * n)]
    if k is None:
        return [TensorType(dt, (xs[0], m) + (UNKNOWN_DIM,) * n)]
    out, _, _ = pool_geometry(ctx.op, xs[2:], k, ctx.attrs)
    return [TensorType(dt, (xs[0], m, *out))]


def _bias_act(y: np.ndarray, b: np.ndarray | None, act: str) -> np.ndarray:
    if b is not None:
        y += b.astype(y.dtype, copy=False).reshape((1, -1) + (1,) * (y.ndim - 2))
    if act == "relu":
        np.maximum(y, 0, out=y)
        return y
    return apply_activation(y, act)


def conv_nd(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, attrs: dict[str, Any]) -> np.ndarray:
    """N-d grouped convolution (cross-correlation) in ``x``'s dtype, before any activation."""
    n = x.ndim - 2
    g = int(attrs["group"])
    kernel = list(w.shape[2:])
    if attrs.get("kernel_shape") and list(attrs["kernel_shape"]) != kernel:
        raise SchemaError(f"conv: kernel_shape {attrs['kernel_shape']} disagrees with W {w.shape}")
    out, begins, _ = pool_geometry("conv", x.shape[2:], kernel, attrs)
    strides = _ints(attrs.get("strides"), n, 1, "conv", "strides")
    dils = _ints(attrs.get("dilations"), n, 1, "conv", "dilations")
    nb, c = x.shape[:2]
    m = w.shape[0]
    cg, mg = c // g, m // g
    if cg != w.shape[1]:
        raise SchemaError(f"conv: X has {c} channels but W {w.shape} expects {w.shape[1]} x group {g}")
    dt = np.result_type(x.dtype, np.float32)
    x = x.astype(dt, copy=False)
    w = w.astype(dt, copy=False)
    ktot = int(np.prod(kernel, dtype=np.int64))
    lsize = int(np.prod(out, dtype=np.int64))
    if ktot == 1 and all(v == 0 for v in begins) and list(out) == [
        (d - 1) // s + 1 for d, s in zip(x.shape[2:], strides)
    ]:
        # 1x1 window: the input (subsampled by the strides) is its own im2col matrix
        xs = x[(Ellipsis,) + tuple(slice(None, None, s) for s in strides)] if any(
            s != 1 for s in strides) else x
        cols = np.ascontiguousarray(xs).reshape(nb, g, cg, lsize)
        y = np.matmul(w.reshape(g, mg, cg), cols)
        return y.reshape(nb, m, *out)
    xp = _padded_for_windows(x, out, begins, kernel, strides, dils, 0)
    if cg == 1 and ktot > 1:
        # depthwise: one multiply-add of a strided slice per tap beats a batch of tiny matmuls
        if mg > 1:
            xp = np.repeat(xp, mg, axis=1)
        wf = w.reshape(m, ktot)
        y = np.zeros((nb, m, *out), dtype=dt)
        tmp = np.empty_like(y)
        bshape = (1, m) + (1,) * n
        for t, sl in enumerate(_taps(xp, out, kernel, strides, dils)):
            np.multiply(sl, wf[:, t].reshape(bshape), out=tmp)
            y += tmp
        return y
    # im2col: cols[n, c, tap, *out], one strided copy per kernel tap, then one matmul
    cols = np.empty((nb, c, ktot, *out), dtype=dt)
    for t, sl in enumerate(_taps(xp, out, kernel, strides, dils)):
        cols[:, :, t] = sl
    cols = cols.reshape(nb, g, cg * ktot, lsize)
    y = np.matmul(w.reshape(g, mg, cg * ktot), cols)
    return y.reshape(nb, m, *out)


@defop("conv", inputs=("X", "W", "B?"), attrs=_CONV_ATTRS, infer=_infer_conv, category="nn",
       weights={1: 0}, bias=2, quant_role="compute", cost="conv")  # W: OIHW...
def conv(inputs, attrs):
    """N-d convolution with groups, dilations, strides, pads/auto_pad (fused activation)."""
    x, w = inputs[0], inputs[1]
    b = inputs[2] if len(inputs) > 2 else None
    y = conv_nd(x, w, b, attrs)
    y = _bias_act(y, b, attrs["activation"])
    return _restore(y, x.dtype)


def _conv_transpose_geometry(
    op: str, spatial: Sequence[Dim], kernel: Sequence[int], attrs: dict[str, Any]
) -> tuple[list[Dim], list[int | None]]:
    """Output dims and begin pads of a transposed convolution (ONNX ConvTranspose rules)."""
    n = len(spatial)
    strides = _ints(attrs.get("strides"), n, 1, op, "strides")
    dils = _ints(attrs.get("dilations"), n, 1, op, "dilations")
    opad = _ints(attrs.get("output_padding"), n, 0, op, "output_padding")
    auto_pad = attrs.get("auto_pad") or "NOTSET"
    if auto_pad not in _AUTO_PADS:
        raise SchemaError(f"{op}: auto_pad={auto_pad!r} is not one of {', '.join(_AUTO_PADS)}")
    oshape = attrs.get("output_shape")
    if oshape:
        oshape = [int(v) for v in oshape][-n:]
        if len(oshape) != n:
            raise SchemaError(f"{op}: output_shape {attrs['output_shape']} has too few dims")
    pb, pe = _pads(attrs.get("pads"), n, op)
    out: list[Dim] = []
    begins: list[int | None] = []
    for i, d in enumerate(spatial):
        ek = (kernel[i] - 1) * dils[i] + 1
        if oshape or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            if oshape:
                o: Dim = oshape[i]
            else:
                o = d * strides[i] if isinstance(d, int) else UNKNOWN_DIM
            out.append(o)
            if isinstance(d, int) and isinstance(o, int):
                total = strides[i] * (d - 1) + opad[i] + ek - o
                small = total // 2
                begins.append(small if auto_pad == "SAME_UPPER" else total - small)
            else:
                begins.append(None)
            continue
        b, e = (0, 0) if auto_pad == "VALID" else (pb[i], pe[i])
        begins.append(b)
        if isinstance(d, int):
            out.append(strides[i] * (d - 1) + opad[i] + ek - b - e)
        else:
            out.append(d if strides[i] == 1 and ek == 1 and b + e == opad[i] == 0 else UNKNOWN_DIM)
    return out, begins


def _infer_conv_transpose(ctx: InferContext) -> list[TensorType]:
    dt = _float_only(ctx)
    check_activation(ctx.op, ctx.attr("activation"))
    xs, ws = ctx.shape(0), ctx.shape(1)
    n = _spatial_rank(ctx, ctx.op)
    if n is None and ws is not None:
        n = len(ws) - 2
    if n is None:
        return [TensorType(dt, None)]
    g = int(ctx.attr("group"))
    m: Dim = ws[1] * g if ws is not None and isinstance(ws[1], int) else UNKNOWN_DIM
    k = _kernel_shape(ctx, n)
    if xs is None:
        return [TensorType(dt, (UNKNOWN_DIM, m) + (UNKNOWN_DIM,) * n)]
    if k is None:
        return [TensorType(dt, (xs[0], m) + (UNKNOWN_DIM,) * n)]
    out, _ = _conv_transpose_geometry(ctx.op, xs[2:], k, ctx.attrs)
    return [TensorType(dt, (xs[0], m, *out))]


@defop(
    "conv_transpose",
    inputs=("X", "W", "B?"),
    attrs={**_CONV_ATTRS, "output_padding": ("ints", None), "output_shape": ("ints", None)},
    infer=_infer_conv_transpose,
    category="nn",
    # W is [C_in, C_out / group, k...]: axis 1 is the output channel within a group (with
    # group > 1, output channel g * C_out / group + c reads W[:, c] of group g's rows).
    weights={1: 1},
    bias=2,
    quant_role="compute",
    cost="conv_transpose",
)
def conv_transpose(inputs, attrs):
    """N-d transposed convolution: one matmul per group, then one strided add per kernel tap."""
    x, w = inputs[0], inputs[1]
    b = inputs[2] if len(inputs) > 2 else None
    n = x.ndim - 2
    g = int(attrs["group"])
    kernel = list(w.shape[2:])
    out, begins = _conv_transpose_geometry("conv_transpose", x.shape[2:], kernel, attrs)
    strides = _ints(attrs.get("strides"), n, 1, "conv_transpose", "strides")
    dils = _ints(attrs.get("dilations"), n, 1, "conv_transpose", "dilations")
    nb, c = x.shape[:2]
    if c != w.shape[0]:
        raise SchemaError(f"conv_transpose: X has {c} channels but W {w.shape} expects {w.shape[0]}")
    cg, mg = c // g, w.shape[1]
    m = mg * g
    dt = np.result_type(x.dtype, np.float32)
    xf = x.astype(dt, copy=False).reshape(nb, g, cg, -1)
    ktot = int(np.prod(kernel, dtype=np.int64))
    # cols[n, g, mg*ktot, L_in] = W_g^T @ X_g
    wg = w.astype(dt, copy=False).reshape(g, cg, mg * ktot)
    cols = np.matmul(wg.transpose(0, 2, 1), xf).reshape(nb, m, ktot, *x.shape[2:])
    # scatter every tap into the full (uncropped) output, then crop the begin padding
    full = [max((d - 1) * s + (k - 1) * dl + 1, bg + o)
            for d, s, k, dl, bg, o in zip(x.shape[2:], strides, kernel, dils, begins, out)]
    lo = [max(0, -bg) for bg in begins]  # negative pads grow the output at the front
    buf = np.zeros((nb, m, *[f + l for f, l in zip(full, lo)]), dtype=dt)
    for t, offs in enumerate(itertools.product(*(range(k) for k in kernel))):
        sl = tuple(
            slice(l + o * dl, l + o * dl + (d - 1) * s + 1, s)
            for l, o, dl, d, s in zip(lo, offs, dils, x.shape[2:], strides)
        )
        buf[(Ellipsis,) + sl] += cols[:, :, t]
    crop = tuple(slice(l + bg, l + bg + o) for l, bg, o in zip(lo, begins, out))
    y = np.ascontiguousarray(buf[(Ellipsis,) + crop])
    y = _bias_act(y, b, attrs["activation"])
    return _restore(y, x.dtype)


# -- pooling ---------------------------------------------------------------------------------

_POOL_ATTRS = {
    "auto_pad": ("str", "NOTSET"),
    "ceil_mode": ("int", 0),
    "dilations": ("ints", None),
    "kernel_shape": ("ints",),
    "pads": ("ints", None),
    "strides": ("ints", None),
}


def _infer_pool(ctx: InferContext) -> list[TensorType]:
    dt = ctx.dtype(0)
    if ctx.op != "max_pool":
        _float_only(ctx)
    elif not (dt.is_float or dt in (DType.I8, DType.U8)):
        raise SchemaError(f"max_pool: element type {dt} is not supported (float, int8, uint8)")
    k = [int(v) for v in ctx.attr("kernel_shape")]
    xs = ctx.shape(0)
    n = _spatial_rank(ctx, ctx.op)
    if n is not None and n != len(k):
        raise SchemaError(f"{ctx.op}: kernel_shape {k} does not fit an input of rank {n + 2}")
    if xs is None:
        shape = None
    else:
        out, _, _ = pool_geometry(ctx.op, xs[2:], k, ctx.attrs, bool(ctx.attr("ceil_mode")))
        shape = (xs[0], xs[1], *out)
    types = [TensorType(dt, shape)]
    if ctx.op == "max_pool" and (ctx.num_outputs or 1) > 1:
        types.append(TensorType(DType.I64, shape))
    return types


def _pool_setup(x: np.ndarray, attrs: dict[str, Any], op: str):
    k = [int(v) for v in attrs["kernel_shape"]]
    n = x.ndim - 2
    if n != len(k):
        raise SchemaError(f"{op}: kernel_shape {k} does not fit an input of rank {x.ndim}")
    out, begins, ends = pool_geometry(op, x.shape[2:], k, attrs, bool(attrs.get("ceil_mode", 0)))
    strides = _ints(attrs.get("strides"), n, 1, op, "strides")
    dils = _ints(attrs.get("dilations"), n, 1, op, "dilations")
    return k, out, begins, ends, strides, dils


def _lowest(dt: np.dtype) -> Any:
    return -np.inf if dt.kind == "f" or dt.name == "bfloat16" else np.iinfo(dt).min


@defop(
    "max_pool",
    inputs=("X",),
    outputs=("Y", "Indices?"),
    attrs={**_POOL_ATTRS, "storage_order": ("int", 0)},
    quant_role="same_scale",
    cost="pool",
    infer=_infer_pool,
    category="nn",
)
def max_pool(inputs, attrs):
    """Max over sliding windows (padding never wins); optional flat argmax Indices."""
    x = inputs[0]
    k, out, begins, _, strides, dils = _pool_setup(x, attrs, "max_pool")
    xw = work_float(x)
    xp = _padded_for_windows(xw, out, begins, k, strides, dils, _lowest(xw.dtype))
    taps = list(_taps(xp, out, k, strides, dils))
    y = np.array(taps[0])
    for sl in taps[1:]:
        np.maximum(y, sl, out=y)
    # the first tap (row-major) holding the maximum, found walking the taps backwards
    idx = np.zeros(y.shape, dtype=np.int32)
    hit = np.empty(y.shape, dtype=bool)
    for t in range(len(taps) - 1, -1, -1):
        np.equal(taps[t], y, out=hit)
        np.copyto(idx, t, where=hit)
    # flat Indices into the unpadded input, as onnxruntime computes them
    n = len(k)
    offs = np.unravel_index(idx, k) if n else ()
    spatial = x.shape[2:]
    coords = []
    for i in range(n):
        pos = np.arange(out[i]).reshape((-1,) + (1,) * (n - 1 - i)) * strides[i] - begins[i]
        coords.append(pos + offs[i] * dils[i])
    if attrs.get("storage_order", 0) and n >= 2:
        flat = coords[0] + coords[1] * spatial[0]
        for i in range(2, n):
            flat = flat + coords[i] * int(np.prod(spatial[:i]))
    else:
        flat = np.zeros_like(idx)
        for i in range(n):
            flat = flat * spatial[i] + coords[i]
    base = (np.arange(x.shape[0] * x.shape[1], dtype=np.int64) * int(np.prod(spatial))).reshape(
        x.shape[0], x.shape[1], *([1] * n))
    return [_restore(y, x.dtype), base + flat]


def _window_counts(spatial, out, begins, ends, k, strides, dils, include_pad: bool) -> np.ndarray:
    """How many elements each window averages: real ones, or real + declared padding."""
    mask = np.ones(tuple(spatial), dtype=np.float64)
    if include_pad:
        mask = np.pad(mask, [(b, e) for b, e in zip(begins, ends)], constant_values=1.0)
        mbeg = [0] * len(begins)
    else:
        mbeg = list(begins)
    mp = _padded_for_windows(mask, out, mbeg, k, strides, dils, 0.0)
    cnt = np.zeros(tuple(out), dtype=np.float64)
    for sl in _taps(mp, out, k, strides, dils):
        cnt += sl
    return cnt


@defop(
    "avg_pool",
    inputs=("X",),
    attrs={**_POOL_ATTRS, "count_include_pad": ("int", 0)},
    quant_role="compute",
    cost="pool",
    infer=_infer_pool,
    category="nn",
)
def avg_pool(inputs, attrs):
    """Mean over sliding windows; padding counts only with count_include_pad=1."""
    x = inputs[0]
    k, out, begins, ends, strides, dils = _pool_setup(x, attrs, "avg_pool")
    xw = work_float(x)
    xp = _padded_for_windows(xw, out, begins, k, strides, dils, 0)
    y = np.zeros((*x.shape[:2], *out), dtype=xw.dtype)
    for sl in _taps(xp, out, k, strides, dils):
        y += sl
    cnt = _window_counts(x.shape[2:], out, begins, ends, k, strides, dils,
                         bool(attrs["count_include_pad"]))
    y /= np.maximum(cnt, 1).astype(y.dtype)
    return _restore(y, x.dtype)


@defop("lp_pool", inputs=("X",), attrs={**_POOL_ATTRS, "p": ("int", 2)}, infer=_infer_pool,
       category="nn", cost="pool")
def lp_pool(inputs, attrs):
    """(sum |x|^p over each window)^(1/p), zero padding."""
    x = inputs[0]
    k, out, begins, _, strides, dils = _pool_setup(x, attrs, "lp_pool")
    p = float(attrs["p"])
    xw = np.abs(work_float(x)) ** p
    xp = _padded_for_windows(xw, out, begins, k, strides, dils, 0)
    y = np.zeros((*x.shape[:2], *out), dtype=xw.dtype)
    for sl in _taps(xp, out, k, strides, dils):
        y += sl
    return _restore(y ** (1.0 / p), x.dtype)


def _infer_global(ctx: InferContext) -> list[TensorType]:
    dt = _float_only(ctx)
    s = ctx.shape(0)
    if s is not None:
        _spatial_rank(ctx, ctx.op)
        s = (*s[:2],) + (1,) * (len(s) - 2)
    return [TensorType(dt, s)]


@defop("global_avg_pool", inputs=("X",), infer=_infer_global, category="nn",
       quant_role="compute", cost="reduce")
def global_avg_pool(inputs, attrs):
    """Mean over all spatial axes, kept as size-1 dims."""
    x = inputs[0]
    return _restore(work_float(x).mean(axis=tuple(range(2, x.ndim)), keepdims=True), x.dtype)


@defop("global_max_pool", inputs=("X",), infer=_infer_global, category="nn",
       quant_role="same_scale", cost="reduce")
def global_max_pool(inputs, attrs):
    """Max over all spatial axes, kept as size-1 dims."""
    x = inputs[0]
    return x.max(axis=tuple(range(2, x.ndim)), keepdims=True)


@defop("global_lp_pool", inputs=("X",), attrs={"p": ("int", 2)}, infer=_infer_global,
       category="nn", cost="reduce")
def global_lp_pool(inputs, attrs):
    """(sum |x|^p over all spatial axes)^(1/p), kept as size-1 dims."""
    x = inputs[0]
    p = float(attrs["p"])
    s = (np.abs(work_float(x)) ** p).sum(axis=tuple(range(2, x.ndim)), keepdims=True)
    return _restore(s ** (1.0 / p), x.dtype)


# -- normalization ---------------------------------------------------------------------------


def _channel_shape(x: np.ndarray) -> tuple[int, ...]:
    return (1, -1) + (1,) * (x.ndim - 2)


def _infer_batch_norm(ctx: InferContext) -> list[TensorType]:
    if ctx.attr("training_mode"):
        raise SchemaError("batch_norm: training_mode=1 is not supported (infercc compiles for "
                          "inference; export the model in eval mode)")
    dt = _float_only(ctx)
    types = [TensorType(dt, ctx.shape(0))]
    for i in range(1, min(ctx.num_outputs or 1, 3)):
        types.append(TensorType(ctx.dtype(3), ctx.shape(3)))
    return types


@defop(
    "batch_norm",
    inputs=("X", "scale", "B", "input_mean", "input_var"),
    outputs=("Y", "running_mean?", "running_var?"),
    attrs={"epsilon": ("float", 1e-5), "momentum": ("float", 0.9), "training_mode": ("int", 0)},
    infer=_infer_batch_norm,
    category="nn",
    cost="normalization",
)
def batch_norm(inputs, attrs):
    """Inference batch normalization with running statistics (training mode is refused)."""
    if attrs["training_mode"]:
        raise SchemaError("batch_norm: training_mode=1 is not supported for inference")
    x, scale, b, mean, var = inputs[:5]
    xw = work_float(x)
    cs = _channel_shape(x)
    f = (work_float(scale) / np.sqrt(work_float(var) + attrs["epsilon"])).astype(xw.dtype)
    y = xw * f.reshape(cs)
    y += (work_float(b) - work_float(mean) * f).astype(xw.dtype).reshape(cs)
    return [_restore(y, x.dtype), mean, var]


def _stash(x: np.ndarray) -> np.dtype:
    return np.dtype(np.float64) if x.dtype == np.float64 else np.dtype(np.float32)


def _infer_layer_norm(ctx: InferContext) -> list[TensorType]:
    dt = _float_only(ctx)
    s = ctx.shape(0)
    types = [TensorType(dt, s)]
    n_out = ctx.num_outputs or 1
    if n_out > 1:
        st = DType.F32 if int(ctx.attr("stash_type")) == 1 else dt
        if s is None:
            ms = None
        else:
            ax = normalize_axis(int(ctx.attr("axis")), len(s), ctx.op)
            ms = tuple(s[:ax]) + (1,) * (len(s) - ax)
        types += [TensorType(st, ms)] * (n_out - 1)
    return types


@defop(
    "layer_norm",
    inputs=("X", "Scale", "B?"),
    outputs=("Y", "Mean?", "InvStdDev?"),
    attrs={"axis": ("int", -1), "epsilon": ("float", 1e-5), "stash_type": ("int", 1)},
    infer=_infer_layer_norm,
    category="nn",
    cost="normalization",
)
def layer_norm(inputs, attrs):
    """Normalize over axes [axis, rank), then scale and shift (opset-17 LayerNormalization)."""
    x, scale = inputs[0], inputs[1]
    b = inputs[2] if len(inputs) > 2 else None
    ax = normalize_axis(int(attrs["axis"]), x.ndim, "layer_norm")
    st = _stash(x) if int(attrs["stash_type"]) == 1 else np.result_type(x.dtype, np.float32)
    xs = x.astype(st)
    axes = tuple(range(ax, x.ndim))
    mean = xs.mean(axis=axes, keepdims=True)
    d = xs - mean
    inv = 1.0 / np.sqrt((d * d).mean(axis=axes, keepdims=True) + attrs["epsilon"])
    y = d * inv * scale.astype(st)
    if b is not None:
        y = y + b.astype(st)
    stash_out = np.float32 if int(attrs["stash_type"]) == 1 else x.dtype
    return [y.astype(x.dtype), mean.astype(stash_out), inv.astype(stash_out)]


@defop("instance_norm", inputs=("input", "scale", "B"), outputs=("output",),
       attrs={"epsilon": ("float", 1e-5)}, infer=lambda ctx: [TensorType(_float_only(ctx), ctx.shape(0))],
       category="nn", cost="normalization")
def instance_norm(inputs, attrs):
    """Per-(sample, channel) normalization over spatial axes, then per-channel scale/shift."""
    x, scale, b = inputs[:3]
    xw = x.astype(np.result_type(x.dtype, np.float32))
    axes = tuple(range(2, x.ndim))
    mean = xw.mean(axis=axes, keepdims=True)
    d = xw - mean
    var = (d * d).mean(axis=axes, keepdims=True)
    cs = _channel_shape(x)
    y = d / np.sqrt(var + attrs["epsilon"]) * work_float(scale).reshape(cs) + work_float(b).reshape(cs)
    return y.astype(x.dtype)


@defop("group_norm", inputs=("X", "scale", "bias"),
       attrs={"epsilon": ("float", 1e-5), "num_groups": ("int",), "stash_type": ("int", 1)},
       infer=lambda ctx: [TensorType(_float_only(ctx), ctx.shape(0))], category="nn",
       cost="normalization")
def group_norm(inputs, attrs):
    """Normalize over (channel group, spatial), then per-channel scale/bias (opset 21)."""
    x, scale, b = inputs[:3]
    g = int(attrs["num_groups"])
    nb, c = x.shape[:2]
    if c % g:
        raise SchemaError(f"group_norm: {c} channels do not divide into {g} groups")
    xw = x.astype(np.result_type(x.dtype, np.float32)).reshape(nb, g, -1)
    mean = xw.mean(axis=-1, keepdims=True)
    d = xw - mean
    var = (d * d).mean(axis=-1, keepdims=True)
    y = (d / np.sqrt(var + attrs["epsilon"])).reshape(x.shape)
    cs = _channel_shape(x)
    sc, bi = work_float(scale), work_float(b)
    if sc.size == g and g != c:  # opset-18 form: one scale per group
        sc, bi = np.repeat(sc, c // g), np.repeat(bi, c // g)
    y = y * sc.reshape(cs) + bi.reshape(cs)
    return y.astype(x.dtype)


@defop("lrn", inputs=("X",), attrs={"alpha": ("float", 1e-4), "beta": ("float", 0.75),
                                   "bias": ("float", 1.0), "size": ("int",)},
       infer=lambda ctx: [TensorType(_float_only(ctx), ctx.shape(0))], category="nn",
       cost="normalization")
def lrn(inputs, attrs):
    """Local response normalization across channels (window of ``size`` channels)."""
    x = inputs[0]
    size = int(attrs["size"])
    xw = work_float(x)
    sq = xw * xw
    lo, hi = (size - 1) // 2, -(-(size - 1) // 2)
    c = x.shape[1]
    cum = np.concatenate([np.zeros_like(sq[:, :1]), np.cumsum(sq, axis=1)], axis=1)
    top = np.minimum(np.arange(c) + hi + 1, c)
    bot = np.maximum(np.arange(c) - lo, 0)
    s = np.take(cum, top, axis=1) - np.take(cum, bot, axis=1)
    y = xw / (attrs["bias"] + attrs["alpha"] / size * s) ** attrs["beta"]
    return _restore(y.astype(xw.dtype), x.dtype)


@defop("lp_norm", inputs=("input",), outputs=("output",), attrs={"axis": ("int", -1), "p": ("int", 2)},
       infer=lambda ctx: [TensorType(_float_only(ctx), ctx.shape(0))], category="nn",
       cost="normalization")
def lp_norm(inputs, attrs):
    """x divided by its L1 or L2 norm along ``axis``."""
    x = inputs[0]
    ax = normalize_axis(int(attrs["axis"]), x.ndim, "lp_norm")
    p = int(attrs["p"])
    xw = work_float(x)
    if p == 1:
        nrm = np.abs(xw).sum(axis=ax, keepdims=True)
    elif p == 2:
        nrm = np.sqrt((xw * xw).sum(axis=ax, keepdims=True))
    else:
        raise SchemaError(f"lp_norm: p={p} is not supported (ONNX allows 1 or 2)")
    with np.errstate(all="ignore"):
        y = np.where(nrm == 0, 0, xw / nrm)  # an all-zero slice stays zero (ONNX reference)
    return _restore(y.astype(xw.dtype), x.dtype)


@defop("mean_variance_norm", inputs=("X",), attrs={"axes": ("ints", [0, 2, 3])},
       infer=lambda ctx: [TensorType(_float_only(ctx), ctx.shape(0))], category="nn",
       cost="normalization")
def mean_variance_norm(inputs, attrs):
    """(x - mean) / (std + 1e-9) over ``axes`` (ONNX's function body)."""
    x = inputs[0]
    xw = work_float(x)
    axes = tuple(normalize_axis(a, x.ndim, "mean_variance_norm") for a in attrs["axes"])
    mean = xw.mean(axis=axes, keepdims=True)
    var = (xw * xw).mean(axis=axes, keepdims=True) - mean * mean
    y = (xw - mean) / (np.sqrt(np.maximum(var, 0)) + np.asarray(1e-9, xw.dtype))
    return _restore(y.astype(xw.dtype), x.dtype)


@defop("rms_norm", inputs=("X", "scale"),
       attrs={"axis": ("int", -1), "epsilon": ("float", 1e-5), "stash_type": ("int", 1)},
       infer=lambda ctx: [TensorType(_float_only(ctx), ctx.shape(0))], category="nn",
       cost="normalization")
def rms_norm(inputs, attrs):
    """x / sqrt(mean(x^2 over [axis, rank)) + epsilon) * scale (opset 23)."""
    x, scale = inputs[:2]
    ax = normalize_axis(int(attrs["axis"]), x.ndim, "rms_norm")
    st = _stash(x)
    xs = x.astype(st)
    ms = (xs * xs).mean(axis=tuple(range(ax, x.ndim)), keepdims=True)
    y = xs / np.sqrt(ms + attrs["epsilon"]) * scale.astype(st)
    return y.astype(x.dtype)


# -- pixel shuffles --------------------------------------------------------------------------


def _infer_d2s(ctx: InferContext) -> list[TensorType]:
    s = ctx.shape(0)
    bs = int(ctx.attr("blocksize"))
    if s is None:
        return [TensorType(ctx.dtype(0), None)]
    if len(s) != 4:
        raise SchemaError(f"{ctx.op}: input must be [N, C, H, W], got rank {len(s)}")

    def mul(d: Dim, f: int) -> Dim:
        return d * f if isinstance(d, int) else UNKNOWN_DIM

    def div(d: Dim, f: int) -> Dim:
        if not isinstance(d, int):
            return UNKNOWN_DIM
        if d % f:
            raise SchemaError(f"{ctx.op}: dim {d} is not divisible by {f}")
        return d // f

    if ctx.op == "depth_to_space":
        return [TensorType(ctx.dtype(0), (s[0], div(s[1], bs * bs), mul(s[2], bs), mul(s[3], bs)))]
    return [TensorType(ctx.dtype(0), (s[0], mul(s[1], bs * bs), div(s[2], bs), div(s[3], bs)))]


@defop("depth_to_space", inputs=("input",), outputs=("output",),
       attrs={"blocksize": ("int",), "mode": ("str", "DCR")}, infer=_infer_d2s, category="nn",
       quant_role="same_scale")
def depth_to_space(inputs, attrs):
    """Move channel blocks into spatial blocks (DCR or CRD order)."""
    x = inputs[0]
    b = int(attrs["blocksize"])
    n, c, h, w = x.shape
    if attrs["mode"] == "DCR":
        t = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
    elif attrs["mode"] == "CRD":
        t = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
    else:
        raise SchemaError(f"depth_to_space: mode {attrs['mode']!r} is not DCR or CRD")
    return t.reshape(n, c // (b * b), h * b, w * b)


@defop("space_to_depth", inputs=("input",), outputs=("output",),
       attrs={"blocksize": ("int",), "mode": ("str", "DCR")}, infer=_infer_d2s, category="nn",
       quant_role="same_scale")
def space_to_depth(inputs, attrs):
    """Move spatial blocks into channels (inverse of depth_to_space in the same mode)."""
    x = inputs[0]
    b = int(attrs["blocksize"])
    n, c, h, w = x.shape
    t = x.reshape(n, c, h // b, b, w // b, b)
    if attrs["mode"] == "DCR":
        t = t.transpose(0, 3, 5, 1, 2, 4)
    elif attrs["mode"] == "CRD":
        t = t.transpose(0, 1, 3, 5, 2, 4)
    else:
        raise SchemaError(f"space_to_depth: mode {attrs['mode']!r} is not DCR or CRD")
    return t.reshape(n, c * b * b, h // b, w // b)


# -- resize ----------------------------------------------------------------------------------

_COORD_MODES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
                "asymmetric", "tf_crop_and_resize")
_NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def _resize_plan(
    op: str, in_shape: Sequence[int], roi: Any, scales: Any, sizes: Any, attrs: dict[str, Any]
) -> tuple[list[int], list[float], list[float] | None]:
    """Output sizes, per-axis scales and full roi (begin..., end...) of a resize."""
    r = len(in_shape)
    axes = attrs.get("axes")
    axes = list(range(r)) if not axes else [normalize_axis(a, r, op) for a in axes]
    scales = None if scales is None or np.size(scales) == 0 else [float(v) for v in np.ravel(scales)]
    sizes = None if sizes is None or np.size(sizes) == 0 else [int(v) for v in np.ravel(sizes)]
    if (scales is None) == (sizes is None):
        raise SchemaError(f"{op}: exactly one of 'scales' and 'sizes' must be given")
    given = scales if scales is not None else sizes
    if len(given) != len(axes):
        raise SchemaError(f"{op}: {'scales' if scales else 'sizes'} has {len(given)} values for "
                          f"{len(axes)} axes")
    full_scales = [1.0] * r
    out = list(in_shape)
    if scales is not None:
        for a, s in zip(axes, scales):
            if s <= 0:
                raise SchemaError(f"{op}: scales must be positive, got {scales}")
            full_scales[a] = s
            out[a] = int(math.floor(in_shape[a] * s))
    else:
        policy = attrs.get("keep_aspect_ratio_policy", "stretch")
        ratios = [sz / in_shape[a] for a, sz in zip(axes, sizes)]
        if policy == "stretch":
            for a, sz, q in zip(axes, sizes, ratios):
                full_scales[a], out[a] = q, sz
        elif policy in ("not_larger", "not_smaller"):
            q = min(ratios) if policy == "not_larger" else max(ratios)
            for a in axes:
                full_scales[a] = q
                out[a] = int(q * in_shape[a] + 0.5)
        else:
            raise SchemaError(f"{op}: keep_aspect_ratio_policy={policy!r} is not stretch, "
                              "not_larger or not_smaller")
    full_roi = None
    if roi is not None and np.size(roi) > 0:
        rv = [float(v) for v in np.ravel(roi)]
        if len(rv) != 2 * len(axes):
            raise SchemaError(f"{op}: roi has {len(rv)} values, expected {2 * len(axes)}")
        full_roi = [0.0] * r + [1.0] * r
        for i, a in enumerate(axes):
            full_roi[a], full_roi[r + a] = rv[i], rv[len(axes) + i]
    return out, full_scales, full_roi


def _infer_resize(ctx: InferContext) -> list[TensorType]:
    dt = ctx.dtype(0)
    s = ctx.shape(0)
    _check_resize_attrs(ctx.op, ctx.attrs)
    if s is None:
        return [TensorType(dt, None)]
    scales = ctx.value(2) if ctx.has(2) else None
    sizes = ctx.value(3) if ctx.has(3) else None
    known = (ctx.has(2) and scales is not None) or (ctx.has(3) and sizes is not None)
    axes = ctx.attr("axes")
    r = len(s)
    ax = list(range(r)) if not axes else [normalize_axis(a, r, ctx.op) for a in axes]
    if known and all(isinstance(s[a], int) for a in ax):
        static = [d if isinstance(d, int) else 1 for d in s]
        out, _, _ = _resize_plan(ctx.op, static, None, scales, sizes, ctx.attrs)
        return [TensorType(dt, tuple(out[i] if i in ax else s[i] for i in range(r)))]
    if ctx.has(2) and scales is not None and np.size(scales) and all(
            float(v) == 1.0 for v in np.ravel(scales)):
        return [TensorType(dt, s)]
    return [TensorType(dt, tuple(UNKNOWN_DIM if i in ax else s[i] for i in range(r)))]


def _check_resize_attrs(op: str, attrs: dict[str, Any]) -> None:
    if attrs["mode"] not in ("nearest", "linear", "cubic"):
        raise SchemaError(f"{op}: mode={attrs['mode']!r} is not nearest, linear or cubic")
    if attrs["coordinate_transformation_mode"] not in _COORD_MODES:
        raise SchemaError(f"{op}: coordinate_transformation_mode="
                          f"{attrs['coordinate_transformation_mode']!r} is not one of "
                          + ", ".join(_COORD_MODES))
    if attrs["nearest_mode"] not in _NEAREST_MODES:
        raise SchemaError(f"{op}: nearest_mode={attrs['nearest_mode']!r} is not one of "
                          + ", ".join(_NEAREST_MODES))
    if attrs["antialias"] and attrs["mode"] == "nearest":
        raise SchemaError(f"{op}: antialias=1 applies to linear and cubic modes, not nearest")


def _source_coords(mode: str, n_out: int, n_in: int, scale: float,
                   roi: tuple[float, float] | None) -> tuple[np.ndarray, np.ndarray | None]:
    y = np.arange(n_out, dtype=np.float64)
    out_f = scale * n_in
    extrap = None
    if mode == "align_corners":
        x = np.zeros(n_out) if out_f == 1 else y * (n_in - 1) / (out_f - 1)
    elif mode == "asymmetric":
        x = y / scale
    elif mode == "tf_crop_and_resize":
        a, b = roi if roi is not None else (0.0, 1.0)
        if out_f == 1:
            x = np.full(n_out, (b - a) * (n_in - 1) / 2)
        else:
            x = y * (b - a) * (n_in - 1) / (out_f - 1)
        x = x + a * (n_in - 1)
        extrap = (x < 0) | (x > n_in - 1)
    elif mode == "pytorch_half_pixel":
        x = np.full(n_out, -0.5) if out_f == 1 else (y + 0.5) / scale - 0.5
    elif mode == "half_pixel":
        x = (y + 0.5) / scale - 0.5
    else:  # half_pixel_symmetric
        adj = n_out / out_f
        x = n_in / 2 * (1 - adj) + (y + 0.5) / scale - 0.5
    return x, extrap


def _cubic(t: np.ndarray, a: float) -> np.ndarray:
    t = np.abs(t)
    return np.where(t <= 1, ((a + 2) * t - (a + 3)) * t * t + 1,
                    np.where(t < 2, ((a * t - 5 * a) * t + 8 * a) * t - 4 * a, 0.0))


def _resize_axis(data: np.ndarray, axis: int, n_out: int, scale: float,
                 roi: tuple[float, float] | None, attrs: dict[str, Any]) -> np.ndarray:
    """Resize one axis: gather each output's neighbour taps and weight them."""
    n_in = data.shape[axis]
    x, extrap = _source_coords(attrs["coordinate_transformation_mode"], n_out, n_in, scale, roi)
    xi = np.floor(x)
    # an exact integer coordinate reads as ratio 1 from the pixel to its left (ONNX reference)
    ratio = np.where(x == xi, 1.0, x - xi)
    base = np.where(x == xi, xi - 1, xi).astype(np.int64)
    mode = attrs["mode"]
    if mode == "nearest":
        nm = attrs["nearest_mode"]
        if nm == "round_prefer_floor":
            pick = ratio > 0.5
        elif nm == "round_prefer_ceil":
            pick = ratio >= 0.5
        elif nm == "floor":
            pick = np.zeros_like(ratio, dtype=bool)
        else:
            pick = np.ones_like(ratio, dtype=bool)
        pick = pick | (ratio == 1.0)
        idx = np.clip(base + pick, 0, n_in - 1)
        res = np.take(data, idx, axis=axis)
    else:
        anti = bool(attrs["antialias"]) and scale < 1
        s = min(scale, 1.0) if anti else 1.0
        if mode == "linear":
            start = int(np.floor(-1 / s) + 1) if anti else 0
            width = 2 - 2 * start
            offs = np.arange(start, start + width)
            w = np.clip(1 - np.abs((offs[None, :] - ratio[:, None]) * s), 0, 1)
        else:
            a = float(attrs["cubic_coeff_a"])
            start = int(np.floor(-2 / s) + 1) if anti else -1
            width = 2 - 2 * start
            offs = np.arange(start, start + width)
            w = _cubic((offs[None, :] - ratio[:, None]) * s, a)
        if anti:
            w = w / w.sum(axis=1, keepdims=True)
        taps = base[:, None] + offs[None, :]
        if attrs["exclude_outside"]:
            w = np.where((taps < 0) | (taps >= n_in), 0.0, w)
            tot = w.sum(axis=1, keepdims=True)
            w = w / np.where(tot == 0, 1.0, tot)
        # dense [n_out, n_in] interpolation matrix (taps clamped to the edge), applied by BLAS
        mat = np.zeros((n_out, n_in), dtype=np.float64)
        np.add.at(mat, (np.repeat(np.arange(n_out), width), np.clip(taps, 0, n_in - 1).ravel()),
                  w.ravel())
        moved = np.moveaxis(data, axis, -1)
        res = np.moveaxis(moved @ mat.T.astype(data.dtype), -1, axis)
    if extrap is not None and extrap.any():
        shape = [1] * data.ndim
        shape[axis] = n_out
        res = np.where(extrap.reshape(shape), np.asarray(attrs["extrapolation_value"], res.dtype), res)
    return res


@defop(
    "resize",
    inputs=("X", "roi?", "scales?", "sizes?"),
    attrs={
        "antialias": ("int", 0),
        "axes": ("ints", None),
        "coordinate_transformation_mode": ("str", "half_pixel"),
        "cubic_coeff_a": ("float", -0.75),
        "exclude_outside": ("int", 0),
        "extrapolation_value": ("float", 0.0),
        "keep_aspect_ratio_policy": ("str", "stretch"),
        "mode": ("str", "nearest"),
        "nearest_mode": ("str", "round_prefer_floor"),
    },
    infer=_infer_resize,
    category="nn",
    quant_role="same_scale",  # interpolates: never leaves its input's range
)
def resize(inputs, attrs):
    """Separable nearest/linear/cubic resize of any axes (ONNX Resize-19 semantics)."""
    x = inputs[0]
    roi, scales, sizes = (list(inputs[1:4]) + [None] * 3)[:3]
    _check_resize_attrs("resize", attrs)
    out, full_scales, full_roi = _resize_plan("resize", x.shape, roi, scales, sizes, attrs)
    ctm = attrs["coordinate_transformation_mode"]
    if attrs["mode"] == "nearest":
        y = x
    else:
        y = x.astype(np.float64) if x.dtype != np.float64 else x
    r = x.ndim
    for a in range(r):
        axis_roi = None if full_roi is None else (full_roi[a], full_roi[r + a])
        same = out[a] == y.shape[a] and math.isclose(full_scales[a], 1.0)
        if same and (ctm != "tf_crop_and_resize" or axis_roi is None or axis_roi == (0.0, 1.0)):
            continue
        y = _resize_axis(y, a, out[a], full_scales[a], axis_roi, attrs)
    if y.dtype != x.dtype:
        if x.dtype.kind in "iu":
            info = np.iinfo(x.dtype)
            y = np.clip(np.rint(y), info.min, info.max)
        y = y.astype(x.dtype)
    return y


# -- recurrent networks ----------------------------------------------------------------------


#: ONNX RNN/GRU/LSTM: op -> (gate count, default activations of one direction).
RNN_SPEC: dict[str, tuple[int, tuple[str, ...]]] = {
    "rnn": (1, ("Tanh",)),
    "gru": (3, ("Sigmoid", "Tanh")),
    "lstm": (4, ("Sigmoid", "Tanh", "Tanh")),
}

#: Activations of ONNX RNN/GRU/LSTM (lower case) -> (default alpha, default beta), None where
#: the function takes no such parameter (the defaults of the ONNX operators of those names).
RNN_ACTIVATIONS: dict[str, tuple[float | None, float | None]] = {
    "sigmoid": (None, None), "tanh": (None, None), "relu": (None, None),
    "leakyrelu": (0.01, None), "thresholdedrelu": (1.0, None), "scaledtanh": (1.0, 1.0),
    "hardsigmoid": (0.2, 0.5), "elu": (1.0, None), "softsign": (None, None),
    "softplus": (None, None), "affine": (1.0, 0.0)}


def rnn_activation_params(acts: list[str], alphas: list[float] | None,
                          betas: list[float] | None) -> list[tuple[float | None, float | None]]:
    """(alpha, beta) of each activation of ``acts`` (both directions' lists in a row).

    ``activation_alpha``/``activation_beta`` are consumed in turn by the activations that
    take that parameter (ONNX: "consumed in the order of activation functions"; onnxruntime
    reads them so): [Sigmoid, LeakyRelu, Tanh] with alpha [0.5] gives LeakyRelu 0.5. Past
    the end of a list an activation takes its default (:data:`RNN_ACTIVATIONS`). Unknown
    names get (None, None); :func:`_act_fn` refuses them."""
    a_left, b_left = list(alphas or ()), list(betas or ())
    out: list[tuple[float | None, float | None]] = []
    for name in acts:
        alpha, beta = RNN_ACTIVATIONS.get(name.lower(), (None, None))
        if alpha is not None and a_left:
            alpha = float(a_left.pop(0))
        if beta is not None and b_left:
            beta = float(b_left.pop(0))
        out.append((alpha, beta))
    return out


def _act_fn(name: str, alpha: float | None, beta: float | None):
    """Activation ``name`` with its parameters from :func:`rnn_activation_params`."""
    n = name.lower()
    if n == "sigmoid":
        return sigmoid
    if n == "tanh":
        return np.tanh
    if n == "relu":
        return lambda v: np.maximum(v, 0)
    if n == "affine":
        return lambda v: alpha * v + beta
    if n == "leakyrelu":
        return lambda v: np.where(v >= 0, v, alpha * v)
    if n == "thresholdedrelu":
        return lambda v: np.where(v > alpha, v, 0)
    if n == "scaledtanh":
        return lambda v: alpha * np.tanh(beta * v)
    if n == "hardsigmoid":
        return lambda v: np.clip(alpha * v + beta, 0, 1)
    if n == "elu":
        return lambda v: np.where(v >= 0, v, alpha * (np.exp(np.minimum(v, 0)) - 1))
    if n == "softsign":
        return lambda v: v / (1 + np.abs(v))
    if n == "softplus":
        return lambda v: np.logaddexp(0, v)
    raise SchemaError(f"RNN activation {name!r} is not supported")


def _infer_rnn(ctx: InferContext) -> list[TensorType]:
    dt = _float_only(ctx)
    xs, ws = ctx.shape(0), ctx.shape(1)
    layout = int(ctx.attr("layout"))
    ndir = 2 if ctx.attr("direction") == "bidirectional" else 1
    if ctx.attr("direction") not in ("forward", "reverse", "bidirectional"):
        raise SchemaError(f"{ctx.op}: direction={ctx.attr('direction')!r} is not forward, "
                          "reverse or bidirectional")
    h: Dim = ctx.attr("hidden_size")
    if h is None:
        gates = RNN_SPEC[ctx.op][0]
        h = ws[1] // gates if ws is not None and isinstance(ws[1], int) else UNKNOWN_DIM
    if xs is None:
        seq, batch = UNKNOWN_DIM, UNKNOWN_DIM
    else:
        seq, batch = (xs[1], xs[0]) if layout else (xs[0], xs[1])
    y = (batch, seq, ndir, h) if layout else (seq, ndir, batch, h)
    yh = (batch, ndir, h) if layout else (ndir, batch, h)
    n_out = ctx.num_outputs or len(_RNN_OUTPUTS[ctx.op])
    types = [TensorType(dt, y), TensorType(dt, yh), TensorType(dt, yh)]
    return types[:n_out]


_RNN_OUTPUTS = {"rnn": ("Y?", "Y_h?"), "gru": ("Y?", "Y_h?"), "lstm": ("Y?", "Y_h?", "Y_c?")}
_RNN_ATTRS = {
    "activation_alpha": ("floats", None),
    "activation_beta": ("floats", None),
    "activations": ("strs", None),
    "clip": ("float", None),
    "direction": ("str", "forward"),
    "hidden_size": ("int", None),
    "layout": ("int", 0),
}


def _run_rnn(op: str, inputs: list, attrs: dict[str, Any]) -> list[np.ndarray]:
    x, w, r = inputs[0], inputs[1], inputs[2]
    get = lambda i: inputs[i] if len(inputs) > i else None  # noqa: E731
    b, seq_lens, h0 = get(3), get(4), get(5)
    c0, p = (get(6), get(7)) if op == "lstm" else (None, None)
    gates, defaults = RNN_SPEC[op]
    odt = x.dtype
    dt = np.result_type(x.dtype, np.float32)
    x = x.astype(dt)
    layout = int(attrs["layout"])
    if layout:  # [batch, seq, in] and states [batch, ndir, H] -> ONNX's layout 0
        x = x.transpose(1, 0, 2)
        h0 = None if h0 is None else np.asarray(h0).transpose(1, 0, 2)
        c0 = None if c0 is None else np.asarray(c0).transpose(1, 0, 2)
    seq, batch, _ = x.shape
    ndir = w.shape[0]
    hs = r.shape[-1]
    direction = attrs["direction"]
    acts = list(attrs["activations"] or list(defaults) * ndir)
    na = len(defaults)
    if len(acts) != na * ndir:
        raise SchemaError(f"{op}: expected {na * ndir} activations, got {len(acts)}")
    params = rnn_activation_params(acts, attrs["activation_alpha"], attrs["activation_beta"])
    fns = [_act_fn(a, *ab) for a, ab in zip(acts, params)]
    clip = attrs["clip"]
    lens = (np.full(batch, seq, dtype=np.int64) if seq_lens is None
            else np.asarray(seq_lens, dtype=np.int64))
    ys = np.zeros((seq, ndir, batch, hs), dtype=dt)
    yh = np.zeros((ndir, batch, hs), dtype=dt)
    yc = np.zeros((ndir, batch, hs), dtype=dt)
    for d in range(ndir):
        reverse = direction == "reverse" or (direction == "bidirectional" and d == 1)
        f = fns[d * na:(d + 1) * na]
        wd, rd = w[d].astype(dt), r[d].astype(dt)
        bd = np.zeros(2 * gates * hs, dtype=dt) if b is None else b[d].astype(dt)
        wb, rb = bd[:gates * hs], bd[gates * hs:]
        xw = x @ wd.T + wb  # input projections of all steps at once: [seq, batch, gates*H]
        h = np.zeros((batch, hs), dtype=dt) if h0 is None else h0[d].astype(dt)
        c = np.zeros((batch, hs), dtype=dt) if c0 is None else c0[d].astype(dt)
        pd = np.zeros(3 * hs, dtype=dt) if p is None else p[d].astype(dt)
        steps = range(seq - 1, -1, -1) if reverse else range(seq)
        for t in steps:
            live = (t < lens)[:, None]
            gx = xw[t]
            if op == "lstm":
                # clip bounds the input of each activation, peephole term included (ONNX
                # LSTM; onnxruntime clips after adding it)
                cl = ((lambda v: v) if clip is None
                      else (lambda v: np.clip(v, -clip, clip)))  # noqa: E731
                gi, go, gf, gc = np.split(gx + h @ rd.T + rb, 4, axis=1)
                i_t = f[0](cl(gi + pd[:hs] * c))
                f_t = 1 - i_t if attrs["input_forget"] else f[0](cl(gf + pd[2 * hs:] * c))
                c_new = f_t * c + i_t * f[1](cl(gc))
                o_t = f[0](cl(go + pd[hs:2 * hs] * c_new))
                h_new = o_t * f[2](c_new)
                c = np.where(live, c_new, c)
            elif op == "gru":
                gz, gr, gh = np.split(gx, 3, axis=1)
                rz, rr, rh = np.split(rd, 3, axis=0)
                bz, br, bh = np.split(rb, 3)
                z_pre, r_pre = gz + h @ rz.T + bz, gr + h @ rr.T + br
                if clip is not None:
                    z_pre, r_pre = np.clip(z_pre, -clip, clip), np.clip(r_pre, -clip, clip)
                z_t, r_t = f[0](z_pre), f[0](r_pre)
                if attrs["linear_before_reset"]:
                    h_pre = gh + r_t * (h @ rh.T + bh)
                else:
                    h_pre = gh + (r_t * h) @ rh.T + bh
                if clip is not None:
                    h_pre = np.clip(h_pre, -clip, clip)
                h_new = (1 - z_t) * f[1](h_pre) + z_t * h
            else:
                g = gx + h @ rd.T + rb
                if clip is not None:
                    g = np.clip(g, -clip, clip)
                h_new = f[0](g)
            h = np.where(live, h_new, h)
            ys[t, d] = np.where(live, h_new, 0)
        yh[d], yc[d] = h, c
    if layout:
        return [ys.transpose(2, 0, 1, 3).astype(odt), yh.transpose(1, 0, 2).astype(odt),
                yc.transpose(1, 0, 2).astype(odt)]
    return [ys.astype(odt), yh.astype(odt), yc.astype(odt)]


@defop("rnn", inputs=("X", "W", "R", "B?", "sequence_lens?", "initial_h?"),
       outputs=_RNN_OUTPUTS["rnn"], attrs=_RNN_ATTRS, infer=_infer_rnn, category="nn")
def rnn(inputs, attrs):
    """Elman RNN (ONNX RNN-22): forward, reverse or bidirectional, with sequence_lens."""
    return _run_rnn("rnn", inputs, attrs)[:2]


@defop("gru", inputs=("X", "W", "R", "B?", "sequence_lens?", "initial_h?"),
       outputs=_RNN_OUTPUTS["gru"], attrs={**_RNN_ATTRS, "linear_before_reset": ("int", 0)},
       infer=_infer_rnn, category="nn")
def gru(inputs, attrs):
    """GRU (ONNX GRU-22, gate order z, r, h), with linear_before_reset and sequence_lens."""
    return _run_rnn("gru", inputs, attrs)[:2]


@defop("lstm", inputs=("X", "W", "R", "B?", "sequence_lens?", "initial_h?", "initial_c?", "P?"),
       outputs=_RNN_OUTPUTS["lstm"], attrs={**_RNN_ATTRS, "input_forget": ("int", 0)},
       infer=_infer_rnn, category="nn")
def lstm(inputs, attrs):
    """LSTM (ONNX LSTM-22, gate order i, o, f, c), with peepholes, clip, input_forget."""
    return _run_rnn("lstm", inputs, attrs)
