"""Caffe frontend: a ``.prototxt`` network plus its ``.caffemodel`` weights -> an IR Graph.

Contract of :func:`load_caffe`:

* The network comes from the prototxt; weights are matched to its layers by layer name
  (as Caffe's ``CopyTrainedLayersFrom`` does), so the caffemodel may hold other layers too.
  Both the current format (``layer``) and the deprecated V1 format (``layers``, enum layer
  types) are read, for the prototxt and the caffemodel independently.
* Only layers active in the TEST phase are kept (``include``/``exclude`` rules). Loss,
  Accuracy and Silence layers are dropped; Dropout is the identity at test time and Split
  gives all its tops the same value, so neither makes a node.
* Graph inputs: the tops of ``Input`` layers, the legacy net-level ``input`` fields
  (``input_shape`` or ``input_dim``), ``MemoryData`` layers and the first top of other data
  layers (whose shape must come from ``input_shapes``). ``input_shapes`` overrides any
  declared shape. All values are f32.
* Graph outputs are Caffe's: the blobs no later layer reads.
* SSA: Caffe layers often write their result into their input blob (``top == bottom``).
  Each layer's result is a new IR value, named after the top blob the first time a blob
  name is written and after the layer otherwise (so ``bn_1`` writing into blob ``conv_1``
  gives the value ``%bn_1``; OpenCV names layer outputs the same way). Helper values inside
  one layer's lowering are named ``<layer>/<op>``. Every node has ``source == (layer name,)``,
  except one: a per-channel Scale whose input is a BatchNorm result read by nothing else
  becomes that BatchNorm's gamma/beta (Caffe's BatchNorm + Scale idiom), giving ONE
  ``batch_norm`` named after the Scale with ``source == (bn layer, scale layer)``, which
  fuse-batchnorm folds into the preceding conv.
* Before anything is built, every layer without a ``type`` or whose bottom/top counts do
  not fit its lowering (``_lowers(..., bottoms=, tops=)``) is reported at once in
  :class:`CaffeImportError`; then every unsupported layer type (or unsupported setting,
  such as ``Pooling(pool=STOCHASTIC)``) is collected with all its layer names and reported
  at once in :class:`~compiler.errors.UnsupportedOpsError`; then every learnable layer without
  weights is reported at once in :class:`~compiler.errors.ModelLoadError`.
* Semantics follow Caffe's CPU kernels: pooling rounds the output size up by default
  (``round_mode``), drops a last window that would start in the padding, and AVE pooling
  divides by the window clipped to the padded input; BatchNorm divides its stored mean and
  variance by the stored moving-average factor (0 counts as 0).
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InferccError, ModelLoadError, UnsupportedOpsError, join_names
from ...ir.graph import Graph, Value
from ...ir.types import UNKNOWN_DIM, DType, TensorType
from ...ops.registry import SchemaError
from .reader import Layer, active_at_test, layer_blobs, net_layers, read_net

log = logging.getLogger(__name__)

F32 = DType.F32

# Caffe layer type -> how it lowers (docs/frontends.md's op table): filled by the layer
# lowerings' registrations below, plus the layers dropped from the inference graph.
SUPPORTED_OPS: dict[str, str] = {}
# Layers that compute nothing at test time (losses, accuracy, silence) -> note.
_DROPPED_NOTES = {
    "Silence": "dropped",
    "Accuracy": "dropped (training/evaluation only)",
    "SoftmaxWithLoss": "dropped (training only)",
    "EuclideanLoss": "dropped (training only)",
    "SigmoidCrossEntropyLoss": "dropped (training only)",
    "HingeLoss": "dropped (training only)",
    "InfogainLoss": "dropped (training only)",
    "MultinomialLogisticLoss": "dropped (training only)",
    "ContrastiveLoss": "dropped (training only)",
}
_DATA_LAYERS = {"Data", "ImageData", "HDF5Data", "WindowData", "MemoryData"}
_DROPPED = set(_DROPPED_NOTES)
SUPPORTED_OPS.update(_DROPPED_NOTES)
# Layer type -> how many parameter blobs it has (with and without its optional bias).
_LEARNABLE = {"Convolution", "Deconvolution", "InnerProduct", "BatchNorm", "Scale", "Bias", "PReLU"}


class CaffeImportError(ModelLoadError):
    """The model is readable but a layer, blob or field cannot be lowered into the IR."""


# -- support checks --------------------------------------------------------------------------


def _unsupported_setting(layer: Layer) -> str | None:
    """A key such as ``Pooling(pool=STOCHASTIC)`` when this layer's settings cannot lower."""
    from . import proto as cp

    t = layer.type
    if t == "Pooling":
        p = layer.param("pooling_param")
        if p.pool == cp.PoolingParameter.STOCHASTIC:
            return "Pooling(pool=STOCHASTIC)"
    if t in ("Convolution", "Deconvolution") and layer.param("convolution_param").axis not in (1, -3):
        return f"{t}(axis!=1)"
    return None


def unsupported_layers(layers: Sequence[Layer]) -> dict[str, list[str]]:
    """Layer types (or type settings) infercc cannot lower, with the layers using them."""
    found: dict[str, list[str]] = {}
    for layer in layers:
        key = layer.type if layer.type not in SUPPORTED_OPS else _unsupported_setting(layer)
        if key:
            found.setdefault(key, []).append(layer.name)
    return found


def _needs_blobs(layer: Layer) -> bool:
    if layer.type not in _LEARNABLE:
        return False
    # Scale/Bias with a second bottom read their parameter from it
    return not (layer.type in ("Scale", "Bias") and len(layer.bottom) > 1)


# -- entry -----------------------------------------------------------------------------------


