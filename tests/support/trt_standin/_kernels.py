"""What each TensorRT layer computes, in numpy, with the checks TensorRT makes before it.

Every function takes ``(layer, xs, const)``: the layer (its attributes), the arrays of its
inputs (``None`` for an input slot left empty) and, per input, whether it is a build-time
constant; it returns the list of output arrays. The semantics are written from TensorRT's
operator pages (``docs.nvidia.com/deeplearning/tensorrt/latest/_static/operators/<Name>.html``)
and the docstrings of the Python API (``tensorrt-stubs`` 10.13), cited per function, never from
infercc's own IR kernels, so the two can disagree and a test can see it.

Precision: a tensor's DataType is its numpy dtype. Elementwise arithmetic on HALF runs in
float16 (numpy rounds each result to float16, as an fp16 kernel does). Layers that accumulate
(convolution, deconvolution, matrix multiply, pooling averages, reductions, softmax,
normalization) and the transcendental activations compute in float32 and round the result
to float16 once: TensorRT's fp16 tactics accumulate in fp32, and Normalization documents
fp32 compute by default.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._types import (
    FLOATS, INTEGERS, ActivationType, DataType, ElementWiseOperation, GatherMode,
    InterpolationMode, MatrixOperation, PaddingMode, PoolingType, ReduceOperation,
    ResizeCoordinateTransformation, ResizeRoundMode, ResizeSelector, SampleMode, StandinError,
    TopKOperation, UnaryOperation, datatype_of, nptype, op_page,
)

Arrays = list[Any]


def fail(layer: Any, detail: str, rule: str, page: str) -> StandinError:
    return StandinError(f"layer {layer.name!r}: {detail}", rule, page)


def _same_type(layer: Any, arrays: list[np.ndarray], page: str, what: str = "inputs") -> Any:
    types = [datatype_of(a) for a in arrays]
    if len(set(types)) > 1:
        raise fail(layer, f"{what} have types {[t.name for t in types]}",
                   "strongly typed: operand types must match", page)
    return types[0]


def _floats_only(layer: Any, dt: Any, page: str) -> None:
    if dt not in FLOATS:
        raise fail(layer, f"input type {dt.name}", "this layer takes FLOAT or HALF", page)


def _compute(x: np.ndarray) -> np.ndarray:
    """float32 for float16/float32 inputs (the accumulation type), unchanged otherwise."""
    return x.astype(np.float32) if x.dtype == np.float16 else x


def _axes_from_mask(layer: Any, mask: int, rank: int, page: str, single: bool = False) -> list[int]:
    if not isinstance(mask, (int, np.integer)) or mask <= 0 or mask >= (1 << rank):
        raise fail(layer, f"axes bitmask {mask!r} for a rank-{rank} input",
                   "axes are a bitmask: bit i selects dimension i, 0 < mask < 2**rank", page)
    axes = [i for i in range(rank) if mask >> i & 1]
    if single and len(axes) != 1:
        raise fail(layer, f"axes bitmask {mask:#b} sets {len(axes)} bits",
                   "exactly one axis bit", page)
    return axes


def _broadcast_equal_rank(layer: Any, arrays: list[np.ndarray], page: str) -> tuple[int, ...]:
    ranks = {a.ndim for a in arrays}
    if len(ranks) != 1:
        raise fail(layer, f"input ranks {[a.ndim for a in arrays]}",
                   "inputs must have the same number of dimensions (no implicit rank broadcast)",
                   page)
    out = []
    for dims in zip(*(a.shape for a in arrays)):
        big = {d for d in dims if d != 1}
        if len(big) > 1:
            raise fail(layer, f"shapes {[a.shape for a in arrays]}",
                       "each dimension is equal or one of them is 1", page)
        out.append(big.pop() if big else 1)
    return tuple(out)


def constant(layer: Any, xs: Arrays, const: list[bool]) -> Arrays:
    """Constant: the weights reshaped to ``shape``; the type is the weights' type.

    Page: ``Constant`` ("output is a tensor with the weights values and the given dimensions").
    """
    w = layer.weights.numpy()
    if w.size != math.prod(layer.shape):
        raise fail(layer, f"{w.size} weights for shape {tuple(layer.shape)}",
                   "the weights count equals the volume of the shape", op_page("Constant"))
    return [w.reshape(tuple(layer.shape))]


def _kernel_and_bias(layer: Any, xs: Arrays, dt: Any, kshape: tuple[int, ...], page: str
                     ) -> tuple[np.ndarray, np.ndarray | None]:
    if len(xs) > 1 and xs[1] is not None:
        w = xs[1]
        if tuple(w.shape) != kshape:
            raise fail(layer, f"kernel tensor of shape {w.shape}, expected {kshape}",
                       "a kernel given as input 1 has the kernel's full shape", page)
    else:
        w = layer.kernel.numpy()
        if w.size != math.prod(kshape):
            raise fail(layer, f"{w.size} kernel weights, expected {math.prod(kshape)} "
                       f"for {kshape}", "kernel weight count", page)
        w = w.reshape(kshape)
    if datatype_of(w) != dt:
        raise fail(layer, f"kernel of type {datatype_of(w).name} on a {dt.name} input",
                   "strongly typed: kernel and input types match", page)
    b = xs[2] if len(xs) > 2 and xs[2] is not None else layer.bias.numpy()
    if b.size == 0:
        return w, None
    if datatype_of(b) != dt:
        raise fail(layer, f"bias of type {datatype_of(b).name} on a {dt.name} input",
                   "strongly typed: bias and input types match", page)
    return w, b.reshape(-1)


def _geometry(layer: Any, spatial: tuple[int, ...], window: tuple[int, ...], page: str
              ) -> tuple[list[int], list[int], list[int], list[int], list[int]]:
    """stride, dilation, pre, post padding and output sizes, as the operator page gives them.

    EXPLICIT_ROUND_DOWN: O = floor((I + pre + post - E) / s) + 1;  EXPLICIT_ROUND_UP: ceil;
    SAME_UPPER / SAME_LOWER: O = ceil(I / s), total padding max(0, (O-1)*s + E - I) split
    with the odd element after (UPPER) or before (LOWER). E = dilation*(window-1) + 1.
    """
    n = len(window)
    stride = list(layer.stride_nd or (1,) * n)
    dil = list(getattr(layer, "dilation_nd", None) or (1,) * n)
    pre = list(layer.pre_padding or (0,) * n)
    post = list(layer.post_padding or (0,) * n)
    for name, v in (("stride", stride), ("dilation", dil), ("pre_padding", pre),
                    ("post_padding", post)):
        if len(v) != n:
            raise fail(layer, f"{name} {tuple(v)} for a {n}-D window",
                       "stride, dilation and padding have one entry per spatial dimension", page)
    if min(stride) < 1 or min(dil) < 1:
        raise fail(layer, f"stride {stride} dilation {dil}", "strides and dilations >= 1", page)
    mode = layer.padding_mode
    outs = []
    for i in range(n):
        eff = dil[i] * (window[i] - 1) + 1
        if mode in (PaddingMode.SAME_UPPER, PaddingMode.SAME_LOWER):
            o = -(-spatial[i] // stride[i])
            total = max(0, (o - 1) * stride[i] + eff - spatial[i])
            small, big = total // 2, total - total // 2
            pre[i], post[i] = (small, big) if mode == PaddingMode.SAME_UPPER else (big, small)
        else:
            span = spatial[i] + pre[i] + post[i] - eff
            if span < 0:
                raise fail(layer, f"window {window[i]} larger than padded input "
                           f"{spatial[i] + pre[i] + post[i]}", "output size >= 1", page)
            o = (span // stride[i] if mode == PaddingMode.EXPLICIT_ROUND_DOWN
                 else -(-span // stride[i])) + 1
        outs.append(o)
    return stride, dil, pre, post, outs


def _checked_conv(layer: Any, xs: Arrays, page: str, *, transposed: bool) -> tuple:
    """The rules convolution and deconvolution share (ranks, float types, groups, kernel and
    bias sizes); returns ``x, window, n, dt, groups, out maps, in channels, kernel, bias``.
    The kernel is ``[K, C/G, *window]`` for a convolution, ``[C, K/G, *window]`` for a
    deconvolution."""
    x = xs[0]
    window = tuple(layer.kernel_size_nd)
    n = len(window)
    if n not in (1, 2, 3) or x.ndim != n + 2:
        raise fail(layer, f"rank-{x.ndim} input with a {n}-D kernel",
                   "input rank = kernel rank + 2 (N, C, spatial)", page)
    dt = datatype_of(x)
    _floats_only(layer, dt, page)
    g, k, c = layer.num_groups, layer.num_output_maps, x.shape[1]
    if g < 1 or c % g or k % g:
        raise fail(layer, f"{c} input and {k} output channels in {g} groups",
                   "channels divisible by num_groups", page)
    kshape = ((c, k // g) if transposed else (k, c // g)) + window
    w, b = _kernel_and_bias(layer, xs, dt, kshape, page)
    if b is not None and b.size != k:
        raise fail(layer, f"{b.size} bias values for {k} output maps",
                   "bias count equals num_output_maps", page)
    return x, window, n, dt, g, k, c, w, b


def convolution(layer: Any, xs: Arrays, const: list[bool]) -> Arrays:
    """Convolution (cross-correlation), grouped, dilated, 1-3 spatial dims.

    Page: ``Convolution``. Input [N, C, *spatial] (rank = spatial + 2), kernel GKCRS i.e.
    [K, C/groups, *window], bias [K]; K and C divisible by num_groups; padding as in
    ``_geometry``; zero padding; EXPLICIT_ROUND_UP reads zeros past the post-padding.
    """
    page = op_page("Convolution")
    x, window, n, dt, g, k, c, w, b = _checked_conv(layer, xs, page, transposed=False)
    stride, dil, pre, post, outs = _geometry(layer, x.shape[2:], window, page)
    needed = [(o - 1) * s + d * (wi - 1) + 1 for o, s, d, wi in zip(outs, stride, dil, window)]
    xf = _compute(x)
    pads = [(0, 0), (0, 0)] + [(p, max(q, need - xs_ - p))
                               for p, q, need, xs_ in zip(pre, post, needed, x.shape[2:])]
    xp = np.pad(xf, pads)
    effs = [d * (wi - 1) + 1 for d, wi in zip(dil, window)]
    win = sliding_window_view(xp, effs, axis=tuple(range(2, 2 + n)))
    sel = (slice(None), slice(None)) + tuple(slice(0, o * s, s) for o, s in zip(outs, stride)) \
        + tuple(slice(None, None, d) for d in dil)
    win = win[sel]  # [N, C, *O, *window]
    nb = x.shape[0]
    win = win.reshape((nb, g, c // g) + tuple(outs) + window)
    wg = _compute(w).reshape((g, k // g, c // g) + window)
    sp = "xyz"[:n]
    ks = "uvw"[:n]
    y = np.einsum(f"ngc{sp}{ks},gkc{ks}->ngk{sp}", win, wg, optimize=True)
    y = y.reshape((nb, k) + tuple(outs))
    if b is not None:
        y = y + _compute(b).reshape((1, k) + (1,) * n)
    return [y.astype(x.dtype)]


def deconvolution(layer: Any, xs: Arrays, const: list[bool]) -> Arrays:
    """Deconvolution (transposed convolution), grouped, dilated.

    Page: ``Deconvolution``. Kernel CKRS, i.e. [C, K/groups, *window]; each input element
    scatters ``x * kernel`` into the output at ``i*stride + j*dilation``; the full result of
    length (I-1)*s + E is then cropped by pre_padding at the start and post_padding at the
    end. SAME_UPPER / SAME_LOWER give O = I*s, the crop split as for convolution.
    """
    page = op_page("Deconvolution")
    x, window, n, dt, g, k, c, w, b = _checked_conv(layer, xs, page, transposed=True)
    stride = list(layer.stride_nd or (1,) * n)
    dil = list(layer.dilation_nd or (1,) * n)
    pre = list(layer.pre_padding or (0,) * n)
    post = list(layer.post_padding or (0,) * n)
    if min(pre + post) < 0:
        raise fail(layer, f"pre_padding {tuple(pre)} post_padding {tuple(post)}",
                   "padding >= 0 (an output_padding larger than the padding needs a Padding "
                   "layer after the deconvolution)", page)
    spatial = x.shape[2:]
    full = [(i - 1) * s + d * (wi - 1) + 1 for i, s, d, wi in zip(spatial, stride, dil, window)]
    if layer.padding_mode in (PaddingMode.SAME_UPPER, PaddingMode.SAME_LOWER):
        for i in range(n):
            total = max(0, full[i] - spatial[i] * stride[i])
            small, big = total // 2, total - total // 2
            pre[i], post[i] = ((small, big) if layer.padding_mode == PaddingMode.SAME_UPPER
                               else (big, small))
    nb = x.shape[0]
    xg = _compute(x).reshape((nb, g, c // g) + tuple(spatial))
    wg = _compute(w).reshape((g, c // g, k // g) + window)
    acc = np.zeros((nb, g, k // g) + tuple(full), np.float32 if x.dtype == np.float16 else x.dtype)
    sp = "xyz"[:n]
    for offs in itertools.product(*(range(wi) for wi in window)):
        contrib = np.einsum(f"ngc{sp},gck->ngk{sp}", xg, wg[(...,) + offs])
        sel = (slice(None),) * 3 + tuple(
            slice(o * d, o * d + (i - 1) * s + 1, s)
            for o, d, i, s in zip(offs, dil, spatial, stride))
        acc[sel] += contrib
    crop = (slice(None),) * 3 + tuple(slice(p, f - q) for p, q, f in zip(pre, post, full))
    y = acc[crop].reshape((nb, k) + tuple(f - p - q for p, q, f in zip(pre, post, full)))
    if min(y.shape[2:], default=1) < 1:
        raise fail(layer, f"output spatial size {y.shape[2:]}", "output size >= 1", page)
    if b is not None:
        y = y + _compute(b).reshape((1, k) + (1,) * n)
    return [y.astype(x.dtype)]


def pooling(layer: Any, xs: Arrays, const: list[bool]) -> Arrays:
    """Pooling MAX / AVERAGE / MAX_AVERAGE_BLEND over the last len(window) dimensions.

    Page: ``Pooling``. Padding as for convolution; padded cells never win a max; the average
    divides by the window's overlap with the unpadded input when
    ``average_count_excludes_padding`` (default True), else by its overlap with the padded
    input; cells read past the post-padding by EXPLICIT_ROUND_UP count in neither.
    Blend: (1 - blend_factor) * max + blend_factor * average.
    """
    page = op_page("Pooling")
    x = xs[0]
    window = tuple(layer.window_size_nd)
    n = len(window)
    if n not in (1, 2, 3) or x.ndim < n + 1:
        raise fail(layer, f"rank-{x.ndim} input with a {n}-D window",
                   "input rank >= window rank + 1", page)
    dt = datatype_of(x)
    _floats_only(layer, dt, page)
    lead = x.ndim - n
    stride, _, pre, post, outs = _geometry(layer, x.shape[lead:], window, page)
    needed = [(o - 1) * s + wi for o, s, wi in zip(outs, stride, window)]
    extra = [max(0, need - (i + p + q)) for need, i, p, q in zip(needed, x.shape[lead:], pre, post)]
    xf = _compute(x)
    inner = [(0, 0)] * lead + list(zip(pre, post))
    outer = [(0, 0)] * lead + [(0, e) for e in extra]
    valid = np.pad(np.ones(x.shape[lead:], np.float32), list(zip(pre, post)))
    padded_area = np.pad(np.ones_like(valid), [(0, e) for e in extra])
    valid = np.pad(valid, [(0, e) for e in extra])
    axes = tuple(range(lead, x.ndim))
    sel = tuple(slice(0, o * s, s) for o, s in zip(outs, stride))

    def windows(a: np.ndarray, ax: tuple[int, ...]) -> np.ndarray:
        v = sliding_window_view(a, window, axis=ax)
        return v[(slice(None),) * (a.ndim - n) + sel]

    red = tuple(range(-n, 0))
    res = None
    if layer.type in (PoolingType.MAX, PoolingType.MAX_AVERAGE_BLEND):
        xm = np.pad(np.pad(xf, inner, constant_values=-np.inf), outer, constant_values=-np.inf)
        mx = windows(xm, axes).max(axis=red)
        res = mx
    if layer.type in (PoolingType.AVERAGE, PoolingType.MAX_AVERAGE_BLEND):
        xa = np.pad(np.pad(xf, inner), outer)
        total = windows(xa, axes).sum(axis=red)
        count_src = valid if layer.average_count_excludes_padding else padded_area
        count = windows(count_src, tuple(range(n))).sum(axis=red)
        avg = total / np.maximum(count, 1)
        res = avg if res is None else (1 - layer.blend_factor) * res + layer.blend_factor * avg
    assert res is not None
    return [res.astype(x.dtype)]


def matrix_multiply(layer: Any, xs: Arrays, const: list[bool]) -> Arrays:
    """MatrixMultiply: op(A) @ op(B) over collections of matrices or vectors.

    Page: ``MatrixMultiply``. TRANSPOSE swaps the last two dimensions; VECTOR treats the last
    dimension as a vector. The batch (leading) dimensions of the two inputs must be equally
    many (equal ranks, less one for a VECTOR operand), each equal or 1 (broadcast); the
    operand types must match.
    """
    page = op_page("MatrixMultiply")
    a, b = xs[0], xs[1]
    dt = _same_type(layer, [a, b], page)
    _floats_only(layer, dt, page)
    core_a = 1 if layer.op0 == MatrixOperation.VECTOR else 2
    core_b = 1 if layer.op1 == MatrixOperation.VECTOR else 2
    if a.ndim - core_a != b.ndim - core_b:
        raise fail(layer, f"input ranks {a.ndim} ({layer.op0.name}) and {b.ndim} "
                   f"({layer.op1.name})", "both inputs have the same number of batch "
                   "dimensions (equal ranks; a VECTOR operand has one dimension less)", page)
    if a.ndim < core_a or b.ndim < core_b:
        raise fail(layer, "input rank below the operation's", "rank >= 2 (1 for VECTOR)", page)
    af, bf = _compute(a), _compute(b)
    if layer.op0 == MatrixOperation.TRANSPOSE:
        af = np.swapaxes(af, -1, -2)
    if layer.op1 == MatrixOperation.TRANSPOSE:
        bf = np.swapaxes(bf, -1, -2)
    if core_a == 1:
        af = af[..., None, :]
    if core_b == 1:
        bf = bf[..., :, None]
    if af.shape[-1] != bf.shape[-2]:
        raise fail(layer, f"contracting sizes {af.shape[-1]} and {bf.shape[-2]}",
                   "the inner dimensions agree", page)
    ba, bb = af.shape[:-2], bf.shape[:-2]
    for da, db in zip(ba[len(ba) - min(len(ba), len(bb)):], bb[len(bb) - min(len(ba), len(bb)):]):
        if da != db and 1 not in (da, db):
            raise fail(layer, f"batch dimensions {ba} and {bb}",
                       "batch dimensions are equal or 1", page)
    y = np.matmul(af, bf)
    if core_b == 1:
        y = y[..., 0]
    if core_a == 1:
        y = y[..., 0, :] if core_b == 2 else y[..., 0]
    return [np.asarray(y).astype(a.dtype)]


_COMPARE = {ElementWiseOperation.EQUAL: np.equal, ElementWiseOperation.GREATER: np.greater,
            ElementWiseOperation.LESS: np.less}
_LOGIC = {ElementWiseOperation.AND: np.logical_and, ElementWiseOperation.OR: np.logical_or,
          ElementWiseOperation.XOR: np.logical_xor}


def elementwise(layer: Any, xs: Arrays, const: list[bool]) -> Arrays:
    """ElementWise: SUM PROD MAX MIN SUB DIV POW FLOOR_DIV AND OR XOR EQUAL GREATER LESS.

    Page: ``ElementWise`` and ``add_elementwise``'s docstring: equal ranks, each dimension
    equal or 1 (broadcast); operand types equal. Comparisons give BOOL; AND/OR/XOR take BOOL.
    Integer DIV truncates toward zero, FLOOR_DIV rounds toward -inf.
    """
    page = op_page("ElementWise")
    a, b = xs[0], xs[1]
    dt = _same_type(layer, [a, b], page)
    _broadcast_equal_rank(layer, [a, b], page)
    op = layer.op
    if op in _LOGIC:
        if dt != DataType.BOOL:
            raise fail(layer, f"{op.name} on {dt.name}", "AND/OR/XOR take BOOL", page)
        return [_LOGIC[op](a, b)]
    if dt == DataType.BOOL:
        raise fail(layer, f"{op.name} on BOOL", "arithmetic and comparisons take numbers", page)
    if op in _COMPARE:
        return [_COMPARE[op](a, b)]
    integer = dt in INTEGERS or dt == DataType.INT8
    if op == ElementWiseOperation.SUM:
        y = a + b
    elif op == ElementWiseOperation.PROD:
        y = a * b
    elif op == ElementWiseOperation.MAX:
        y = np.maximum(a, b)
    elif op == ElementWiseOperation.MIN:
        y = np.minimum(a, b)
    elif op == ElementWiseOperation.SUB:
        y = a - b
    elif op == ElementWiseOperation.DIV:
        if integer:
            q = np.abs(a) // np.maximum(np.abs(b), 1)
            y = np.where((a < 0) ^ (b < 0), -q, q)
        else:
            y = a / b
    elif op == ElementWiseOperation.POW:
        y = np.power(a, b)
    elif op == ElementWiseOperation.FLOOR_DIV:
        y = a // np.where(b == 0, 1, b) if integer else np.floor(a / b)
    else:
        raise fail(layer, f"operation {op}", "a known ElementWiseOperation", page)
    return [np.asarray(y).astype(a.dtype)]


def _erf(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf
    return erf(x)


def activation(layer: Any, xs: Arrays, const: list[bool]) -> Arrays:
    """Activation, with the formulas of ``ActivationType``'s docstring (alpha, beta).

    Page: ``Activation``. Computed in float32, rounded to the input type.
    """
    page = op_page("Activation")
    x = xs[0]
    dt = datatype_of(x)
    _floats_only(layer, dt, page)
    t, al, be = layer.type, float(layer.alpha), float(layer.beta)
    v = x.astype(np.float32)
    A = ActivationType
    if t == A.RELU:
        y = np.maximum(v, 0)
    elif t == A.SIGMOID:
        y = 1 / (1 + np.exp(-v))
    elif t == A.TANH:
        y = np.tanh(v)
    elif t == A.LEAKY_RELU:
        y = np.where(v >= 0, v, al * v)
    elif t == A.ELU:
        y = np.where(v >= 0, v, al * (np.exp(v) - 1))
    elif t == A.SELU:
        y = np.where(v > 0, be * v, be * (al * np.exp(v) - al))
    elif t == A.SOFTSIGN:
        y = v / (1 + np.abs(v))
    elif t == A.SOFTPLUS:
        y = al * np.log(np.exp(be * v) + 1)
    elif t == A.CLIP:
        y = np.maximum(al, np.minimum(be, v))
    elif t == A.HARD_SIGMOID:
        y = np.maximum(0, np.minimum(1, al * v + be))
    elif t == A.SCALED_TANH:
        y = al * np.tanh(be * v)
    elif t == A.THRESHOLDED_RELU:
        y = np.where(v > al, v, 0)
    elif t == A.GELU_ERF:
        y = 0.5 * v * (1 + _erf(math.sqrt(0.5) * v))
    elif t == A.GELU_TANH:
        y = 0.5 * v * (1 + np.tanh(math.sqrt(2 / math.pi) * (0.044715 * v ** 3 + v)))
    else:
        raise fail(layer, f"activation {t}", "a known ActivationType", page)
    return [np.asarray(y).astype(x.dtype)]


def parametric_relu(layer: Any, xs: Arrays, const: list[bool]) -> Arrays:
    """ParametricReLU: x if x >= 0 else slope * x; slopes broadcast at equal rank.

    Page: ``ParametricReLU``.
    """
    page = op_page("ParametricReLU")
    x, s = xs[0], xs[1]
    dt = _same_type(layer, [x, s], page)
    _floats_only(layer, dt, page)
    _broadcast_equal_rank(layer, [x, s], page)
    return [np.where(x >= 0, x, s * x).astype(x.dtype)]


def unary(layer: Any, xs: Arrays, const: list[bool]) -> Arrays:
    """Unary: one numpy function per ``UnaryOperation``; NOT takes BOOL, ISINF/ISNAN give BOOL.

    Page: ``Unary``. ROUND rounds half to even. ABS, NEG, SIGN also take integers.
    """
    page = op_page("Unary")
    x = xs[0]
    dt = datatype_of(x)
    op = layer.op
    U = UnaryOperation
    if op == U.NOT:
        if dt != DataType.BOOL:
            raise fail(layer, f"NOT on {dt.name}", "NOT takes BOOL", page)
        return [np.logical_not(x)]
    if op in (U.ABS, U.NEG, U.SIGN) and (dt in INTEGERS or dt == DataType.INT8):
        return [{U.ABS: np.abs, U.NEG: np.negative, U.SIGN: np.sign}[op](x).astype(x.dtype)]
    _floats_only(layer, dt, page)
    if op in (U.ISINF, U.ISNAN):
        return [np.isinf(x) if op == U.ISINF else np.isnan(x)]
    fn = {U.EXP: np.exp, U.LOG: np.log, U.SQRT: np.sqrt, U.RECIP: np.reciprocal, U.ABS: np.abs,
          U.NEG: np.negative, U.SIN: np.sin, U.COS: np.cos, U.TAN: np.tan, U.SINH: np.sinh,
          U.COSH: np.cosh, U.ASIN: np.arcsin, U.ACOS: np.arccos, U.ATAN: np.arctan,
          U.ASINH: np.arcsinh, U.ACOSH: np.arccosh, U.ATANH: np.arctanh, U.CEIL: np.ceil,
          U.FLOOR: np.floor, U.ERF: _erf, U.SIGN: np.sign, U.ROUND: np.rint}.get(op)
    if fn is None:
        raise fail(layer, f"operation {op}", "a known UnaryOperation", page)
    return [np.asarray(fn(x.astype(np.float32))).astype(x.dtype)]


def reduce(layer: Any, xs: Arrays, const: list[bool]) -> Arrays:
    """Reduce SUM PROD MAX MIN AVG over the axes bitmask, keeping them as 1 when keep_dims.

    Page: ``Reduce``. Floats accumulate in float32.
    """
    page = op_page("Reduce")
    x = xs[0]
    dt = datatype_of(x)
    if dt == DataType.BOOL:
        raise fail(layer, "BOOL input", "Reduce takes numbers", page)
    axes = tuple(_axes_from_mask(layer, layer.axes, x.ndim, page))
    v = _compute(x)
    R = ReduceOperation
    fn = {R.SUM: np.sum, R.PROD: np.prod, R.MAX: np.max, R.MIN: np.min, R.AVG: np.mean}[layer.op]
    y = fn(v, axis=axes, keepdims=bool(layer.keep_dims))
    return [np.asarray(y).astype(x.dtype)]


def softmax(layer: Any, xs: Arrays, const: list[bool]) -> Arrays:
    """SoftMax over the one axis of the ``axes`` bitmask, exp(x - max) / sum, in float32.

    Page: ``SoftMax`` and ISoftMaxLayer's docstring: when ``axes`` is left unset the axis is
    rank - 3, or 0 for rank < 3 (so a converter should always set it).
    """
    page = op_page("SoftMax")
    x = xs[0]
    _floats_only(layer, datatype_of(x), page)
    mask = layer.axes if layer.axes is not None else 1 << (x.ndim - 3 if x.ndim >= 3 else 0)
    (axis,) = _axes_from_mask(layer, mask, x.ndim, page, single=True)
    v = x.astype(np.float32)
    e = np.exp(v - v.max(axis=axis, keepdims=True))
    return [(e / e.sum(axis=axis, keepdims=True)).astype(x.dtype)]


def _permutation(layer: Any, perm: Any, rank: int, what: str, page: str) -> tuple[int, ...]:
    if perm is None:
        return tuple(range(rank))
    p = tuple(perm)[:rank] if len(perm) >= rank else tuple(perm)
    if sorted(p) != list(range(rank)):
        raise fail(layer, f"{what} {tuple(perm)} for rank {rank}",
                   "a permutation of 0..rank-1", page)
    return p


def shuffle(layer: Any, xs: Arrays, const: list[bool]) -> Arrays:
    """Shuffle: first_transpose, then reshape, then second_transpose.

    Page: ``Shuffle`` and IShuffleLayer's docstring: in reshape_dims, 0 copies the input
    dimension at that index (when ``zero_is_placeholder``, the default; otherwise it is a
    zero-length dimension) and one -1 is inferred; input 1, when set, is a 1-D INT32/INT64
    shape tensor that replaces reshape_dims.
    """
    page = op_page("Shuffle")
    x = xs[0]
    y = np.transpose(x, _permutation(layer, layer.first_transpose, x.ndim, "first_transpose",
                                     page))
    dims: Any = layer.reshape_dims
    if len(xs) > 1 and xs[1] is not None:
        if xs[1].ndim != 1 or datatype_of(xs[1]) not in INTEGERS:
            raise fail(layer, f"shape input of shape {xs[1].shape} type {xs[1].dtype}",
                       "the reshape input is a 1-D INT32/INT64 tensor", page)
        dims = [int(d) for d in xs[1]]
    if dims is not None:
        dims = list(dims)
        if layer.zero_is_placeholder:
            for i, d in enumerate(dims):
                if d == 0:
                    if i >= y.ndim:
                        raise fail(layer, f"0 at index {i} of {dims} for rank {y.ndim}",
                                   "0 copies an existing input dimension", page)
                    dims[i] = y.shape[i]
        if dims.count(-1) > 1:
            raise fail(layer, f"reshape_dims {dims}", "at most one -1", page)
        if -1 in dims:
            rest = math.prod(d for d in dims if d != -1)
            if rest == 0 or y.size % rest:
                raise fail(layer, f"reshape {y.shape} to {dims}",
                           "the volume is preserved", page)
            dims[dims.index(-1)] = y.size // rest
        if math.prod(dims) != y.size:
            raise fail(layer, f"reshape {y.shape} to {dims}", "the volume is preserved", page)
        y = y.reshape(dims)
    y = np.transpose(y, _permutation(layer, layer.second_transpose, y.ndim, "second_transpose",
                                     page))
    return [np.ascontiguousarray(y)]


def _reflect(idx: np.ndarray, n: int) -> np.ndarray:
    if n == 1:
        return np.zeros_like(idx)
    period = 2 * (n - 1)
    m = np.mod(idx, period)
    return np.where(m >= n, period - m, m)


def slice_(layer: Any, xs: Arrays, const: list[bool]) -> Arrays:
    """Slice: out[i] = in[start + i*stride] per dimension, for ``shape`` elements.

    Page: ``Slice`` and ISliceLayer's docstring. Inputs 1/2/3 (start/size/stride tensors) and
    5 (axes) replace the Dims; with axes only those dimensions are sliced. Out-of-bounds
    coordinates: STRICT_BOUNDS refuses, WRAP wraps, CLAMP clamps, FILL reads input 4 (0 when
    unset), REFLECT reflects about the edges.
    """
    page = op_page("Slice")
    x = xs[0]

    def pick(i: int, dims: Any) -> list[int] | None:
        if len(xs) > i and xs[i] is not None:
            return [int(v) for v in np.asarray(xs[i]).reshape(-1)]
        return None if dims is None else list(dims)

    start, size, stride = pick(1, layer.start), pick(2, layer.shape), pick(3, layer.stride)
    axes = pick(5, layer.axes)
    if axes is None:
        axes = list(range(x.ndim))
    axes = [a + x.ndim if a < 0 else a for a in axes]
    assert start is not None and size is not None and stride is not None
    if not (len(start) == len(size) == len(stride) == len(axes)) or any(
            a < 0 or a >= x.ndim for a in axes):
        raise fail(layer, f"start {start} size {size} stride {stride} axes {axes} for rank "
                   f"{x.ndim}", "start, size and stride have one entry per sliced axis", page)
    mode = layer.mode
    fill = None
    if mode == SampleMode.FILL:
        fill = xs[4] if len(xs) > 4 and xs[4] is not None else np.zeros((), x.dtype)
    elif len(xs) > 4 and xs[4] is not None:
        raise fail(layer, "a fill value outside FILL mode", "input 4 only with FILL", page)
    index: list[np.ndarray] = [np.arange(n) for n in x.shape]
    oob: list[np.ndarray] = [np.zeros(n, bool) for n in x.shape]
    for a, s0, n, st in zip(axes, start, size, stride):
        idx = s0 + st * np.arange(n)
        d = x.shape[a]
        bad = (idx < 0) | (idx >= d)
        if mode == SampleMode.STRICT_BOUNDS and bad.any():
            raise fail(layer, f"axis {a}: coordinates {idx.min()}..{idx.max()} of size {d}",
                       "STRICT_BOUNDS: every coordinate inside the input", page)
        if mode == SampleMode.WRAP:
            idx = np.mod(idx, d) if d else idx
        elif mode == SampleMode.REFLECT:
            idx = _reflect(idx, d) if d else idx
        else:
            idx = np.clip(idx, 0, max(d - 1, 0))
        index[a] = idx
        oob[a] = bad if mode == SampleMode.FILL else np.zeros(n, bool)
    y = x[np.ix_(*index)] if x.ndim else x.copy()
    if fill is not None:
        mask = np.zeros(y.shape, bool)
        for a, o in enumerate(oob):
            shape = [1] * y.ndim
            shape[a] = -1
            mask |= o.reshape(shape)
        y = np.where(mask, fill.astype(x.dtype), y)
    return [np.ascontiguousarray(y)]


def gather(layer: Any, xs: Arrays, const: list[bool]) -> Arrays:
    """Gather in DEFAULT, ELEMENT and ND modes.

    Page: ``Gather``. DEFAULT: out = data indexed along ``axis`` by every index (output
    shape data[:axis] + indices + data[axis+1:]; with num_elementwise_dims = 1 the leading
    dimension of data and indices is walked together). ELEMENT: out[..i..] =
    data[.. indices[..i..] ..] along ``axis``, equal ranks. ND: the last dimension of indices
    holds coordinates into data after the first num_elementwise_dims dimensions. Indices are
    INT32/INT64; negative indices count from the end; others outside the axis are refused.
    """
    page = op_page("Gather")
    data, idx = xs[0], xs[1]
    if datatype_of(idx) not in INTEGERS:
        raise fail(layer, f"indices of type {idx.dtype}", "indices are INT32 or INT64", page)
    mode, ne = layer.mode, int(layer.num_elementwise_dims)
    if mode in (GatherMode.DEFAULT, GatherMode.ELEMENT):
        axis = int(layer.axis)
        if not 0 <= axis < data.ndim:
            raise fail(layer, f"axis {axis} for rank {data.ndim}", "0 <= axis < rank", page)
        d = data.shape[axis]
        if ((idx < -d) | (idx >= d)).any():
            raise fail(layer, f"indices outside [-{d}, {d})", "indices inside the axis", page)
        idx = np.where(idx < 0, idx + d, idx)
        if mode == GatherMode.ELEMENT:
            if ne != 0 or idx.ndim != data.ndim:
                raise fail(layer, f"ELEMENT mode with ranks {data.ndim}/{idx.ndim}, "
                           f"num_elementwise_dims {ne}", "equal ranks, num_elementwise_dims 0",
                           page)
            return [np.take_along_axis(data, idx, axis=axis)]
        if ne == 0:
            return [np.take(data, idx, axis=axis)]
        if ne != 1 or axis == 0 or idx.shape[0] != data.shape[0]:
            raise fail(layer, f"num_elementwise_dims {ne} axis {axis}",
                       "DEFAULT takes 0 or 1, and with 1 a gather axis after the shared "
                       "leading dimension", page)
        return [np.stack([np.take(data[i], idx[i], axis=axis - 1) for i in range(data.shape[0])])]
    if mode == GatherMode.ND:
        if not 0 <= ne < data.ndim or idx.shape[-1] > data.ndim - ne:
            raise fail(layer, f"ND with num_elementwise_dims {ne}", "0 <= ne < rank(data)", page)
        batch = data.shape[:ne]
        q = idx.shape[-1]
        out = []
        flat_d = data.reshape((-1,) + data.shape[ne:])
        flat_i = idx.reshape((-1,) + idx.shape[ne:])
        for b in range(max(1, math.prod(batch))):
            coords = flat_i[b].reshape(-1, q)
            out.append(np.stack([flat_d[b][tuple(c)] for c in coords]).reshape(
                idx.shape[ne:-1] + data.shape[ne + q:]))
        return [np.stack(out).reshape(batch + idx.shape[ne:-1] + data.shape[ne + q:])]
    raise fail(layer, f"mode {mode}", "a known GatherMode", page)


def concatenation(layer: Any, xs: Arrays, const: list[bool]) -> Arrays:
    """Concatenation along ``axis`` (unset: rank - 3, or 0 below rank 3).

    Page: ``Concatenation``: equal ranks, equal types, all other dimensions equal.
    """
    page = op_page("Concatenation")
    if not xs or any(x is None for x in xs):
        raise fail(layer, "no inputs", "one or more input tensors", page)
    _same_type(layer, xs, page)
    rank = xs[0].ndim
    if any(x.ndim != rank for x in xs):
        raise fail(layer, f"input ranks {[x.ndim for x in xs]}", "equal ranks", page)
    axis = layer.axis if layer.axis is not None else (rank - 3 if rank >= 3 else 0)
    if not 0 <= axis < rank:  # no negative axes: TensorRT takes 0 <= axis < rank
        raise fail(layer, f"axis {layer.axis} for rank {rank}", "0 <= axis < rank", page)
    for x in xs:
        if x.shape[:axis] + x.shape[axis + 1:] != xs[0].shape[:axis] + xs[0].shape[axis + 1:]:
            raise fail(layer, f"shapes {[x.shape for x in xs]} on axis {axis}",
                       "all dimensions but the axis equal", page)
    return [np.concatenate(xs, axis=axis)]


def _resize_coords(layer: Any, n_in: int, n_out: int, scale: float) -> np.ndarray:
    """Input coordinates of each output index, per ``coordinate_transformation``."""
    o = np.arange(n_out, dtype=np.float64)
    C = ResizeCoordinateTransformation
    ct = layer.coordinate_transformation
    if n_out == 1 and layer.selector_for_single_pixel == ResizeSelector.UPPER:
        return np.zeros(1)
    if ct == C.ALIGN_CORNERS:
        return o * ((n_in - 1) / (n_out - 1)) if n_out > 1 else np.zeros(1)
    if ct == C.ASYMMETRIC:
        return o / scale
    return (o + 0.5) / scale - 0.5


def _cubic_weights(t: np.ndarray, a: float) -> np.ndarray:
    d = np.stack([1 + t, t, 1 - t, 2 - t], axis=-1)
    ad = np.abs(d)
    return np.where(ad <= 1, ((a + 2) * ad - (a + 3)) * ad * ad + 1,
                    np.where(ad < 2, ((a * ad - 5 * a) * ad + 8 * a) * ad - 4 * a, 0.0))


def resize(layer: Any, xs: Arrays, const: list[bool]) -> Arrays:
    """Resize NEAREST / LINEAR / CUBIC, separably per axis.

    Page: ``Resize``. Output size: input 1 (shape tensor), else ``shape``, else
    floor(input * scale) from ``scales``. Coordinates: HALF_PIXEL (o + 0.5)/s - 0.5,
    ASYMMETRIC o/s, ALIGN_CORNERS o*(in-1)/(out-1); s is the given scale, or out/in when a
    shape is given; a single output pixel takes coordinate 0 with selector UPPER. NEAREST
    rounds the coordinate (FLOOR, CEIL, HALF_UP = floor(c+0.5), HALF_DOWN = ceil(c-0.5)) and
    clamps it to the input. LINEAR clamps the coordinate to [0, in-1] and interpolates
    between its neighbours. CUBIC uses the 4-tap kernel with ``cubic_coeff``; taps outside
    the input are clamped to the edge, or (``exclude_outside``) dropped and the weights
    renormalised. Computed in float32.
    """
    page = op_page("Resize")
    x = xs[0]
    _floats_only(layer, datatype_of(x), page)
    scales = None
    if len(xs) > 1 and xs[1] is not None:
        shape = [int(v) for v in xs[1].reshape(-1)]
    elif layer.shape is not None:
        shape = list(layer.shape)
    elif layer.scales is not None:
        scales = [float(s) for s in layer.scales]
        if len(scales) != x.ndim:
            raise fail(layer, f"{len(scales)} scales for rank {x.ndim}", "one scale per axis",
                       page)
        shape = [int(math.floor(d * s)) for d, s in zip(x.shape, scales)]
    else:
        raise fail(layer, "neither shape nor scales set", "set the output shape or scales", page)
    if len(shape) != x.ndim or min(shape, default=1) < 1:
        raise fail(layer, f"output shape {shape} for input {x.shape}",
                   "the output shape has the input's rank, sizes >= 1", page)
    y = x.astype(np.float32)
    M = InterpolationMode
    for ax, (n_in, n_out) in enumerate(zip(x.shape, shape)):
        s = scales[ax] if scales is not None else n_out / n_in
        if n_in == n_out and s == 1.0:
            continue
        c = _resize_coords(layer, n_in, n_out, s)
        if layer.resize_mode == M.NEAREST:
            R = ResizeRoundMode
            r = layer.nearest_rounding
            idx = (np.floor(c) if r == R.FLOOR else np.ceil(c) if r == R.CEIL
                   else np.floor(c + 0.5) if r == R.HALF_UP else np.ceil(c - 0.5))
            y = np.take(y, np.clip(idx, 0, n_in - 1).astype(np.int64), axis=ax)
            continue
        if layer.resize_mode == M.LINEAR:
            c = np.clip(c, 0, n_in - 1)
            lo = np.floor(c).astype(np.int64)
            hi = np.minimum(lo + 1, n_in - 1)
            t = (c - lo).astype(np.float32)
            shp = [1] * y.ndim
            shp[ax] = -1
            t = t.reshape(shp)
            y = np.take(y, lo, axis=ax) * (1 - t) + np.take(y, hi, axis=ax) * t
            continue
        base = np.floor(c).astype(np.int64)
        w = _cubic_weights(c - base, float(layer.cubic_coeff))
        taps = base[:, None] + np.arange(-1, 3)[None, :]
        if layer.exclude_outside:
            w = np.where((taps < 0) | (taps >= n_in), 0.0, w)
            w = w / w.sum(axis=1, keepdims=True)
        taps = np.clip(taps, 0, n_in - 1)
        moved = np.moveaxis(y, ax, -1)
        y = np.moveaxis((moved[..., taps] * w.astype(np.float32)).sum(-1), -1, ax)
    return [y.astype(x.dtype)]


def padding(layer: Any, xs: Arrays, const: list[bool]) -> Arrays:
    """Padding with zeros on the last len(pre_padding_nd) dimensions; negative values crop.

    Page: ``Padding`` and IPaddingLayer's docstring (2 padded dimensions; 3 accepted too).
    """
    page = op_page("Padding")
    x = xs[0]
    pre, post = list(layer.pre_padding_nd), list(layer.post_padding_nd)
    if len(pre) != len(post) or len(pre) not in (2, 3) or x.ndim < len(pre) + 1:
        raise fail(layer, f"pre {pre} post {post} on rank {x.ndim}",
                   "pre and post padding cover the same 2 (or 3) innermost dimensions", page)
    lead = x.ndim - len(pre)
    y = np.pad(x, [(0, 0)] * lead + [(max(p, 0), max(q, 0)) for p, q in zip(pre, post)])
    sel = (slice(None),) * lead + tuple(
        slice(max(-p, 0), n - max(-q, 0)) for p, q, n in zip(pre, post, y.shape[lead:]))
    return [np.ascontiguousarray(y[sel])]


def cast(layer: Any, xs: Arrays, const: list[bool]) -> Arrays:
    """Cast to ``to_type``. Page: ``Cast``. Float to integer truncates toward zero (C cast)."""
    x = xs[0]
    return [x.astype(nptype(layer.to_type))]


def identity(layer: Any, xs: Arrays, const: list[bool]) -> Arrays:
    """Identity: a copy, same type (in a strongly-typed network it converts nothing).

    Page: ``Identity``.
    """
    return [xs[0].copy()]


def shape(layer: Any, xs: Arrays, const: list[bool]) -> Arrays:
    """Shape: the input's dimensions as a 1-D INT64 tensor. Page: ``Shape``."""
    return [np.asarray(xs[0].shape, dtype=np.int64)]


