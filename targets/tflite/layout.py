"""Physical axis orders of IR values in the TFLite target (the NCHW IR -> NHWC kernels seam).

Every IR value has a *physical order* ``p`` (a permutation of its logical axes): its TFLite
tensor holds ``value.transpose(p)``. This module holds the pure facts about those orders;
:class:`~targets.tflite.context.EmitContext` tracks the order of each value and makes the
boundary ``TRANSPOSE`` (or ``RESHAPE``) when a reader needs another one.

* :data:`TO_NHWC` is the order of an NCHW value stored NHWC; :data:`NHWC_OPS` are the IR ops
  whose data input must be stored that way (TFLite's spatial kernels are NHWC only).
* Unknown or symbolic dims are written as 1 in ``shape`` and -1 in ``shape_signature``
  (:func:`dims`); known dims must fit TFLite's int32 (:data:`MAX_DIM`, :func:`oversized_dim`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

TO_NHWC = (0, 2, 3, 1)
TO_NCHW = (0, 3, 1, 2)

#: the largest dimension a TFLite tensor can hold: shapes are stored as int32
MAX_DIM = 2**31 - 1

#: ops that read their data input in NHWC order
NHWC_OPS = frozenset({"conv", "max_pool", "avg_pool", "conv_transpose", "resize",
                      "depth_to_space"})


def dims(shape: Sequence[Any]) -> tuple[list[int], list[int]]:
    """(static shape with 1 for unknown dims, signature with -1 for them)."""
    static = [d if isinstance(d, int) else 1 for d in shape]
    sig = [d if isinstance(d, int) else -1 for d in shape]
    return static, sig


def oversized_dim(name: str, shape: Sequence[Any] | None) -> str | None:
    """Why value ``%name`` of ``shape`` cannot be a TFLite tensor because a known dim exceeds
    :data:`MAX_DIM` (the message names the value and the dim), or None when all dims fit."""
    big = [d for d in shape or () if isinstance(d, int) and d > MAX_DIM]
    if not big:
        return None
    return (f"%{name} has a dimension of {big[0]}; TFLite stores dimensions as int32 (at "
            f"most {MAX_DIM}): split the tensor or use another target such as ONNX")


def permute(seq: Sequence[Any], perm: Sequence[int]) -> list[Any]:
    """``seq`` reordered by ``perm`` (entry i is ``seq[perm[i]]``)."""
    return [seq[p] for p in perm]


def ident(r: int) -> tuple[int, ...]:
    """The logical order of a rank-``r`` value."""
    return tuple(range(r))


def drop_axes(perm: Sequence[int], axes: Sequence[int]) -> tuple[int, ...]:
    """The physical order left when logical ``axes`` are removed (remaining axes renumbered)."""
    keep = [a for a in perm if a not in axes]
    order = sorted(keep)
    return tuple(order.index(a) for a in keep)


def after_transpose(stored: Sequence[int], perm: Sequence[int]) -> tuple[int, ...]:
    """The order in which the tensor of ``x`` (stored in order ``stored``) holds
    ``y = x.transpose(perm)``: stored axis i is x axis stored[i], which is y axis
    perm^-1[stored[i]]; so an IR transpose needs no TFLite op."""
    inv = [list(perm).index(a) for a in range(len(perm))]
    return tuple(inv[a] for a in stored)


def only_unit_axes_move(shape: Sequence[Any], have: Sequence[int],
                        want: Sequence[int]) -> bool:
    """Whether the orders ``have`` and ``want`` differ only in where size-1 axes sit (then a
    ``RESHAPE`` moves the same bytes a ``TRANSPOSE`` would)."""
    return [a for a in have if shape[a] != 1] == [a for a in want if shape[a] != 1]


def broadcast_to_order(a: Any, perm: Sequence[int]) -> Any:
    """Constant array ``a`` broadcast against a rank-``len(perm)`` value stored in order
    ``perm``: leading ones added, permuted, then leading ones dropped again (rank >= 1)."""
    r = len(perm)
    a = a.reshape((1,) * (r - a.ndim) + a.shape).transpose(perm)
    while a.ndim > 1 and a.shape[0] == 1:
        a = a.reshape(a.shape[1:])
    return a


def same_pads(sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
              dils: Sequence[int]) -> tuple[list[int], list[int]]:
    """TFLite SAME padding (odd totals put the extra at the end) as begin/end lists."""
    begins, ends = [], []
    for n, k, s, d in zip(sizes, kernel, strides, dils):
        out = -(-n // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
        begins.append(total // 2)
        ends.append(total - total // 2)
    return begins, ends
