"""Lowering of a frozen TensorFlow ``GraphDef`` into the IR (used by the TF/Keras frontend).

Contract of :func:`lower_graph_def`:

* The GraphDef is frozen (variables are ``Const`` nodes) and holds no function calls.
* Only nodes the requested outputs depend on (through data edges; control edges are
  ignored) are lowered, so ``Assert``/``NoOp`` plumbing never matters.
* Before anything is built, every op type without a lowering rule is collected with all
  the layer names using it and raised once as :class:`~compiler.errors.UnsupportedOpsError`.
* Ops are lowered to IR ops with ONNX semantics. NHWC conv/pool become
  ``transpose(NHWC->NCHW) -> conv/pool -> transpose(NCHW->NHWC)``; the caller runs
  ``sink-transposes`` to remove the pairs. Constant subexpressions (shape arithmetic,
  batch-norm statistics, weight reshapes) are evaluated at import time.
* ``node.source`` holds the Keras layer name: the first scope of the TF node name below
  the model scope (``model/conv1/Conv2D`` -> ``conv1``), with the ``_<k>`` suffix that
  TF adds to re-entered name scopes removed when that gives a known layer name.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ...errors import ModelLoadError, UnsupportedOpsError
from ...ir.graph import Graph, Value, sanitize_name
from ...ir.types import DType
from ...ops.registry import schema_or_raise
from .. import strided_slice

log = logging.getLogger(__name__)

I64_MAX = np.iinfo(np.int64).max
I64_MIN = np.iinfo(np.int64).min

SUPPORTED_OPS: dict[str, str] = {}
_RULES: dict[str, Callable[[_Lowerer, Any], list[Value]]] = {}


def _rule(names: str, note: str):
    def wrap(fn):
        for n in names.split():
            _RULES[n] = fn
            SUPPORTED_OPS[n] = note
        return fn

    return wrap


class TFImportError(ModelLoadError):
    """A TensorFlow node cannot be lowered (unsupported attribute value, dynamic shape...)."""


# -- names -----------------------------------------------------------------------------------

_CALL_SCOPES = re.compile(r"^(StatefulPartitionedCall|PartitionedCall|Func)(_\d+)?$")


def layer_name(node_name: str, known: set[str] | frozenset = frozenset()) -> str:
    """The Keras layer path of a TF node name (``model/conv1/Conv2D`` -> ``conv1``)."""
    parts = [p for p in node_name.split("/") if not _CALL_SCOPES.match(p)]
    if not parts:
        return node_name
    if len(parts) >= 3:
        parts = parts[1:]  # drop the model scope
    cand = parts[0]
    if known:
        if cand in known:
            return cand
        base = re.sub(r"_\d+$", "", cand)
        if base in known:
            return base
        for p in parts:
            for q in (p, re.sub(r"_\d+$", "", p)):
                if q in known:
                    return q
    return cand


def tf_dtype(enum_value: int) -> DType:
    import tensorflow as tf

    return DType.from_numpy(tf.as_dtype(enum_value).as_numpy_dtype)


# -- lowering ----------------------------------------------------------------------------------


class _Lowerer:
    def __init__(self, gd: Any, label: str, known_layers: set[str]):
        self.nodes = {n.name: n for n in gd.node}
        self.label = label
        self.known = known_layers
        self.g: Graph | None = None
        self.vals: dict[str, Value] = {}
        self.src: tuple[str, ...] = ()
        self.cur: Any = None

    # -- graph walking ------------------------------------------------------------------------
    @staticmethod
    def ref(s: str) -> tuple[str, int]:
        name, _, idx = s.partition(":")
        return name, int(idx) if idx else 0

    def data_inputs(self, node: Any) -> list[str]:
        return [i for i in node.input if not i.startswith("^")]

    def reachable(self, outputs: Sequence[str]) -> list[Any]:
        """Nodes the outputs depend on through data edges, in topological order."""
        order: list[Any] = []
        state: dict[str, int] = {}
        for out in outputs:
            root = self.ref(out)[0]
            stack = [(root, False)]
            while stack:
                name, done = stack.pop()
                if done:
                    if state.get(name) != 2:
                        state[name] = 2
                        order.append(self.nodes[name])
                    continue
                if state.get(name):
                    continue
                if name not in self.nodes:
                    raise TFImportError(f"{self.label}: tensor '{name}' is read but no node defines it")
                state[name] = 1
                stack.append((name, True))
                for i in reversed(self.data_inputs(self.nodes[name])):
                    n = self.ref(i)[0]
                    if not state.get(n):
                        stack.append((n, False))
        return order

    def unsupported(self, order: list[Any]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for n in order:
            if n.op not in _RULES:
                found.setdefault(n.op, []).append(f"{layer_name(n.name, self.known)} ({n.name})")
        return found

    # -- emission -----------------------------------------------------------------------------
    def vname(self, node_name: str, k: int = 0) -> str:
        parts = [p for p in node_name.split("/") if not _CALL_SCOPES.match(p)]
        if len(parts) >= 3:
            parts = parts[1:]
        base = sanitize_name("_".join(parts))
        return base if k == 0 else f"{base}_{k}"

    def inp(self, i: int) -> Value:
        ins = self.data_inputs(self.cur)
        if i >= len(ins):
            raise TFImportError(f"{self.label}: node '{self.cur.name}' ({self.cur.op}) has no input {i}")
        name, k = self.ref(ins[i])
        return self.vals[f"{name}:{k}"]

    def n_inputs(self) -> int:
        return len(self.data_inputs(self.cur))

    def const_in(self, i: int) -> np.ndarray:
        v = self.inp(i).const_value
        if v is None:
            raise TFImportError(
                f"{self.label}: node '{self.cur.name}' ({self.cur.op}) needs a constant input {i} "
                "(a shape, axis or paddings); give static input shapes with input_shapes="
            )
        return np.asarray(v)

    def attr(self, key: str, default: Any = None) -> Any:
        a = self.cur.attr
        if key not in a:
            return default
        v = a[key]
        kind = v.WhichOneof("value")
        if kind == "list":
            lst = v.list
            if lst.i:
                return [int(x) for x in lst.i]
            if lst.f:
                return [float(x) for x in lst.f]
            if lst.s:
                return [x.decode() for x in lst.s]
            return []
        if kind == "s":
            return v.s.decode()
        if kind == "i":
            return int(v.i)
        if kind == "f":
            return float(v.f)
        if kind == "b":
            return bool(v.b)
        if kind == "type":
            return int(v.type)
        return v

    def const(self, arr: Any, hint: str = "const") -> Value:
        arr = np.asarray(arr)
        return self.g.add_const(arr, self.g.unique_name(hint), source=self.src)

    def scalar(self, x: float, like: Value) -> Value:
        return self.const(np.asarray(x, like.type.dtype.numpy), "c")

    def i64(self, values: Sequence[int] | np.ndarray, hint: str = "c") -> Value:
        return self.const(np.asarray(values, np.int64).reshape(-1), hint)

    def emit(self, op: str, inputs: Sequence[Value | None], attrs: dict | None = None, *,
             num_outputs: int | None = None, name: str | None = None) -> list[Value]:
        attrs = dict(attrs or {})
        ins = list(inputs)
        if all(v is None or v.is_const for v in ins) and any(v is not None for v in ins):
            schema = schema_or_raise(op)
            arrays = [None if v is None else np.asarray(v.const_value) for v in ins]
            res = schema.kernel(arrays, schema.resolve_attrs(attrs))
            if not isinstance(res, (list, tuple)):
                res = [res]
            return [self.const(np.asarray(r), name or op) for r in res]
        hint = name or self.vname(self.cur.name)
        n = self.g.add_node(op, ins, attrs, num_outputs=num_outputs, source=self.src,
                            names=None if num_outputs and num_outputs > 1 else [self.g.unique_name(hint)])
        return list(n.outputs)

    def one(self, op: str, inputs: Sequence[Value | None], attrs: dict | None = None, **kw) -> Value:
        return self.emit(op, inputs, attrs, **kw)[0]

    # -- driver -------------------------------------------------------------------------------
    def lower(self, graph: Graph, inputs: dict[str, Value], outputs: Sequence[str]) -> list[Value]:
        self.g = graph
        order = self.reachable(outputs)
        missing = self.unsupported([n for n in order if n.name not in inputs])
        if missing:
            raise UnsupportedOpsError(
                self.label, missing,
                "See SUPPORTED_OPS in compiler/frontends/tensorflow/lowering.py for the TensorFlow ops "
                "infercc lowers.",
            )
        for node in order:
            self.cur = node
            self.src = (layer_name(node.name, self.known),)
            if node.name in inputs:
                self.vals[f"{node.name}:0"] = inputs[node.name]
                continue
            try:
                outs = _RULES[node.op](self, node)
            except (ModelLoadError, UnsupportedOpsError):
                raise
            except Exception as e:
                raise TFImportError(
                    f"{self.label}: cannot lower node '{node.name}' ({node.op}, layer "
                    f"{self.src[0]}): {type(e).__name__}: {e}"
                ) from e
            for k, v in enumerate(outs):
                self.vals[f"{node.name}:{k}"] = v
        result = []
        for o in outputs:
            name, k = self.ref(o)
            result.append(self.vals[f"{name}:{k}"])
        return result


def lower_graph_def(
    gd: Any,
    graph: Graph,
    inputs: dict[str, Value],
    outputs: Sequence[str],
    *,
    label: str,
    known_layers: set[str] | None = None,
) -> list[Value]:
    """Lower the part of ``gd`` that ``outputs`` (``node:k`` names) need into ``graph``.

    ``inputs`` maps placeholder node names to the IR values standing for them (in TF's
    own layout). Returns the IR values of ``outputs``.
    """
    return _Lowerer(gd, label, set(known_layers or ())).lower(graph, inputs, outputs)


# -- rules: plumbing ---------------------------------------------------------------------------


@_rule("Identity StopGradient Snapshot EnsureShape CheckNumerics PreventGradient PlaceholderWithDefault",
       "forwarded (no IR node)")
def _identity(L: _Lowerer, n: Any) -> list[Value]:
    return [L.inp(0)]


@_rule("IdentityN", "each output forwards its input")
def _identity_n(L: _Lowerer, n: Any) -> list[Value]:
    return [L.inp(i) for i in range(L.n_inputs())]


@_rule("Const", "const")
def _const(L: _Lowerer, n: Any) -> list[Value]:
    from tensorflow.python.framework import tensor_util

    arr = tensor_util.MakeNdarray(n.attr["value"].tensor)
    if arr.dtype == object:
        raise TFImportError(f"{L.label}: string constant '{n.name}' is not supported")
    return [L.g.add_const(arr, L.g.unique_name(L.vname(n.name)), source=L.src)]


# -- elementwise ---------------------------------------------------------------------------------

_UNARY = {
    "Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Elu": "elu", "Selu": "selu",
    "Exp": "exp", "Log": "log", "Neg": "neg", "Sqrt": "sqrt", "Abs": "abs", "Softplus": "softplus",
    "Softsign": "softsign", "Erf": "erf", "Floor": "floor", "Ceil": "ceil", "Round": "round",
    "Reciprocal": "reciprocal", "Inv": "reciprocal", "Sign": "sign", "LogicalNot": "not",
    "Sin": "sin", "Cos": "cos", "IsNan": "isnan",
}


@_rule(" ".join(_UNARY), "the IR op of the same meaning")
def _unary(L: _Lowerer, n: Any) -> list[Value]:
    return [L.one(_UNARY[n.op], [L.inp(0)])]


@_rule("Rsqrt", "reciprocal(sqrt(x))")
def _rsqrt(L, n):
    return [L.one("reciprocal", [L.one("sqrt", [L.inp(0)], name="rsqrt_sqrt")])]


@_rule("Square", "mul(x, x)")
def _square(L, n):
    x = L.inp(0)
    return [L.one("mul", [x, x])]


@_rule("Log1p", "log(add(x, 1))")
def _log1p(L, n):
    x = L.inp(0)
    return [L.one("log", [L.one("add", [x, L.scalar(1, x)], name="log1p_add")])]


@_rule("Relu6", "clip(x, 0, 6)")
def _relu6(L, n):
    x = L.inp(0)
    return [L.one("clip", [x, L.scalar(0, x), L.scalar(6, x)])]


@_rule("ClipByValue", "clip")
def _clip(L, n):
    return [L.one("clip", [L.inp(0), L.inp(1), L.inp(2)])]


@_rule("LeakyRelu", "leaky_relu")
def _leaky(L, n):
    return [L.one("leaky_relu", [L.inp(0)], {"alpha": float(L.attr("alpha", 0.2))})]


@_rule("Softmax LogSoftmax", "softmax / log_softmax over the last axis")
def _softmax(L, n):
    return [L.one("softmax" if n.op == "Softmax" else "log_softmax", [L.inp(0)], {"axis": -1})]


_BINARY = {
    "Add": "add", "AddV2": "add", "Sub": "sub", "Mul": "mul", "RealDiv": "div", "Div": "div",
    "Maximum": "max", "Minimum": "min", "Pow": "pow", "Equal": "equal", "Less": "less",
    "Greater": "greater", "LessEqual": "less_or_equal", "GreaterEqual": "greater_or_equal",
    "LogicalAnd": "and", "LogicalOr": "or", "FloorMod": "mod",
}


@_rule(" ".join(_BINARY), "the broadcasting IR op of the same meaning")
def _binary(L, n):
    return [L.one(_BINARY[n.op], [L.inp(0), L.inp(1)])]


@_rule("NotEqual", "not(equal)")
def _ne(L, n):
    return [L.one("not", [L.one("equal", [L.inp(0), L.inp(1)], name="ne_eq")])]


@_rule("FloorDiv", "floor(div) (float types)")
def _floordiv(L, n):
    q = L.one("div", [L.inp(0), L.inp(1)], name="floordiv")
    return [q if q.type.dtype.is_int else L.one("floor", [q])]


@_rule("SquaredDifference", "mul(sub, sub)")
def _sqdiff(L, n):
    d = L.one("sub", [L.inp(0), L.inp(1)], name="sqdiff_sub")
    return [L.one("mul", [d, d])]


@_rule("DivNoNan", "where(y == 0, 0, x / y)")
def _divnonan(L, n):
    x, y = L.inp(0), L.inp(1)
    zero = L.scalar(0, y)
    safe = L.one("where", [L.one("equal", [y, zero], name="dnn_eq"), L.scalar(1, y), y], name="dnn_den")
    q = L.one("div", [x, safe], name="dnn_div")
    return [L.one("where", [L.one("equal", [y, zero], name="dnn_eq"), L.scalar(0, q), q])]


@_rule("AddN", "sum")
def _addn(L, n):
    return [L.one("sum", [L.inp(i) for i in range(L.n_inputs())])]


@_rule("BiasAdd BiasAddV1", "add (bias reshaped to (C,1,1) for NCHW)")
def _bias_add(L, n):
    x, b = L.inp(0), L.inp(1)
    if L.attr("data_format", "NHWC") == "NCHW" and x.type.rank and x.type.rank > 2:
        b = L.one("reshape", [b, L.i64([-1] + [1] * (x.type.rank - 2))], name="bias_nchw")
    return [L.one("add", [x, b])]


@_rule("Select SelectV2", "where (Select's vector condition is reshaped to pick rows)")
def _select(L, n):
    c, x, y = L.inp(0), L.inp(1), L.inp(2)
    if n.op == "Select" and c.type.rank == 1 and (x.type.rank or 1) > 1:
        c = L.one("reshape", [c, L.i64([-1] + [1] * (x.type.rank - 1))], name="select_cond")
    return [L.one("where", [c, x, y])]


@_rule("Cast", "cast")
def _cast(L, n):
    to = tf_dtype(L.attr("DstT"))
    x = L.inp(0)
    if x.type.dtype == to:
        return [x]
    return [L.one("cast", [x], {"to": to.value})]


# -- linear algebra ---------------------------------------------------------------------------------


def _swap_last2(L: _Lowerer, v: Value) -> Value:
    r = v.type.rank
    perm = list(range(r - 2)) + [r - 1, r - 2]
    return L.one("transpose", [v], {"perm": perm}, name="mm_t")


@_rule("MatMul BatchMatMul BatchMatMulV2 BatchMatMulV3", "matmul (transposes for transpose_a/b, adj_x/y)")
def _matmul(L, n):
    a, b = L.inp(0), L.inp(1)
    if L.attr("transpose_a", False) or L.attr("adj_x", False):
        a = _swap_last2(L, a)
    if L.attr("transpose_b", False) or L.attr("adj_y", False):
        b = _swap_last2(L, b)
    return [L.one("matmul", [a, b])]


# -- reductions ---------------------------------------------------------------------------------

_REDUCE = {"Mean": "reduce_mean", "Sum": "reduce_sum", "Max": "reduce_max", "Min": "reduce_min",
           "Prod": "reduce_prod"}


@_rule(" ".join(_REDUCE), "reduce_* with constant axes, keepdims from keep_dims")
def _reduce(L, n):
    x = L.inp(0)
    axes = L.const_in(1).reshape(-1)
    keep = int(bool(L.attr("keep_dims", False)))
    if axes.size == 0:
        return [x]
    return [L.one(_REDUCE[n.op], [x, L.i64(axes, "axes")], {"keepdims": keep})]


@_rule("ArgMax ArgMin", "arg_max / arg_min (keepdims=0), cast to output_type")
def _argmax(L, n):
    axis = int(L.const_in(1).reshape(-1)[0])
    y = L.one("arg_max" if n.op == "ArgMax" else "arg_min", [L.inp(0)], {"axis": axis, "keepdims": 0})
    to = tf_dtype(L.attr("output_type", 9))
    return [y if to == DType.I64 else L.one("cast", [y], {"to": to.value})]


# -- conv / pool --------------------------------------------------------------------------------


def _same_pads(size: int, k: int, s: int, d: int) -> tuple[int, int]:
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def _spatial_pads(L: _Lowerer, x: Value, ks: list[int], strides: list[int], dil: list[int],
                  nhwc: bool) -> dict[str, Any]:
    """IR conv/pool padding attributes for TF's padding attribute (explicit when static)."""
    padding = L.attr("padding", "VALID")
    if padding == "VALID":
        return {"pads": [0, 0, 0, 0]}
    if padding == "EXPLICIT":
        ep = L.attr("explicit_paddings", [])
        pairs = [ep[2 * i:2 * i + 2] for i in range(4)]
        sp = pairs[1:3] if nhwc else pairs[2:4]
        return {"pads": [sp[0][0], sp[1][0], sp[0][1], sp[1][1]]}
    shape = x.type.shape
    hw = (shape[1], shape[2]) if nhwc else (shape[2], shape[3])
    if not all(isinstance(d, int) for d in hw):
        return {"auto_pad": "SAME_UPPER"}
    (t, b), (l, r) = (_same_pads(hw[i], ks[i], strides[i], dil[i]) for i in range(2))
    return {"pads": [t, l, b, r]}