def select(layer: Any, xs: Arrays, const: list[bool]) -> Arrays:
    """Select: condition ? then : else. Page: ``Select``: BOOL condition, equal ranks with
    broadcasting, then/else of one type."""
    page = op_page("Select")
    c, a, b = xs[0], xs[1], xs[2]
    if datatype_of(c) != DataType.BOOL:
        raise fail(layer, f"condition of type {c.dtype}", "the condition is BOOL", page)
    _same_type(layer, [a, b], page)
    _broadcast_equal_rank(layer, [c, a, b], page)
    return [np.where(c, a, b)]


def topk(layer: Any, xs: Arrays, const: list[bool]) -> Arrays:
    """TopK along one axis: values sorted largest (MAX) or smallest (MIN) first, INT32 indices.

    Page: ``TopK``: exactly one axis among the last four, k <= 3840 and <= the axis length.
    Ties keep the lower index first.
    """
    page = op_page("TopK")
    x = xs[0]
    (axis,) = _axes_from_mask(layer, layer.axes, x.ndim, page, single=True)
    if axis < x.ndim - 4:
        raise fail(layer, f"axis {axis} of rank {x.ndim}", "one of the last four axes", page)
    k = int(layer.k)
    if not 0 < k <= min(3840, x.shape[axis]):
        raise fail(layer, f"k = {k} for axis length {x.shape[axis]}", "0 < k <= 3840", page)
    key = -x.astype(np.float64) if layer.op == TopKOperation.MAX else x.astype(np.float64)
    order = np.argsort(key, axis=axis, kind="stable")
    idx = np.take(order, np.arange(k), axis=axis)
    return [np.take_along_axis(x, idx, axis=axis), idx.astype(np.int32)]


