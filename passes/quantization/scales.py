"""Scale selection: quantization parameters from calibration statistics, and for weights.

Schemes (``real = scale * (q - zero_point)``):

* ``symmetric=True`` (TensorRT's activation scheme): int8, zero point 0, the *restricted*
  range ``[-127, 127]`` (so ``scale = amax / 127`` and -128 is never produced).
* ``symmetric=False`` (TFLite int8 spec for activations): int8 ``[-128, 127]`` (or uint8
  ``[0, 255]`` with ``dtype="u8"``) with a zero point; the range is widened to include 0 so
  that 0.0 is exact, ``scale = (hi - lo) / 255``, ``zero_point = round(qmin - lo / scale)``.
* Weights (TFLite): per-channel symmetric int8 ``[-127, 127]``, zero point 0. Bias: int32,
  zero point 0, ``scale = input_scale * weight_scale`` (per channel when the weight is).

Methods that choose an activation's range from a :class:`TensorStats`:

* ``minmax``: the observed min/max (``[-max|x|, max|x|]`` when symmetric).
* ``entropy``: TensorRT's entropy calibrator as in NVIDIA's pytorch-quantization
  (``_compute_amax_entropy``), on the |x| histogram for both schemes: for each candidate
  ``i`` in ``[128, nbins]`` the reference P is ``hist[:i]`` with the outliers ``hist[i:]``
  folded into its last bin; ``hist[:i]`` is merged into 128 levels (256 when the tensor is
  never negative and the scheme is asymmetric, i.e. unsigned), each level's mass spread
  evenly over its nonzero bins to give Q; the last ``i`` with minimal KL(P||Q) gives
  ``amax = edges[i]``. Differences from pytorch-quantization: exact zeros (counted during
  calibration, and exact in every scheme) are removed from bin 0 where it sets
  ``bins[0] = bins[1]``. Asymmetric schemes use ``[max(min, -amax), min(max, amax)]``,
  which is what onnxruntime's entropy calibrator returns too (it clips its threshold to the
  observed min/max), though onnxruntime searches windows of a signed histogram instead.
* ``percentile``: symmetric: the ``p``-th percentile of |x| (upper edge of the histogram bin
  where the CDF reaches p/100, clipped to max|x|). Asymmetric: ``(100 - p) / 2`` percent cut
  on each side of the signed histogram. onnxruntime/TensorRT take the bin's *lower* edge;
  infercc the upper one, so the range always covers at least ``p`` percent of the values.
* ``mse``: the clipping range minimizing the expected squared quantization error estimated
  from the histogram: in-range nonzero values cost ``step^2 / 12`` (uniform rounding error),
  exact zeros cost nothing, a clipped bin costs ``n * ((c - clip)^2 + w^2 / 12)`` (bin
  center c, width w, values uniform within the bin). Symmetric candidates are the |x| bin
  edges below max|x| plus max|x| itself; asymmetric ones scale the min/max range by
  ``k / 512, k = 1..512``. Minmax is always a candidate, so the estimate never exceeds its.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from compiler.errors import InferccError
from compiler.ir.types import DType, QuantParams

from .calibration import CalibrationStats, TensorStats

METHODS = ("minmax", "entropy", "percentile", "mse")

_RANGES = {DType.I8: (-128, 127), DType.U8: (0, 255), DType.I32: (-(2**31), 2**31 - 1),
           DType.I16: (-32768, 32767)}


class ScaleError(InferccError):
    """A scale-selection request cannot be met (unknown method, unsupported dtype...)."""


def as_dtype(dtype: Any) -> DType:
    """``DType.I8``, ``"i8"``, ``np.int8`` ... -> DType."""
    if isinstance(dtype, DType):
        return dtype
    if isinstance(dtype, str):
        try:
            return DType(dtype)
        except ValueError:
            pass
    try:
        return DType.from_numpy(np.dtype(dtype))
    except (TypeError, ValueError):
        raise ScaleError(f"unknown quantized dtype {dtype!r}; use 'i8' or 'u8'") from None


def qrange(dtype: Any, symmetric: bool) -> tuple[int, int]:
    """Integer range of a scheme: symmetric int8 is restricted to [-127, 127]."""
    dt = as_dtype(dtype)
    if dt not in _RANGES:
        raise ScaleError(f"quantized dtype {dt} is not supported; use i8 or u8")
    lo, hi = _RANGES[dt]
    if symmetric:
        if lo == 0:
            raise ScaleError(f"symmetric quantization needs a signed dtype, not {dt}")
        lo = -hi
    return lo, hi


# -- ranges from statistics ------------------------------------------------------------------
def tensor_range(
    ts: TensorStats,
    method: str = "minmax",
    *,
    symmetric: bool = True,
    percentile: float = 99.99,
    dtype: Any = DType.I8,
) -> tuple[float, float]:
    """The real range ``(lo, hi)`` one method picks for one tensor (``lo == -hi`` if symmetric)."""
    if method not in METHODS:
        raise ScaleError(f"unknown calibration method {method!r}; choose one of {METHODS}")
    if not ts.seen:
        raise ScaleError(f"tensor %{ts.name} saw no finite calibration values; its range is "
                         "unknown (check the calibration data reaches it)")
    amax = max(-ts.min, ts.max)
    if method == "minmax":
        return (-amax, amax) if symmetric else (ts.min, ts.max)
    if method == "percentile":
        if not 0.0 < percentile <= 100.0:
            raise ScaleError(f"percentile={percentile}; use a value in (0, 100]")
        return _percentile_range(ts, percentile, symmetric)
    if method == "entropy":
        unsigned = not symmetric and ts.min >= 0.0
        t = entropy_amax(ts, levels=256 if unsigned else 128)
        return (-t, t) if symmetric else (max(ts.min, -t), min(ts.max, t))
    return _mse_range(ts, symmetric, dtype)


def ranges(stats: CalibrationStats, method: str = "minmax", *, tensors: Iterable[str] | None = None,
           **kw: Any) -> dict[str, tuple[float, float]]:
    """:func:`tensor_range` for every (or the named) recorded tensor."""
    names = list(stats.tensors) if tensors is None else list(tensors)
    return {n: tensor_range(stats[n], method, **kw) for n in names}


def _percentile_range(ts: TensorStats, p: float, symmetric: bool) -> tuple[float, float]:
    if symmetric:
        h, e = ts.abs_hist()
        cdf = np.cumsum(h) / h.sum()
        idx = min(int(np.searchsorted(cdf, p / 100.0)), h.size - 1)
        t = min(float(e[idx + 1]), max(-ts.min, ts.max))
        return -t, t
    h, e = ts.hist, ts.edges
    cdf = np.cumsum(h) / h.sum()
    cut = (100.0 - p) / 200.0
    il = min(int(np.searchsorted(cdf, cut)), h.size - 1)
    ir = min(int(np.searchsorted(cdf, 1.0 - cut)), h.size - 1)
    return max(float(e[il]), ts.min), min(float(e[ir + 1]), ts.max)


def entropy_amax(ts: TensorStats, levels: int = 128, start: int = 128) -> float:
    """TensorRT's KL-divergence threshold on the |x| histogram (see the module docstring)."""
    hist, edges = ts.abs_hist()
    bins = hist.astype(np.float64)
    bins[0] = max(bins[0] - ts.zeros, 0.0)
    n = bins.size
    total = bins.sum()
    if total == 0:
        return float(max(-ts.min, ts.max))
    start = min(start, n)
    best_i, best_kl = n, np.inf
    tail = np.concatenate([np.cumsum(bins[::-1])[::-1], [0.0]])  # tail[i] = bins[i:].sum()
    for i in range(start, n + 1):
        head = bins[:i]
        lvl = (np.arange(i) * levels) // i
        nz = head != 0
        qsum = np.bincount(lvl, weights=head, minlength=levels)
        qcnt = np.bincount(lvl[nz], minlength=levels)
        q = np.zeros(i)
        q[nz] = qsum[lvl[nz]] / qcnt[lvl[nz]]
        p = head.copy()
        p[-1] += tail[i]
        psum, qs = p.sum(), q.sum()
        if qs == 0:
            continue
        pn, qn = p / psum, q / qs
        m = pn > 0
        if np.any(qn[m] == 0):
            kl = np.inf
        else:
            kl = float(np.sum(pn[m] * np.log(pn[m] / qn[m])))
        if kl <= best_kl:  # ties: the last (widest) candidate, as pytorch-quantization
            best_kl, best_i = kl, i
    return float(min(edges[best_i], max(-ts.min, ts.max)))