def _hw(lst: list[int] | None, nhwc: bool, default: int = 1) -> list[int]:
    if not lst:
        return [default, default]
    return [lst[1], lst[2]] if nhwc else [lst[2], lst[3]]


def _to_nchw(L: _Lowerer, x: Value) -> Value:
    return L.one("transpose", [x], {"perm": [0, 3, 1, 2]}, name=L.vname(L.cur.name) + "_nchw")


def _to_nhwc(L: _Lowerer, y: Value) -> Value:
    return L.one("transpose", [y], {"perm": [0, 2, 3, 1]}, name=L.vname(L.cur.name))


def _weights(L: _Lowerer, i: int, perm: list[int], reshape: Callable[[np.ndarray], np.ndarray] | None = None) -> Value:
    w = L.inp(i)
    if w.is_const:
        arr = np.asarray(w.const_value)
        arr = reshape(arr) if reshape else np.ascontiguousarray(np.transpose(arr, perm))
        return L.const(arr, L.vname(L.cur.name) + "_w")
    if reshape is not None:
        raise TFImportError(f"{L.label}: depthwise conv '{L.cur.name}' needs constant weights")
    return L.one("transpose", [w], {"perm": perm}, name="w")


@_rule("Conv2D DepthwiseConv2dNative", "transpose -> conv (HWIO->OIHW / HWCM->(C*M,1,H,W), group) -> transpose")
def _conv(L, n):
    nhwc = L.attr("data_format", "NHWC") == "NHWC"
    x = L.inp(0)
    wshape = L.inp(1).type.shape
    kh, kw = int(wshape[0]), int(wshape[1])
    strides, dil = _hw(L.attr("strides"), nhwc), _hw(L.attr("dilations"), nhwc)
    attrs = {"strides": strides, "dilations": dil, "kernel_shape": [kh, kw]}
    attrs.update(_spatial_pads(L, x, [kh, kw], strides, dil, nhwc))
    cin = x.type.shape[3 if nhwc else 1]
    if n.op == "DepthwiseConv2dNative":
        c, m = int(wshape[2]), int(wshape[3])
        w = _weights(L, 1, [], lambda a: np.ascontiguousarray(
            a.reshape(kh, kw, c * m).transpose(2, 0, 1)[:, None]))
        attrs["group"] = c
    else:
        w = _weights(L, 1, [3, 2, 0, 1])
        if isinstance(cin, int) and cin != int(wshape[2]):
            attrs["group"] = cin // int(wshape[2])
    xin = _to_nchw(L, x) if nhwc else x
    y = L.one("conv", [xin, w], attrs, name=L.vname(n.name) + ("_conv" if nhwc else ""))
    return [_to_nhwc(L, y) if nhwc else y]