def _qdq_params(layer: Any, xs: Arrays, const: list[bool], data: np.ndarray, page: str
                ) -> tuple[np.ndarray, np.ndarray | None, int | None]:
    """Scale, zero point and axis (None for per-tensor) after TensorRT's Q/DQ rules.

    From IQuantizeLayer / IDequantizeLayer: scale and zero point are build-time constants,
    a scalar (per-tensor) or a 1-D tensor as long as the quantization axis (per-axis); the
    zero point is INT8, all zeros (symmetric only), the scale's shape.
    """
    scale = xs[1]
    if not const[1]:
        raise fail(layer, "the scale depends on a network input",
                   "the scale is a build-time constant", page)
    axis: int | None = None
    if scale.ndim == 0:
        pass
    elif scale.ndim == 1:
        axis = int(layer.axis)
        if not 0 <= axis < data.ndim or data.shape[axis] != scale.shape[0]:
            raise fail(layer, f"per-axis scale of {scale.shape[0]} values, axis {layer.axis}, "
                       f"input shape {data.shape}",
                       "a 1-D scale has as many values as the quantization axis", page)
    else:
        raise fail(layer, f"scale of shape {scale.shape}",
                   "the scale is a scalar (per-tensor) or 1-D (per-axis)", page)
    zp = xs[2] if len(xs) > 2 and xs[2] is not None else None
    if zp is not None:
        if not const[2]:
            raise fail(layer, "the zero point depends on a network input",
                       "the zero point is a build-time constant", page)
        if datatype_of(zp) != DataType.INT8 or zp.shape != scale.shape:
            raise fail(layer, f"zero point {zp.dtype}{list(zp.shape)} for scale "
                       f"{list(scale.shape)}", "the zero point is INT8 and shaped as the scale",
                       page)
        if np.any(zp != 0):
            raise fail(layer, "a non-zero zero point",
                       "zero points are all 0 (symmetric quantization only)", page)
    if np.any(scale <= 0) or not np.all(np.isfinite(scale)):
        raise fail(layer, "a scale that is not positive and finite", "scales are > 0", page)
    return scale, zp, axis