def load_caffe(
    prototxt: Any,
    caffemodel: Any = None,
    *,
    input_shapes: Mapping[str, Sequence[Any]] | None = None,
    name: str | None = None,
    placeholder_weights: bool = False,
) -> Graph:
    """Lower a Caffe network (``.prototxt`` path or NetParameter) with its weights
    (``.caffemodel`` path or NetParameter) into an IR graph.

    ``input_shapes`` maps input blob names to shapes that replace the declared ones (ints,
    symbol names, or None/-1/"?" for unknown dims). ``caffemodel`` may be omitted only for
    nets without learnable layers, unless ``placeholder_weights``: then every parameter blob
    the caffemodel does not give is ones of the shape the prototxt implies (structure,
    shapes, parameter counts and FLOPs are right; the values are not), and
    ``graph.metadata["weights"]`` is ``"none"``. ``name`` names the graph (default: the
    net's name).
    """
    net, label = read_net(prototxt, "prototxt")
    layers = [l for l in net_layers(net) if active_at_test(l)]
    for i, l in enumerate(layers):
        l.index_in_net = i
    malformed = malformed_layers(layers)
    if malformed:
        raise CaffeImportError(
            f"{label}: {len(malformed)} layer(s) cannot be read as written: "
            f"{'; '.join(malformed[:8])}{'; ...' if len(malformed) > 8 else ''}; fix their "
            "type/bottom/top fields in the prototxt "
            "(see compiler.frontends.caffe.SUPPORTED_OPS for what each layer type takes)")
    missing = unsupported_layers(layers)
    if missing:
        raise UnsupportedOpsError(
            label, missing,
            "See compiler.frontends.caffe.SUPPORTED_OPS (docs/frontends.md) for the "
            "Caffe layers infercc reads; convert the others before importing.")
    weights: dict[str, list[np.ndarray]] = {}
    model_label = "<no caffemodel>"
    if caffemodel is not None:
        model, model_label = read_net(caffemodel, "caffemodel")
        weights = layer_blobs(model, model_label)
    no_blobs = [l.name for l in layers if _needs_blobs(l) and l.name not in weights]
    if no_blobs and not placeholder_weights:
        if caffemodel is None:
            raise ModelLoadError(
                f"{label}: no caffemodel given, but {len(no_blobs)} learnable layer(s) need "
                f"weights: {join_names(no_blobs)}; pass the matching .caffemodel")
        raise ModelLoadError(
            f"{model_label}: holds no weights for {len(no_blobs)} learnable layer(s) of "
            f"{label}: {join_names(no_blobs)}; the caffemodel does not belong to this "
            "prototxt (Caffe matches weights to layers by layer name)")
    builder = _Builder(net, label, weights, dict(input_shapes or {}))
    builder.placeholder = placeholder_weights
    graph = builder.build(name or net.name or Path(label).stem or "main", layers)
    graph.metadata["source_format"] = "caffe"
    if placeholder_weights and no_blobs:
        graph.metadata["weights"] = "none"
    return graph


# -- building --------------------------------------------------------------------------------