@_rule("Conv2DBackpropInput", "transpose -> conv_transpose (explicit pads, output_padding) -> transpose")
def _deconv(L, n):
    nhwc = L.attr("data_format", "NHWC") == "NHWC"
    sizes = [int(s) for s in L.const_in(0).reshape(-1)]
    x = L.inp(2)
    wshape = L.inp(1).type.shape
    kh, kw = int(wshape[0]), int(wshape[1])
    strides, dil = _hw(L.attr("strides"), nhwc), _hw(L.attr("dilations"), nhwc)
    big = _hw(sizes, nhwc)
    small = _hw(list(x.type.shape), nhwc)
    padding = L.attr("padding", "VALID")
    pads, outpad = [], []
    for i in range(2):
        keff = ((kh, kw)[i] - 1) * dil[i] + 1
        if padding == "SAME":
            b, e = _same_pads(big[i], (kh, kw)[i], strides[i], dil[i])
        elif padding == "EXPLICIT":
            ep = L.attr("explicit_paddings")
            j = (1 + i if nhwc else 2 + i)
            b, e = ep[2 * j], ep[2 * j + 1]
        else:
            b = e = 0
        pads.append((b, e))
        outpad.append(big[i] - (strides[i] * (int(small[i]) - 1) + keff - b - e))
    w = _weights(L, 1, [3, 2, 0, 1])
    attrs = {"strides": strides, "dilations": dil, "kernel_shape": [kh, kw],
             "pads": [pads[0][0], pads[1][0], pads[0][1], pads[1][1]], "output_padding": outpad}
    xin = _to_nchw(L, x) if nhwc else x
    y = L.one("conv_transpose", [xin, w], attrs, name=L.vname(n.name) + ("_deconv" if nhwc else ""))
    return [_to_nhwc(L, y) if nhwc else y]


