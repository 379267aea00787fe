"""The shared StridedSlice plan against numpy basic indexing (TF's semantics are numpy's)."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.frontends.strided_slice import plan
from compiler.ops.registry import run_kernel


def _apply(x: np.ndarray, p) -> np.ndarray:
    y = x
    if p.axes:
        y = run_kernel("slice", [y, np.array(p.starts), np.array(p.ends), np.array(p.axes),
                                 np.array(p.steps)], {})[0]
    if p.squeeze_axes:
        y = np.squeeze(y, axis=tuple(p.squeeze_axes))
    if p.unsqueeze_axes:
        y = np.expand_dims(y, axis=tuple(p.unsqueeze_axes))
    return y


def _random_spec(rng, rank):
    masks = dict(begin_mask=0, end_mask=0, ellipsis_mask=0, new_axis_mask=0,
                 shrink_axis_mask=0)
    begin, end, strides, index = [], [], [], []
    used_ellipsis, real = False, 0
    for i in range(rng.integers(0, rank + 3)):
        kind = rng.choice(["slice", "slice", "shrink", "new", "ellipsis"])
        if kind == "ellipsis" and used_ellipsis:
            kind = "new"
        if kind in ("slice", "shrink") and real >= rank:
            kind = "new"
        dim = 7
        if kind == "ellipsis":
            used_ellipsis = True
            masks["ellipsis_mask"] |= 1 << i
            begin.append(0); end.append(0); strides.append(1); index.append(Ellipsis)
        elif kind == "new":
            masks["new_axis_mask"] |= 1 << i
            begin.append(0); end.append(0); strides.append(1); index.append(np.newaxis)
        elif kind == "shrink":
            real += 1
            b = int(rng.integers(-dim, dim))
            masks["shrink_axis_mask"] |= 1 << i
            begin.append(b); end.append(b + 1); strides.append(1); index.append(b)
        else:
            real += 1
            s = int(rng.choice([1, 2, -1, -3]))
            b, e = int(rng.integers(-9, 9)), int(rng.integers(-9, 9))
            sb, se = b, e
            if rng.random() < 0.3:
                masks["begin_mask"] |= 1 << i
                sb = None
            if rng.random() < 0.3:
                masks["end_mask"] |= 1 << i
                se = None
            begin.append(b); end.append(e); strides.append(s); index.append(slice(sb, se, s))
    return begin, end, strides, masks, tuple(index)


@pytest.mark.parametrize("seed", range(300))
def test_plan_matches_numpy_indexing(seed):
    rng = np.random.default_rng(seed)
    rank = int(rng.integers(1, 5))
    x = rng.standard_normal((7,) * rank).astype(np.float32)
    begin, end, strides, masks, index = _random_spec(rng, rank)
    p = plan(rank, begin, end, strides, **masks)
    np.testing.assert_array_equal(_apply(x, p), x[index])


def test_plan_offset_and_errors():
    x = np.arange(20).reshape(4, 5)
    p = plan(2, [1, 2], [2, 3], [1, 1], offset=True)  # TFLite: end counts from begin
    np.testing.assert_array_equal(_apply(x, p), x[1:3, 2:5])
    with pytest.raises(ValueError, match="at most one ellipsis"):
        plan(2, [0, 0], [0, 0], [1, 1], ellipsis_mask=3)
    with pytest.raises(ValueError, match="rank 2"):
        plan(2, [0, 0, 0], [1, 1, 1], [1, 1, 1])