@dataclass
class _Builder:
    net: Any
    label: str
    weights: dict[str, list[np.ndarray]]
    input_shapes: dict[str, Sequence[Any]]
    graph: Graph = field(default_factory=Graph)
    blobs: dict[str, Value] = field(default_factory=dict)  # blob name -> current value
    written: set[str] = field(default_factory=set)  # blob names written so far
    layer: Layer | None = None
    layers: list[Layer] = field(default_factory=list)
    _out_names: list[str] = field(default_factory=list)
    placeholder: bool = False  # load_caffe's placeholder_weights

    # -- helpers used by layer lowerings --------------------------------------------------
    def where(self) -> str:
        assert self.layer is not None
        return f"{self.label}: layer '{self.layer.name}' ({self.layer.type})"

    def fail(self, msg: str) -> InferccError:
        return CaffeImportError(f"{self.where()}: {msg}")

    def const(self, value: Any, hint: str, dtype: Any = np.float32) -> Value:
        arr = np.asarray(value, dtype=dtype)
        return self.graph.add_const(arr, f"{self.layer.name}/{hint}", source=(self.layer.name,))

    def node(self, op: str, inputs: Sequence[Value | None], attrs: dict | None = None,
             *, out: int | None = None, num_outputs: int | None = None) -> Value | list[Value]:
        """Add a node of the current layer. ``out=i`` names its result after top ``i``;
        otherwise the result is a helper value ``<layer>/<op>``."""
        if num_outputs is not None:
            names = self._out_names[:num_outputs]
        elif out is not None:
            names = [self._out_names[out]]
        else:
            names = [f"{self.layer.name}/{op}"]  # add_node makes it unique
        try:
            n = self.graph.add_node(op, list(inputs), attrs or {}, names=names,
                                    num_outputs=num_outputs, source=(self.layer.name,))
        except SchemaError as e:  # shape inference rejected what the layer describes
            shapes = ", ".join("_" if v is None else str(v.type) for v in inputs)
            raise self.fail(f"cannot lower to {op} on inputs ({shapes}): {e}") from None
        return n.outputs if num_outputs is not None else n.output

    def blob(self, i: int, expect: Sequence[int] | None = None, what: str = "") -> np.ndarray:
        """Parameter blob ``i`` of the current layer, reshaped to ``expect`` when given."""
        if self.placeholder and self.layer.name not in self.weights and expect is not None:
            # ones without the memory (load_caffe's placeholder_weights)
            return np.broadcast_to(np.float32(1), tuple(int(d) for d in expect))
        blobs = self.weights.get(self.layer.name, [])
        if i >= len(blobs):
            raise self.fail(f"needs parameter blob {i} ({what}) but the caffemodel holds "
                            f"{len(blobs)} blob(s) for it")
        a = blobs[i]
        if expect is not None:
            expect = tuple(int(d) for d in expect)
            if a.size != int(np.prod(expect, dtype=np.int64)):
                raise self.fail(f"blob {i} ({what}) has shape {list(a.shape)} but the layer "
                                f"needs {list(expect)}; the caffemodel does not match the prototxt")
            a = a.reshape(expect)
        return a

    def read_later(self, blob: str) -> bool:
        """Whether a layer after the current one reads ``blob`` before it is rewritten."""
        for later in self.layers[self.layer.index_in_net + 1:]:
            if blob in later.bottom:
                return True
            if blob in later.top:
                return False
        return False

    def static_shape(self, v: Value) -> tuple[int, ...]:
        s = v.type.shape
        if s is None or not all(isinstance(d, int) for d in s):
            raise self.fail(f"needs a static shape for %{v.name}, got {v.type}; "
                            "give static input_shapes")
        return tuple(s)

    def rank(self, v: Value) -> int:
        if v.type.shape is None:
            raise self.fail(f"needs the rank of %{v.name}; give input_shapes")
        return len(v.type.shape)

    # -- driver ----------------------------------------------------------------------------
    def build(self, name: str, layers: list[Layer]) -> Graph:
        g = self.graph
        g.name = name
        available: dict[str, None] = {}  # Caffe's available blobs, in order: the outputs
        for top, shape in self._legacy_inputs():
            self._define_input(top, shape)
            available[top] = None
        self.layers = layers
        for layer in layers:
            self.layer = layer
            if layer.type in _DROPPED:
                log.info("%s: dropped %s layer '%s'", self.label, layer.type, layer.name)
                continue
            missing = [b for b in layer.bottom if b not in self.blobs]
            if missing:
                raise self.fail(f"reads blob(s) {', '.join(missing)} that no earlier layer "
                                "or input produces")
            ins = [self.blobs[b] for b in layer.bottom]
            self._out_names = [self._name_for(t, layer) for t in layer.top]
            outs = _LOWER[layer.type](self, layer, ins)
            for b in layer.bottom:
                available.pop(b, None)
            if len(outs) < len(layer.top):
                outs = list(outs) + [None] * (len(layer.top) - len(outs))
            for top, v in zip(layer.top, outs):
                if v is None:  # a label top of a data layer: not an input of the IR
                    self.blobs.pop(top, None)
                    continue
                self.blobs[top] = v
                self.written.add(top)
                available[top] = None
        self.layer = None
        outputs: list[Value] = []
        for top in available:
            v = self.blobs.get(top)
            if v is None or any(o is v for o in outputs):
                continue
            if v.producer is None:  # a graph input passed straight through
                v = g.add_node("identity", [v], names=[g.unique_name(f"{top}/out")]).output
            outputs.append(v)
        if not outputs:
            raise CaffeImportError(f"{self.label}: the net computes nothing (no layer output)")
        g.outputs = outputs
        unused = [k for k in self.input_shapes if k not in {v.name for v in g.inputs}]
        if unused:
            raise ModelLoadError(
                f"{self.label}: input_shapes names {', '.join(unused)}, but the net's inputs "
                f"are {', '.join(v.name for v in g.inputs) or 'none'}")
        return g

    def _name_for(self, top: str, layer: Layer) -> str:
        if top not in self.written:  # add_node suffixes a name already taken otherwise
            return top
        return layer.name if len(layer.top) == 1 else f"{layer.name}/{top}"

    def _legacy_inputs(self) -> list[tuple[str, list[Any] | None]]:
        net = self.net
        out = []
        for i, top in enumerate(net.input):
            if i < len(net.input_shape):
                shape = [int(d) for d in net.input_shape[i].dim]
            elif len(net.input_dim) >= 4 * (i + 1):
                shape = [int(d) for d in net.input_dim[4 * i: 4 * i + 4]]
            else:
                shape = None
            out.append((top, shape))
        return out

    def _define_input(self, top: str, shape: Sequence[Any] | None) -> Value:
        where = f"{self.label}: input '{top}'" if self.layer is None else self.where()
        if top in self.input_shapes:
            shape = list(self.input_shapes[top])
        elif shape is not None and any(d <= 0 for d in shape):
            # an empty input is no deployable net: the targets would emit a zero-sized tensor
            # (LiteRT refuses to load one)
            kind = "negative" if any(d < 0 for d in shape) else "zero"
            raise CaffeImportError(f"{where}: declared shape {list(shape)} of input blob '{top}' "
                                   f"has a {kind} dimension; fix it in the prototxt or pass "
                                   f"input_shapes={{'{top}': [N, C, H, W]}}")
        if shape is None:
            raise ModelLoadError(f"{where}: the shape of input blob '{top}' is not declared; "
                                 f"pass input_shapes={{'{top}': [N, C, H, W]}}")
        dims = tuple(UNKNOWN_DIM if d is None else d for d in shape)
        if top in self.written:
            raise CaffeImportError(f"{self.label}: input blob '{top}' is defined twice")
        v = self.graph.add_input(top, TensorType(F32, dims))
        self.blobs[top] = v
        self.written.add(top)
        return v


# -- geometry --------------------------------------------------------------------------------


def _dims(b: _Builder, values: Sequence[int], h: int | None, w: int | None, default: int | None,
          n: int, what: str) -> list[int]:
    """Caffe's rule for kernel/pad/stride/dilation: *_h/*_w when set (2-D only), else the
    repeated field (one value for all spatial axes, or one per axis), else the default."""
    if h is not None or w is not None:
        if n != 2 or h is None or w is None:
            raise b.fail(f"{what}_h and {what}_w must both be set, and only for 2-D inputs")
        return [int(h), int(w)]
    vals = [int(v) for v in values]
    if not vals:
        if default is None:
            raise b.fail(f"{what} is not set (kernel_size or kernel_h/kernel_w)")
        return [default] * n
    if len(vals) == 1:
        return vals * n
    if len(vals) == n:
        return vals
    raise b.fail(f"{what} has {len(vals)} values for {n} spatial axes")