@_rule("MaxPool AvgPool", "transpose -> max_pool / avg_pool (count_include_pad=0) -> transpose")
def _pool(L, n):
    nhwc = L.attr("data_format", "NHWC") == "NHWC"
    x = L.inp(0)
    ks, strides = _hw(L.attr("ksize"), nhwc), _hw(L.attr("strides"), nhwc)
    attrs = {"kernel_shape": ks, "strides": strides}
    attrs.update(_spatial_pads(L, x, ks, strides, [1, 1], nhwc))
    op = "max_pool" if n.op == "MaxPool" else "avg_pool"
    xin = _to_nchw(L, x) if nhwc else x
    y = L.one(op, [xin], attrs, name=L.vname(n.name) + ("_pool" if nhwc else ""))
    return [_to_nhwc(L, y) if nhwc else y]


@_rule("FusedBatchNorm FusedBatchNormV2 FusedBatchNormV3", "inference: x * scale + shift (per channel)")
def _fused_bn(L, n):
    x = L.inp(0)
    eps = float(L.attr("epsilon", 1e-3))
    scale, offset, mean, var = (L.inp(i) for i in range(1, 5))
    s = L.one("mul", [scale, L.one("reciprocal", [L.one("sqrt", [
        L.one("add", [var, L.scalar(eps, var)], name="bn_var")], name="bn_std")], name="bn_inv")], name="bn_scale")
    b = L.one("sub", [offset, L.one("mul", [mean, s], name="bn_ms")], name="bn_shift")
    if L.attr("data_format", "NHWC") == "NCHW" and x.type.rank == 4:
        s = L.one("reshape", [s, L.i64([-1, 1, 1])], name="bn_scale")
        b = L.one("reshape", [b, L.i64([-1, 1, 1])], name="bn_shift")
    y = L.one("add", [L.one("mul", [x, s], name=L.vname(n.name) + "_mul"), b])
    return [y]


