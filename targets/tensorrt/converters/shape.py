"""Data movement: reshape, flatten, squeeze, unsqueeze, transpose, depth_to_space and
space_to_depth (IShuffleLayer); slice, pad and split (ISliceLayer); gather (IGatherLayer);
concat (IConcatenationLayer); shape.

Reshapes take the output's IR shape with its one symbolic dim as -1 and set
``zero_is_placeholder`` off, so a 0 there is a real zero; only when the IR shape has several
symbolic dims does a reshape read its shape input (a constant, or a shape tensor computed at
run time, as input 1 of the shuffle), and then ``zero_is_placeholder`` is the inverse of
``allowzero`` (0 copies the input dim unless allowzero). A reshape of a dynamic dim to a
static shape (a batch baked into the model) is refused, naming the dim.

Slices, pads and splits of an input with dynamic dims slice every axis, with the dynamic
axes they take whole sized by a shape tensor (``ISliceLayer.axes`` would do it too, but
TensorRT 10.0-10.2 lack it), so the other axes may be dynamic; a slice of a dynamic dim computes
its start and size at run time (shape arithmetic, positive steps); a pad of a dynamic dim
takes its size as a shape tensor, ``shape(x) + pads``; a dynamic dim on a split axis or
sliced with a negative step is refused, named. Pads are slices with negative starts and a sample mode (FILL with the
constant, REFLECT, CLAMP for edge, WRAP), as TensorRT's ONNX parser builds them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from compiler.ir.graph import Node

from ..context import ConversionContext
from ..registry import converter
from ._util import const_input_reason, rank_of, shape_with_one_unknown, static_shape

if TYPE_CHECKING:
    import tensorrt


def _baked_reason(node: Node) -> str | None:
    """Why not when the input has dynamic dims but the output's are all static: its volume
    is fixed, so the reshape holds for one input size only (a batch baked into the model)."""
    dims, out = _dims(node), node.outputs[0].type.shape
    if dims is None or static_shape(dims) is not None or out is None \
            or static_shape(out) is None:
        return None
    dyn = ", ".join(f"dim {i} ('{d}')" for i, d in enumerate(dims) if not isinstance(d, int))
    name = node.inputs[0].name  # type: ignore[union-attr]
    return (f"dynamic {dyn} of %{name} reaches a {node.op} to the static "
            f"[{'x'.join(map(str, out))}], which fits one size only (the model bakes it "
            "in); fix it with --input-shape")


def _check_reshape(node: Node) -> str | None:
    if shape_with_one_unknown(node) is not None or node.input(1) is not None:
        return _baked_reason(node)
    return "output of unknown shape"


@converter("reshape", supports=_check_reshape)
def convert_reshape(ctx: ConversionContext, node: Node) -> None:
    x = ctx.tensor(node.input(0))
    dims = shape_with_one_unknown(node)
    layer = ctx.network.add_shuffle(x)
    if dims is not None:
        layer.reshape_dims = ctx.dims(dims)
        layer.zero_is_placeholder = False
    else:
        shape = ctx.const_array(node, 1)
        if shape is not None:
            layer.reshape_dims = ctx.dims(shape.reshape(-1))
        else:  # a shape tensor computed at run time (shape arithmetic on dynamic dims)
            layer.set_input(1, ctx.tensor(node.input(1)))
        layer.zero_is_placeholder = not node.attrs.get("allowzero")
    ctx.name(layer, node)
    ctx.set_output(node, layer.get_output(0))


def _check_to_shape(node: Node) -> str | None:
    return _baked_reason(node) or (None if shape_with_one_unknown(node) is not None else
                                   "output shape with more than one symbolic dim")


def _to_output_shape(ctx: ConversionContext, node: Node) -> None:
    ctx.set_output(node, ctx.reshape(ctx.tensor(node.input(0)), shape_with_one_unknown(node),
                                     node, ""))


for _op in ("flatten", "squeeze", "unsqueeze"):
    converter(_op, supports=_check_to_shape)(_to_output_shape)


@converter("transpose")
def convert_transpose(ctx: ConversionContext, node: Node) -> None:
    x = ctx.tensor(node.input(0))
    perm = node.attrs.get("perm")
    if perm is None:
        perm = list(range(ctx.rank(x)))[::-1]
    ctx.set_output(node, ctx.transpose(x, perm, node, ""))


def _dims(node: Node) -> list[int | str] | None:
    """Input 0's dims (ints, symbols for dynamic dims), None when its rank is unknown."""
    v = node.input(0)
    return None if v is None or v.type.shape is None else list(v.type.shape)


