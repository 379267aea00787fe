"""Linear quantization ops: quantize, dequantize, dynamic_quantize (ONNX QuantizeLinear,
DequantizeLinear and DynamicQuantizeLinear, latest opsets).

Granularity is told by the scale's shape, as in ONNX: a scalar (or one-element) scale is
per-tensor; a 1-D scale is per-axis along ``axis``; with ``block_size > 0`` the scale has
the input's rank and each scale covers ``block_size`` consecutive elements along ``axis``.

* ``quantize``: ``y = saturate(round_half_even(x / scale) + zero_point)``. The division runs
  in the scale's float type (or ``precision``'s). The output type is the zero point's, else
  ``output_dtype``'s, else u8; u8/i8/u16/i16/i32 and 4-bit u4/i4 (stored unpacked) are
  supported. Kernels see only numpy arrays, where i4/u4 share i8/u8 storage: a 4-bit
  quantize must carry ``output_dtype`` (22 = INT4, 21 = UINT4) for its kernel to saturate
  to the 4-bit range. When scale and zero point are constants, the inferred output type carries
  :class:`~compiler.ir.types.QuantParams` (per-tensor or per-axis; blocked has none).
* ``dequantize``: ``y = (x - zero_point) * scale``, the subtraction exact in int64, the
  output of the scale's type or ``output_dtype``.

Run by the reference interpreter these are real kernels, so a quantize/dequantize pair is
fake quantization.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ir.types import DType, QuantParams, TensorType
from .elementwise import as_dtype, dtype_from_attr, int_range
from .registry import InferContext, SchemaError, defop, normalize_axis

_QUANT_TYPES = (DType.U8, DType.I8, DType.U16, DType.I16, DType.I32, DType.U4, DType.I4)


def _granularity(op: str, x_shape, s_shape, axis: int, block: int) -> tuple[str, int | None]:
    """('tensor'|'axis'|'block', normalized axis) from the shapes (None where unknown)."""
    if s_shape is not None and (len(s_shape) == 0 or (len(s_shape) == 1 and s_shape[0] == 1 and block <= 0)):
        return "tensor", None
    rank = None if x_shape is None else len(x_shape)
    ax = normalize_axis(axis, rank, op) if rank is not None else None
    if block > 0:
        if s_shape is not None and rank is not None and len(s_shape) != rank:
            raise SchemaError(f"{op}: blocked quantization needs a scale of the input's rank {rank}, got {list(s_shape)}")
        if s_shape is not None and x_shape is not None and ax is not None:
            d, s = x_shape[ax], s_shape[ax]
            if isinstance(d, int) and isinstance(s, int) and -(-d // block) != s:
                raise SchemaError(f"{op}: axis {ax} has {d} elements, block_size {block} needs {-(-d // block)} scales, got {s}")
        return "block", ax
    if s_shape is not None and len(s_shape) != 1:
        raise SchemaError(f"{op}: the scale must be a scalar or 1-D (per-axis) unless block_size > 0; got shape {list(s_shape)}")
    if s_shape is not None and x_shape is not None and ax is not None:
        d, s = x_shape[ax], s_shape[0]
        if isinstance(d, int) and isinstance(s, int) and d != s:
            raise SchemaError(f"{op}: per-axis scale has {s} entries but axis {ax} has {d} elements")
    return "axis", ax


def _check_zp(ctx: InferContext, i_scale: int, i_zp: int) -> None:
    if ctx.has(i_zp):
        s, z = ctx.shape(i_scale), ctx.shape(i_zp)
        if s is not None and z is not None and len(s) == len(z) and any(
            isinstance(a, int) and isinstance(b, int) and a != b for a, b in zip(s, z)
        ):
            raise SchemaError(f"{ctx.op}: zero point shape {list(z)} differs from the scale's {list(s)}")


def _expand(p: np.ndarray, x: np.ndarray, kind: str, ax: int | None, block: int) -> np.ndarray:
    """The scale or zero point shaped to broadcast against ``x``."""
    if kind == "tensor":
        return p.reshape(())
    if kind == "axis":
        shape = [1] * x.ndim
        shape[ax] = -1
        return p.reshape(shape)
    return np.repeat(p, block, axis=ax).take(np.arange(x.shape[ax]), axis=ax)


def _quant_out_dtype(ctx: InferContext) -> DType:
    want = int(ctx.attr("output_dtype"))
    if ctx.has(2):
        dt = ctx.dtype(2)
        if want and dtype_from_attr(ctx.op, "output_dtype", want) != dt:
            raise SchemaError(f"{ctx.op}: output_dtype {want} disagrees with the zero point's type {dt}")
    elif want:
        dt = dtype_from_attr(ctx.op, "output_dtype", want)
    else:
        dt = DType.U8
    if dt not in _QUANT_TYPES:
        raise SchemaError(f"{ctx.op}: quantizing to {dt} is not supported (use one of "
                          f"{', '.join(d.value for d in _QUANT_TYPES)})")
    return dt


def _infer_quantize(ctx: InferContext) -> list[TensorType]:
    x = ctx.type(0)
    dt = _quant_out_dtype(ctx)
    _check_zp(ctx, 1, 2)
    kind, ax = _granularity(ctx.op, x.shape, ctx.shape(1), int(ctx.attr("axis")), int(ctx.attr("block_size")))
    quant = None
    scale = ctx.value(1)
    zp = ctx.value(2) if ctx.has(2) else None
    if scale is not None and (zp is not None or not ctx.has(2)):
        zp = np.zeros(np.shape(scale), np.int64) if zp is None else zp
        if kind == "tensor":
            quant = QuantParams.per_tensor(float(np.asarray(scale).reshape(())), int(np.asarray(zp).reshape(())))
        elif kind == "axis" and ax is not None:
            quant = QuantParams.per_axis(scale, zp, ax)
    return [TensorType(dt, x.shape, quant)]


@defop(
    "quantize",
    inputs=("x", "y_scale", "y_zero_point?"),
    attrs={"axis": ("int", 1), "block_size": ("int", 0), "output_dtype": ("int", 0),
           "saturate": ("int", 1), "precision": ("int", 0)},
    infer=_infer_quantize,
    category="quant",
    cost="elementwise",
)
def quantize(inputs: list[Any], attrs: dict[str, Any]) -> np.ndarray:
    """saturate(round_half_even(x / y_scale) + y_zero_point) per tensor, axis or block."""
    x, scale = inputs[0], inputs[1]
    zp = inputs[2] if len(inputs) > 2 else None
    if attrs["output_dtype"]:  # first: it tells i4/u4 from i8/u8, which share storage
        dt = dtype_from_attr("quantize", "output_dtype", attrs["output_dtype"])
    elif zp is not None:
        dt = DType.from_numpy(zp.dtype)
    else:
        dt = DType.U8
    kind, ax = _granularity("quantize", x.shape, scale.shape, attrs["axis"], attrs["block_size"])
    prec = scale.dtype
    if attrs["precision"]:
        prec = dtype_from_attr("quantize", "precision", attrs["precision"]).numpy
    s = _expand(scale, x, kind, ax, attrs["block_size"]).astype(prec)
    with np.errstate(all="ignore"):
        q = np.rint(x.astype(prec) / s).astype(np.float64)
        if zp is not None:
            q = q + _expand(zp, x, kind, ax, attrs["block_size"]).astype(np.float64)
    lo, hi = int_range(dt)
    return as_dtype(np.clip(q, lo, hi), dt.numpy)


def _infer_dequantize(ctx: InferContext) -> list[TensorType]:
    x = ctx.type(0)
    _check_zp(ctx, 1, 2)
    if ctx.has(2) and ctx.dtype(2) != x.dtype:
        raise SchemaError(f"dequantize: zero point is {ctx.dtype(2)} but x is {x.dtype}; they must match")
    _granularity(ctx.op, x.shape, ctx.shape(1), int(ctx.attr("axis")), int(ctx.attr("block_size")))
    want = int(ctx.attr("output_dtype"))
    dt = dtype_from_attr(ctx.op, "output_dtype", want) if want else ctx.dtype(1)
    if not dt.is_float:
        raise SchemaError(f"dequantize: output type {dt} is not a float type")
    return [TensorType(dt, x.shape)]


@defop(
    "dequantize",
    inputs=("x", "x_scale", "x_zero_point?"),
    attrs={"axis": ("int", 1), "block_size": ("int", 0), "output_dtype": ("int", 0)},
    infer=_infer_dequantize,
    category="quant",
    cost="elementwise",
)
def dequantize(inputs: list[Any], attrs: dict[str, Any]) -> np.ndarray:
    """(x - x_zero_point) * x_scale per tensor, axis or block."""
    x, scale = inputs[0], inputs[1]
    zp = inputs[2] if len(inputs) > 2 else None
    out = (dtype_from_attr("dequantize", "output_dtype", attrs["output_dtype"]).numpy
           if attrs["output_dtype"] else scale.dtype)
    kind, ax = _granularity("dequantize", x.shape, scale.shape, attrs["axis"], attrs["block_size"])
    d = x.astype(np.int64) if x.dtype.kind in "iub" else x
    if zp is not None:
        d = d - _expand(zp, x, kind, ax, attrs["block_size"]).astype(d.dtype)
    s = _expand(scale, x, kind, ax, attrs["block_size"])
    work = np.float32 if s.dtype != np.float64 else np.float64
    return as_dtype(d.astype(work) * s.astype(work), np.dtype(out))


def _infer_dynamic(ctx: InferContext) -> list[TensorType]:
    x = ctx.type(0)
    if not x.dtype.is_float:
        raise SchemaError(f"dynamic_quantize: input must be float, got {x.dtype}")
    return [TensorType(DType.U8, x.shape), TensorType(DType.F32, ()), TensorType(DType.U8, ())]


@defop(
    "dynamic_quantize",
    inputs=("x",),
    outputs=("y", "y_scale", "y_zero_point"),
    infer=_infer_dynamic,
    category="quant",
)
def dynamic_quantize(inputs: list[Any], attrs: dict[str, Any]) -> list[np.ndarray]:
    """u8 quantization with scale and zero point computed from x's range (which includes 0)."""
    x = inputs[0].astype(np.float32)
    lo = min(np.float32(0), x.min()) if x.size else np.float32(0)
    hi = max(np.float32(0), x.max()) if x.size else np.float32(0)
    scale = np.float32((hi - lo) / np.float32(255))
    with np.errstate(all="ignore"):
        if scale == 0:
            zp = np.float32(0)
            y = np.zeros(x.shape, np.float32)
        else:
            zp = np.clip(np.rint(np.float32(0) - lo / scale), 0, 255)
            y = np.clip(np.rint(x / scale) + zp, 0, 255)
    return [y.astype(np.uint8), np.asarray(scale, np.float32), np.asarray(zp, np.float32).astype(np.uint8)]
