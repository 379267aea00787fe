"""Pruning patterns: which weight elements to zero, given a score per element.

Every function takes a weight already moved to ``[..., R]`` layout or an explicit reduction
axis, and returns a boolean *keep* mask of the weight's shape (True: keep). Scores are
non-negative importances (magnitude: ``|w|``); lower scores are pruned first. Ties are broken
by position (a stable sort), so a mask is deterministic.

Patterns (:func:`parse_pattern`):

* ``unstructured``: the ``round(sparsity * size)`` lowest-scoring elements.
* ``N:M`` (e.g. ``2:4``): in every M consecutive elements along the reduction axis, keep the
  N highest-scoring (sparsity fixed at ``1 - N/M``). The reduction length must be a multiple
  of M.
* ``1x4``: blocks of 4 consecutive elements along the reduction axis, one output channel
  each (TFLite's fully-connected block sparsity); ``4x1``: blocks of 4 consecutive output
  channels at one reduction position. A block's score is the L2 norm of its elements'
  scores; the ``round(sparsity * blocks)`` lowest blocks are zeroed. The blocked axis must be
  a multiple of 4.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

PATTERNS = ("unstructured", "N:M", "1x4", "4x1")


@dataclass(frozen=True)
class Pattern:
    """A parsed pattern: ``kind`` is ``unstructured``, ``nm`` or ``block``; ``n``/``m`` for
    N:M; ``block`` = (elements along the output axis, along the reduction axis)."""

    kind: str
    text: str
    n: int = 0
    m: int = 0
    block: tuple[int, int] = (1, 1)


def parse_pattern(text: str) -> Pattern | None:
    """The pattern named by ``text``, or None when it names none (the caller says why)."""
    t = str(text).strip().lower()
    if t == "unstructured":
        return Pattern("unstructured", t)
    if t in ("1x4", "4x1"):
        return Pattern("block", t, block=(1, 4) if t == "1x4" else (4, 1))
    m = re.fullmatch(r"(\d+):(\d+)", t)
    if m and 0 < int(m.group(1)) < int(m.group(2)):
        return Pattern("nm", t, n=int(m.group(1)), m=int(m.group(2)))
    return None


def _lowest(scores: np.ndarray, count: int) -> np.ndarray:
    """Boolean mask (flat) of the ``count`` lowest entries of flat ``scores``."""
    out = np.zeros(scores.size, bool)
    if count > 0:
        out[np.argsort(scores, kind="stable")[:count]] = True
    return out


def unstructured_keep(scores: np.ndarray, sparsity: float) -> np.ndarray:
    """Keep mask zeroing the ``round(sparsity * size)`` lowest scores."""
    drop = _lowest(scores.ravel(), int(round(sparsity * scores.size)))
    return ~drop.reshape(scores.shape)


def nm_keep(scores: np.ndarray, n: int, m: int, axis: int) -> np.ndarray:
    """Keep mask with the ``n`` highest of every ``m`` consecutive scores along ``axis``
    (its length must be a multiple of ``m``)."""
    a = np.moveaxis(scores, axis, -1)
    groups = a.reshape(-1, m)
    # stable: among equal scores the earlier element is pruned first
    order = np.argsort(groups, axis=1, kind="stable")
    keep = np.ones(groups.shape, bool)
    np.put_along_axis(keep, order[:, : m - n], False, axis=1)
    return np.moveaxis(keep.reshape(a.shape), -1, axis)


def block_scores(scores: np.ndarray, block: tuple[int, int], out_axis: int,
                 red_axis: int) -> np.ndarray:
    """L2 norm of each block: shape ``[rest..., O/bo, R/br]`` (other axes first)."""
    a = np.moveaxis(scores, (out_axis, red_axis), (-2, -1))
    bo, br = block
    o, r = a.shape[-2:]
    a = a.reshape(*a.shape[:-2], o // bo, bo, r // br, br)
    out: np.ndarray = np.sqrt((a.astype(np.float64) ** 2).sum(axis=(-3, -1)))
    return out


def expand_blocks(keep_blocks: np.ndarray, block: tuple[int, int], shape: tuple[int, ...],
                  out_axis: int, red_axis: int) -> np.ndarray:
    """A per-block keep mask (as :func:`block_scores` lays blocks out) at element level."""
    bo, br = block
    k = np.repeat(np.repeat(keep_blocks, bo, axis=-2), br, axis=-1)
    moved = np.moveaxis(np.empty(shape, bool), (out_axis, red_axis), (-2, -1)).shape
    return np.moveaxis(k.reshape(moved), (-2, -1), (out_axis, red_axis))


def block_keep(scores: np.ndarray, block: tuple[int, int], sparsity: float, out_axis: int,
               red_axis: int) -> np.ndarray:
    """Keep mask zeroing the ``round(sparsity * blocks)`` blocks of lowest L2 norm."""
    b = block_scores(scores, block, out_axis, red_axis)
    keep = unstructured_keep(b, sparsity)
    return expand_blocks(keep, block, scores.shape, out_axis, red_axis)