def _check_axes_static(node: Node, axes: list[int] | None, what: str) -> str | None:
    """Why not when one of ``axes`` of input 0 (all axes when None) is dynamic."""
    dims = _dims(node)
    if dims is None:
        return "input of unknown rank"
    for a in (range(len(dims)) if axes is None else axes):
        if not isinstance(dims[a % len(dims)], int):
            name = node.inputs[0].name  # type: ignore[union-attr]
            return (f"dynamic dim {a % len(dims)} ('{dims[a % len(dims)]}') of %{name} is "
                    f"{what}: TensorRT needs its size at build time here; fix it with "
                    "--input-shape")
    return None


_TO_THE_END = 2**31 - 1  # an end at least this large takes a dim whole, whatever its size


def _slice_axes(node: Node) -> list[int] | None:
    """The axes ``node`` slices, less the dynamic ones it takes whole (start 0, step 1, end
    at least INT32_MAX, as TensorFlow's strided slices write every unsliced axis)."""
    dims, starts, ends, axes_arr = _dims(node), node.input(1), node.input(2), node.input(3)
    if dims is None or starts is None or starts.const_value is None \
            or ends is None or ends.const_value is None:
        return None
    b = np.asarray(starts.const_value).reshape(-1)
    e = np.asarray(ends.const_value).reshape(-1)
    steps_v = node.input(4)
    st = (np.asarray(steps_v.const_value).reshape(-1) if steps_v is not None
          and steps_v.const_value is not None else np.ones(b.size, np.int64))
    if axes_arr is not None and axes_arr.const_value is not None:
        axes = [int(a) % len(dims) for a in np.asarray(axes_arr.const_value).reshape(-1)]
    else:
        axes = list(range(b.size))
    return [a for a, b0, e0, s0 in zip(axes, b, e, st)
            if isinstance(dims[a], int) or not (b0 == 0 and s0 == 1 and e0 >= _TO_THE_END)]


def _check_slice(node: Node) -> str | None:
    why = const_input_reason(node, 1, 2, 3, 4)
    if why is not None:
        return why
    dims, steps_v, axes_v = _dims(node), node.input(4), node.input(3)
    if dims is None:
        return "input of unknown rank"
    if steps_v is None or steps_v.const_value is None:
        return None  # steps of 1
    steps = np.asarray(steps_v.const_value).reshape(-1)
    axes = ([int(a) % len(dims) for a in np.asarray(axes_v.const_value).reshape(-1)]
            if axes_v is not None and axes_v.const_value is not None
            else list(range(steps.size)))
    # a negative step reverses: only over static axes (its run-time bounds are not written)
    return _check_axes_static(node, [a for a, s in zip(axes, steps) if s < 0],
                              "sliced with a negative step")


def _sliced(ctx: ConversionContext, node: Node, x: tensorrt.ITensor, start: list[int],
            size: list[int], stride: list[int], suffix: str = "size") -> Any:
    """A slice layer of ``x`` over every axis; ``size`` is -1 on the dynamic axes it takes
    whole. With such axes the size is a shape tensor (``shape(x) * mask + sizes``) rather
    than ``ISliceLayer.axes``, which TensorRT's API has only from 10.3 on."""
    layer = ctx.network.add_slice(x, ctx.dims(start), ctx.dims([max(n, 0) for n in size]),
                                  ctx.dims(stride))
    if any(n < 0 for n in size):
        layer.set_input(2, ctx.shape_tensor(x, [n if n >= 0 else None for n in size], node,
                                            suffix))
    return layer


