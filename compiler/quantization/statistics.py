"""Calibration statistics: per-tensor min/max, histograms and channel sums, saved portably.

Contract of :class:`TensorStats` (what :func:`~compiler.quantization.calibration.calibrate`
fills, and what the scale selection of :mod:`compiler.quantization.scales` reads):

* Exact running min/max over all samples, the number of elements seen, the number of exact
  zeros, and a histogram of ``bins`` bins over the symmetric range ``[-amax_range,
  amax_range]``.
* The histogram's range starts at the first nonzero batch's max |x| and, when a later batch
  exceeds it, is doubled (as often as needed). Doubling re-bins *exactly*: the old bins pair
  up into the middle half of the new histogram (``bins`` is a multiple of 4), so no counts
  move between real-valued intervals and the total count is preserved. The cost is at most a
  factor 2 of resolution; the range is always within ``[max|x|, 2 max|x|)``. (onnxruntime's
  HistogramCalibrater and TensorRT instead add bins of the old width; infercc keeps the bin
  count fixed so the artifact's size does not depend on the data.)
* Because the range is symmetric with a bin edge at 0, the |x| histogram (what symmetric
  scale selection uses) is the signed one folded at the middle, also exactly.
* Tensors marked ``channels=True`` also get the sum of each channel (axis 1) over all samples
  and positions, for bias correction (:mod:`compiler.quantization.bias_correction`).
* Non-finite values (NaN, +-inf) are left out of every statistic and counted in
  ``nonfinite``; a warning names the tensor (and its channel sums are dropped).
* Histograms are computed by :func:`_histogram`: ``np.histogram`` over the same range up to
  float rounding at bin edges.

:meth:`CalibrationStats.save` writes a portable ``.npz`` (no pickles) from which every scale
selection method of :mod:`compiler.quantization.scales` can be recomputed without the model.
This module needs numpy only: statistics can be loaded and inspected without a model.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from compiler.errors import InferccError
from compiler.fileio import atomic_write

log = logging.getLogger(__name__)

FORMAT_VERSION = 2


class CalibrationError(InferccError):
    """Calibration data or a calibration artifact is unusable; the message says why."""


@dataclass
class TensorStats:
    """Statistics of one tensor over all calibration samples.

    ``hist[j]`` counts finite values in ``[edges[j], edges[j+1])`` (the last bin is closed),
    with ``edges = linspace(-amax_range, amax_range, bins + 1)``. ``amax_range`` is 0 while
    only zeros were seen (all counts are then in bin ``bins // 2``, the one starting at 0).
    """

    name: str
    bins: int
    min: float = np.inf
    max: float = -np.inf
    hist: np.ndarray = field(default=None)  # type: ignore[assignment]
    amax_range: float = 0.0
    count: int = 0
    zeros: int = 0
    nonfinite: int = 0
    # Per-channel sums over every axis but 1 (the IR's channel axis), kept for tensors that
    # a conv / gemm reads (``channels=True``): their means drive bias correction.
    channels: bool = False
    channel_sum: np.ndarray | None = None
    channel_count: int = 0

    def __post_init__(self) -> None:
        if self.hist is None:
            self.hist = np.zeros(self.bins, dtype=np.int64)

    @property
    def edges(self) -> np.ndarray:
        return np.linspace(-self.amax_range, self.amax_range, self.bins + 1)

    @property
    def seen(self) -> bool:
        return self.count > 0

    @property
    def channel_mean(self) -> np.ndarray | None:
        """Mean of each channel (axis 1) over every sample and position, if recorded."""
        if self.channel_sum is None or not self.channel_count:
            return None
        return self.channel_sum / self.channel_count

    def abs_hist(self) -> tuple[np.ndarray, np.ndarray]:
        """The |x| histogram (``bins // 2`` bins over ``[0, amax_range]``) and its edges."""
        half = self.bins // 2
        folded = self.hist[half:] + self.hist[:half][::-1]
        return folded, np.linspace(0.0, self.amax_range, half + 1)

    # -- accumulation ----------------------------------------------------------------------
    def update(self, array: np.ndarray, channel_sums: np.ndarray | None = None) -> None:
        """Fold one array into the statistics (vectorized; no Python loop over elements).

        ``channel_sums`` (``[N, C]``, the array summed over its axes from 2 on) saves
        computing them here when channel means are tracked.
        """
        x = np.asarray(array)
        if x.dtype.kind != "f" or x.dtype.itemsize < 4:
            x = x.astype(np.float32)
        if x.size == 0:
            return
        shape = x.shape
        x = x.ravel()
        lo, hi = x.min(), x.max()
        if not (np.isfinite(lo) and np.isfinite(hi)):
            finite = np.isfinite(x)
            bad = int(x.size - np.count_nonzero(finite))
            if bad:
                if not self.nonfinite:
                    log.warning("calibration: tensor %%%s holds NaN/inf values; they are left "
                                "out of its statistics", self.name)
                self.nonfinite += bad
                self.channels, self.channel_sum = False, None
                x = x[finite]
                if x.size == 0:
                    return
                lo, hi = x.min(), x.max()
        elif self.channels:
            self._add_channels(x.reshape(shape), channel_sums)
        lo, hi = float(lo), float(hi)
        self.min = min(self.min, lo)
        self.max = max(self.max, hi)
        self.count += int(x.size)
        amax = max(-lo, hi)
        if amax > self.amax_range:
            self._grow(amax)
        if self.amax_range == 0.0:  # only zeros so far
            self.hist[self.bins // 2] += x.size
            self.zeros += int(x.size)
            return
        hist, zeros = _histogram(x, lo, hi, self.bins, self.amax_range)
        self.hist += hist
        self.zeros += zeros

    def _add_channels(self, x: np.ndarray, partial: np.ndarray | None) -> None:
        # A tensor with non-finite values or a changing channel count has no channel means.
        if x.ndim < 2 or (self.channel_sum is not None and self.channel_sum.size != x.shape[1]):
            self.channels, self.channel_sum = False, None
            return
        if partial is None or partial.shape != x.shape[:2]:
            partial = x.reshape(x.shape[0], x.shape[1], -1).sum(axis=2)
        sums = partial.sum(axis=0, dtype=np.float64)
        if self.channel_sum is None:
            self.channel_sum = np.zeros(x.shape[1], np.float64)
        self.channel_sum += sums
        self.channel_count += x.size // x.shape[1]

    def _grow(self, amax: float) -> None:
        if self.amax_range == 0.0:
            # every count so far is a zero, which stays in bin bins//2 for any range
            self.amax_range = amax
            return
        q = self.bins // 4
        r = self.amax_range
        while r < amax:
            merged = self.hist.reshape(-1, 2).sum(axis=1)
            self.hist = np.zeros(self.bins, dtype=np.int64)
            self.hist[q:q + merged.size] = merged
            r *= 2.0
        self.amax_range = r


# Elements per block of the histogram kernel: measured fastest of 8K..64K (its buffers,
# about 0.8 MB, then stay in cache across the block's passes).
_HIST_BLOCK = 65536
# Interleaved sub-histograms: consecutive elements count into different copies of the
# bins, so runs of equal values (a relu output's zeros) do not serialize bincount's
# increments of one counter; measured 2.3-3.2 -> 1.2 ns per element for bincount itself.
_STRIPES = 4
_STRIPE_CACHE: dict[int, np.ndarray] = {}


def _stripes(bins: int) -> np.ndarray:
    """``(k % _STRIPES) * (bins + 1)`` for k in one block, as int32."""
    if bins not in _STRIPE_CACHE:
        k = np.arange(_HIST_BLOCK) % _STRIPES
        _STRIPE_CACHE[bins] = (k * (bins + 1)).astype(np.int32)
    return _STRIPE_CACHE[bins]


def _histogram(x: np.ndarray, lo: float, hi: float, bins: int, r: float
               ) -> tuple[np.ndarray, int]:
    """Counts of finite 1-D float ``x`` (within ``[lo, hi]``) in ``bins`` bins over ``[-r, r]``,
    and the number of exact zeros in ``x``.

    Element ``v`` goes to bin ``floor((v + r) * bins / 2r)``, computed as one multiply-add in
    ``x``'s own precision (float32 for float32 tensors), with ``v == r`` in the last bin.
    That is ``np.histogram(x, bins, range=(-r, r))`` up to rounding: a value within float
    rounding of a bin edge (relative 1e-7 of ``r`` in float32) may be counted in the
    neighbouring bin, where np.histogram compares it against its own rounded edge array.
    Every scale method resolves whole bins, so this changes no range, and it is several
    times cheaper than exact edge tests. The work goes block by block so that each block's
    passes (zero count, index, bincount) run in cache. Ranges whose scale overflows the
    dtype go to np.histogram itself.
    """
    scale = x.dtype.type(bins / (2.0 * r))
    if not (np.isfinite(scale) and scale > 0 and -r <= lo and hi <= r):
        return (np.histogram(x, bins=bins, range=(-r, r))[0],
                int(x.size - np.count_nonzero(x)))
    offset = x.dtype.type(bins / 2)
    n = min(x.size, _HIST_BLOCK)
    t = np.empty(n, x.dtype)
    idx = np.empty(n, np.int32)
    stripes = _stripes(bins)
    h = np.zeros(_STRIPES * (bins + 1), dtype=np.int64)
    nonzero = 0
    for i in range(0, x.size, n):
        xb = x[i:i + n]
        m = xb.size
        nonzero += np.count_nonzero(xb)
        tb = t[:m]
        np.multiply(xb, scale, out=tb)
        tb += offset
        ib = idx[:m]
        # tb is in [-bins * 1e-7, bins * (1 + 1e-7)], so truncation gives 0..bins
        np.copyto(ib, tb, casting="unsafe")
        ib += stripes[:m]
        h += np.bincount(ib, minlength=h.size)
    h = h.reshape(_STRIPES, bins + 1).sum(axis=0)
    h[bins - 1] += h[bins]  # v == r: the last bin is closed
    return h[:bins], int(x.size - nonzero)


@dataclass
class CalibrationStats:
    """Per-tensor statistics of one calibration run, plus where they came from."""

    graph_name: str
    num_samples: int
    bins: int
    tensors: dict[str, TensorStats]
    version: str = ""

    def __getitem__(self, name: str) -> TensorStats:
        try:
            return self.tensors[name]
        except KeyError:
            raise KeyError(f"no calibration statistics for tensor %{name}; recorded: "
                           f"{', '.join(sorted(self.tensors)[:10])}...") from None

    def __contains__(self, name: str) -> bool:
        return name in self.tensors

    def __iter__(self) -> Iterator[str]:
        return iter(self.tensors)

    # -- portable artifact -----------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write an ``.npz`` (readable with plain numpy, ``allow_pickle=False``), atomically.

        Layout: ``names`` (str array), ``min``, ``max``, ``amax_range`` (f64 per tensor),
        ``count``, ``zeros``, ``nonfinite`` (i64 per tensor), ``hist`` (i64 [tensors, bins]),
        ``edges`` (f64 [tensors, bins + 1]), the per-channel sums of the tensors that have
        them (``channel_sum``, f64, tensor k's at ``channel_offsets[k]:channel_offsets[k+1]``,
        ``channel_count`` elements per channel, 0 where none) and ``metadata`` (a JSON
        string: format, graph_name, num_samples, bins, infercc_version). Format 1 files
        (without channel sums) still load.
        """
        names = list(self.tensors)
        ts = [self.tensors[n] for n in names]
        arrays = {
            "names": np.array(names, dtype=np.str_),
            "min": np.array([t.min for t in ts], dtype=np.float64),
            "max": np.array([t.max for t in ts], dtype=np.float64),
            "amax_range": np.array([t.amax_range for t in ts], dtype=np.float64),
            "count": np.array([t.count for t in ts], dtype=np.int64),
            "zeros": np.array([t.zeros for t in ts], dtype=np.int64),
            "nonfinite": np.array([t.nonfinite for t in ts], dtype=np.int64),
            "hist": np.stack([t.hist for t in ts]) if ts else np.zeros((0, self.bins), np.int64),
            "edges": (np.stack([t.edges for t in ts]) if ts
                      else np.zeros((0, self.bins + 1), np.float64)),
            "channel_sum": np.concatenate(
                [np.zeros(0)] + [t.channel_sum for t in ts if t.channel_mean is not None]),
            "channel_offsets": np.cumsum([0] + [
                t.channel_sum.size if t.channel_mean is not None else 0 for t in ts]),
            "channel_count": np.array([t.channel_count if t.channel_mean is not None else 0
                                       for t in ts], dtype=np.int64),
            "metadata": np.array(json.dumps({
                "format": "infercc-calibration",
                "format_version": FORMAT_VERSION,
                "graph_name": self.graph_name,
                "num_samples": self.num_samples,
                "bins": self.bins,
                "infercc_version": self.version,
            })),
        }

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())

        atomic_write(path, write)
        log.info("wrote calibration statistics of %d tensors to %s", len(names), path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> CalibrationStats:
        """Read what :meth:`save` wrote."""
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["metadata"]))
                if meta.get("format") != "infercc-calibration":
                    raise CalibrationError(f"{path}: not an infercc calibration file")
                if meta.get("format_version", 0) > FORMAT_VERSION:
                    raise CalibrationError(
                        f"{path}: calibration format {meta['format_version']} is newer than this "
                        f"infercc reads ({FORMAT_VERSION}); upgrade infercc")
                bins = int(meta["bins"])
                channels = "channel_sum" in z.files
                if channels:
                    csum, coff, ccount = (z["channel_sum"], z["channel_offsets"],
                                          z["channel_count"])
                tensors = {}
                for k, name in enumerate(z["names"].tolist()):
                    t = TensorStats(
                        name=name, bins=bins, min=float(z["min"][k]), max=float(z["max"][k]),
                        hist=z["hist"][k].astype(np.int64), amax_range=float(z["amax_range"][k]),
                        count=int(z["count"][k]), zeros=int(z["zeros"][k]),
                        nonfinite=int(z["nonfinite"][k]),
                    )
                    if channels and ccount[k]:
                        t.channel_sum = csum[coff[k]:coff[k + 1]].astype(np.float64)
                        t.channel_count = int(ccount[k])
                    tensors[name] = t
        except CalibrationError:
            raise
        except (OSError, KeyError, ValueError) as e:
            raise CalibrationError(f"{path}: unreadable calibration file ({type(e).__name__}: "
                                   f"{e}); recreate it with calibrate(...).save(path)") from e
        return cls(meta["graph_name"], int(meta["num_samples"]), bins, tensors,
                   meta.get("infercc_version", ""))
