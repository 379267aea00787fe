"""TensorFlow's StridedSlice (TF graphs and TFLite's STRIDED_SLICE) as IR slice/squeeze/unsqueeze.

:func:`plan` turns a strided-slice spec (begin/end/strides and the five bit masks) over an
input of known rank into the IR form: one ``slice`` over the input axes, then ``squeeze`` of
the shrunk axes, then ``unsqueeze`` of the new axes. The semantics are numpy basic indexing's,
which TF copied: bit ``i`` of ``ellipsis_mask`` makes spec entry ``i`` an ``...`` (at most
one), ``new_axis_mask`` a ``np.newaxis``, ``shrink_axis_mask`` an integer index; set
``begin_mask``/``end_mask`` bits mean "from the start/to the end" in the step's direction.
Dims the spec does not reach are kept whole (an implicit trailing ``...``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

I64_MAX = 2**63 - 1
I64_MIN = -(2**63)


@dataclass
class SlicePlan:
    """``slice(x, starts, ends, axes, steps)`` (skipped when ``axes`` is empty), then
    ``squeeze(squeeze_axes)`` (input axis numbers), then ``unsqueeze(unsqueeze_axes)``
    (positions in the squeezed result)."""

    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    axes: list[int] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    squeeze_axes: list[int] = field(default_factory=list)
    unsqueeze_axes: list[int] = field(default_factory=list)


def plan(rank: int, begin: Sequence[int], end: Sequence[int], strides: Sequence[int] | None,
         begin_mask: int = 0, end_mask: int = 0, ellipsis_mask: int = 0,
         new_axis_mask: int = 0, shrink_axis_mask: int = 0, *, offset: bool = False) -> SlicePlan:
    """The IR plan of a strided slice over a rank-``rank`` input (see the module doc).

    ``offset`` is TFLite's option: ``end`` counts from ``begin``. Raises ``ValueError`` for
    more than one ellipsis or a spec that names more axes than the input has.
    """
    k = len(begin)
    strides = list(strides) if strides is not None else [1] * k

    def bit(mask: int, i: int) -> bool:
        return bool((mask >> i) & 1)

    if sum(bit(ellipsis_mask, i) for i in range(k)) > 1:
        raise ValueError("a strided slice may have at most one ellipsis")
    # Entries that consume an input axis: everything but the ellipsis and new axes.
    n_real = sum(1 for i in range(k) if not bit(ellipsis_mask, i) and not bit(new_axis_mask, i))
    if n_real > rank:
        raise ValueError(f"the slice spec indexes {n_real} axes but the input has rank {rank}")
    p = SlicePlan()
    dim = 0  # input axis the next entry consumes
    out = 0  # output position after squeezing (where a new axis lands)
    for i in range(k):
        if bit(ellipsis_mask, i):
            span = rank - n_real
            dim += span
            out += span
            continue
        if bit(new_axis_mask, i):
            p.unsqueeze_axes.append(out)
            out += 1
            continue
        s = int(strides[i])
        b = int(begin[i])
        e = b + int(end[i]) if offset else int(end[i])
        if bit(shrink_axis_mask, i):
            p.starts.append(b)
            p.ends.append(b + 1 if b != -1 else I64_MAX)
            p.axes.append(dim)
            p.steps.append(1)
            p.squeeze_axes.append(dim)
        else:
            if s == 0:
                raise ValueError(f"strided slice entry {i} has stride 0")
            full_b, full_e = bit(begin_mask, i), bit(end_mask, i)
            if full_b:
                b = 0 if s > 0 else I64_MAX
            if full_e:
                e = I64_MAX if s > 0 else I64_MIN
            if not (full_b and full_e and s == 1):  # a whole axis needs no slicing
                p.starts.append(b)
                p.ends.append(e)
                p.axes.append(dim)
                p.steps.append(s)
            out += 1
        dim += 1
    return p