@converter("slice", supports=_check_slice)
def convert_slice(ctx: ConversionContext, node: Node) -> None:
    """start/size/stride per axis from Python's clamping rule (``slice.indices``)."""
    x = ctx.tensor(node.input(0))
    in_shape = _dims(node)
    assert in_shape is not None
    rank = len(in_shape)
    starts, ends = (np.asarray(ctx.const_array(node, i)).reshape(-1) for i in (1, 2))
    axes_arr, steps_arr = ctx.const_array(node, 3), ctx.const_array(node, 4)
    axes = ([int(a) % rank for a in axes_arr.reshape(-1)] if axes_arr is not None
            else list(range(len(starts))))
    steps = steps_arr.reshape(-1) if steps_arr is not None else np.ones(len(axes), np.int64)
    start, size, stride = [0] * rank, [d if isinstance(d, int) else -1 for d in in_shape], \
        [1] * rank
    sliced = _slice_axes(node)
    assert sliced is not None  # the check requires constant starts and ends
    if any(not isinstance(in_shape[a], int) for a in sliced):
        _slice_at_run_time(ctx, node, x, rank, list(zip(axes, starts, ends, steps)))
        return
    for a, b, e, s in zip(axes, starts, ends, steps):
        if a in sliced:
            lo, hi, st = slice(int(b), int(e), int(s)).indices(int(in_shape[a]))
            start[a], stride[a], size[a] = lo, st, len(range(lo, hi, st))
    layer = _sliced(ctx, node, x, start, size, stride)
    ctx.name(layer, node)
    ctx.set_output(node, layer.get_output(0))