# -- resize -------------------------------------------------------------------------------------


@_rule("ResizeBilinear ResizeNearestNeighbor", "resize over H,W (align_corners / half_pixel / asymmetric)")
def _resize(L, n):
    x = L.inp(0)
    hw = [int(s) for s in L.const_in(1).reshape(-1)]
    shape = x.type.shape
    sizes = [shape[0], hw[0], hw[1], shape[3]]
    if not all(isinstance(d, int) for d in sizes):
        raise TFImportError(f"{L.label}: resize '{n.name}' needs a static batch and channel count")
    ac, hp = L.attr("align_corners", False), L.attr("half_pixel_centers", False)
    if n.op == "ResizeBilinear":
        attrs = {"mode": "linear",
                 "coordinate_transformation_mode": "align_corners" if ac else ("half_pixel" if hp else "asymmetric")}
    else:
        if ac:
            attrs = {"mode": "nearest", "coordinate_transformation_mode": "align_corners",
                     "nearest_mode": "round_prefer_ceil"}
        elif hp:
            attrs = {"mode": "nearest", "coordinate_transformation_mode": "half_pixel",
                     "nearest_mode": "round_prefer_ceil"}
        else:
            attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    return [L.one("resize", [x, None, None, L.i64(sizes, "sizes")], attrs)]