def _along(scale: np.ndarray, axis: int | None, rank: int) -> np.ndarray:
    if axis is None:
        return scale
    shp = [1] * rank
    shp[axis] = -1
    return scale.reshape(shp)


def quantize(layer: Any, xs: Arrays, const: list[bool]) -> Arrays:
    """Quantize to INT8: clamp(round_half_even(x / scale) + zero_point, -128, 127).

    Page: ``Quantize`` and IQuantizeLayer's docstring. The input is FLOAT or HALF and the
    scale has the input's type; only INT8 output is executable in the stand-in.
    """
    page = op_page("Quantize")
    x = xs[0]
    dt = datatype_of(x)
    _floats_only(layer, dt, page)
    if datatype_of(xs[1]) != dt:
        raise fail(layer, f"scale of type {datatype_of(xs[1]).name} for a {dt.name} input",
                   "strongly typed: the scale has the input's type", page)
    if layer.to_type != DataType.INT8:
        raise fail(layer, f"output type {layer.to_type}",
                   "INT8 output (FP8/INT4/FP4 are not modelled by the stand-in)", page)
    scale, _, axis = _qdq_params(layer, xs, const, x, page)
    q = np.rint(x.astype(np.float32) / _along(scale.astype(np.float32), axis, x.ndim))
    return [np.clip(q, -128, 127).astype(np.int8)]


