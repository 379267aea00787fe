"""Tensor-manipulation ops: reshaping, indexing, gathering/scattering, padding, sorting.

Every op has the semantics of the latest ONNX opset of the op it is named after
(:func:`compiler.ops.onnx_names.ir_name`), with ONNX's input and attribute names.

Inference contract: inputs that decide an output shape by their *values* (reshape's
``shape``, slice's ``starts``/``ends``, pad's ``pads``, split's ``split``, top_k's ``k``, ...)
are read through ``ctx.value(i)``; when such an input is not a constant the affected dims
are ``"?"`` (and the rank too, when it cannot be told from the input's own static shape).
Symbolic dims (``"N"``) are carried through wherever the output dim provably equals one.

Kernels are vectorized numpy and return exactly the inferred dtype.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..ir.types import UNKNOWN_DIM, Dim, DType, Shape, TensorType
from .registry import InferContext, SchemaError, defop, normalize_axis, same_as_input

Q = UNKNOWN_DIM
I64 = DType.I64

# ONNX TensorProto.DataType -> IR element type, for the ``dtype`` attributes of eye_like.
_ONNX_DTYPES = {
    1: DType.F32, 2: DType.U8, 3: DType.I8, 4: DType.U16, 5: DType.I16, 6: DType.I32,
    7: DType.I64, 8: DType.STR, 9: DType.BOOL, 10: DType.F16, 11: DType.F64, 12: DType.U32,
    13: DType.U64, 16: DType.BF16,
}


# -- helpers -------------------------------------------------------------------------------


def _ints(v: Any) -> list[int]:
    return [int(x) for x in np.asarray(v).reshape(-1)]


def _const_ints(ctx: InferContext, i: int) -> list[int] | None:
    """Input ``i``'s constant value as a list of ints, or None (absent or not constant)."""
    if not ctx.has(i):
        return None
    v = ctx.value(i)
    return None if v is None else _ints(v)


def _vector_len(ctx: InferContext, i: int) -> int | None:
    """The static length of 1-D input ``i`` (None when unknown)."""
    s = ctx.shape(i)
    if s is not None and len(s) == 1 and isinstance(s[0], int):
        return s[0]
    if s is not None and len(s) == 0:
        return 1
    return None


def _norm_axes(axes: Sequence[int], rank: int, op: str) -> list[int]:
    out = [normalize_axis(a, rank, op) for a in axes]
    if len(set(out)) != len(out):
        raise SchemaError(f"{op}: axes {list(axes)} repeat an axis")
    return out


def _sym_product(dims: Sequence[Dim]) -> tuple[int, Counter] | None:
    """A product of dims as (integer coefficient, multiset of symbols); None with a "?"."""
    coeff, syms = 1, Counter()
    for d in dims:
        if isinstance(d, int):
            coeff *= d
        elif d == Q:
            return None
        else:
            syms[d] += 1
    return coeff, syms


def _product_dim(dims: Sequence[Dim]) -> Dim:
    """The product of ``dims`` as one dim: an int, a lone symbol (times 1) or "?"."""
    p = _sym_product(dims)
    if p is None:
        return 0 if any(d == 0 for d in dims) else Q
    coeff, syms = p
    if not syms or coeff == 0:
        return coeff
    if coeff == 1 and sum(syms.values()) == 1:
        return next(iter(syms))
    return Q


def _quotient_dim(total: Sequence[Dim], known: Sequence[Dim]) -> Dim:
    """The dim ``x`` with ``prod(known) * x == prod(total)`` (reshape's -1), or "?"."""
    t, k = _sym_product(total), _sym_product(known)
    if t is None or k is None:
        return Q
    (tc, ts), (kc, ks) = t, k
    if kc == 0 or any(ks[s] > ts[s] for s in ks):
        return Q
    rest = ts - ks
    if tc % kc:
        if not rest:
            raise SchemaError(f"reshape: {tc} elements cannot be split into chunks of {kc}")
        return Q
    ratio = tc // kc
    if not rest:
        return ratio
    if ratio == 1 and sum(rest.values()) == 1:
        return next(iter(rest))
    return Q


def _merge_dims(dims: Sequence[Dim], op: str) -> Dim:
    """One dim that several inputs must share: the static one, else a symbol, else "?"."""
    static = {d for d in dims if isinstance(d, int)}
    if len(static) > 1:
        raise SchemaError(f"{op}: dims {sorted(static)} must be equal")
    if static:
        return static.pop()
    for d in dims:
        if d != Q:
            return d
    return Q


def _sum_dims(dims: Sequence[Dim]) -> Dim:
    if all(isinstance(d, int) for d in dims):
        return sum(dims)
    nonzero = [d for d in dims if d != 0]
    if len(nonzero) == 1 and nonzero[0] != Q:
        return nonzero[0]
    return Q


def _ty(dtype: DType, shape: Shape | None) -> TensorType:
    return TensorType(dtype, shape)


# -- reshape / flatten / transpose / squeeze / unsqueeze ------------------------------------


def _infer_reshape(ctx: InferContext) -> list[TensorType]:
    t = ctx.type(0)
    target = _const_ints(ctx, 1)
    if target is None:
        n = _vector_len(ctx, 1)
        return [_ty(t.dtype, None if n is None else (Q,) * n)]
    allowzero = bool(ctx.attr("allowzero"))
    src = t.shape
    out: list[Dim] = []
    minus = None
    for i, s in enumerate(target):
        if s == 0 and not allowzero:
            if src is None:
                out.append(Q)
            elif i >= len(src):
                raise SchemaError(
                    f"reshape: shape[{i}]=0 copies a dim the rank-{len(src)} input lacks"
                )
            else:
                out.append(src[i])
        elif s == -1:
            if minus is not None:
                raise SchemaError(f"reshape: shape {target} has more than one -1")
            minus = i
            out.append(Q)
        elif s < -1:
            raise SchemaError(f"reshape: shape {target} has an invalid entry {s}")
        else:
            out.append(s)
    if allowzero and minus is not None and 0 in target:
        raise SchemaError("reshape: with allowzero=1 the shape cannot hold both 0 and -1")
    if src is not None:
        if minus is not None:
            out[minus] = _quotient_dim(src, out[:minus] + out[minus + 1:])
        elif all(isinstance(d, int) for d in src + tuple(out)) and math.prod(src) != math.prod(out):
            raise SchemaError(f"reshape: cannot reshape {list(src)} into {out}")
    return [_ty(t.dtype, tuple(out))]