# -- shapes and data movement ----------------------------------------------------------------------


@_rule("Pad PadV2", "pad (constant)")
def _pad(L, n):
    x = L.inp(0)
    p = L.const_in(1).astype(np.int64)
    pads = L.i64(np.concatenate([p[:, 0], p[:, 1]]), "pads")
    cv = L.inp(2) if n.op == "PadV2" else None
    return [L.one("pad", [x, pads, cv], {"mode": "constant"})]


@_rule("MirrorPad", "pad mode=reflect; SYMMETRIC as slices reversed and concatenated")
def _mirror_pad(L, n):
    x = L.inp(0)
    p = L.const_in(1).astype(np.int64)
    if L.attr("mode", "REFLECT") == "REFLECT":
        pads = L.i64(np.concatenate([p[:, 0], p[:, 1]]), "pads")
        return [L.one("pad", [x, pads], {"mode": "reflect"})]
    y = x
    for ax, (b, e) in enumerate(p):
        parts = []
        if b:
            parts.append(L.one("slice", [y, L.i64([b - 1]), L.i64([I64_MIN]), L.i64([ax]), L.i64([-1])], name="sym_l"))
        parts.append(y)
        if e:
            parts.append(L.one("slice", [y, L.i64([-1]), L.i64([-e - 1]), L.i64([ax]), L.i64([-1])], name="sym_r"))
        if len(parts) > 1:
            y = L.one("concat", parts, {"axis": ax})
    return [y]