def _opt(p: Any, name: str) -> int | None:
    return getattr(p, name) if p.HasField(name) else None


def _conv_geometry(b: _Builder, p: Any, n: int):
    k = _dims(b, p.kernel_size, _opt(p, "kernel_h"), _opt(p, "kernel_w"), None, n, "kernel")
    pad = _dims(b, p.pad, _opt(p, "pad_h"), _opt(p, "pad_w"), 0, n, "pad")
    s = _dims(b, p.stride, _opt(p, "stride_h"), _opt(p, "stride_w"), 1, n, "stride")
    d = _dims(b, p.dilation, None, None, 1, n, "dilation")
    return k, pad, s, d


def _caffe_pool_out(size: int, k: int, pad: int, stride: int, ceil: bool) -> int:
    """Caffe's PoolingLayer::Reshape output size."""
    rnd = math.ceil if ceil else math.floor
    out = int(rnd((size + 2 * pad - k) / stride)) + 1
    if pad > 0 and (out - 1) * stride >= size + pad:
        out -= 1
    return out


# -- layer lowerings -------------------------------------------------------------------------
# Each takes (builder, layer, bottom values) and returns one value per top (None for a top
# that is not part of the inference graph).

Lowering = Callable[[_Builder, Layer, list[Value]], list[Value | None]]
_LOWER: dict[str, Lowering] = {}
# (least, most) blobs; most None = no limit
Count = tuple[int, int | None]
# Layer type -> (bottoms, tops) its lowering reads and writes; checked before building, so a
# lowering may index ins[i] and out=i within these counts.
_ARITY: dict[str, tuple[Count, Count]] = {}


def _lowers(*types: str, note: str, bottoms: Count = (1, 1), tops: Count = (1, 1)):
    """Register a lowering of the layer ``types``; ``note`` is their docs/frontends.md entry,
    ``bottoms``/``tops`` the (least, most) blob counts the lowering handles."""
    def deco(fn: Lowering) -> Lowering:
        for t in types:
            _LOWER[t] = fn
            SUPPORTED_OPS[t] = note
            _ARITY[t] = (bottoms, tops)
        return fn
    return deco


def _count_problem(what: str, n: int, want: Count) -> str | None:
    lo, hi = want
    if lo <= n and (hi is None or n <= hi):
        return None
    need = f"{lo}" if lo == hi else f"at least {lo}" if hi is None else f"{lo} to {hi}"
    return f"{n} {what}s (needs {need})"


def malformed_layers(layers: Sequence[Layer]) -> list[str]:
    """One description per layer whose ``type`` is missing or whose bottom/top counts do not
    fit its supported lowering (layers of other types are left to unsupported_layers)."""
    found = []
    for layer in layers:
        if not layer.type:
            found.append(f"'{layer.name}' has no type")
            continue
        if layer.type not in _ARITY:
            continue
        bottoms, tops = _ARITY[layer.type]
        problems = [p for p in (_count_problem("bottom", len(layer.bottom), bottoms),
                                _count_problem("top", len(layer.top), tops)) if p]
        if problems:
            found.append(f"'{layer.name}' ({layer.type}) has {', '.join(problems)}")
    return found


@_lowers("Input", note="graph input (input_param.shape; also the legacy net-level "
                        "input/input_shape/input_dim)", bottoms=(0, 0), tops=(1, None))
def _input(b: _Builder, layer: Layer, ins: list[Value]) -> list[Value | None]:
    shapes = list(layer.param("input_param").shape) if layer.has("input_param") else []
    out = []
    for i, top in enumerate(layer.top):
        s = shapes[i] if i < len(shapes) else (shapes[0] if len(shapes) == 1 else None)
        out.append(b._define_input(top, None if s is None else [int(d) for d in s.dim]))
    return out


@_lowers("Data", note="graph input (shape from input_shapes); label tops are dropped",
         bottoms=(0, 0), tops=(1, None))
@_lowers("ImageData", "HDF5Data", "WindowData", note="graph input (shape from input_shapes)",
         bottoms=(0, 0), tops=(1, None))
@_lowers("MemoryData", note="graph input [batch_size, channels, height, width]",
         bottoms=(0, 0), tops=(1, None))
def _data(b: _Builder, layer: Layer, ins: list[Value]) -> list[Value | None]:
    shape = None
    if layer.type == "MemoryData" and layer.has("memory_data_param"):
        p = layer.param("memory_data_param")
        shape = [p.batch_size, p.channels, p.height, p.width]
    return [b._define_input(layer.top[0], shape)] + [None] * (len(layer.top) - 1)