def dequantize(layer: Any, xs: Arrays, const: list[bool]) -> Arrays:
    """Dequantize INT8: (q - zero_point) * scale, in ``to_type`` (FLOAT or HALF).

    Page: ``Dequantize`` and IDequantizeLayer's docstring; the scale has the output's type.
    """
    page = op_page("Dequantize")
    q = xs[0]
    if datatype_of(q) != DataType.INT8:
        raise fail(layer, f"input of type {q.dtype}", "the input is INT8", page)
    if layer.to_type not in FLOATS:
        raise fail(layer, f"output type {layer.to_type}", "FLOAT or HALF output", page)
    if datatype_of(xs[1]) != layer.to_type:
        raise fail(layer, f"scale of type {datatype_of(xs[1]).name} for {layer.to_type.name} "
                   "output", "strongly typed: the scale has the output's type", page)
    scale, _, axis = _qdq_params(layer, xs, const, q, page)
    y = q.astype(np.float32) * _along(scale.astype(np.float32), axis, q.ndim)
    return [y.astype(nptype(layer.to_type))]


def normalization(layer: Any, xs: Arrays, const: list[bool]) -> Arrays:
    """Normalization: Y = (X - mean) / sqrt(var + epsilon) * S + B over the ``axes`` bitmask.

    Page: ``Normalization`` and INormalizationLayer's docstring. Scale and bias have the
    input's rank and type and broadcast to it. With num_groups = G > 1 the channel dimension
    (1) is split into G groups and the statistics also run over each group's channels (group
    normalization); scale and bias stay per channel. Computed in float32 (the default
    ``compute_precision``).
    """
    page = op_page("Normalization")
    x, s, b = xs[0], xs[1], xs[2]
    dt = _same_type(layer, [x, s, b], page, "input, scale and bias")
    _floats_only(layer, dt, page)
    axes = _axes_from_mask(layer, layer.axes, x.ndim, page)
    _broadcast_equal_rank(layer, [x, s, b], page)
    v = x.astype(np.float32)
    g = int(layer.num_groups)
    if g > 1:
        if x.ndim < 3 or x.shape[1] % g or 1 in axes or 0 in axes:
            raise fail(layer, f"{g} groups of {x.shape[1]} channels, axes {axes}",
                       "channels divisible by num_groups; axes after the channel axis", page)
        grouped = v.reshape((x.shape[0], g, x.shape[1] // g) + x.shape[2:])
        red = tuple([2] + [a + 1 for a in axes])
        mean = grouped.mean(axis=red, keepdims=True)
        var = ((grouped - mean) ** 2).mean(axis=red, keepdims=True)
        norm = ((grouped - mean) / np.sqrt(var + layer.epsilon)).reshape(x.shape)
    else:
        mean = v.mean(axis=tuple(axes), keepdims=True)
        var = ((v - mean) ** 2).mean(axis=tuple(axes), keepdims=True)
        norm = (v - mean) / np.sqrt(var + layer.epsilon)
    return [(norm * s.astype(np.float32) + b.astype(np.float32)).astype(x.dtype)]


def lrn(layer: Any, xs: Arrays, const: list[bool]) -> Arrays:
    """LRN across channels (dimension rank-3): x / (k + alpha/window * sum x_j^2) ** beta.

    Page: ``LRN``. The page's formula writes the sum over j in [c - w, c + w] without
    dividing alpha by the window; the stand-in follows cuDNN's cross-channel LRN
    (cudnnSetLRNDescriptor / cudnnLRNCrossChannelForward in the cuDNN API reference:
    lrnN channels centred on c, lrnN // 2 each side, and lrnAlpha / lrnN), which TensorRT's
    ONNX parser relies on: onnx-tensorrt's ``DEFINE_BUILTIN_OP_IMPORTER(LRN)``
    (builtin_op_importers.cpp / onnxOpImporters.cpp) passes ONNX ``size``, ``alpha``,
    ``beta`` and ``bias`` to ``addLRN`` unchanged, and ONNX LRN divides alpha by size. Window
    in {1, 3, ..., 15}; FLOAT only (the page's Data Types: "T1: float32"; HALF is refused).
    """
    page = op_page("LRN")
    x = xs[0]
    if datatype_of(x) != DataType.FLOAT:
        raise fail(layer, f"input type {datatype_of(x).name}", "LRN takes FLOAT only", page)
    w = int(layer.window_size)
    if w not in range(1, 16, 2) or x.ndim < 3:
        raise fail(layer, f"window {w} on a rank-{x.ndim} input",
                   "window in {1, 3, ..., 15}; channels at dimension rank-3", page)
    ax = x.ndim - 3
    v = x.astype(np.float32)
    sq = np.moveaxis(v * v, ax, -1)
    half = w // 2
    padded = np.pad(sq, [(0, 0)] * (sq.ndim - 1) + [(half, half)])
    sums = sliding_window_view(padded, w, axis=-1).sum(-1)
    denom = np.moveaxis((layer.k + layer.alpha / w * sums) ** layer.beta, -1, ax)
    return [(v / denom).astype(x.dtype)]


def _axes_input(layer: Any, xs: Arrays, const: list[bool], rank: int, page: str) -> list[int]:
    axes = xs[1]
    if axes is None or axes.ndim != 1 or datatype_of(axes) not in INTEGERS or not const[1]:
        raise fail(layer, "axes input missing, not 1-D INT32/INT64 or not constant",
                   "axes are a 1-D INT32/INT64 build-time constant", page)
    out = sorted(int(a) + rank if a < 0 else int(a) for a in axes)
    if len(set(out)) != len(out) or any(not 0 <= a < rank for a in out):
        raise fail(layer, f"axes {list(axes)} for rank {rank}", "distinct axes within the rank",
                   page)
    return out


def squeeze(layer: Any, xs: Arrays, const: list[bool]) -> Arrays:
    """Squeeze: drop the listed dimensions, each of size 1. Page: ``Squeeze``."""
    page = op_page("Squeeze")
    x = xs[0]
    axes = _axes_input(layer, xs, const, x.ndim, page)
    if any(x.shape[a] != 1 for a in axes):
        raise fail(layer, f"squeezing axes {axes} of shape {x.shape}", "squeezed sizes are 1",
                   page)
    return [np.squeeze(x, axis=tuple(axes))]


def unsqueeze(layer: Any, xs: Arrays, const: list[bool]) -> Arrays:
    """Unsqueeze: insert size-1 dimensions at the listed output positions. Page: ``Unsqueeze``."""
    page = op_page("Unsqueeze")
    x = xs[0]
    axes = _axes_input(layer, xs, const, x.ndim + len(np.asarray(xs[1]).reshape(-1)), page)
    return [np.expand_dims(x, axis=tuple(axes))]