def _slice_at_run_time(ctx: ConversionContext, node: Node, x: tensorrt.ITensor, rank: int,
                       spec: list[tuple[int, Any, Any, Any]]) -> None:
    """A slice whose bounds depend on a dynamic dim (positive steps there; the check refuses
    the others): with D = shape(x), per dynamic axis lo = clamp(a*D + b, 0, D) for the start
    and hi the same for the end (a = 1 for a negative index, an end past INT32_MAX is D), and
    size = max(ceil((hi - lo) / step), 0): Python's ``slice.indices`` in shape arithmetic,
    given to the slice layer as its start and size inputs. Static axes (any step, negative
    ones too) take their start and size from ``slice.indices`` at build time: the run-time
    values are multiplied by 0 there and the constants added."""
    E = ctx.trt.ElementWiseOperation
    in_shape = _dims(node)
    assert in_shape is not None
    a_lo, b_lo = np.zeros(rank, np.int64), np.zeros(rank, np.int64)
    a_hi, b_hi = np.ones(rank, np.int64), np.zeros(rank, np.int64)
    step, arith_step = np.ones(rank, np.int64), np.ones(rank, np.int64)
    dynamic = np.array([0 if isinstance(d, int) else 1 for d in in_shape], np.int64)
    fixed_start = np.zeros(rank, np.int64)
    fixed_size = np.array([d if isinstance(d, int) else 0 for d in in_shape], np.int64)
    for a, b, e, s in spec:
        b, e, step[a] = int(b), int(e), int(s)
        d = in_shape[a]
        if isinstance(d, int):
            first, stop, st = slice(b, e, int(s)).indices(d)
            fixed_start[a], fixed_size[a] = first, len(range(first, stop, st))
            continue
        arith_step[a] = step[a]
        a_lo[a], b_lo[a] = (1, b) if b < 0 else (0, b)
        a_hi[a], b_hi[a] = (1, e) if e < 0 else ((1, 0) if e >= _TO_THE_END else (0, e))
    out = node.outputs[0].name
    shape = ctx.network.add_shape(x)
    ctx.name(shape, node, "bounds/shape")
    dims = shape.get_output(0)

    def op(p: tensorrt.ITensor, q: tensorrt.ITensor, kind: tensorrt.ElementWiseOperation,
           suffix: str) -> tensorrt.ITensor:
        layer = ctx.network.add_elementwise(p, q, kind)
        ctx.name(layer, node, f"bounds/{suffix}")
        return layer.get_output(0)

    def const(values: np.ndarray, suffix: str) -> tensorrt.ITensor:
        return ctx.constant(values, f"{out}/bounds/{suffix}")

    zero = const(np.zeros(rank, np.int64), "zero")

    def bound(scale: np.ndarray, offset: np.ndarray, suffix: str) -> tensorrt.ITensor:
        t = op(op(dims, const(scale, f"{suffix}_scale"), E.PROD, f"{suffix}_scaled"),
               const(offset, f"{suffix}_offset"), E.SUM, f"{suffix}_offset")
        return op(op(t, zero, E.MAX, f"{suffix}_low"), dims, E.MIN, suffix)

    def on_static_axes(t: tensorrt.ITensor, fixed: np.ndarray,
                       suffix: str) -> tensorrt.ITensor:
        kept = op(t, const(dynamic, f"{suffix}_dynamic"), E.PROD, f"{suffix}_dynamic")
        return op(kept, const(fixed, f"{suffix}_static"), E.SUM, f"{suffix}_static")

    lo, hi = bound(a_lo, b_lo, "start"), bound(a_hi, b_hi, "end")
    span = op(op(hi, lo, E.SUB, "span"), const(arith_step - 1, "round_up"), E.SUM, "span_up")
    size = op(op(span, const(arith_step, "step"), E.FLOOR_DIV, "count"), zero, E.MAX, "size")
    lo = on_static_axes(lo, fixed_start, "start_of")
    size = on_static_axes(size, fixed_size, "size_of")
    layer = ctx.network.add_slice(x, ctx.dims([0] * rank), ctx.dims([0] * rank),
                                  ctx.dims(step.tolist()))
    layer.set_input(1, lo)
    layer.set_input(2, size)
    ctx.name(layer, node)
    ctx.set_output(node, layer.get_output(0))


_PAD_MODES = {"constant": "FILL", "reflect": "REFLECT", "edge": "CLAMP", "wrap": "WRAP"}


def _check_pad(node: Node) -> str | None:
    mode = str(node.attrs.get("mode") or "constant")
    if mode not in _PAD_MODES:
        return f"pad mode '{mode}'"
    return const_input_reason(node, 1, 2, 3)


def _padded_axes(node: Node) -> list[int] | None:
    """The axes ``node`` pads by a nonzero amount (None when unknown)."""
    dims, pads_v = _dims(node), node.input(1)
    if dims is None or pads_v is None or pads_v.const_value is None:
        return None
    pads = np.asarray(pads_v.const_value).reshape(-1)
    axes_v = node.input(3)
    axes = ([int(a) % len(dims) for a in np.asarray(axes_v.const_value).reshape(-1)]
            if axes_v is not None and axes_v.const_value is not None else list(range(len(dims))))
    return [a for k, a in enumerate(axes) if pads[k] or pads[k + len(axes)]]


