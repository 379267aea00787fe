"""Caffe nets and weights the tests write themselves (shared by the proto and frontend tests,
and the Caffe import benchmark): a V1-format LeNet, the parameter blob shapes a deploy
prototxt implies, and seeded .caffemodel files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from google.protobuf import text_format

from compiler.frontends.caffe import proto as cp
from tests.conftest import model_path


def v1_lenet(tmp_path: Path, w: dict[str, list[np.ndarray]], batch: int) -> tuple[Path, Path]:
    """LeNet in the V1 format (``layers``, enum types, input/input_dim, 4-D legacy blobs)."""
    deploy = cp.read_prototxt(model_path("caffe/bvlc/mnist_lenet.prototxt"))
    v1_types = {v: k for k, v in cp.V1_TYPE_NAMES.items()}
    text_net, bin_net = cp.NetParameter(name="LeNet"), cp.NetParameter(name="LeNet")
    text_net.input.append("data")
    text_net.input_dim.extend([batch, 1, 28, 28])
    for l in deploy.layer:
        if l.type == "Input":
            continue
        kind = cp.V1LayerParameter.LayerType.Value(v1_types[l.type])
        v1 = text_net.layers.add(name=l.name, type=kind)
        v1.bottom.extend(l.bottom)
        v1.top.extend(l.top)
        for fd, value in l.ListFields():
            if fd.name.endswith("_param"):
                getattr(v1, fd.name).CopyFrom(value)
        if l.name in w:
            b1 = bin_net.layers.add(name=l.name, type=kind)
            for a in w[l.name]:
                dims = (1,) * (4 - a.ndim) + a.shape
                blob = b1.blobs.add(num=dims[0], channels=dims[1], height=dims[2], width=dims[3])
                blob.data.extend(a.ravel().tolist())
    proto, model = tmp_path / "v1.prototxt", tmp_path / "v1.caffemodel"
    proto.write_text(text_format.MessageToString(text_net))
    cp.write_caffemodel(bin_net, model)
    return proto, model


# ---------------------------------------------------------------------------------------
# Shape propagation over a deploy prototxt: the parameter blob shapes each layer must have.


def _pair(values, single_h, single_w, default):
    """Caffe's rule for kernel/pad/stride: *_h/*_w if set, else the repeated value."""
    if single_h is not None:
        return single_h, single_w
    if len(values) == 0:
        return default, default
    if len(values) == 1:
        return values[0], values[0]
    return values[0], values[1]


def conv_geometry(p):
    kh, kw = _pair(list(p.kernel_size), p.kernel_h if p.HasField("kernel_h") else None,
                   p.kernel_w if p.HasField("kernel_w") else None, None)
    ph, pw = _pair(list(p.pad), p.pad_h if p.HasField("pad_h") else None,
                   p.pad_w if p.HasField("pad_w") else None, 0)
    sh, sw = _pair(list(p.stride), p.stride_h if p.HasField("stride_h") else None,
                   p.stride_w if p.HasField("stride_w") else None, 1)
    dh, dw = _pair(list(p.dilation), None, None, 1)
    return (kh, kw), (ph, pw), (sh, sw), (dh, dw)


def pool_geometry(p, h, w):
    if p.global_pooling:
        return (h, w), (0, 0), (1, 1)
    kh = p.kernel_h if p.HasField("kernel_h") else p.kernel_size
    kw = p.kernel_w if p.HasField("kernel_w") else p.kernel_size
    ph = p.pad_h if p.HasField("pad_h") else p.pad
    pw = p.pad_w if p.HasField("pad_w") else p.pad
    sh = p.stride_h if p.HasField("stride_h") else p.stride
    sw = p.stride_w if p.HasField("stride_w") else p.stride
    return (kh, kw), (ph, pw), (sh, sw)


def pool_out(size, k, pad, stride, ceil=True):
    # Caffe's PoolingLayer::Reshape: ceil by default, then drop a window starting in padding.
    rnd = math.ceil if ceil else math.floor
    out = int(rnd((size + 2 * pad - k) / stride)) + 1
    if pad > 0 and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def param_shapes(net) -> dict[str, list[tuple[int, ...]]]:
    """Layer name -> the shapes of its learnable blobs, from the deploy prototxt alone."""
    shapes: dict[str, tuple[int, ...]] = {}
    out: dict[str, list[tuple[int, ...]]] = {}
    for layer in net.layer:
        t = layer.type
        if t == "Input":
            for top, s in zip(layer.top, layer.input_param.shape):
                shapes[top] = tuple(s.dim)
            continue
        x = shapes[layer.bottom[0]]
        if t == "Convolution":
            p = layer.convolution_param
            (kh, kw), (ph, pw), (sh, sw), (dh, dw) = conv_geometry(p)
            n, c, h, w = x
            oh = (h + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1
            ow = (w + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1
            y = (n, p.num_output, oh, ow)
            out[layer.name] = [(p.num_output, c // p.group, kh, kw)]
            if p.bias_term:
                out[layer.name].append((p.num_output,))
        elif t == "Pooling":
            p = layer.pooling_param
            n, c, h, w = x
            (kh, kw), (ph, pw), (sh, sw) = pool_geometry(p, h, w)
            ceil = p.round_mode == cp.PoolingParameter.CEIL
            y = (n, c, pool_out(h, kh, ph, sh, ceil), pool_out(w, kw, pw, sw, ceil))
        elif t == "InnerProduct":
            p = layer.inner_product_param
            k = int(np.prod(x[p.axis:]))
            y = x[: p.axis] + (p.num_output,)
            out[layer.name] = [(p.num_output, k)]
            if p.bias_term:
                out[layer.name].append((p.num_output,))
        elif t == "Concat":
            axis = layer.concat_param.axis
            parts = [shapes[b] for b in layer.bottom]
            y = parts[0][:axis] + (sum(s[axis] for s in parts),) + parts[0][axis + 1:]
        elif t == "BatchNorm":
            y = x
            out[layer.name] = [(x[1],), (x[1],), (1,)]
        elif t == "Scale":
            y = x
            out[layer.name] = [(x[1],)] + ([(x[1],)] if layer.scale_param.bias_term else [])
        elif t in ("ReLU", "Sigmoid", "TanH", "Dropout", "LRN", "Softmax", "Eltwise"):
            y = x
        else:
            raise AssertionError(f"test shape propagation does not know layer type {t}")
        for top in layer.top:
            shapes[top] = y
    return out


# ---------------------------------------------------------------------------------------
# Seeded weights.


def seeded_caffemodel(prototxt: Path, out: Path, seed: int) -> dict[str, list[np.ndarray]]:
    """Write a .caffemodel with N(0, 1/fan_in) weights and N(0, 0.1) biases for every
    learnable layer of ``prototxt``; returns the arrays written, by layer name."""
    deploy = cp.read_prototxt(prototxt)
    rng = np.random.default_rng(seed)
    net = cp.NetParameter(name=deploy.name)
    weights: dict[str, list[np.ndarray]] = {}
    for name, shapes in param_shapes(deploy).items():
        w = rng.standard_normal(shapes[0]) / math.sqrt(np.prod(shapes[0][1:]))
        arrays = [w.astype(np.float32)]
        arrays += [(0.1 * rng.standard_normal(s)).astype(np.float32) for s in shapes[1:]]
        layer = net.layer.add(name=name, type=next(l.type for l in deploy.layer if l.name == name))
        layer.blobs.extend(cp.array_to_blob(a) for a in arrays)
        weights[name] = arrays
    cp.write_caffemodel(net, out)
    return weights
