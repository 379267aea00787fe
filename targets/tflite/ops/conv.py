"""Convolutions, pooling and the other spatial (NHWC) ops of the TFLite target.

Contract:

* conv (group 1 -> ``CONV_2D``, weights OIHW -> OHWI; group = C_in -> ``DEPTHWISE_CONV_2D``,
  weights (C*M,1,H,W) -> (1,H,W,C*M)); pads equal to TFLite SAME -> ``SAME``, zero pads ->
  ``VALID``, other (non-negative) pads -> a ``PAD`` op and ``VALID``; a missing bias is
  written as zeros. A zero ``pad`` node folded by :func:`targets.tflite.peepholes.fold_pad`
  is read here as ``SAME`` padding.
* 1-D ``conv`` (NCL, weight [O, C/group, K]; group 1 or depthwise) -> ``CONV_2D`` /
  ``DEPTHWISE_CONV_2D`` over [N, 1, L, C]: the input is read in order NLC (its stored order
  when the producer is another 1-D conv, else one ``TRANSPOSE``) and a ``RESHAPE`` adds the
  unit H axis; the result is stored in order NLC. Pads equal to TFLite SAME -> ``SAME``,
  other pads -> ``PAD`` + ``VALID``.
* max_pool/avg_pool -> ``MAX_POOL_2D``/``AVERAGE_POOL_2D`` where the padding semantics match
  (TFLite SAME never counts padding: avg_pool with ``count_include_pad=1`` and pads becomes
  ``PAD`` + ``VALID``; max_pool with centred pads of at most (k-1)//2 a side, or a ceil_mode
  output, becomes ``PADV2`` with the lowest float32 + ``VALID``; other pads are refused).
* conv_transpose (group 1, no dilation) -> ``TRANSPOSE_CONV`` (+ ``SLICE`` for crops TFLite's
  SAME cannot express); resize (nearest/linear, coordinate modes TFLite's
  align_corners/half_pixel_centers express) -> ``RESIZE_*``; depth_to_space (DCR) ->
  ``DEPTH_TO_SPACE``.
* The data input is read in NHWC order (:data:`targets.tflite.layout.NHWC_OPS`) and the
  result is stored NHWC.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from compiler.ir.graph import Node, Value

from .. import peepholes
from ..context import EmitContext
from ..errors import Unsupported
from ..layout import TO_NHWC, permute, same_pads
from ..registry import lowering
from ..writer import op_version


def spatial(node: Node, attrs: dict, kernel: Sequence[int]) -> tuple:
    """(sizes, strides, dilations, begin pads, end pads, mode) of a 2-D window op; mode is
    ``VALID`` (no pads), ``SAME`` (TFLite's) or ``EXPLICIT``."""
    from compiler.ops.nn import pool_geometry

    x = node.inputs[0]
    if x.type.rank != 4:
        raise Unsupported(f"input %{x.name} has rank {x.type.rank}; only 2-D (NCHW) "
                          "windows are supported")
    sizes = x.type.shape[2:]
    if not all(isinstance(d, int) for d in sizes):
        raise Unsupported(f"spatial dims {list(sizes)} of %{x.name} must be static")
    strides = [int(s) for s in (attrs.get("strides") or [1, 1])]
    dils = [int(d) for d in (attrs.get("dilations") or [1, 1])]
    _, begins, ends = pool_geometry(node.op, sizes, kernel, attrs,
                                    bool(attrs.get("ceil_mode", 0)))
    if any(p < 0 for p in begins + ends):
        raise Unsupported(f"negative pads {begins + ends} are not supported")
    sb, se = same_pads(sizes, kernel, strides, dils)
    if not any(begins + ends):
        mode = "VALID"
    elif begins == sb and ends == se:
        mode = "SAME"
    else:
        mode = "EXPLICIT"
    return sizes, strides, dils, begins, ends, mode


def check_out_size(node: Node, sizes, kernel, strides, dils, mode) -> None:
    """Refuse ``node`` when TFLite's ``mode`` padding gives another output size."""
    want = node.outputs[0].type.shape[2:]
    for n, k, s, d, o in zip(sizes, kernel, strides, dils, want):
        got = -(-n // s) if mode == "SAME" else (n - (k - 1) * d - 1) // s + 1
        if isinstance(o, int) and got != o:
            raise Unsupported(f"output size {list(want)} differs from what TFLite's "
                              f"{mode} padding gives (ceil_mode?)")


def pad_nhwc(ctx: EmitContext, x: Value, begins, ends, name: str, value: float = 0.0) -> int:
    """``x`` stored NHWC with its spatial axes padded by ``value`` (``PAD`` / ``PADV2``)."""
    src = ctx.nhwc(x)
    shape = list(x.type.shape)
    for i in range(2):
        if isinstance(shape[2 + i], int):
            shape[2 + i] += begins[i] + ends[i]
    out = ctx.tmp(name + "_pad", permute(shape, TO_NHWC))
    pads = [[0, 0], [begins[0], ends[0]], [begins[1], ends[1]], [0, 0]]
    if value == 0.0:
        ctx.w.add_operator("PAD", [src, ctx.i32("paddings", pads)], [out])
    else:
        fill = ctx.w.add_const(name + "_pad_value", np.asarray([value], np.float32))
        ctx.w.add_operator("PADV2", [src, ctx.i32("paddings", pads), fill], [out])
    return out


@lowering("conv")
def lower_conv(ctx: EmitContext, node: Node, attrs: dict) -> None:
    x, wv = node.inputs[0], node.inputs[1]
    b = node.input(2)
    w = ctx.weight(wv, "the conv weight")
    if w.ndim == 3 and x.type.rank == 3:
        return conv1d(ctx, node, attrs, w)
    if w.ndim != 4:
        raise Unsupported(f"weight rank {w.ndim}: only 2-D convolutions are supported")
    kernel = list(w.shape[2:])
    sizes, strides, dils, begins, ends, mode = spatial(node, attrs, kernel)
    cin = x.type.shape[1]
    if not isinstance(cin, int):
        raise Unsupported("the input channel count must be static")
    group = int(attrs.get("group", 1))
    o = w.shape[0]
    if group == 1:
        opname, wperm = "CONV_2D", (0, 2, 3, 1)
    elif group == cin and w.shape[1] == 1:
        opname, wperm = "DEPTHWISE_CONV_2D", (1, 2, 3, 0)
    else:
        raise Unsupported(f"grouped conv with group={group} (C_in={cin}) is neither plain "
                          "nor depthwise")
    bias = np.zeros(o, np.float32) if b is None else ctx.weight(b, "the conv bias")
    folded = peepholes.folded_pad(ctx, x)
    if folded is not None:  # a zero pad equal to TFLite SAME (checked by fold_pad)
        src, sizes = folded
        mode = "SAME"
    else:
        src = ctx.nhwc(x)
    if mode == "EXPLICIT":
        src = pad_nhwc(ctx, x, begins, ends, node.outputs[0].name)
        sizes = [n + bb + e for n, bb, e in zip(sizes, begins, ends)]
        mode = "VALID"
    check_out_size(node, sizes, kernel, strides, dils, mode)
    fused, out, post = ctx.act(node.outputs[0], attrs.get("activation", ""), TO_NHWC)
    base = wv.name
    w_idx = ctx.weight_const(wv, base + ("_ohwi" if group == 1 else "_1hwc"),
                             w.transpose(wperm), wperm, consumer=opname)
    b_idx = ctx.float_const((b.name if b is not None else base + "_bias"),
                            bias.reshape(-1))
    common = {"padding": 0 if mode == "SAME" else 1, "strideH": strides[0],
              "strideW": strides[1], "dilationHFactor": dils[0], "dilationWFactor": dils[1],
              "fusedActivationFunction": fused}
    if opname == "CONV_2D":
        opts = ctx.w.options("Conv2D", **common)
        version = op_version("CONV_2D")
    else:
        opts = ctx.w.options("DepthwiseConv2D", depthMultiplier=o // cin, **common)
        version = op_version("DEPTHWISE_CONV_2D", dilated=dils != [1, 1])
    ctx.w.add_operator(opname, [src, w_idx, b_idx], [out], opts, version=version)
    post()


def pool(ctx: EmitContext, node: Node, attrs: dict, opname: str) -> None:
    """``MAX_POOL_2D`` / ``AVERAGE_POOL_2D`` (``opname``) with the padding rules of the
    module doc."""
    x = node.inputs[0]
    kernel = [int(k) for k in attrs["kernel_shape"]]
    if len(kernel) != 2:
        raise Unsupported(f"kernel_shape {kernel}: only 2-D pooling is supported")
    if any(int(d) != 1 for d in (attrs.get("dilations") or [1, 1])):
        raise Unsupported("dilated pooling has no TFLite form")
    if int(attrs.get("storage_order", 0) or 0) != 0:
        raise Unsupported("storage_order=1 is not supported")
    sizes, strides, _, begins, ends, mode = spatial(node, attrs, kernel)
    src = ctx.nhwc(x)
    include_pad = opname == "AVERAGE_POOL_2D" and int(attrs.get("count_include_pad", 0))
    if mode != "VALID" and include_pad:
        # TFLite never counts padding; explicit zero padding makes every window full
        src = pad_nhwc(ctx, x, begins, ends, node.outputs[0].name)
        sizes = [n + bb + e for n, bb, e in zip(sizes, begins, ends)]
        mode = "VALID"
    elif opname == "MAX_POOL_2D" and all(
            b <= (k - 1) // 2 and e <= (k - 1) // 2
            for b, e, k in zip(begins, ends, kernel)) and (
            mode == "EXPLICIT" or pool_size_differs(node, sizes, kernel, strides,
                                                    mode)):
        # padding with the lowest float never wins a max, so centred explicit pads (up
        # to (k - 1) // 2 a side, as torch's padding=k//2 and Caffe give) and the extra
        # end padding a ceil_mode window reaches into become PADV2 + VALID. Wider pads
        # stay refused (windows could then be mostly padding; not needed so far).
        outs = node.outputs[0].type.shape[2:]
        if not all(isinstance(o, int) for o in outs):
            raise Unsupported("max_pool with explicit pads needs static output dims")
        ends = [max(0, (o - 1) * s + k - n - b)
                for o, s, k, n, b in zip(outs, strides, kernel, sizes, begins)]
        src = pad_nhwc(ctx, x, begins, ends, node.outputs[0].name,
                       value=float(np.finfo(np.float32).min))
        sizes = [n + bb + e for n, bb, e in zip(sizes, begins, ends)]
        mode = "VALID"
    elif mode == "EXPLICIT":
        raise Unsupported(f"pads {begins + ends} are neither zero nor TFLite SAME, and "
                          "TFLite pooling cannot express other padding")
    check_out_size(node, sizes, kernel, strides, [1, 1], mode)
    opts = ctx.w.options("Pool2D", padding=0 if mode == "SAME" else 1, strideH=strides[0],
                         strideW=strides[1], filterHeight=kernel[0], filterWidth=kernel[1])
    ctx.w.add_operator(opname, [src], [ctx.out(node.outputs[0], TO_NHWC)], opts)


def pool_size_differs(node: Node, sizes, kernel, strides, mode) -> bool:
    try:
        check_out_size(node, sizes, kernel, strides, [1, 1], mode)
    except Unsupported:
        return True
    return False


@lowering("max_pool")
def lower_max_pool(ctx: EmitContext, node: Node, attrs: dict) -> None:
    if len(node.outputs) > 1 and node.outputs[1].has_uses:
        raise Unsupported("the Indices output has no TFLite form")
    pool(ctx, node, attrs, "MAX_POOL_2D")


@lowering("avg_pool")
def lower_avg_pool(ctx: EmitContext, node: Node, attrs: dict) -> None:
    pool(ctx, node, attrs, "AVERAGE_POOL_2D")


@lowering("conv_transpose")
def lower_conv_transpose(ctx: EmitContext, node: Node, attrs: dict) -> None:
    x, y = node.inputs[0], node.outputs[0]
    w = ctx.weight(node.inputs[1], "the conv_transpose weight")
    if w.ndim != 4 or x.type.rank != 4:
        raise Unsupported("only 2-D transposed convolutions are supported")
    if int(attrs.get("group", 1)) != 1:
        raise Unsupported("grouped conv_transpose has no TFLite form")
    if any(int(d) != 1 for d in (attrs.get("dilations") or [1, 1])):
        raise Unsupported("dilated conv_transpose has no TFLite form")
    kernel = list(w.shape[2:])
    strides = [int(s) for s in (attrs.get("strides") or [1, 1])]
    sizes, outs = list(x.type.shape[2:]), list(y.type.shape[2:])
    if not all(isinstance(d, int) for d in sizes + outs):
        raise Unsupported("spatial dims must be static")
    pads = [int(p) for p in (attrs.get("pads") or [0, 0, 0, 0])]
    if any(p < 0 for p in pads):
        raise Unsupported(f"negative pads {pads} are not supported")
    full = [(n - 1) * s + k for n, s, k in zip(sizes, strides, kernel)]
    begins = pads[:2]
    n, o = y.type.shape[0], w.shape[1]
    if all(f >= q and (f - q) // 2 == b for f, q, b in zip(full, outs, begins)):
        mode, tshape, crop = 0, outs, False  # TFLite SAME crops (full - out) // 2 first
    elif all(b + q <= f for f, q, b in zip(full, outs, begins)):
        mode, tshape, crop = 1, full, any(b or f != q for f, q, b in zip(full, outs, begins))
    else:
        raise Unsupported(f"output size {outs} (output_padding?) lies beyond the "
                          "transposed convolution's extent")
    b = node.input(2)
    bias = np.zeros(o, np.float32) if b is None else ctx.weight(b, "the bias")
    fused, out, post = ctx.act(y, attrs.get("activation", ""), TO_NHWC, fusable=False)
    nn = n if isinstance(n, int) else 1
    dst = ctx.tmp(y.name + "_full", [n, *tshape, o]) if crop else out
    ins = [ctx.i32("output_shape", [nn, *tshape, o]),
           ctx.weight_const(node.inputs[1], node.inputs[1].name + "_ohwi",
                            w.transpose(1, 2, 3, 0), (1, 2, 3, 0)),
           ctx.nhwc(x), ctx.float_const(y.name + "_bias", bias.reshape(-1))]
    opts = ctx.w.options("TransposeConv", padding=mode, strideH=strides[0],
                         strideW=strides[1])
    ctx.w.add_operator("TRANSPOSE_CONV", ins, [dst], opts,
                       version=op_version("TRANSPOSE_CONV", with_bias=True))
    if crop:
        ctx.w.add_operator("SLICE", [dst, ctx.i32("begin", [0, *begins, 0]),
                                     ctx.i32("size", [-1, *outs, o])], [out])
    post()


@lowering("resize")
def lower_resize(ctx: EmitContext, node: Node, attrs: dict) -> None:
    x, y = node.inputs[0], node.outputs[0]
    if x.type.rank != 4:
        raise Unsupported("only rank-4 (NCHW) resize is supported")
    xs, ys = x.type.shape, y.type.shape
    if xs[:2] != ys[:2] and not (xs[0] == ys[0] and xs[1] == ys[1]):
        raise Unsupported("only the spatial axes (H, W) may be resized")
    outs = list(ys[2:])
    if not all(isinstance(d, int) for d in outs):
        raise Unsupported("the output size must be static")
    mode, ct = attrs["mode"], attrs["coordinate_transformation_mode"]
    nm = attrs["nearest_mode"]
    if int(attrs.get("antialias", 0)):
        raise Unsupported("antialias has no TFLite form")
    if mode == "linear":
        table = {"align_corners": (True, False), "half_pixel": (False, True),
                 "asymmetric": (False, False)}
        if ct == "pytorch_half_pixel" and all(d > 1 for d in outs):
            ct = "half_pixel"
        opname, kind = "RESIZE_BILINEAR", "ResizeBilinear"
    elif mode == "nearest":
        # TFLite: asymmetric floor; align_corners rounds; half_pixel_centers floors
        # (x + 0.5) * scale, which is ONNX tf_half_pixel_for_nn + floor and
        # half_pixel + round_prefer_ceil
        table = {("asymmetric", "floor"): (False, False),
                 ("align_corners", "round_prefer_ceil"): (True, False),
                 ("tf_half_pixel_for_nn", "floor"): (False, True),
                 ("half_pixel", "round_prefer_ceil"): (False, True)}
        ct = (ct, nm)
        opname, kind = "RESIZE_NEAREST_NEIGHBOR", "ResizeNearestNeighbor"
    else:
        raise Unsupported(f"mode {mode!r} has no TFLite form")
    if ct not in table:
        raise Unsupported(f"coordinate_transformation_mode/nearest_mode {ct} has no "
                          "TFLite form")
    ac, hp = table[ct]
    opts = ctx.w.options(kind, alignCorners=ac, halfPixelCenters=hp)
    ctx.w.add_operator(opname, [ctx.nhwc(x), ctx.i32("size", outs)],
                       [ctx.out(y, TO_NHWC)], opts,
                       version=op_version(opname, half_pixel=hp))


@lowering("depth_to_space")
def lower_depth_to_space(ctx: EmitContext, node: Node, attrs: dict) -> None:
    if attrs.get("mode", "DCR") != "DCR":
        raise Unsupported("only DCR depth_to_space matches TFLite's DEPTH_TO_SPACE")
    opts = ctx.w.options("DepthToSpace", blockSize=int(attrs["blocksize"]))
    ctx.w.add_operator("DEPTH_TO_SPACE", [ctx.nhwc(node.inputs[0])],
                       [ctx.out(node.outputs[0], TO_NHWC)], opts)


def conv1d(ctx: EmitContext, node: Node, attrs: dict, w: np.ndarray) -> None:
    """A 1-D conv (weight ``w`` [O, C/group, K]) as a 2-D one over [N, 1, L, C]."""
    x, y = node.inputs[0], node.outputs[0]
    n, cin, length = x.type.shape
    out_len = y.type.shape[2]
    if not isinstance(cin, int) or not isinstance(length, int) or \
            not isinstance(out_len, int):
        raise Unsupported("1-D conv needs static channel and length dims")
    if (attrs.get("auto_pad") or "NOTSET") not in ("NOTSET", "VALID"):
        raise Unsupported(f"auto_pad={attrs.get('auto_pad')!r} is not supported")
    k = w.shape[2]
    stride = int((attrs.get("strides") or [1])[0])
    dil = int((attrs.get("dilations") or [1])[0])
    pads = [int(p) for p in (attrs.get("pads") or [0, 0])]
    if any(p < 0 for p in pads):
        raise Unsupported(f"negative pads {pads} are not supported")
    group, o = int(attrs.get("group", 1)), w.shape[0]
    if group == 1:
        opname, wt = "CONV_2D", w.transpose(0, 2, 1)[:, None, :, :]  # O,1,K,C
    elif group == cin and w.shape[1] == 1:
        opname, wt = "DEPTHWISE_CONV_2D", w[:, 0, :].T.reshape(1, 1, k, o)
    else:
        raise Unsupported(f"grouped 1-D conv with group={group} is neither plain nor depthwise")
    b = node.input(2)
    bias = np.zeros(o, np.float32) if b is None else ctx.weight(b, "the conv bias")
    nn = n if isinstance(n, int) else -1
    src4 = ctx.tmp(x.name + "_n1lc", [n, 1, length, cin])
    ctx.reshape_known(ctx.as_perm(x, (0, 2, 1)), src4, [nn, 1, length, cin])
    (sb,), (se,) = same_pads([length], [k], [stride], [dil])
    if not any(pads):
        mode = "VALID"
    elif pads == [sb, se]:
        mode = "SAME"
    else:
        padded = ctx.tmp(x.name + "_pad", [n, 1, length + sum(pads), cin])
        ctx.w.add_operator("PAD", [src4, ctx.i32("paddings",
                                                 [[0, 0], [0, 0], pads, [0, 0]])],
                           [padded])
        src4, mode = padded, "VALID"
    fused, out, post = ctx.act(y, attrs.get("activation", ""), (0, 2, 1))
    res4 = ctx.tmp(y.name + "_n1lc", [n, 1, out_len, o])
    common = {"padding": 0 if mode == "SAME" else 1, "strideH": 1, "strideW": stride,
              "dilationHFactor": 1, "dilationWFactor": dil, "fusedActivationFunction": fused}
    wname = node.inputs[1].name
    if opname == "CONV_2D":
        opts, version = ctx.w.options("Conv2D", **common), op_version("CONV_2D")
    else:
        opts = ctx.w.options("DepthwiseConv2D", depthMultiplier=o // cin, **common)
        version = op_version("DEPTHWISE_CONV_2D", dilated=dil != 1)
    ins = [src4, ctx.float_const(wname + ("_ohwi" if group == 1 else "_1hwc"), wt),
           ctx.float_const(b.name if b is not None else wname + "_bias",
                           bias.reshape(-1))]
    ctx.w.add_operator(opname, ins, [res4], opts, version=version)
    ctx.reshape_known(res4, out, [nn, out_len, o])
    post()