@_rule("ConcatV2 Concat", "concat")
def _concat(L, n):
    k = L.n_inputs()
    if n.op == "Concat":
        axis, vals = int(L.const_in(0)), [L.inp(i) for i in range(1, k)]
    else:
        axis, vals = int(L.const_in(k - 1)), [L.inp(i) for i in range(k - 1)]
    if len(vals) == 1:
        return vals
    return [L.one("concat", vals, {"axis": axis})]


@_rule("Reshape", "reshape (allowzero=1 when the shape holds a 0)")
def _reshape(L, n):
    x, s = L.inp(0), L.inp(1)
    if s.is_const:
        arr = np.asarray(s.const_value).astype(np.int64)
        return [L.one("reshape", [x, L.i64(arr, "shape")], {"allowzero": int(bool(np.any(arr == 0)))})]
    if s.type.dtype != DType.I64:
        s = L.one("cast", [s], {"to": "i64"}, name="shape_i64")
    return [L.one("reshape", [x, s])]


@_rule("Squeeze", "squeeze (all size-1 dims of a static shape when squeeze_dims is empty)")
def _squeeze(L, n):
    x = L.inp(0)
    dims = L.attr("squeeze_dims", []) or []
    if not dims:
        if not x.type.is_static:
            return [L.one("squeeze", [x])]
        dims = [i for i, d in enumerate(x.type.shape) if d == 1]
    if not dims:
        return [x]
    return [L.one("squeeze", [x, L.i64(dims, "axes")])]


@_rule("ExpandDims", "unsqueeze")
def _expand_dims(L, n):
    return [L.one("unsqueeze", [L.inp(0), L.i64(L.const_in(1).reshape(-1), "axes")])]


@_rule("Transpose", "transpose")
def _transpose(L, n):
    return [L.one("transpose", [L.inp(0)], {"perm": [int(a) for a in L.const_in(1).reshape(-1)]})]


@_rule("Shape", "const for static shapes, else shape (+cast)")
def _shape(L, n):
    x = L.inp(0)
    dt = tf_dtype(L.attr("out_type", 3))
    if x.type.is_static:
        return [L.const(np.asarray(x.type.shape, dt.numpy), "shape")]
    s = L.one("shape", [x])
    return [s if dt == DType.I64 else L.one("cast", [s], {"to": dt.value})]


@_rule("Size Rank", "const (static shapes)")
def _size_rank(L, n):
    x = L.inp(0)
    dt = tf_dtype(L.attr("out_type", 3))
    if n.op == "Rank" and x.type.rank is not None:
        return [L.const(np.asarray(x.type.rank, np.int32), "rank")]
    if n.op == "Size" and x.type.is_static:
        return [L.const(np.asarray(x.type.numel(), dt.numpy), "size")]
    y = L.one("size", [x])
    return [L.one("cast", [y], {"to": dt.value}) if dt != DType.I64 else y]