def expected_sq_error(ts: TensorStats, lo: np.ndarray, hi: np.ndarray, step: np.ndarray
                      ) -> np.ndarray:
    """Histogram estimate of the total squared error of quantizing to each candidate range."""
    e = ts.edges
    c = 0.5 * (e[:-1] + e[1:])
    w = e[1] - e[0]
    n = ts.hist.astype(np.float64).copy()
    n[ts.bins // 2] = max(n[ts.bins // 2] - ts.zeros, 0.0)  # exact zeros: no error
    lo, hi, step = (np.asarray(a, np.float64)[:, None] for a in (lo, hi, step))
    above = c[None, :] > hi
    below = c[None, :] < lo
    clip_err = np.where(above, (c - hi) ** 2, 0.0) + np.where(below, (lo - c) ** 2, 0.0)
    clipped = above | below
    per_bin = np.where(clipped, clip_err + w * w / 12.0, step * step / 12.0)
    return (per_bin * n[None, :]).sum(axis=1)


def _mse_range(ts: TensorStats, symmetric: bool, dtype: Any) -> tuple[float, float]:
    qlo, qhi = qrange(dtype, symmetric)
    levels = qhi - qlo
    if symmetric:
        amax = max(-ts.min, ts.max)
        _, ea = ts.abs_hist()
        t = np.concatenate([ea[1:][ea[1:] < amax], [amax]])
        t = t[t > 0] if amax > 0 else np.array([0.0])
        err = expected_sq_error(ts, -t, t, 2.0 * t / levels)
        k = int(np.argmin(err))
        return -float(t[k]), float(t[k])
    lo0, hi0 = min(ts.min, 0.0), max(ts.max, 0.0)
    a = np.arange(1, 513) / 512.0
    err = expected_sq_error(ts, a * lo0, a * hi0, a * (hi0 - lo0) / levels)
    k = int(np.argmin(err))
    return max(ts.min, float(a[k] * lo0)), min(ts.max, float(a[k] * hi0))


# -- parameters ------------------------------------------------------------------------------
def params_from_range(lo: float, hi: float, *, symmetric: bool = True, dtype: Any = DType.I8
                      ) -> QuantParams:
    """Per-tensor QuantParams of a real range under a scheme (see the module docstring)."""
    qp = _params(np.array([lo]), np.array([hi]), symmetric, dtype)
    return QuantParams.per_tensor(qp[0][0], qp[1][0])


def _params(lo: np.ndarray, hi: np.ndarray, symmetric: bool, dtype: Any
            ) -> tuple[np.ndarray, np.ndarray]:
    qlo, qhi = qrange(dtype, symmetric)
    lo = np.minimum(np.asarray(lo, np.float64), 0.0)
    hi = np.maximum(np.asarray(hi, np.float64), 0.0)
    if symmetric:
        amax = np.maximum(-lo, hi)
        scale = np.where(amax > 0, amax / qhi, 1.0)  # an all-zero tensor: any scale is exact
        return scale, np.zeros(scale.shape, np.int64)
    span = hi - lo
    scale = np.where(span > 0, span / (qhi - qlo), 1.0)
    zp = np.where(span > 0, np.clip(np.round(qlo - lo / scale), qlo, qhi), 0).astype(np.int64)
    return scale, zp


def activation_params(
    stats: CalibrationStats,
    method: str = "minmax",
    *,
    symmetric: bool = True,
    dtype: Any = DType.I8,
    percentile: float = 99.99,
    tensors: Iterable[str] | None = None,
) -> dict[str, QuantParams]:
    """Per-tensor QuantParams for every (or the named) calibrated tensor."""
    rs = ranges(stats, method, tensors=tensors, symmetric=symmetric, percentile=percentile,
                dtype=dtype)
    return {n: params_from_range(lo, hi, symmetric=symmetric, dtype=dtype)
            for n, (lo, hi) in rs.items()}


def weight_params(array: np.ndarray, axis: int | None = 0, symmetric: bool = True,
                  dtype: Any = DType.I8) -> QuantParams:
    """Weight QuantParams: per channel along ``axis`` (per tensor when None).

    Symmetric int8 is TFLite's weight scheme: ``[-127, 127]``, zero point 0.
    """
    w = np.asarray(array, dtype=np.float64)
    if axis is None:
        lo, hi = np.array([w.min(initial=0.0)]), np.array([w.max(initial=0.0)])
        scale, zp = _params(lo, hi, symmetric, dtype)
        return QuantParams.per_tensor(scale[0], zp[0])
    if not -w.ndim <= axis < w.ndim:
        raise ScaleError(f"weight_params: axis {axis} is out of range for a rank-{w.ndim} weight")
    axis = axis % w.ndim
    other = tuple(d for d in range(w.ndim) if d != axis)
    lo = w.min(axis=other, initial=0.0) if other else np.minimum(w, 0.0)
    hi = w.max(axis=other, initial=0.0) if other else np.maximum(w, 0.0)
    scale, zp = _params(lo, hi, symmetric, dtype)
    return QuantParams.per_axis(scale, zp, axis)


def bias_params(input_params: QuantParams, weight_qparams: QuantParams) -> QuantParams:
    """int32 bias QuantParams: ``scale = input_scale * weight_scale``, zero point 0.

    Per channel (axis 0 of the bias) when the weight is quantized per channel.
    """
    if input_params.axis is not None:
        raise ScaleError("bias_params: the input must be quantized per tensor")
    s_in = input_params.scale[0]
    scales = np.array(weight_qparams.scale) * s_in
    if weight_qparams.axis is None:
        return QuantParams.per_tensor(scales[0], 0)
    return QuantParams.per_axis(scales, np.zeros(scales.size, np.int64), 0)


def fake_quantize(x: np.ndarray, qp: QuantParams, dtype: Any = DType.I8,
                  symmetric: bool | None = None) -> np.ndarray:
    """Quantize then dequantize ``x`` (round half to even, saturating), in float64.

    The integer range is the dtype's, restricted to ``[-127, 127]`` for int8 with every zero
    point 0 unless ``symmetric=False`` says otherwise.
    """
    if symmetric is None:
        symmetric = as_dtype(dtype) == DType.I8 and not any(qp.zero_point)
    qlo, qhi = qrange(dtype, symmetric)
    x = np.asarray(x, np.float64)
    s = np.array(qp.scale)
    z = np.array(qp.zero_point, np.float64)
    if qp.axis is not None:
        shape = [1] * x.ndim
        shape[qp.axis] = -1
        s, z = s.reshape(shape), z.reshape(shape)
    else:
        s, z = s[0], z[0]
    q = np.clip(np.round(x / s) + z, qlo, qhi)
    return (q - z) * s