@converter("pad", supports=_check_pad)
def convert_pad(ctx: ConversionContext, node: Node) -> None:
    x = ctx.tensor(node.input(0))
    in_shape = [d if isinstance(d, int) else -1 for d in _dims(node) or ()]
    rank = len(in_shape)
    pads = np.asarray(ctx.const_array(node, 1)).reshape(-1).astype(int)
    axes_arr = ctx.const_array(node, 3)
    axes = ([int(a) % rank for a in axes_arr.reshape(-1)] if axes_arr is not None
            else list(range(rank)))
    begin, end = [0] * rank, [0] * rank
    for k, a in enumerate(axes):
        begin[a], end[a] = int(pads[k]), int(pads[k + len(axes)])
    padded = _padded_axes(node) or []
    if any(in_shape[a] < 0 for a in padded):
        # A padded dynamic dim: the size is a shape tensor, shape(x) + begin + end.
        layer = ctx.network.add_slice(x, ctx.dims([-b for b in begin]), ctx.dims([0] * rank),
                                      ctx.dims([1] * rank))
        grown = ctx.network.add_shape(x)
        ctx.name(grown, node, "size/shape")
        more = ctx.constant(np.array([b + e for b, e in zip(begin, end)], np.int64),
                            f"{node.outputs[0].name}/size/pads")
        size = ctx.network.add_elementwise(grown.get_output(0), more,
                                           ctx.trt.ElementWiseOperation.SUM)
        ctx.name(size, node, "size")
        layer.set_input(2, size.get_output(0))
    else:
        layer = _sliced(ctx, node, x, [-b for b in begin],
                        [d + b + e if d >= 0 else d for d, b, e in zip(in_shape, begin, end)],
                        [1] * rank)
    mode = str(node.attrs.get("mode") or "constant")
    layer.mode = getattr(ctx.trt.SampleMode, _PAD_MODES[mode])
    fill = ctx.const_array(node, 2)
    if mode == "constant" and fill is not None and float(fill.reshape(-1)[0]) != 0.0:
        dtype = node.inputs[0].type.dtype.numpy  # type: ignore[union-attr]
        layer.set_input(4, ctx.constant(np.asarray(fill.reshape(-1)[0], dtype),
                                        f"{node.outputs[0].name}/fill"))
    ctx.name(layer, node)
    ctx.set_output(node, layer.get_output(0))


def _check_split(node: Node) -> str | None:
    dims = _dims(node)
    if dims is None:
        return "input of unknown rank"
    return _check_axes_static(node, [int(node.attrs.get("axis", 0)) % len(dims)], "split")


@converter("split", supports=_check_split)
def convert_split(ctx: ConversionContext, node: Node) -> None:
    """One slice per output, at offsets read from the outputs' IR shapes."""
    x = ctx.tensor(node.input(0))
    in_shape = _dims(node)
    assert in_shape is not None
    axis = int(node.attrs.get("axis", 0)) % len(in_shape)
    offset = 0
    for i, v in enumerate(node.outputs):
        assert v.type.shape is not None
        out_shape = [d if isinstance(d, int) else -1 for d in v.type.shape]
        start = [0] * len(in_shape)
        start[axis] = offset
        layer = _sliced(ctx, node, x, start, out_shape, [1] * len(in_shape), f"{i}/size")
        ctx.name(layer, node, f"{i}")
        ctx.set_output(node, layer.get_output(0), i)
        offset += out_shape[axis]


def _check_gather(node: Node) -> str | None:
    return None if rank_of(node) is not None else "input of unknown rank"


@converter("gather", supports=_check_gather)
def convert_gather(ctx: ConversionContext, node: Node) -> None:
    """Constant negative indices are made positive (TensorRT reads them as out of range)."""
    x = ctx.tensor(node.input(0))
    axis = int(node.attrs.get("axis", 0)) % ctx.rank(x)
    idx_arr = ctx.const_array(node, 1)
    if idx_arr is not None:
        dim = x.shape[axis]
        if dim >= 0:
            idx_arr = np.where(idx_arr < 0, idx_arr + dim, idx_arr)
        indices = ctx.constant(idx_arr.astype(np.int32), f"{node.outputs[0].name}/indices")
    else:
        indices = ctx.tensor(node.input(1))
    layer = ctx.network.add_gather(x, indices, axis)
    ctx.name(layer, node)
    ctx.set_output(node, layer.get_output(0))