@_rule("StridedSlice", "slice + squeeze (shrink_axis_mask) + unsqueeze (new_axis_mask); ellipsis")
def _strided_slice(L, n):
    x = L.inp(0)
    begin, end, strides = (L.const_in(i).astype(np.int64).reshape(-1) for i in (1, 2, 3))
    if x.type.rank is None:
        raise TFImportError(f"{L.label}: strided slice '{n.name}' needs an input of known rank")
    try:
        p = strided_slice.plan(x.type.rank, begin, end, strides, L.attr("begin_mask", 0),
                               L.attr("end_mask", 0), L.attr("ellipsis_mask", 0),
                               L.attr("new_axis_mask", 0), L.attr("shrink_axis_mask", 0))
    except ValueError as e:
        raise TFImportError(f"{L.label}: strided slice '{n.name}': {e}") from None
    y = x
    if p.axes:
        y = L.one("slice", [x, L.i64(p.starts), L.i64(p.ends), L.i64(p.axes), L.i64(p.steps)],
                  name=L.vname(n.name) + "_slice")
    if p.squeeze_axes:
        y = L.one("squeeze", [y, L.i64(p.squeeze_axes, "axes")], name=L.vname(n.name) + "_sq")
    if p.unsqueeze_axes:
        y = L.one("unsqueeze", [y, L.i64(p.unsqueeze_axes, "axes")])
    if y is x:
        y = L.one("identity", [x])
    return [y]


@_rule("Slice", "slice (size -1 = to the end)")
def _slice(L, n):
    x = L.inp(0)
    begin = L.const_in(1).astype(np.int64).reshape(-1)
    size = L.const_in(2).astype(np.int64).reshape(-1)
    ends = np.where(size < 0, I64_MAX, begin + size)
    return [L.one("slice", [x, L.i64(begin), L.i64(ends), L.i64(np.arange(len(begin)))])]


@_rule("Pack", "unsqueeze each input, concat")
def _pack(L, n):
    axis = int(L.attr("axis", 0))
    parts = [L.one("unsqueeze", [L.inp(i), L.i64([axis], "axes")], name="pack_in") for i in range(L.n_inputs())]
    return [parts[0] if len(parts) == 1 else L.one("concat", parts, {"axis": axis})]


@_rule("Unpack", "split, squeeze each part")
def _unpack(L, n):
    x = L.inp(0)
    num = int(L.attr("num"))
    axis = int(L.attr("axis", 0))
    parts = L.emit("split", [x], {"axis": axis, "num_outputs": num}, num_outputs=num) if num > 1 else [x]
    return [L.one("squeeze", [p, L.i64([axis], "axes")], name="unpack") for p in parts]


@_rule("Split SplitV", "split")
def _split(L, n):
    num = int(L.attr("num_split"))
    if n.op == "Split":
        axis, x, sizes = int(L.const_in(0)), L.inp(1), None
    else:
        x, axis = L.inp(0), int(L.const_in(2))
        sz = L.const_in(1).astype(np.int64).reshape(-1)
        if np.any(sz < 0):
            dimlen = x.type.shape[axis]
            sz[sz < 0] = int(dimlen) - int(sz[sz >= 0].sum())
        sizes = L.i64(sz, "split")
    if num == 1:
        return [x]
    return L.emit("split", [x, sizes], {"axis": axis, "num_outputs": num}, num_outputs=num)


@_rule("GatherV2 Gather", "gather (batch_dims=0)")
def _gather(L, n):
    if int(L.attr("batch_dims", 0)) != 0:
        raise TFImportError(f"{L.label}: gather '{n.name}' with batch_dims is not supported")
    axis = int(L.const_in(2)) if n.op == "GatherV2" else 0
    return [L.one("gather", [L.inp(0), L.inp(1)], {"axis": axis})]


@_rule("Fill", "expand(value, dims)")
def _fill(L, n):
    dims = L.inp(0)
    dims = dims if dims.type.dtype == DType.I64 else L.one("cast", [dims], {"to": "i64"}, name="dims")
    return [L.one("expand", [L.inp(1), dims])]


@_rule("Tile", "tile")
def _tile(L, n):
    r = L.inp(1)
    r = r if r.type.dtype == DType.I64 else L.one("cast", [r], {"to": "i64"}, name="reps")
    return [L.one("tile", [L.inp(0), r])]


@_rule("ZerosLike OnesLike", "const (static shapes) or mul/add with constants")
def _zeros_like(L, n):
    x = L.inp(0)
    val = 0 if n.op == "ZerosLike" else 1
    if x.type.is_static:
        return [L.const(np.full(x.type.shape, val, x.type.dtype.numpy), "fill")]
    z = L.one("mul", [x, L.scalar(0, x)], name="zeros")
    return [z if val == 0 else L.one("add", [z, L.scalar(1, x)])]


@_rule("Range", "range")
def _range(L, n):
    return [L.one("range", [L.inp(0), L.inp(1), L.inp(2)])]


__all__ = ["SUPPORTED_OPS", "TFImportError", "layer_name", "lower_graph_def"]