@defop("reshape", inputs=("data", "shape"), attrs={"allowzero": ("int", 0)},
       infer=_infer_reshape, category="tensor", quant_role="same_scale")
def reshape(inputs, attrs):
    """Reshape; 0 copies the input dim (unless allowzero), -1 is inferred."""
    x, shape = inputs[0], _ints(inputs[1])
    if not attrs["allowzero"]:
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return np.reshape(x, shape)


def _infer_flatten(ctx: InferContext) -> list[TensorType]:
    t = ctx.type(0)
    if t.shape is None:
        return [_ty(t.dtype, (Q, Q))]
    r = len(t.shape)
    axis = ctx.attr("axis")
    if not -r <= axis <= r:
        raise SchemaError(f"flatten: axis {axis} is out of range for rank {r}")
    axis = axis + r if axis < 0 else axis
    return [_ty(t.dtype, (_product_dim(t.shape[:axis]), _product_dim(t.shape[axis:])))]


@defop("flatten", inputs=("input",), attrs={"axis": ("int", 1)}, infer=_infer_flatten,
       category="tensor", quant_role="same_scale")
def flatten(inputs, attrs):
    """Flatten to 2-D: dims before ``axis`` and from ``axis`` on."""
    x = inputs[0]
    axis = attrs["axis"] + x.ndim if attrs["axis"] < 0 else attrs["axis"]
    return x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))


def _perm(perm: Sequence[int] | None, rank: int) -> list[int]:
    if perm is None or len(perm) == 0 and rank != 0:
        return list(range(rank))[::-1]
    p = [int(a) + rank if a < 0 else int(a) for a in perm]
    if sorted(p) != list(range(rank)):
        raise SchemaError(f"transpose: perm {list(perm)} is not a permutation of rank {rank}")
    return p


def _infer_transpose(ctx: InferContext) -> list[TensorType]:
    t = ctx.type(0)
    perm = ctx.attr("perm")
    if t.shape is None:
        return [_ty(t.dtype, None if perm is None else (Q,) * len(perm))]
    p = _perm(perm, len(t.shape))
    return [_ty(t.dtype, tuple(t.shape[a] for a in p))]


@defop("transpose", inputs=("data",), attrs={"perm": ("ints", None)}, infer=_infer_transpose,
       category="tensor", quant_role="same_scale")
def transpose(inputs, attrs):
    """Permute dims (default: reverse them)."""
    x = inputs[0]
    return np.ascontiguousarray(np.transpose(x, _perm(attrs["perm"], x.ndim)))


def _infer_squeeze(ctx: InferContext) -> list[TensorType]:
    t = ctx.type(0)
    axes = _const_ints(ctx, 1)
    if t.shape is None:
        return [_ty(t.dtype, None)]
    r = len(t.shape)
    if ctx.has(1) and axes is None:
        n = _vector_len(ctx, 1)
        return [_ty(t.dtype, None if n is None else (Q,) * (r - n))]
    if axes is None or len(axes) == 0:  # no (or empty) axes: every size-1 dim goes
        if not all(isinstance(d, int) for d in t.shape):
            return [_ty(t.dtype, None)]  # a symbolic dim may or may not be 1
        return [_ty(t.dtype, tuple(d for d in t.shape if d != 1))]
    ax = _norm_axes(axes, r, "squeeze")
    for a in ax:
        if isinstance(t.shape[a], int) and t.shape[a] != 1:
            raise SchemaError(f"squeeze: axis {a} has extent {t.shape[a]}, not 1")
    return [_ty(t.dtype, tuple(d for i, d in enumerate(t.shape) if i not in ax))]


@defop("squeeze", inputs=("data", "axes?"), infer=_infer_squeeze, category="tensor",
       quant_role="same_scale")
def squeeze(inputs, attrs):
    """Remove size-1 dims (the listed ``axes``, or all of them)."""
    x = inputs[0]
    axes = inputs[1] if len(inputs) > 1 else None
    if axes is None or np.size(axes) == 0:
        return np.squeeze(x)
    ax = tuple(_norm_axes(_ints(axes), x.ndim, "squeeze"))
    return np.squeeze(x, axis=ax)


def _infer_unsqueeze(ctx: InferContext) -> list[TensorType]:
    t = ctx.type(0)
    axes = _const_ints(ctx, 1)
    if axes is None:
        n = _vector_len(ctx, 1)
        if t.shape is None or n is None:
            return [_ty(t.dtype, None)]
        return [_ty(t.dtype, (Q,) * (len(t.shape) + n))]
    if t.shape is None:
        return [_ty(t.dtype, None)]
    r = len(t.shape) + len(axes)
    ax = set(_norm_axes(axes, r, "unsqueeze"))
    it = iter(t.shape)
    return [_ty(t.dtype, tuple(1 if i in ax else next(it) for i in range(r)))]


@defop("unsqueeze", inputs=("data", "axes"), infer=_infer_unsqueeze, category="tensor",
       quant_role="same_scale")
def unsqueeze(inputs, attrs):
    """Insert size-1 dims at ``axes`` (positions in the output)."""
    x, axes = inputs[0], _ints(inputs[1])
    r = x.ndim + len(axes)
    ax = set(_norm_axes(axes, r, "unsqueeze"))
    it = iter(x.shape)
    return x.reshape([1 if i in ax else next(it) for i in range(r)])


# -- concat / split ---------------------------------------------------------------------------


