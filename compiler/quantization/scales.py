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
  ``amax = edges[i]``. All candidates are evaluated at once from prefix sums over the bins
  (:func:`entropy_divergences`, no loop over candidates); since those sums round differently
  from a per-candidate evaluation, KLs within ``1e-12`` nats of the minimum count as ties
  and the last (widest) of them wins, as the reference loop's ``<=`` does for equal KLs.
  Differences from pytorch-quantization: exact zeros (counted during
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
  Each candidate costs O(1) after a binary search (:func:`expected_sq_error`: clipped bins
  are a prefix and a suffix, summed from exact integer prefix moments); the first candidate
  of minimal estimate wins.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import numpy as np

from compiler.errors import InferccError
from compiler.ir.types import DType, QuantParams

from .statistics import CalibrationStats, TensorStats

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


# A tie tolerance for the entropy search, in nats: the vectorized KLs differ from a direct
# per-candidate evaluation by rounding only (measured at most 3.6e-15 nats on real, random,
# spiky and 1e9-count histograms, see tests/compiler/quantization/test_calibration.py), and two
# candidates whose KLs agree to 1e-12 cannot be told apart by any calibration set anyway.
_KL_TIE = 1e-12


def _xlogy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``x * log(y)`` where ``x != 0``, else 0 (the ``0 log 0 = 0`` convention of KL)."""
    out = np.zeros(np.broadcast(x, y).shape)
    np.log(y, out=out, where=x != 0)
    return out * x


@functools.lru_cache(maxsize=16)
def _entropy_segments(n: int, levels: int, start: int
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The bin ranges of every (candidate, level) pair of the entropy search, deduplicated.

    Candidate ``i`` (``start <= i <= n``) maps bin ``j < i`` to level ``(j * levels) // i``,
    so level ``k`` is bins ``[b_k, b_(k+1))`` with ``b_k = ceil(k * i / levels)``. Only about
    ``n * (n / levels + 1)`` of the ``(n - start + 1) * levels`` ranges are distinct, so each
    distinct range is evaluated once per tensor and gathered per candidate. Returns
    ``(candidates, seg_start, seg_end, seg_of[candidate, level], last_seg[candidate])``;
    ``last_seg`` is the range holding bin ``i - 1``. Depends on the sizes only, hence cached
    (arrays read-only).
    """
    cand = np.arange(start, n + 1, dtype=np.int64)
    k = np.arange(levels + 1, dtype=np.int64)
    b = (k[None, :] * cand[:, None] + levels - 1) // levels  # b[:, levels] == cand
    # dedupe by (start, length) through a dense table (an np.unique sort costs 10x more)
    lens = b[:, 1:] - b[:, :-1]
    width = int(lens.max()) + 1
    key = b[:, :-1] * width + lens
    used = np.zeros((n + 1) * width, dtype=bool)
    used[key] = True
    uniq = np.flatnonzero(used)
    index = np.cumsum(used) - 1
    seg_of = index[key].astype(np.intp)
    last_seg = seg_of[np.arange(cand.size), ((cand - 1) * levels) // cand]
    seg_s = uniq // width
    out = (cand, seg_s, seg_s + uniq % width, seg_of, last_seg)
    for a in out:
        a.setflags(write=False)
    return out


def entropy_amax(ts: TensorStats, levels: int = 128, start: int = 128) -> float:
    """TensorRT's KL-divergence threshold on the |x| histogram (see the module docstring).

    Ties: the last (widest) candidate whose KL is within ``1e-12`` nats of the minimum, as
    pytorch-quantization's ``<=`` on a per-candidate loop; the tolerance absorbs the
    vectorized sums' rounding (:func:`entropy_divergences`), which would otherwise decide
    between candidates of equal KL.
    """
    hist, edges = ts.abs_hist()
    amax = float(max(-ts.min, ts.max))
    bins = hist.astype(np.float64)
    bins[0] = max(bins[0] - ts.zeros, 0.0)
    if bins.sum() == 0:
        return amax
    cand, kl = entropy_divergences(bins, levels, start)
    best = int(np.flatnonzero(kl <= kl.min() + _KL_TIE)[-1])
    return float(min(edges[cand[best]], amax))


def entropy_divergences(bins: np.ndarray, levels: int = 128, start: int = 128
                        ) -> tuple[np.ndarray, np.ndarray]:
    """``(candidates, KL)``: the entropy search's KL(P||Q) for every candidate ``i`` in
    ``[min(start, n), n]`` at once (``bins``: n counts, not all zero; no loop over candidates).

    From prefix sums over the bins ``h`` (``N = sum(h)``): level ``k``'s mass ``qsum_k`` and
    nonzero-bin count ``qcnt_k`` are differences of prefix sums; the unnormalized Q ``q`` is
    ``qsum_k / qcnt_k`` on the level's nonzero bins, summing to ``Qs = sum(h[:i])``; the
    unnormalized P ``p`` is ``h[:i]`` with ``tail = sum(h[i:])`` added to its last bin,
    summing to ``N``; and

        KL(p / N || q / Qs) = (sum p log p - sum p log q) / N + log(Qs / N),

    with ``sum p log p = sum(h[:i-1] log h[:i-1]) + p[i-1] log p[i-1]`` (a prefix sum) and
    ``sum p log q = sum_k qsum_k log(qsum_k / qcnt_k) + tail log q[i-1]``. KL is +inf when
    the tail folds into an empty last bin (``q[i-1] = 0``) and for skipped candidates
    (``Qs = 0``); candidate ``n`` is always finite. Logs are taken relative to the bins'
    mass-weighted mean log (the KL is unchanged, since p sums to N in both terms), which
    keeps the sums small and their rounding low: the KLs agree with a per-candidate
    evaluation to 4e-15 nats (measured, see tests/compiler/quantization/test_calibration.py).
    """
    bins = np.asarray(bins, np.float64)
    n = bins.size
    total = float(bins.sum())  # counts are integers: every sum of bins below is exact
    # candidate 0 has Qs = 0 and is skipped anyway
    cand, seg_s, seg_e, seg_of, last_seg = _entropy_segments(n, levels, max(min(start, n), 1))
    csum = np.concatenate(([0.0], np.cumsum(bins)))
    nzsum = np.concatenate(([0], np.cumsum(bins != 0)))
    # log(x / ref) instead of log(x): both KL sums shift by P log(ref) and the difference
    # is unchanged, but the terms (and their rounding) shrink from P log(max bin) to P times
    # the spread of log(bin) around its mass-weighted mean.
    ref = np.exp(float(_xlogy(bins, bins).sum()) / total)
    qsum = csum[seg_e] - csum[seg_s]
    qcnt = nzsum[seg_e] - nzsum[seg_s]
    qval = qsum / np.maximum(qcnt, 1)  # Q on the range's nonzero bins (qsum = 0 when none)
    seg_plogq = _xlogy(qsum, qval / ref)
    plogp = np.concatenate(([0.0], np.cumsum(_xlogy(bins, bins / ref))))
    h_last = bins[cand - 1]
    tail = total - csum[cand]
    p_last = h_last + tail
    sum_plogp = plogp[cand - 1] + _xlogy(p_last, p_last / ref)
    with np.errstate(divide="ignore"):  # tail into an empty last bin: -inf, replaced below
        sum_plogq = seg_plogq[seg_of].sum(axis=1) + _xlogy(tail, qval[last_seg] / ref)
    qs = csum[cand]
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = (sum_plogp - sum_plogq) / total + np.log(qs / total)
    kl[(tail > 0) & (h_last == 0)] = np.inf
    kl[qs == 0] = np.inf
    return cand, kl


def expected_sq_error(ts: TensorStats, lo: np.ndarray, hi: np.ndarray, step: np.ndarray
                      ) -> np.ndarray:
    """Histogram estimate of the total squared error of quantizing to each candidate range.

    ``lo``, ``hi``, ``step`` broadcast together (one candidate per element). A bin (center
    ``c``, width ``w``, count ``n`` with exact zeros removed from the bin starting at 0) is
    clipped when ``c > hi`` (cost ``n ((c - hi)^2 + w^2 / 12)``) or ``c < lo`` (cost
    ``n ((lo - c)^2 + w^2 / 12)``; both squared terms, one ``w^2 / 12``, for a bin on both
    sides when ``lo > hi``); every other bin costs ``n step^2 / 12``.

    O(1) per candidate after a binary search: the clipped bins are a prefix and a suffix of
    the (uniform) bins, and ``sum n (c - hi)^2`` over the suffix starting at bin ``s`` is
    ``sum n ((j - s) w + d)^2`` with ``d = c_s - hi`` in ``(0, w]``: integer moments
    ``sum n (j - s)^k`` (k = 0, 1, 2) from exact int64 prefix sums of ``n j^k`` and
    nonnegative float terms, so nothing cancels.
    """
    e = ts.edges
    c = 0.5 * (e[:-1] + e[1:])
    w = float(e[1] - e[0])
    # center spacing for distances: e[1] - e[0] loses log2(bins) bits to cancellation
    # against e[0]; the whole span over the bin count is exact to rounding
    dw = float(e[-1] - e[0]) / (e.size - 1)
    nb = c.size
    n = ts.hist.astype(np.int64)  # copy
    n[ts.bins // 2] = max(int(n[ts.bins // 2]) - ts.zeros, 0)  # exact zeros: no error
    # m[k][s] = sum(n[:s] * j[:s] ** k): exact in int64 (so are the moment combinations
    # below) while count * bins**2 < 2**62, i.e. up to 1e12 values at 2048 bins; beyond
    # that float64 (rounding then only matters between near-equal candidates)
    mdt = np.int64 if int(n.sum()) * nb * nb < 2**62 else np.float64
    j = np.arange(nb, dtype=mdt)
    m = [np.concatenate(([0], np.cumsum(n.astype(mdt) * j ** k))) for k in range(3)]
    total = int(m[0][-1])
    lo, hi, step = np.broadcast_arrays(*(np.asarray(a, np.float64) for a in (lo, hi, step)))
    # clipped below: bins j < a (c_j < lo); clipped above: bins j >= s (c_j > hi)
    a = np.searchsorted(c, lo, side="left")
    s = np.searchsorted(c, hi, side="right")
    # above: sum over j >= s of n ((j - s) w + d_hi)^2
    cnt_hi = m[0][-1] - m[0][s]
    j1 = (m[1][-1] - m[1][s]) - s * cnt_hi  # sum n (j - s)
    j2 = (m[2][-1] - m[2][s]) - 2 * s * (m[1][-1] - m[1][s]) + s * s * cnt_hi
    d_hi = c[np.minimum(s, nb - 1)] - hi
    err_hi = dw * dw * j2 + 2.0 * dw * d_hi * j1 + d_hi * d_hi * cnt_hi
    # below: sum over j < a of n ((a - 1 - j) w + d_lo)^2, d_lo = lo - c_(a-1)
    t = a - 1
    cnt_lo = m[0][a]
    j1 = t * cnt_lo - m[1][a]  # sum n (a - 1 - j)
    j2 = t * t * cnt_lo - 2 * t * m[1][a] + m[2][a]
    d_lo = lo - c[np.maximum(t, 0)]
    err_lo = dw * dw * j2 + 2.0 * dw * d_lo * j1 + d_lo * d_lo * cnt_lo
    clipped = cnt_hi + cnt_lo - np.maximum(m[0][a] - m[0][s], 0)  # a bin on both sides once
    return (err_hi + err_lo + clipped * (w * w / 12.0)
            + (total - clipped) * (step * step / 12.0))


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