@converter("concat")
def convert_concat(ctx: ConversionContext, node: Node) -> None:
    ins = [ctx.tensor(v) for v in node.inputs if v is not None]
    layer = ctx.network.add_concatenation(ins)
    layer.axis = int(node.attrs["axis"]) % ctx.rank(ins[0])
    ctx.name(layer, node)
    ctx.set_output(node, layer.get_output(0))


def _check_shape(node: Node) -> str | None:
    v = node.input(0)
    return None if v is not None and v.type.rank is not None else "input of unknown rank"


@converter("shape", supports=_check_shape)
def convert_shape(ctx: ConversionContext, node: Node) -> None:
    """A constant when the input's shape is static, else an IShapeLayer (int64)."""
    v = node.inputs[0]
    assert v is not None and v.type.shape is not None
    rank = len(v.type.shape)
    start = int(node.attrs.get("start", 0) or 0)
    end_attr = node.attrs.get("end")
    end = rank if end_attr is None else int(end_attr)
    sl = slice(start, end)
    shape = static_shape(v.type.shape)
    if shape is not None:
        arr = np.asarray(shape[sl], np.int64)
        ctx.set_output(node, ctx.constant(arr, node.outputs[0].name))
        return
    layer = ctx.network.add_shape(ctx.tensor(v))
    ctx.name(layer, node)
    y = layer.get_output(0)
    lo, hi, _ = sl.indices(rank)
    if (lo, hi) != (0, rank):
        part = ctx.network.add_slice(y, ctx.dims([lo]), ctx.dims([max(0, hi - lo)]),
                                     ctx.dims([1]))
        ctx.name(part, node, "slice")
        y = part.get_output(0)
    ctx.set_output(node, y)


def _check_blocks(node: Node) -> str | None:
    v = node.input(0)
    if v is None or v.type.rank != 4:
        return "input that is not 4-D"
    why = _check_axes_static(node, [1, 2, 3], "reshaped into blocks")
    if why is not None:
        return why
    if str(node.attrs.get("mode") or "DCR") not in ("DCR", "CRD"):
        return f"mode '{node.attrs.get('mode')}'"
    return None


def _blocks(ctx: ConversionContext, node: Node, shape: list[int], perm: list[int]) -> None:
    """reshape to 6-D, transpose, reshape to the output: the ONNX definition's three steps.
    A dynamic batch is -1 in both reshapes (dims 1-3 are static: the check requires it)."""
    y = ctx.reshape(ctx.tensor(node.input(0)), shape, node, "split_blocks")
    y = ctx.transpose(y, perm, node, "move_blocks")
    out = shape_with_one_unknown(node)
    ctx.set_output(node, ctx.reshape(y, out, node, "merge_blocks"))


def _nchw(node: Node) -> list[int]:
    """Input 0's dims, a dynamic batch as -1."""
    return [d if isinstance(d, int) else -1 for d in _dims(node) or ()]


@converter("depth_to_space", supports=_check_blocks)
def convert_depth_to_space(ctx: ConversionContext, node: Node) -> None:
    n, c, h, w = _nchw(node)
    b = int(node.attrs["blocksize"])
    if str(node.attrs.get("mode") or "DCR") == "DCR":
        _blocks(ctx, node, [n, b, b, c // (b * b), h, w], [0, 3, 4, 1, 5, 2])
    else:
        _blocks(ctx, node, [n, c // (b * b), b, b, h, w], [0, 1, 4, 2, 5, 3])


@converter("space_to_depth", supports=_check_blocks)
def convert_space_to_depth(ctx: ConversionContext, node: Node) -> None:
    n, c, h, w = _nchw(node)
    b = int(node.attrs["blocksize"])
    perm = [0, 3, 5, 1, 2, 4] if str(node.attrs.get("mode") or "DCR") == "DCR" \
        else [0, 1, 3, 5, 2, 4]
    _blocks(ctx, node, [n, c, h // b, b, w // b, b], perm)