@_lowers("Convolution", note="conv (group, dilation, every pad/kernel/stride spelling)")
@_lowers("Deconvolution", note="conv_transpose")
def _conv(b: _Builder, layer: Layer, ins: list[Value]) -> list[Value | None]:
    p = layer.param("convolution_param")
    x = ins[0]
    xs = x.type.shape
    if xs is None or len(xs) < 3 or not isinstance(xs[1], int):
        raise b.fail(f"needs an [N, C, ...] input with a static channel count, got {x.type}")
    n = len(xs) - 2
    k, pad, s, d = _conv_geometry(b, p, n)
    g = int(p.group)
    c = int(xs[1])
    m = int(p.num_output)
    if c % g or m % g:
        raise b.fail(f"group {g} does not divide {c} input and {m} output channels")
    transposed = layer.type == "Deconvolution"
    wshape = [c, m // g, *k] if transposed else [m, c // g, *k]
    ws = [b.const(b.blob(0, wshape, "weights"), "weights")]
    if p.bias_term:
        ws.append(b.const(b.blob(1, [m], "bias"), "bias"))
    attrs = {"kernel_shape": k, "pads": pad + pad, "strides": s, "dilations": d, "group": g}
    return [b.node("conv_transpose" if transposed else "conv", [x, *ws], attrs, out=0)]


@_lowers("InnerProduct", note="gemm (flatten from axis first; transpose)")
def _inner_product(b: _Builder, layer: Layer, ins: list[Value]) -> list[Value | None]:
    p = layer.param("inner_product_param")
    x = ins[0]
    r = b.rank(x)
    axis = p.axis + r if p.axis < 0 else p.axis
    tail = x.type.shape[axis:]
    if not all(isinstance(v, int) for v in tail):
        raise b.fail(f"needs static dims from axis {axis} on, got {x.type}")
    kdim = int(np.prod(tail, dtype=np.int64))
    nout = int(p.num_output)
    if p.transpose:  # weights stored as [K, N]
        w = b.const(b.blob(0, [kdim, nout], "weights"), "weights")
    else:
        w = b.const(b.blob(0, [nout, kdim], "weights"), "weights")
    bias = b.const(b.blob(1, [nout], "bias"), "bias") if p.bias_term else None
    flat = x
    if r != 2 or axis != 1:
        flat = b.node("flatten", [x], {"axis": axis})
    attrs = {"transB": 0 if p.transpose else 1}
    if axis == 1:
        return [b.node("gemm", [flat, w, bias], attrs, out=0)]
    y = b.node("gemm", [flat, w, bias], attrs)
    lead = [d if isinstance(d, int) else -1 for d in x.type.shape[:axis]]
    if lead.count(-1) > 1:
        raise b.fail(f"cannot restore the leading dims of {x.type} after the product")
    return [b.node("reshape", [y, b.const(lead + [nout], "shape", np.int64)], out=0)]


@_lowers("Pooling", note="max_pool / avg_pool (Caffe ceil rounding, count_include_pad) / "
                          "global_*_pool", tops=(1, 2))  # a MAX pooling's 2nd top: its mask
def _pooling(b: _Builder, layer: Layer, ins: list[Value]) -> list[Value | None]:
    from . import proto as cp

    p = layer.param("pooling_param")
    x = ins[0]
    is_max = p.pool == cp.PoolingParameter.MAX
    if p.global_pooling:
        return [b.node("global_max_pool" if is_max else "global_avg_pool", [x], out=0)]
    n = b.rank(x) - 2
    if n != 2:
        raise b.fail(f"pooling reads 4-D [N, C, H, W] blobs, got {x.type}")
    k = _dims(b, [p.kernel_size] if p.HasField("kernel_size") else [], _opt(p, "kernel_h"),
              _opt(p, "kernel_w"), None, n, "kernel")
    pad = _dims(b, [p.pad], _opt(p, "pad_h"), _opt(p, "pad_w"), 0, n, "pad")
    s = _dims(b, [p.stride], _opt(p, "stride_h"), _opt(p, "stride_w"), 1, n, "stride")
    ceil = p.round_mode == cp.PoolingParameter.CEIL
    attrs = {"kernel_shape": k, "pads": pad + pad, "strides": s, "ceil_mode": int(ceil)}
    if not is_max:
        # Caffe divides by the window clipped to the padded input: pads count, the extra
        # windows ceil rounding adds past the padding do not (as avg_pool's count_include_pad)
        attrs["count_include_pad"] = 1
    y = b.node("max_pool" if is_max else "avg_pool", [x], attrs, out=0)
    xs, ys = x.type.shape, y.type.shape
    for i in range(n):
        if isinstance(xs[2 + i], int):
            want = _caffe_pool_out(xs[2 + i], k[i], pad[i], s[i], ceil)
            if ys[2 + i] != want:
                raise b.fail(f"Caffe gives {want} outputs along spatial axis {i} where "
                             f"every window must overlap the input, which gives {ys[2 + i]} "
                             "(stride larger than kernel without padding)")
    return [y]


@_lowers("ReLU", note="relu, or leaky_relu when negative_slope != 0")
def _relu(b: _Builder, layer: Layer, ins: list[Value]) -> list[Value | None]:
    slope = layer.param("relu_param").negative_slope if layer.has("relu_param") else 0.0
    if slope != 0.0:
        return [b.node("leaky_relu", ins[:1], {"alpha": float(slope)}, out=0)]
    return [b.node("relu", ins[:1], out=0)]


@_lowers("PReLU", note="prelu (channel_shared -> one slope)")
def _prelu(b: _Builder, layer: Layer, ins: list[Value]) -> list[Value | None]:
    x = ins[0]
    r = b.rank(x)
    shared = layer.param("prelu_param").channel_shared if layer.has("prelu_param") else False
    if shared:
        slope = b.blob(0, [1], "slope")
    else:
        c = x.type.shape[1]
        if not isinstance(c, int):
            raise b.fail(f"needs a static channel count, got {x.type}")
        slope = b.blob(0, [c] + [1] * (r - 2), "slope")
    return [b.node("prelu", [x, b.const(slope, "slope")], out=0)]


def _unary(op: str) -> Lowering:
    def lower(b: _Builder, layer: Layer, ins: list[Value]) -> list[Value | None]:
        return [b.node(op, ins[:1], out=0)]
    return lower


for _t, _op in {"Sigmoid": "sigmoid", "TanH": "tanh", "AbsVal": "abs", "BNLL": "softplus"}.items():
    _lowers(_t, note=_op)(_unary(_op))


@_lowers("ELU", note="elu")
def _elu(b: _Builder, layer: Layer, ins: list[Value]) -> list[Value | None]:
    alpha = layer.param("elu_param").alpha
    return [b.node("elu", ins[:1], {"alpha": float(alpha)}, out=0)]


def _affine(b: _Builder, x: Value, scale: float, shift: float, last: bool) -> Value:
    """shift + scale * x with the identity parts left out; names the last node after top 0."""
    if scale != 1.0:
        x = b.node("mul", [x, b.const(scale, "scale")], out=0 if last and shift == 0.0 else None)
    if shift != 0.0:
        x = b.node("add", [x, b.const(shift, "shift")], out=0 if last else None)
    return x


@_lowers("Power", note="(shift + scale * x) ^ power as mul/add/pow")
def _power(b: _Builder, layer: Layer, ins: list[Value]) -> list[Value | None]:
    p = layer.param("power_param")
    power, scale, shift = float(p.power), float(p.scale), float(p.shift)
    x = _affine(b, ins[0], scale, shift, last=power == 1.0)
    if power != 1.0:
        x = b.node("pow", [x, b.const(power, "power")], out=0)
    if x is ins[0]:
        x = b.node("identity", [x], out=0)
    return [x]


@_lowers("Exp", note="exp of (shift + scale * x) * ln(base)")
@_lowers("Log", note="log(shift + scale * x) / ln(base)")
def _exp_log(b: _Builder, layer: Layer, ins: list[Value]) -> list[Value | None]:
    p = layer.param("exp_param" if layer.type == "Exp" else "log_param")
    ln_base = 1.0 if p.base == -1.0 else math.log(p.base)
    if layer.type == "Exp":  # base^(shift + scale*x) = exp(ln(base) * (shift + scale*x))
        x = _affine(b, ins[0], float(p.scale) * ln_base, float(p.shift) * ln_base, last=False)
        return [b.node("exp", [x], out=0)]
    x = _affine(b, ins[0], float(p.scale), float(p.shift), last=False)
    if ln_base == 1.0:
        return [b.node("log", [x], out=0)]
    y = b.node("log", [x])
    return [b.node("mul", [y, b.const(1.0 / ln_base, "inv_ln_base")], out=0)]


@_lowers("Threshold", note="cast(greater(x, threshold))")
def _threshold(b: _Builder, layer: Layer, ins: list[Value]) -> list[Value | None]:
    t = float(layer.param("threshold_param").threshold)
    gt = b.node("greater", [ins[0], b.const(t, "threshold")])
    return [b.node("cast", [gt], {"to": 1}, out=0)]


@_lowers("Clip", note="clip")
def _clip(b: _Builder, layer: Layer, ins: list[Value]) -> list[Value | None]:
    p = layer.param("clip_param")
    if not (p.HasField("min") and p.HasField("max")):
        raise b.fail("clip_param needs both min and max")
    return [b.node("clip", [ins[0], b.const(p.min, "min"), b.const(p.max, "max")], out=0)]


@_lowers("Swish", note="x * sigmoid(beta * x)")
def _swish(b: _Builder, layer: Layer, ins: list[Value]) -> list[Value | None]:
    beta = float(layer.param("swish_param").beta)
    z = ins[0] if beta == 1.0 else b.node("mul", [ins[0], b.const(beta, "beta")])
    return [b.node("mul", [ins[0], b.node("sigmoid", [z])], out=0)]


@_lowers("BatchNorm", note="batch_norm with gamma=1, beta=0 (stats / moving-average factor); "
                            "use_global_stats=false -> batch statistics from reduce_mean")
def _batch_norm(b: _Builder, layer: Layer, ins: list[Value]) -> list[Value | None]:
    p = layer.param("batch_norm_param")
    x = ins[0]
    r = b.rank(x)
    eps = float(p.eps)
    if p.HasField("use_global_stats") and not p.use_global_stats:
        # statistics of the batch itself, over every axis but the channels
        axes = b.const([0] + list(range(2, r)), "axes", np.int64)
        mean = b.node("reduce_mean", [x, axes])
        d = b.node("sub", [x, mean])
        var = b.node("reduce_mean", [b.node("mul", [d, d]), axes])
        std = b.node("sqrt", [b.node("add", [var, b.const(eps, "eps")])])
        return [b.node("div", [d, std], out=0)]
    c = x.type.shape[1]
    if not isinstance(c, int):
        raise b.fail(f"needs a static channel count, got {x.type}")
    factor = b.blob(2, [1], "moving-average factor")[0]
    factor = 0.0 if factor == 0 else 1.0 / float(factor)
    mean = b.blob(0, [c], "mean") * np.float32(factor)
    var = b.blob(1, [c], "variance") * np.float32(factor)
    ins = [x, b.const(np.ones(c), "gamma"), b.const(np.zeros(c), "beta"),
           b.const(mean, "mean"), b.const(var, "variance")]
    return [b.node("batch_norm", ins, {"epsilon": eps}, out=0)]


def _broadcast_param(b: _Builder, layer: Layer, x: Value, p: Any, second: Value | None,
                     blob_index: int, what: str) -> Value:
    """The Scale/Bias parameter (blob or second bottom) shaped to broadcast against x:
    it covers x's axes [axis, axis + num_axes) and gets trailing ones for the rest."""
    r = b.rank(x)
    axis = p.axis + r if p.axis < 0 else p.axis
    if second is not None:
        pr = b.rank(second)
        trailing = r - axis - pr
        if trailing < 0:
            raise b.fail(f"{what} bottom {second.type} does not fit {x.type} at axis {axis}")
        if trailing == 0:
            return second
        shape = b.const([0] * pr + [1] * trailing, f"{what}_shape", np.int64)
        return b.node("reshape", [second, shape])
    num = p.num_axes
    span = x.type.shape[axis:] if num == -1 else x.type.shape[axis:axis + num]
    if not all(isinstance(d, int) for d in span):
        raise b.fail(f"needs static dims for the {what} over {x.type}")
    trailing = r - axis - len(span)
    arr = b.blob(blob_index, list(span), what).reshape(list(span) + [1] * trailing)
    return b.const(arr, what)


@_lowers("Scale", note="mul (+ add with bias_term); the scale may be a second bottom; right after "
                        "a BatchNorm it becomes that batch_norm's gamma/beta", bottoms=(1, 2))
def _scale(b: _Builder, layer: Layer, ins: list[Value]) -> list[Value | None]:
    p = layer.param("scale_param")
    x = ins[0]
    second = ins[1] if len(ins) > 1 else None
    merged = _merge_into_batch_norm(b, layer, x, p) if second is None else None
    if merged is not None:
        return [merged]
    s = _broadcast_param(b, layer, x, p, second, 0, "scale")
    if not p.bias_term:
        return [b.node("mul", [x, s], out=0)]
    y = b.node("mul", [x, s])
    bias = _broadcast_param(b, layer, x, p, None, 0 if second is not None else 1, "bias")
    return [b.node("add", [y, bias], out=0)]


def _merge_into_batch_norm(b: _Builder, layer: Layer, x: Value, p: Any) -> Value | None:
    """Caffe's BatchNorm + Scale idiom as ONE batch_norm (gamma, beta from the Scale), so
    that fuse-batchnorm folds both into the conv before them. Done only when the BatchNorm
    result is read by this Scale alone and the Scale is per channel; else None."""
    bn = x.producer
    if bn is None or bn.op != "batch_norm" or x.uses() or x.is_graph_output:
        return None
    if p.axis not in (1, 1 - b.rank(x)) or p.num_axes != 1:
        return None
    gamma, beta = bn.inputs[1].const_value, bn.inputs[2].const_value
    if gamma is None or beta is None or np.any(gamma != 1) or np.any(beta != 0):
        return None
    bottom = layer.bottom[0]
    if any(v is x for k, v in b.blobs.items() if k != bottom):
        return None  # a Split/Dropout alias of the BatchNorm result may still be read
    if layer.top[0] != bottom and b.read_later(bottom):
        return None
    c = len(gamma)
    scale = b.const(b.blob(0, [c], "scale"), "scale")
    shift = b.const(b.blob(1, [c], "bias"), "bias") if p.bias_term else b.const(np.zeros(c), "bias")
    g = b.graph
    merged = g.add_node("batch_norm", [bn.inputs[0], scale, shift, bn.inputs[3], bn.inputs[4]],
                        dict(bn.attrs), names=[b._out_names[0]], source=(*bn.source, layer.name))
    old = [bn.inputs[1].producer, bn.inputs[2].producer]
    g.erase_node(bn)
    for n in old:
        if not n.outputs[0].has_uses:
            g.erase_node(n)
    return merged.output


@_lowers("Bias", note="add; the bias may be a second bottom", bottoms=(1, 2))
def _bias(b: _Builder, layer: Layer, ins: list[Value]) -> list[Value | None]:
    p = layer.param("bias_param")
    x = ins[0]
    bias = _broadcast_param(b, layer, x, p, ins[1] if len(ins) > 1 else None, 0, "bias")
    return [b.node("add", [x, bias], out=0)]


@_lowers("Eltwise", note="add/sub/mul (SUM with coeff), mul (PROD), max (MAX)",
         bottoms=(2, None))
def _eltwise(b: _Builder, layer: Layer, ins: list[Value]) -> list[Value | None]:
    from . import proto as cp

    p = layer.param("eltwise_param")
    if p.operation == cp.EltwiseParameter.MAX:
        return [b.node("max", ins, out=0)]
    if p.operation == cp.EltwiseParameter.PROD:
        y = ins[0]
        for i, v in enumerate(ins[1:]):
            y = b.node("mul", [y, v], out=0 if i == len(ins) - 2 else None)
        return [y]
    coeff = [float(c) for c in p.coeff] or [1.0] * len(ins)
    if len(coeff) != len(ins):
        raise b.fail(f"has {len(coeff)} coeff values for {len(ins)} bottoms")
    y = ins[0] if coeff[0] == 1.0 else b.node("mul", [ins[0], b.const(coeff[0], "coeff0")])
    for i, (v, c) in enumerate(zip(ins[1:], coeff[1:]), start=1):
        last = 0 if i == len(ins) - 1 else None
        if c == 1.0:
            y = b.node("add", [y, v], out=last)
        elif c == -1.0:
            y = b.node("sub", [y, v], out=last)
        else:
            y = b.node("add", [y, b.node("mul", [v, b.const(c, f"coeff{i}")])], out=last)
    return [y]


@_lowers("Concat", note="concat (axis or concat_dim)", bottoms=(1, None))
def _concat(b: _Builder, layer: Layer, ins: list[Value]) -> list[Value | None]:
    p = layer.param("concat_param")
    axis = int(p.concat_dim) if p.HasField("concat_dim") else int(p.axis)
    return [b.node("concat", ins, {"axis": axis}, out=0)]


@_lowers("Softmax", note="softmax (axis)")
def _softmax(b: _Builder, layer: Layer, ins: list[Value]) -> list[Value | None]:
    return [b.node("softmax", ins[:1], {"axis": int(layer.param("softmax_param").axis)}, out=0)]


@_lowers("Dropout", note="removed (identity at test time)")
@_lowers("Split", note="no node: every top is the bottom's value", tops=(1, None))
def _alias(b: _Builder, layer: Layer, ins: list[Value]) -> list[Value | None]:
    return [ins[0]] * len(layer.top)


@_lowers("LRN", note="lrn (ACROSS_CHANNELS); WITHIN_CHANNEL -> "
                      "x * (1 + alpha * avg_pool(x^2))^-beta")
def _lrn(b: _Builder, layer: Layer, ins: list[Value]) -> list[Value | None]:
    from . import proto as cp

    p = layer.param("lrn_param")
    size = int(p.local_size)
    if size % 2 == 0:
        raise b.fail(f"local_size {size} must be odd (as Caffe requires)")
    x = ins[0]
    if p.norm_region == cp.LRNParameter.ACROSS_CHANNELS:
        attrs = {"size": size, "alpha": float(p.alpha), "beta": float(p.beta), "bias": float(p.k)}
        return [b.node("lrn", [x], attrs, out=0)]
    # WITHIN_CHANNEL, as Caffe builds it: x * (1 + alpha * avg(x^2 over size x size))^-beta,
    # the average taken with zero padding counted (AVE pooling, pad (size - 1) / 2)
    pad = (size - 1) // 2
    sq = b.node("mul", [x, x])
    avg = b.node("avg_pool", [sq], {"kernel_shape": [size, size], "pads": [pad] * 4,
                                    "count_include_pad": 1})
    base = b.node("add", [b.node("mul", [avg, b.const(p.alpha, "alpha")]), b.const(1.0, "one")])
    scale = b.node("pow", [base, b.const(-float(p.beta), "neg_beta")])
    return [b.node("mul", [x, scale], out=0)]


@_lowers("Flatten", note="flatten / reshape (axis, end_axis)")
def _flatten(b: _Builder, layer: Layer, ins: list[Value]) -> list[Value | None]:
    p = layer.param("flatten_param")
    x = ins[0]
    r = b.rank(x)
    axis = p.axis + r if p.axis < 0 else p.axis
    end = p.end_axis + r if p.end_axis < 0 else p.end_axis
    if not 0 <= axis <= end < r:
        raise b.fail(f"axis {p.axis} / end_axis {p.end_axis} do not fit rank {r}")
    if end == r - 1:
        if axis == 0:
            return [b.node("reshape", [x, b.const([-1], "shape", np.int64)], out=0)]
        if axis == 1:
            return [b.node("flatten", [x], {"axis": 1}, out=0)]
    tail = x.type.shape[end + 1:]
    if not all(isinstance(d, int) for d in tail):
        raise b.fail(f"needs static dims after end_axis, got {x.type}")
    shape = [0] * axis + [-1] + list(tail)
    return [b.node("reshape", [x, b.const(shape, "shape", np.int64)], out=0)]


@_lowers("Reshape", note="reshape (shape with 0/-1, axis, num_axes)")
def _reshape(b: _Builder, layer: Layer, ins: list[Value]) -> list[Value | None]:
    p = layer.param("reshape_param")
    x = ins[0]
    r = b.rank(x)
    start = p.axis if p.axis >= 0 else r + p.axis + 1
    end = r if p.num_axes == -1 else start + p.num_axes
    if not 0 <= start <= end <= r:
        raise b.fail(f"axis {p.axis} / num_axes {p.num_axes} do not fit rank {r}")
    spec = [int(d) for d in p.shape.dim]
    if spec.count(-1) > 1:
        raise b.fail("shape has more than one -1")
    tail = x.type.shape[end:]
    # ONNX reshape copies a 0 from the same position of the input, as Caffe does inside
    # the replaced range; the dims after it move, so they must be known
    if len(spec) != end - start and not all(isinstance(d, int) for d in tail):
        raise b.fail(f"needs static dims after the reshaped range, got {x.type}")
    shape = [0] * start + spec + [d if isinstance(d, int) else 0 for d in tail]
    return [b.node("reshape", [x, b.const(shape, "shape", np.int64)], out=0)]


@_lowers("Permute", note="transpose")
def _permute(b: _Builder, layer: Layer, ins: list[Value]) -> list[Value | None]:
    r = b.rank(ins[0])
    order = [int(o) for o in layer.param("permute_param").order]
    if len(set(order)) != len(order) or any(o >= r for o in order):
        raise b.fail(f"order {order} is not a permutation of {r} axes")
    perm = order + [i for i in range(r) if i not in order]
    return [b.node("transpose", ins[:1], {"perm": perm}, out=0)]


@_lowers("Slice", note="split (slice_point, or equal parts)", tops=(1, None))
def _slice(b: _Builder, layer: Layer, ins: list[Value]) -> list[Value | None]:
    p = layer.param("slice_param")
    x = ins[0]
    axis = int(p.slice_dim) if p.HasField("slice_dim") and not p.HasField("axis") else int(p.axis)
    n = len(layer.top)
    points = [int(v) for v in p.slice_point]
    if not points:
        return b.node("split", [x], {"axis": axis, "num_outputs": n}, num_outputs=n)
    if len(points) != n - 1:
        raise b.fail(f"{len(points)} slice_point values for {n} tops (need {n - 1})")
    dim = x.type.shape[axis] if x.type.shape is not None else None
    if not isinstance(dim, int):
        raise b.fail(f"needs a static size along axis {axis}, got {x.type}")
    bounds = [0] + points + [dim]
    sizes = [hi - lo for lo, hi in itertools.pairwise(bounds)]
    if any(s <= 0 for s in sizes):
        raise b.fail(f"slice_point {points} must increase within (0, {dim})")
    split = b.const(sizes, "split", np.int64)
    return b.node("split", [x, split], {"axis": axis}, num_outputs=n)


@_lowers("Crop", note="slice to the second bottom's shape (axis, offset)", bottoms=(2, 2))
def _crop(b: _Builder, layer: Layer, ins: list[Value]) -> list[Value | None]:
    p = layer.param("crop_param")
    x, ref = ins
    r = b.rank(x)
    axis = p.axis + r if p.axis < 0 else p.axis
    rs = b.static_shape(ref)
    offsets = [int(o) for o in p.offset]
    axes = list(range(axis, r))
    if len(offsets) == 1:
        offsets = offsets * len(axes)
    elif not offsets:
        offsets = [0] * len(axes)
    elif len(offsets) != len(axes):
        raise b.fail(f"{len(offsets)} offsets for {len(axes)} cropped axes")
    starts = offsets
    ends = [o + rs[a] for o, a in zip(offsets, axes)]
    return [b.node("slice", [x, b.const(starts, "starts", np.int64),
                             b.const(ends, "ends", np.int64),
                             b.const(axes, "axes", np.int64)], out=0)]