def _infer_concat(ctx: InferContext) -> list[TensorType]:
    types = [ctx.type(i) for i in range(ctx.num_inputs)]
    if not types:
        raise SchemaError("concat: needs at least one input")
    dtype = types[0].dtype
    shapes = [t.shape for t in types if t.shape is not None]
    if not shapes:
        return [_ty(dtype, None)]
    r = len(shapes[0])
    if any(len(s) != r for s in shapes):
        raise SchemaError(f"concat: inputs have different ranks {[len(s) for s in shapes]}")
    axis = normalize_axis(ctx.attr("axis"), r, "concat")
    out = []
    for k in range(r):
        dims = [s[k] for s in shapes]
        if k == axis:
            out.append(_sum_dims(dims) if len(shapes) == len(types) else Q)
        else:
            out.append(_merge_dims(dims, "concat"))
    return [_ty(dtype, tuple(out))]


@defop("concat", inputs=("inputs*",), attrs={"axis": ("int",)}, infer=_infer_concat,
       category="tensor", quant_role="same_scale", quant_inputs="*")
def concat(inputs, attrs):
    """Join tensors along ``axis``."""
    xs = [x for x in inputs if x is not None]
    return np.concatenate(xs, axis=attrs["axis"])


def _split_sizes(dim: int, n: int) -> list[int]:
    """ONNX's num_outputs chunking: ceil(dim/n) each, the last one smaller."""
    if n < 1:
        raise SchemaError(f"split: num_outputs must be >= 1, got {n}")
    chunk = -(-dim // n)
    last = dim - chunk * (n - 1)
    if last < 0:
        raise SchemaError(f"split: {dim} elements cannot be split into {n} outputs")
    return [chunk] * (n - 1) + [last]


def _infer_split(ctx: InferContext) -> list[TensorType]:
    t = ctx.type(0)
    sizes: list[Dim]
    split = _const_ints(ctx, 1)
    if split is not None:
        sizes = list(split)
    else:
        n = None
        if ctx.has(1):
            n = _vector_len(ctx, 1)
        n = n or ctx.attr("num_outputs") or ctx.num_outputs
        if not n:
            raise SchemaError("split: give the split input or the num_outputs attribute")
        sizes = [Q] * n
    if t.shape is None:
        return [_ty(t.dtype, None) for _ in sizes]
    axis = normalize_axis(ctx.attr("axis"), len(t.shape), "split")
    dim = t.shape[axis]
    if split is None and not ctx.has(1) and isinstance(dim, int):
        sizes = _split_sizes(dim, len(sizes))
    elif split is not None and isinstance(dim, int) and sum(split) != dim:
        raise SchemaError(f"split: sizes {split} do not add up to the axis extent {dim}")
    return [_ty(t.dtype, t.shape[:axis] + (s,) + t.shape[axis + 1:]) for s in sizes]


@defop("split", inputs=("input", "split?"), outputs=("outputs*",),
       attrs={"axis": ("int", 0), "num_outputs": ("int", None)}, infer=_infer_split,
       category="tensor", quant_role="same_scale")
def split(inputs, attrs):
    """Split along ``axis`` into the ``split`` sizes or ``num_outputs`` (last one smaller)."""
    x = inputs[0]
    axis = normalize_axis(attrs["axis"], x.ndim, "split")
    sp = inputs[1] if len(inputs) > 1 else None
    if sp is not None:
        sizes = _ints(sp)
        if sum(sizes) != x.shape[axis]:
            raise SchemaError(f"split: sizes {sizes} do not add up to {x.shape[axis]}")
    elif attrs["num_outputs"]:
        sizes = _split_sizes(x.shape[axis], attrs["num_outputs"])
    else:
        raise SchemaError("split: give the split input or the num_outputs attribute")
    cuts = np.cumsum(sizes)[:-1]
    return list(np.split(x, cuts, axis=axis))


# -- slice ------------------------------------------------------------------------------------


def _slice_params(starts, ends, axes, steps, rank: int):
    n = len(starts)
    if len(ends) != n:
        raise SchemaError(f"slice: starts ({n}) and ends ({len(ends)}) differ in length")
    axes = list(range(n)) if axes is None else axes
    steps = [1] * n if steps is None else steps
    if len(axes) != n or len(steps) != n:
        raise SchemaError("slice: starts, ends, axes and steps must have the same length")
    axes = _norm_axes(axes, rank, "slice")
    if any(s == 0 for s in steps):
        raise SchemaError("slice: steps cannot be 0")
    return list(zip(axes, starts, ends, steps))


def _infer_slice(ctx: InferContext) -> list[TensorType]:
    t = ctx.type(0)
    if t.shape is None:
        return [_ty(t.dtype, None)]
    r = len(t.shape)
    starts, ends = _const_ints(ctx, 1), _const_ints(ctx, 2)
    axes, steps = _const_ints(ctx, 3), _const_ints(ctx, 4)
    if ctx.has(3) and axes is None:  # which axes are sliced is unknown
        return [_ty(t.dtype, (Q,) * r)]
    if starts is None or ends is None or (ctx.has(4) and steps is None):
        if axes is not None:
            touched = set(_norm_axes(axes, r, "slice"))
        else:  # without axes, starts[i] applies to axis i
            n = _vector_len(ctx, 1) if starts is None else len(starts)
            touched = set(range(r if n is None else min(n, r)))
        return [_ty(t.dtype, tuple(Q if i in touched else d for i, d in enumerate(t.shape)))]
    out = list(t.shape)
    for a, s, e, st in _slice_params(starts, ends, axes, steps, r):
        d = t.shape[a]
        if isinstance(d, int):
            out[a] = len(range(*slice(s, e, st).indices(d)))
        elif not (s == 0 and st == 1 and e >= 2**31 - 1):
            out[a] = Q
    return [_ty(t.dtype, tuple(out))]


@defop("slice", inputs=("data", "starts", "ends", "axes?", "steps?"), infer=_infer_slice,
       category="tensor", quant_role="same_scale")
def slice_(inputs, attrs):
    """Strided slice; starts/ends clamp like Python slicing, negative steps walk back."""
    x = inputs[0]
    get = lambda i: _ints(inputs[i]) if len(inputs) > i and inputs[i] is not None else None
    index = [slice(None)] * x.ndim
    for a, s, e, st in _slice_params(get(1), get(2), get(3), get(4), x.ndim):
        index[a] = slice(s, e, st)
    return np.ascontiguousarray(x[tuple(index)])


# -- gather / scatter -------------------------------------------------------------------------


def _infer_gather(ctx: InferContext) -> list[TensorType]:
    t, it = ctx.type(0), ctx.type(1)
    if t.shape is None or it.shape is None:
        return [_ty(t.dtype, None)]
    axis = normalize_axis(ctx.attr("axis"), len(t.shape), "gather")
    return [_ty(t.dtype, t.shape[:axis] + it.shape + t.shape[axis + 1:])]


def _check_index_range(idx: np.ndarray, n: int, op: str) -> np.ndarray:
    idx = idx.astype(np.int64, copy=False)
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise SchemaError(f"{op}: indices must lie in [{-n}, {n - 1}], got "
                          f"[{int(idx.min())}, {int(idx.max())}]")
    return np.where(idx < 0, idx + n, idx)


@defop("gather", inputs=("data", "indices"), attrs={"axis": ("int", 0)}, infer=_infer_gather,
       category="tensor", quant_role="same_scale")
def gather(inputs, attrs):
    """Take slices of ``data`` along ``axis`` at ``indices`` (negative counts from the end)."""
    x, idx = inputs
    axis = normalize_axis(attrs["axis"], x.ndim, "gather")
    idx = _check_index_range(np.asarray(idx), x.shape[axis], "gather")
    return np.take(x, idx, axis=axis)


def _infer_gather_elements(ctx: InferContext) -> list[TensorType]:
    t, it = ctx.type(0), ctx.type(1)
    if t.shape is not None:
        normalize_axis(ctx.attr("axis"), len(t.shape), "gather_elements")
    return [_ty(t.dtype, it.shape)]


@defop("gather_elements", inputs=("data", "indices"), attrs={"axis": ("int", 0)},
       infer=_infer_gather_elements, category="tensor")
def gather_elements(inputs, attrs):
    """``out[i][j][k] = data[index[i][j][k]][j][k]`` for axis 0, and so on."""
    x, idx = inputs
    axis = normalize_axis(attrs["axis"], x.ndim, "gather_elements")
    idx = _check_index_range(np.asarray(idx), x.shape[axis], "gather_elements")
    return np.take_along_axis(x, idx, axis=axis)


def _infer_gather_nd(ctx: InferContext) -> list[TensorType]:
    t, it = ctx.type(0), ctx.type(1)
    b = ctx.attr("batch_dims")
    if t.shape is None or it.shape is None or not isinstance(it.shape[-1], int):
        return [_ty(t.dtype, None)]
    m = it.shape[-1]
    if b + m > len(t.shape):
        raise SchemaError(
            f"gather_nd: batch_dims {b} + index depth {m} exceed data rank {len(t.shape)}"
        )
    batch = tuple(_merge_dims([a, c], "gather_nd") for a, c in zip(t.shape[:b], it.shape[:b]))
    return [_ty(t.dtype, batch + it.shape[b:-1] + t.shape[b + m:])]


@defop("gather_nd", inputs=("data", "indices"), attrs={"batch_dims": ("int", 0)},
       infer=_infer_gather_nd, category="tensor")
def gather_nd(inputs, attrs):
    """Gather slices of ``data`` addressed by the last axis of ``indices`` (after batch dims)."""
    x, idx = inputs
    b = attrs["batch_dims"]
    idx = np.asarray(idx).astype(np.int64)
    m = idx.shape[-1]
    batch_shape = x.shape[:b]
    nb = math.prod(batch_shape)
    xb = x.reshape((nb,) + x.shape[b:])
    ib = idx.reshape(nb, -1, m)
    dims = np.array(x.shape[b:b + m], dtype=np.int64)
    if ib.size and (np.any(ib < -dims) or np.any(ib >= dims)):
        raise SchemaError(f"gather_nd: an index lies outside the data dims {list(dims)}")
    ib = np.where(ib < 0, ib + dims, ib)
    rows = np.arange(nb)[:, None]
    g = xb[(rows,) + tuple(ib[..., k] for k in range(m))]  # (nb, K, *x.shape[b+m:])
    if m == 0:
        g = np.broadcast_to(xb[:, None], (nb, ib.shape[1]) + xb.shape[1:])
    return np.ascontiguousarray(g.reshape(idx.shape[:-1] + x.shape[b + m:]))


_REDUCTIONS = {"none": None, "add": np.add, "mul": np.multiply, "max": np.maximum,
               "min": np.minimum}


def _reduction(attrs, op: str):
    r = attrs["reduction"]
    if r not in _REDUCTIONS:
        raise SchemaError(f"{op}: reduction must be one of {sorted(_REDUCTIONS)}, got {r!r}")
    return _REDUCTIONS[r]


def _scatter_into(out: np.ndarray, index: tuple, updates: np.ndarray, ufunc) -> np.ndarray:
    if ufunc is None:
        out[index] = updates
    else:
        ufunc.at(out, index, updates)
    return out


def _check_reduction_attr(ctx: InferContext) -> None:
    if ctx.attr("reduction") not in _REDUCTIONS:
        raise SchemaError(f"{ctx.op}: reduction must be one of {sorted(_REDUCTIONS)}")


def _infer_scatter(ctx: InferContext) -> list[TensorType]:
    _check_reduction_attr(ctx)
    t = ctx.type(0)
    return [_ty(t.dtype, t.shape)]


@defop("scatter_elements", inputs=("data", "indices", "updates"),
       attrs={"axis": ("int", 0), "reduction": ("str", "none")}, infer=_infer_scatter,
       category="tensor")
def scatter_elements(inputs, attrs):
    """Copy of ``data`` with ``updates`` written (or reduced) at ``indices`` along ``axis``."""
    x, idx, upd = inputs
    ufunc = _reduction(attrs, "scatter_elements")
    axis = normalize_axis(attrs["axis"], x.ndim, "scatter_elements")
    idx = _check_index_range(np.asarray(idx), x.shape[axis], "scatter_elements")
    grid = list(np.indices(idx.shape, sparse=True))
    grid[axis] = idx
    return _scatter_into(x.copy(), tuple(grid), np.asarray(upd, dtype=x.dtype), ufunc)


@defop("scatter_nd", inputs=("data", "indices", "updates"),
       attrs={"reduction": ("str", "none")}, infer=_infer_scatter, category="tensor")
def scatter_nd(inputs, attrs):
    """Copy of ``data`` with ``updates`` slices written (or reduced) at the ``indices`` tuples."""
    x, idx, upd = inputs
    ufunc = _reduction(attrs, "scatter_nd")
    idx = np.asarray(idx).astype(np.int64)
    k = idx.shape[-1]
    dims = np.array(x.shape[:k], dtype=np.int64)
    flat = idx.reshape(-1, k)
    if flat.size and (np.any(flat < -dims) or np.any(flat >= dims)):
        raise SchemaError(f"scatter_nd: an index lies outside the data dims {list(dims)}")
    flat = np.where(flat < 0, flat + dims, flat)
    u = np.asarray(upd, dtype=x.dtype).reshape((flat.shape[0],) + x.shape[k:])
    return _scatter_into(x.copy(), tuple(flat.T), u, ufunc)


# -- pad / tile / expand ----------------------------------------------------------------------

_PAD_MODES = ("constant", "reflect", "edge", "wrap")


def _pad_axes(ctx_axes: list[int] | None, n_pads: int, rank: int) -> list[int]:
    axes = list(range(rank)) if ctx_axes is None else _norm_axes(ctx_axes, rank, "pad")
    if n_pads != 2 * len(axes):
        raise SchemaError(f"pad: {n_pads} pads given for {len(axes)} axes (need 2 per axis)")
    return axes


def _infer_pad(ctx: InferContext) -> list[TensorType]:
    t = ctx.type(0)
    if ctx.attr("mode") not in _PAD_MODES:
        raise SchemaError(f"pad: mode must be one of {_PAD_MODES}, got {ctx.attr('mode')!r}")
    if t.shape is None:
        return [_ty(t.dtype, None)]
    r = len(t.shape)
    pads, axes = _const_ints(ctx, 1), _const_ints(ctx, 3)
    if ctx.has(3) and axes is None:
        return [_ty(t.dtype, (Q,) * r)]
    if pads is None:
        touched = set(range(r)) if axes is None else set(_norm_axes(axes, r, "pad"))
        return [_ty(t.dtype, tuple(Q if i in touched else d for i, d in enumerate(t.shape)))]
    ax = _pad_axes(axes, len(pads), r)
    out = list(t.shape)
    n = len(ax)
    for j, a in enumerate(ax):
        extra = pads[j] + pads[j + n]
        d = t.shape[a]
        if isinstance(d, int):
            if d + extra < 0:
                raise SchemaError(f"pad: pads {pads} crop axis {a} (extent {d}) below zero")
            out[a] = d + extra
        elif extra != 0:
            out[a] = Q
    return [_ty(t.dtype, tuple(out))]


@defop("pad", inputs=("data", "pads", "constant_value?", "axes?"),
       attrs={"mode": ("str", "constant")}, infer=_infer_pad, category="tensor",
       quant_role="same_scale")
def pad(inputs, attrs):
    """Pad (or, with negative pads, crop) with a constant, reflection, edge copy or wrap."""
    x = inputs[0]
    pads = _ints(inputs[1])
    cval = inputs[2] if len(inputs) > 2 else None
    axes = _ints(inputs[3]) if len(inputs) > 3 and inputs[3] is not None else None
    mode = attrs["mode"]
    if mode not in _PAD_MODES:
        raise SchemaError(f"pad: mode must be one of {_PAD_MODES}, got {mode!r}")
    ax = _pad_axes(axes, len(pads), x.ndim)
    n = len(ax)
    width = [(0, 0)] * x.ndim
    crop = [slice(None)] * x.ndim
    for j, a in enumerate(ax):
        b, e = pads[j], pads[j + n]
        width[a] = (max(b, 0), max(e, 0))
        crop[a] = slice(max(-b, 0), x.shape[a] - max(-e, 0))
    x = x[tuple(crop)]  # negative pads crop first
    if mode == "constant":
        c = 0 if cval is None or np.size(cval) == 0 else np.asarray(cval).reshape(-1)[0]
        return np.pad(x, width, mode="constant", constant_values=c).astype(x.dtype, copy=False)
    return np.pad(x, width, mode=mode)


def _infer_tile(ctx: InferContext) -> list[TensorType]:
    t = ctx.type(0)
    reps = _const_ints(ctx, 1)
    if t.shape is None:
        return [_ty(t.dtype, None)]
    if reps is None:
        return [_ty(t.dtype, (Q,) * len(t.shape))]
    if len(reps) != len(t.shape):
        raise SchemaError(f"tile: {len(reps)} repeats for rank {len(t.shape)}")
    return [_ty(t.dtype, tuple(
        d * k if isinstance(d, int) else (d if k == 1 else (0 if k == 0 else Q))
        for d, k in zip(t.shape, reps)))]


@defop("tile", inputs=("input", "repeats"), infer=_infer_tile, category="tensor")
def tile(inputs, attrs):
    """Repeat the tensor ``repeats[i]`` times along each axis."""
    return np.tile(inputs[0], _ints(inputs[1]))


def _expand_shape(src: Shape, target: Sequence[int]) -> Shape:
    r = max(len(src), len(target))
    s = (1,) * (r - len(src)) + tuple(src)
    tt = (1,) * (r - len(target)) + tuple(target)
    out: list[Dim] = []
    for a, b in zip(s, tt):
        if b == 1:
            out.append(a)
        elif isinstance(a, int) and a not in (1, b):
            raise SchemaError(f"expand: shape {list(src)} does not broadcast to {list(target)}")
        else:
            out.append(b)
    return tuple(out)


def _infer_expand(ctx: InferContext) -> list[TensorType]:
    t = ctx.type(0)
    target = _const_ints(ctx, 1)
    if t.shape is None:
        return [_ty(t.dtype, None)]
    if target is None:
        n = _vector_len(ctx, 1)
        if n is None:
            return [_ty(t.dtype, None)]
        r = max(n, len(t.shape))
        src = (1,) * (r - len(t.shape)) + t.shape
        # a dim of the input that is not 1 survives (the target may only be 1 or equal there)
        return [_ty(t.dtype, tuple(Q if d == 1 or d == Q else d for d in src))]
    return [_ty(t.dtype, _expand_shape(t.shape, target))]


@defop("expand", inputs=("input", "shape"), infer=_infer_expand, category="tensor")
def expand(inputs, attrs):
    """Broadcast to ``shape`` (numpy rules in both directions, like ONNX Expand)."""
    x = inputs[0]
    shape = _expand_shape(x.shape, _ints(inputs[1]))
    return np.ascontiguousarray(np.broadcast_to(x, shape))


# -- shape / size / constant_of_shape / range ------------------------------------------------


def _shape_bounds(start: int, end: int | None, rank: int) -> tuple[int, int]:
    def clamp(v: int) -> int:
        return min(max(v + rank if v < 0 else v, 0), rank)

    return clamp(start), rank if end is None else clamp(end)


def _infer_shape(ctx: InferContext) -> list[TensorType]:
    t = ctx.type(0)
    if t.shape is None:
        return [_ty(I64, (Q,))]
    lo, hi = _shape_bounds(ctx.attr("start"), ctx.attr("end"), len(t.shape))
    return [_ty(I64, (max(hi - lo, 0),))]


@defop("shape", inputs=("data",), attrs={"start": ("int", 0), "end": ("int", None)},
       infer=_infer_shape, category="tensor")
def shape(inputs, attrs):
    """The input's shape as an i64 vector (optionally the ``start:end`` part)."""
    x = inputs[0]
    lo, hi = _shape_bounds(attrs["start"], attrs["end"], np.ndim(x))
    return np.array(np.shape(x)[lo:hi], dtype=np.int64).reshape(-1)


@defop("size", inputs=("data",), infer=lambda ctx: [_ty(I64, ())], category="tensor")
def size(inputs, attrs):
    """The input's element count as an i64 scalar."""
    return np.array(np.size(inputs[0]), dtype=np.int64)


def _cos_value(attrs) -> np.ndarray:
    v = attrs["value"]
    if v is None:
        return np.zeros(1, dtype=np.float32)
    v = np.asarray(v)
    if v.size != 1:
        raise SchemaError(f"constant_of_shape: value must hold one element, got {v.size}")
    return v.reshape(1)


def _infer_constant_of_shape(ctx: InferContext) -> list[TensorType]:
    dtype = DType.from_numpy(_cos_value(ctx.attrs).dtype)
    dims = _const_ints(ctx, 0)
    if dims is not None:
        if any(d < 0 for d in dims):
            raise SchemaError(f"constant_of_shape: shape {dims} has a negative dim")
        return [_ty(dtype, tuple(dims))]
    n = _vector_len(ctx, 0)
    return [_ty(dtype, None if n is None else (Q,) * n)]


@defop("constant_of_shape", inputs=("input",), attrs={"value": ("tensor", None)},
       infer=_infer_constant_of_shape, category="tensor")
def constant_of_shape(inputs, attrs):
    """A tensor of the given shape filled with ``value`` (default f32 zero)."""
    v = _cos_value(attrs)
    return np.full(_ints(inputs[0]), v[0], dtype=v.dtype)


def _range_len(start, limit, delta) -> int:
    if delta == 0:
        raise SchemaError("range: delta cannot be 0")
    return max(math.ceil((float(limit) - float(start)) / float(delta)), 0)


def _infer_range(ctx: InferContext) -> list[TensorType]:
    dtype = ctx.dtype(0)
    vals = [ctx.value(i) for i in range(3)]
    if any(v is None for v in vals):
        return [_ty(dtype, (Q,))]
    s, l, d = (np.asarray(v).reshape(-1)[0] for v in vals)
    return [_ty(dtype, (_range_len(s, l, d),))]


@defop("range", inputs=("start", "limit", "delta"), infer=_infer_range, category="tensor")
def range_(inputs, attrs):
    """``start, start+delta, ...`` up to (excluding) ``limit``."""
    s, l, d = (np.asarray(v).reshape(-1)[0] for v in inputs)
    dtype = np.asarray(inputs[0]).dtype
    if np.issubdtype(dtype, np.integer):
        if d == 0:
            raise SchemaError("range: delta cannot be 0")
        return np.arange(int(s), int(l), int(d), dtype=np.int64).astype(dtype)
    n = _range_len(s, l, d)
    return (s + np.arange(n, dtype=np.float64) * np.float64(d)).astype(dtype)


# -- one_hot / top_k / arg_max / arg_min / cumsum / nonzero / trilu / eye_like -----------------


def _infer_one_hot(ctx: InferContext) -> list[TensorType]:
    it = ctx.type(0)
    vt = ctx.type(2)
    depth = ctx.value(1)
    d: Dim = Q if depth is None else int(np.asarray(depth).reshape(-1)[0])
    if it.shape is None:
        return [_ty(vt.dtype, None)]
    r = len(it.shape) + 1
    axis = normalize_axis(ctx.attr("axis"), r, "one_hot")
    return [_ty(vt.dtype, it.shape[:axis] + (d,) + it.shape[axis:])]


@defop("one_hot", inputs=("indices", "depth", "values"), attrs={"axis": ("int", -1)},
       infer=_infer_one_hot, category="tensor")
def one_hot(inputs, attrs):
    """One-hot encoding: ``values[1]`` where the index hits, ``values[0]`` elsewhere."""
    idx, depth, values = inputs
    depth = int(np.asarray(depth).reshape(-1)[0])
    values = np.asarray(values).reshape(-1)
    idx = np.asarray(idx)
    if idx.dtype.kind not in "iu":
        # a non-integral float index hits no class (as onnxruntime and ONNX's reference do)
        idx = idx.astype(np.float64)
    idx = np.where(idx < 0, idx + depth, idx)
    hit = idx[..., None] == np.arange(depth)
    out = np.where(hit, values[1], values[0]).astype(values.dtype)
    axis = normalize_axis(attrs["axis"], idx.ndim + 1, "one_hot")
    return np.ascontiguousarray(np.moveaxis(out, -1, axis))


def _infer_top_k(ctx: InferContext) -> list[TensorType]:
    t = ctx.type(0)
    k = _const_ints(ctx, 1)
    if t.shape is None:
        return [_ty(t.dtype, None), _ty(I64, None)]
    axis = normalize_axis(ctx.attr("axis"), len(t.shape), "top_k")
    d = t.shape[axis]
    if k is not None:
        if isinstance(d, int) and k[0] > d:
            raise SchemaError(f"top_k: k={k[0]} exceeds the axis extent {d}")
        kd: Dim = k[0]
    else:
        kd = Q
    s = t.shape[:axis] + (kd,) + t.shape[axis + 1:]
    return [_ty(t.dtype, s), _ty(I64, s)]


def _stable_order(x: np.ndarray, axis: int, descending: bool) -> np.ndarray:
    """Argsort along ``axis``; equal values keep lower indices first in both directions."""
    if not descending:
        return np.argsort(x, axis=axis, kind="stable")
    n = x.shape[axis]
    # sort the reversed array ascending (stable), then reverse: ties end up index-ascending
    o = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
    return (n - 1) - np.flip(o, axis)


@defop("top_k", inputs=("x", "k"), outputs=("values", "indices"),
       attrs={"axis": ("int", -1), "largest": ("int", 1), "sorted": ("int", 1)},
       infer=_infer_top_k, category="tensor")
def top_k(inputs, attrs):
    """The k largest (or smallest) entries along ``axis`` and their i64 indices, sorted."""
    x = inputs[0]
    k = _ints(inputs[1])[0]
    axis = normalize_axis(attrs["axis"], x.ndim, "top_k")
    if k > x.shape[axis] or k < 0:
        raise SchemaError(f"top_k: k={k} is outside [0, {x.shape[axis]}]")
    order = _stable_order(x, axis, bool(attrs["largest"]))
    idx = np.take(order, np.arange(k), axis=axis)
    return [np.take_along_axis(x, idx, axis=axis), idx.astype(np.int64)]


def _infer_arg(ctx: InferContext) -> list[TensorType]:
    t = ctx.type(0)
    if t.shape is None:
        return [_ty(I64, None)]
    axis = normalize_axis(ctx.attr("axis"), len(t.shape), ctx.op)
    if ctx.attr("keepdims"):
        s = t.shape[:axis] + (1,) + t.shape[axis + 1:]
    else:
        s = t.shape[:axis] + t.shape[axis + 1:]
    return [_ty(I64, s)]


def _arg(x: np.ndarray, attrs, fn) -> np.ndarray:
    axis = normalize_axis(attrs["axis"], x.ndim, "arg_max")
    if attrs["select_last_index"]:
        r = (x.shape[axis] - 1) - fn(np.flip(x, axis), axis=axis)
    else:
        r = fn(x, axis=axis)
    r = r.astype(np.int64)
    return np.expand_dims(r, axis) if attrs["keepdims"] else r


_ARG_ATTRS = {"axis": ("int", 0), "keepdims": ("int", 1), "select_last_index": ("int", 0)}


@defop("arg_max", inputs=("data",), attrs=_ARG_ATTRS, infer=_infer_arg, category="tensor")
def arg_max(inputs, attrs):
    """Index (i64) of the largest entry along ``axis`` (first, or last with select_last_index)."""
    return _arg(inputs[0], attrs, np.argmax)


@defop("arg_min", inputs=("data",), attrs=_ARG_ATTRS, infer=_infer_arg, category="tensor")
def arg_min(inputs, attrs):
    """Index (i64) of the smallest entry along ``axis`` (first, or last with select_last_index)."""
    return _arg(inputs[0], attrs, np.argmin)


@defop("cumsum", inputs=("x", "axis"), attrs={"exclusive": ("int", 0), "reverse": ("int", 0)},
       infer=same_as_input(0), category="tensor")
def cumsum(inputs, attrs):
    """Running sum along ``axis`` (optionally exclusive and/or from the end)."""
    x = inputs[0]
    axis = normalize_axis(_ints(inputs[1])[0], x.ndim, "cumsum")
    if attrs["reverse"]:
        x = np.flip(x, axis)
    y = np.cumsum(x, axis=axis, dtype=x.dtype)
    if attrs["exclusive"]:
        y = np.concatenate([np.zeros_like(np.take(y, [0], axis=axis)),
                            np.take(y, np.arange(x.shape[axis] - 1), axis=axis)], axis=axis)
    if attrs["reverse"]:
        y = np.flip(y, axis)
    return np.ascontiguousarray(y)


def _infer_nonzero(ctx: InferContext) -> list[TensorType]:
    t = ctx.type(0)
    return [_ty(I64, (Q if t.shape is None else len(t.shape), Q))]


@defop("nonzero", inputs=("x",), infer=_infer_nonzero, category="tensor")
def nonzero(inputs, attrs):
    """Indices of the non-zero entries, i64 of shape [rank, count] (row-major order)."""
    x = np.asarray(inputs[0])
    if x.ndim == 0:
        return np.zeros((0, int(bool(x))), dtype=np.int64)
    return np.array(np.nonzero(x), dtype=np.int64).reshape(x.ndim, -1)


@defop("trilu", inputs=("input", "k?"), attrs={"upper": ("int", 1)}, infer=same_as_input(0),
       category="tensor")
def trilu(inputs, attrs):
    """Upper (or lower) triangle of the last two dims, from diagonal ``k``."""
    x = inputs[0]
    k = _ints(inputs[1])[0] if len(inputs) > 1 and inputs[1] is not None else 0
    return np.triu(x, k) if attrs["upper"] else np.tril(x, k)


def _eye_dtype(ctx_dtype: DType, code: int | None) -> DType:
    if code is None:
        return ctx_dtype
    if code not in _ONNX_DTYPES:
        raise SchemaError(f"eye_like: dtype {code} is not an ONNX element type infercc supports")
    return _ONNX_DTYPES[code]


def _infer_eye_like(ctx: InferContext) -> list[TensorType]:
    t = ctx.type(0)
    if t.shape is not None and len(t.shape) != 2:
        raise SchemaError(f"eye_like: input must be 2-D, got rank {len(t.shape)}")
    return [_ty(_eye_dtype(t.dtype, ctx.attr("dtype")), t.shape if t.shape else (Q, Q))]


@defop("eye_like", inputs=("input",), attrs={"dtype": ("int", None), "k": ("int", 0)},
       infer=_infer_eye_like, category="tensor")
def eye_like(inputs, attrs):
    """A 2-D tensor shaped like the input with ones on diagonal ``k``."""
    x = inputs[0]
    dt = _eye_dtype(DType.from_numpy(x.dtype), attrs["dtype"])
    return np.eye(x.shape[0], x.shape[1], attrs["k"], dtype=dt.numpy)


# -- compress / reverse_sequence / unique / center_crop_pad ----------------------------------


def _infer_compress(ctx: InferContext) -> list[TensorType]:
    t = ctx.type(0)
    axis = ctx.attr("axis")
    cond = ctx.value(1)
    n: Dim = Q if cond is None else int(np.count_nonzero(np.asarray(cond).reshape(-1)))
    if axis is None:
        return [_ty(t.dtype, (n,))]
    if t.shape is None:
        return [_ty(t.dtype, None)]
    a = normalize_axis(axis, len(t.shape), "compress")
    return [_ty(t.dtype, t.shape[:a] + (n,) + t.shape[a + 1:])]


@defop("compress", inputs=("input", "condition"), attrs={"axis": ("int", None)},
       infer=_infer_compress, category="tensor")
def compress(inputs, attrs):
    """Keep the slices (or, without axis, flattened elements) where ``condition`` holds."""
    x, cond = inputs
    cond = np.asarray(cond).astype(bool).reshape(-1)
    axis = attrs["axis"]
    if axis is None:
        return np.compress(cond, x.reshape(-1))
    return np.compress(cond, x, axis=normalize_axis(axis, x.ndim, "compress"))


@defop("reverse_sequence", inputs=("input", "sequence_lens"),
       attrs={"batch_axis": ("int", 1), "time_axis": ("int", 0)}, infer=same_as_input(0),
       category="tensor")
def reverse_sequence(inputs, attrs):
    """Reverse the first ``sequence_lens[b]`` time steps of every batch entry ``b``."""
    x, lens = inputs
    ta, ba = attrs["time_axis"], attrs["batch_axis"]
    if {ta, ba} != {0, 1}:
        raise SchemaError(f"reverse_sequence: time_axis/batch_axis must be 0 and 1, got {ta}, {ba}")
    lens = np.asarray(lens).astype(np.int64).reshape(-1)
    t = np.arange(x.shape[ta])[:, None]  # (T, B)
    src = np.where(t < lens[None, :], lens[None, :] - 1 - t, t)
    if ta == 1:
        src = src.T
    src = src.reshape(src.shape + (1,) * (x.ndim - 2))
    return np.take_along_axis(x, np.broadcast_to(src, x.shape), axis=ta)


def _infer_unique(ctx: InferContext) -> list[TensorType]:
    t = ctx.type(0)
    axis = ctx.attr("axis")
    if axis is None:
        y = (Q,)
        total = _product_dim(t.shape) if t.shape is not None else Q
    elif t.shape is None:
        y, total = None, Q
    else:
        a = normalize_axis(axis, len(t.shape), "unique")
        y = t.shape[:a] + (Q,) + t.shape[a + 1:]
        total = t.shape[a]
    return [_ty(t.dtype, y), _ty(I64, (Q,)), _ty(I64, (total,)), _ty(I64, (Q,))]


@defop("unique", inputs=("x",), outputs=("y", "indices?", "inverse_indices?", "counts?"),
       attrs={"axis": ("int", None), "sorted": ("int", 1)}, infer=_infer_unique,
       category="tensor")
def unique(inputs, attrs):
    """Unique values (or slices along ``axis``), sorted or in first-occurrence order."""
    x = inputs[0]
    axis = attrs["axis"]
    if axis is not None:
        axis = normalize_axis(axis, x.ndim, "unique")
    src = x.reshape(-1) if axis is None else x
    y, first, inv, counts = np.unique(src, return_index=True, return_inverse=True,
                                      return_counts=True, axis=0 if axis is None else axis)
    inv = inv.reshape(-1)
    if not attrs["sorted"]:
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        y = np.take(y, order, axis=0 if axis is None else axis)
        first, counts, inv = first[order], counts[order], rank[inv]
    i64 = lambda a: np.asarray(a, dtype=np.int64)
    return [y, i64(first), i64(inv), i64(counts)]


def _infer_center_crop_pad(ctx: InferContext) -> list[TensorType]:
    t = ctx.type(0)
    target = _const_ints(ctx, 1)
    if t.shape is None:
        return [_ty(t.dtype, None)]
    r = len(t.shape)
    axes = ctx.attr("axes")
    ax = list(range(r)) if axes is None else _norm_axes(axes, r, "center_crop_pad")
    out = list(t.shape)
    for j, a in enumerate(ax):
        out[a] = Q if target is None else target[j]
    return [_ty(t.dtype, tuple(out))]


@defop("center_crop_pad", inputs=("input_data", "shape"), attrs={"axes": ("ints", None)},
       infer=_infer_center_crop_pad, category="tensor")
def center_crop_pad(inputs, attrs):
    """Center-crop or zero-pad the ``axes`` to ``shape`` (extra goes to the end when odd)."""
    x, target = inputs[0], _ints(inputs[1])
    axes = attrs["axes"]
    ax = list(range(x.ndim)) if axes is None else _norm_axes(axes, x.ndim, "center_crop_pad")
    if len(target) != len(ax):
        raise SchemaError(f"center_crop_pad: shape has {len(target)} entries for {len(ax)} axes")
    crop = [slice(None)] * x.ndim
    width = [(0, 0)] * x.ndim
    for a, t in zip(ax, target):
        d = x.shape[a]
        if t < d:
            b = (d - t) // 2
            crop[a] = slice(b, b + t)
        elif t > d:
            b = (t - d) // 2
            width[a] = (b, t - d - b)
    return np.pad(x[tuple(crop)], width)
