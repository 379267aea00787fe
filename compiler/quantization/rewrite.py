"""The QDQ rewrite: turn a calibrated float graph into "QDQ form" (:func:`quantize_graph`).

The ``quantize`` pass (:mod:`passes.quantization.quantize`) runs it in a pipeline; the
mixed-precision search (:mod:`.sensitivity`) runs it on copies of a graph.

Contract (docs/notes: the INT8 contract; summarized here):

* A float (f32) activation ``%x`` that a quantized op reads or writes is quantized once,
  right after its producer (or at the top for a graph input)::

      %x.q  = quantize(%x, %x.scale, %x.zp)      // i8, type carries QuantParams
      %x.dq = dequantize(%x.q, %x.scale, %x.zp)  // f32

  and every other reader of ``%x`` reads ``%x.dq``. A graph output keeps its name: the dq
  value takes it and the float value is renamed ``<x>.f``. Graph inputs never change.
  A spec with ``output_qdq=False`` (TensorRT) quantizes only the activations a quantized
  op reads, and the skip inputs of its ``residual_inputs`` ops (an add whose other input
  is the sole use of a quantized conv / gemm output); a quantized op's output read by
  nothing quantized stays float.
* What is quantized is the target's choice: a :class:`~compiler.quantization.spec.QuantSpec`
  (``spec``, or the ``QUANT_SPEC`` of target ``scheme``) names the ops it runs quantized,
  the ones whose output shares its input's parameters or has fixed parameters, and the
  fused activations its kernels apply. Everything about an op (which inputs are data
  operands, weights and their output-channel axis, the bias) comes from its schema's traits.
* Activations are int8 per tensor: asymmetric ``[-128, 127]`` with a zero point (TFLite),
  or symmetric ``[-127, 127]`` with zero point 0 when the spec says so (TensorRT). The
  range comes from the calibration statistics (``method``/``percentile``, see
  :mod:`.scales`), always widened to include 0. Graph inputs and outputs, and outputs of
  bounded activations (clip, fused relu6 / relu_n1_to_1), and tensors read only by a global
  average (global_avg_pool, reduce_mean), always use their min/max: clipping a model's
  outputs flattens exactly the values its prediction rests on; the values a relu6 saturates
  pile up at its bound, where a clipping method would cut them all at once; and an average
  of N values divides their rounding noise by N but passes a clipped value's error on
  whole, so the trade a clipping method makes on the tensor alone (less rounding noise for
  some clipping) is a loss there (the digits CNN: entropy on its pooled tensor alone costs
  4.7 dB of logit SQNR).
* Weights (the op's ``weights`` trait: const input 1 of conv / conv_transpose, const B of
  gemm, const rank-2 B of matmul) become an i8 const (per-channel symmetric, ``[-127,
  127]``, zero point 0; per tensor with ``per_channel=False``) + ``dequantize(w_q, scale[C],
  zp[C], axis)`` along the trait's output-channel axis (conv OIHW 0, conv_transpose IOHW 1,
  gemm B 0 if transB else 1, matmul ``[K, N]`` 1). Gemm ``alpha``/``beta`` are folded into B
  and C first.
* Biases (the ``bias`` trait: input 2 of conv / conv_transpose, C of gemm) become i32 consts with scale
  ``input_scale * weight_scale`` (per channel), zero point 0, + dequantize(axis=0); with the
  spec's ``float_bias``, f32 consts holding those int32 steps times their scale.
* Other const operands of quantized ops (add/sub/mul by a const, prelu slope, a const
  matmul B of rank != 2, const concat inputs) are quantized per tensor on their own
  min/max (concat: with the concat's parameters) into an i8 const + dequantize.
* Shared parameters: the outputs of the spec's ``same_scale`` ops (TFLite: max_pool,
  avg_pool, global_max_pool, reduce_max, reshape, flatten, squeeze, unsqueeze, transpose,
  slice, split, gather, pad, depth_to_space, resize) use exactly their input's parameters.
  A multi-input one (concat): one set of parameters covering the union of its inputs' and
  output's ranges, used by every input and the output; an input also read elsewhere (or
  pinned to fixed parameters) keeps its own and is requantized in front of the concat
  (``%x.rq = quantize(%x.dq)``, ``%x.rdq``).
* The spec's ``fixed_output`` pins outputs (TFLite: sigmoid and softmax ``(1/256, -128)``,
  tanh ``(1/128, 0)``, as its int8 kernels require).
* ``keep_float`` names stay float: a name matches a node's source layer (any entry of
  ``node.source``) or its first output's value name, a name with ``*``/``?``/``[...]`` as a
  pattern (:mod:`compiler.layer_names`). A name or pattern matching nothing is an error.
* Inserted nodes carry ``source`` = their producer's (the consumer's for weights).
* Ops the spec does not quantize (not in its ``ops``, a fused activation its kernels do not
  apply, a ``const_inputs`` operand that is not constant), ops in subgraphs and ops with
  non-f32 data operands stay float; their float inputs read the dq values, their outputs
  are quantized only when a quantized op reads them.

A tensor that must be quantized but has no statistics is a :class:`QuantizeError` naming
the value and its source layer (the stats belong to another graph: recalibrate).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from compiler.errors import InferccError, join_names
from compiler.ir.graph import CONST, Graph, Node, Value, is_sparse
from compiler.ir.rewrite import reorder
from compiler.ir.types import DType, QuantParams, TensorType
from compiler.layer_names import matching
from compiler.ops.registry import schema_or_raise
from compiler.quantization.spec import QuantSpec, QuantSpecError, spec_for

from .bias_correction import corrects, output_shift
from .statistics import CalibrationStats
from .scales import (
    METHODS,
    ScaleError,
    bias_params,
    fake_quantize,
    params_from_range,
    tensor_range,
    weight_params,
)

log = logging.getLogger(__name__)

_I32 = np.iinfo(np.int32)


class QuantizeError(InferccError):
    """The graph cannot be quantized as asked (missing statistics, bad option...)."""


@dataclass
class QuantizeSummary:
    """What :func:`quantize_graph` did.

    ``params`` maps each quantized activation (by its name in the float graph) to its
    QuantParams; ``weights`` and ``biases`` map each quantized const (float name) to its
    per-channel (or per-tensor) QuantParams. ``float_nodes`` are the labels (source layer,
    else output name) of non-const nodes left float; ``kept`` those left float because
    ``keep_float`` named them.
    """

    scheme: str
    method: str
    symmetric: bool = False
    quantized_ops: dict[str, int] = field(default_factory=dict)
    float_nodes: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    params: dict[str, QuantParams] = field(default_factory=dict)
    weights: dict[str, QuantParams] = field(default_factory=dict)
    biases: dict[str, QuantParams] = field(default_factory=dict)
    const_operands: int = 0
    requantized: int = 0
    bias_corrected: int = 0
    sources: dict[str, str] = field(default_factory=dict)  # activation -> source layer

    @property
    def num_quantized(self) -> int:
        return sum(self.quantized_ops.values())

    @property
    def num_float(self) -> int:
        return len(self.float_nodes)

    def counts(self) -> dict[str, int]:
        return {
            "quantized_ops": self.num_quantized,
            "float_ops": self.num_float,
            "activations": len(self.params),
            "weights": len(self.weights),
            "biases": len(self.biases),
            "const_operands": self.const_operands,
            "requantized": self.requantized,
            "bias_corrected": self.bias_corrected,
        }

    def table(self, limit: int | None = 40) -> str:
        """One row per quantized activation: name, scale, zero point, real range, source."""
        rows = [("tensor", "scale", "zp", "range", "source")]
        items = list(self.params.items())
        for name, qp in items[:limit] if limit else items:
            s, z = qp.scale[0], qp.zero_point[0]
            lo, hi = s * (-128 - z), s * (127 - z)
            if self.symmetric:
                lo = -127 * s
            rows.append((name, f"{s:.6g}", str(z), f"[{lo:.4g}, {hi:.4g}]",
                         self.sources.get(name, "")))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        if limit and len(items) > limit:
            lines.append(f"... {len(items) - limit} more")
        return "\n".join(lines)

    def __str__(self) -> str:
        c = self.counts()
        ops = ", ".join(f"{k} {v}" for k, v in sorted(self.quantized_ops.items()))
        head = (f"int8 {self.scheme} ({self.method}): {c['quantized_ops']} ops quantized "
                f"({ops or 'none'}), {c['float_ops']} float, {c['activations']} activations, "
                f"{c['weights']} weights, {c['biases']} biases, {c['const_operands']} const "
                f"operands, {c['requantized']} requantized")
        if self.kept:
            head += f"\nkept float: {join_names(self.kept)}"
        return head + "\n" + self.table()


# -- planning --------------------------------------------------------------------------------
class _Classes:
    """Union-find over values that must share quantization parameters."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, k: int) -> int:
        self.parent.setdefault(k, k)
        while self.parent[k] != k:
            self.parent[k] = self.parent[self.parent[k]]
            k = self.parent[k]
        return k

    def union(self, a: int, b: int) -> int:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra
        return ra


def _data_indices(node: Node) -> list[int]:
    """The node's present quantized data operands (its op's ``quant_inputs`` trait)."""
    idx = schema_or_raise(node.op).data_inputs(len(node.inputs))
    return [i for i in idx if node.input(i) is not None]


def _dense(v: Value) -> np.ndarray:
    a = v.const_value
    return np.asarray(a.toarray()) if is_sparse(a) else np.asarray(a)


def _is_f32(v: Value) -> bool:
    return v.type.dtype == DType.F32


def _label(v: Value) -> str:
    p = v.producer
    if p is not None and p.source:
        return ", ".join(p.source)
    return "graph input" if p is None else v.name


def _weight(node: Node) -> tuple[int, int] | None:
    """``(input index, output-channel axis)`` of the node's weight when it is quantized per
    channel (the op's ``weights`` trait, axis made non-negative), else None.

    A weight that is also a data operand (matmul's B) is one only when it is a constant
    matrix; otherwise it is quantized like any operand."""
    schema = schema_or_raise(node.op)
    data = schema.data_inputs(len(node.inputs))
    for i, axis in schema.weight_axes(node.attrs).items():
        w = node.input(i)
        if w is None or not w.is_const:
            return None
        rank = np.ndim(w.const_value)
        if i in data and rank != 2:
            return None
        return i, axis % rank
    return None


def _quantizable(node: Node, spec: QuantSpec) -> bool:
    """Whether the target quantizes the node and its operands allow it (weights const, f32
    data, ...)."""
    if not node.outputs or not spec.quantizes(node):
        return False
    schema = schema_or_raise(node.op)
    data = _data_indices(node)
    for i in data:
        if not _is_f32(node.input(i)):
            return False
    if not any(_is_f32(v) for v in node.outputs):
        return False
    for i in schema.weight_axes(node.attrs):
        if i in schema.data_inputs(len(node.inputs)):
            continue  # matmul's B: an operand when it is no constant
        w = node.input(i)
        if w is None or not w.is_const or not _is_f32(w):
            return False
    b = node.input(schema.bias) if schema.bias is not None else None
    if b is not None and (not b.is_const or not _is_f32(b)):
        return False
    if node.op == "conv_transpose" and int(node.attrs.get("group", 1)) != 1:
        return False  # bias channels != weight axis-1 channels
    if node.op == "gemm":
        w = node.input(1)
        if node.attrs.get("transA", 0) or w.type.rank != 2:
            return False
        if b is not None and b.type.is_static and w.type.is_static:
            n = w.type.shape[0 if node.attrs.get("transB", 0) else 1]
            if int(np.prod(b.type.shape)) != n or b.type.shape[-1] != n:
                return False  # a C that is no per-output-channel bias
        elif b is not None:
            return False
    if node.op == "max_pool" and len(node.outputs) > 1 and node.outputs[1].has_uses:
        return False
    return True


class _Planner:
    def __init__(self, graph: Graph, stats: CalibrationStats, method: str, percentile: float,
                 spec: QuantSpec, keep: set[str]):
        self.g = graph
        self.stats = stats
        self.method = method
        self.percentile = percentile
        self.spec = spec
        self.symmetric = spec.symmetric_activations
        self.keep = keep
        self.cls = _Classes()
        self.values: dict[int, Value] = {}       # activations to quantize, by id
        self.contrib: set[int] = set()          # values whose own range counts
        self.fixed: dict[int, tuple[float, int]] = {}
        self.extra: dict[int, list[tuple[float, float]]] = {}  # class-member id -> const ranges
        self.requant: list[tuple[Node, int]] = []
        self.quantized: list[Node] = []
        self.matched: set[str] = set()
        self.read: set[int] = set()             # activations a quantized op reads

    def kept(self, node: Node) -> bool:
        hit = matching(node, self.keep)
        self.matched |= hit
        return bool(hit)

    def add(self, v: Value, contributes: bool = True) -> None:
        self.values.setdefault(id(v), v)
        self.cls.find(id(v))
        if contributes:
            self.contrib.add(id(v))

    def class_has_fixed(self, v: Value) -> bool:
        r = self.cls.find(id(v))
        return any(self.cls.find(k) == r for k in self.fixed)

    def needs_qdq(self, v: Value) -> bool:
        """Whether planned activation ``v`` gets its Q/DQ pair (see ``output_qdq``)."""
        return v.has_uses and (self.spec.output_qdq or id(v) in self.read)

    def residual(self, node: Node) -> None:
        """Q/DQ on the skip inputs of ``node`` (an op of the spec's ``residual_inputs``):
        every float activation input but one output of a quantized weighted op read only
        here, which the target fuses with that op. Without such an input: nothing."""
        quantized = {id(n) for n in self.quantized}
        acts = [v for v in node.inputs if v is not None and not v.is_const and _is_f32(v)]
        fused = next((v for v in acts if v.producer is not None
                      and id(v.producer) in quantized and _weight(v.producer) is not None
                      and len(v.uses()) == 1 and not v.is_graph_output), None)
        if fused is None:
            return
        for x in acts:
            if x is not fused:
                self.add(x)
                self.read.add(id(x))

    def plan(self) -> None:
        for node in self.g.nodes:
            if node.op == CONST:
                continue
            if node.op in self.spec.residual_inputs and not self.kept(node):
                self.residual(node)
                continue
            if self.kept(node) or not _quantizable(node, self.spec):
                continue
            self.quantized.append(node)
            data = _data_indices(node)
            acts = [(i, node.input(i)) for i in data if not node.input(i).is_const]
            outs = [v for v in node.outputs if _is_f32(v)]
            for _, x in acts:
                self.read.add(id(x))
                if id(x) not in self.values:
                    self.add(x)  # produced by a float op or a graph input: own range
            shared = node.op in self.spec.same_scale
            variadic = schema_or_raise(node.op).quant_inputs == "*"
            if shared and not variadic:
                x = node.input(0)
                for o in outs:
                    if x.is_const:
                        self.add(o)
                    else:
                        self.add(o, contributes=False)
                        self.cls.union(id(x), id(o))
            elif shared:  # any number of inputs (concat): one set of parameters for all
                out = outs[0]
                self.add(out)
                for i, x in acts:
                    solo = len(x.uses()) == 1 and not x.is_graph_output
                    if solo and not self.class_has_fixed(x):
                        self.cls.union(id(out), id(x))
                    else:
                        self.requant.append((node, i))
                for i in data:
                    c = node.input(i)
                    if c.is_const:
                        a = _dense(c)
                        self.extra.setdefault(id(out), []).append(
                            (float(a.min(initial=0.0)), float(a.max(initial=0.0))))
            else:
                for o in outs:
                    self.add(o)
                fixed = self.spec.fixed(node.op)
                if fixed is not None:
                    for o in outs:
                        self.fixed[id(o)] = fixed
        unknown = self.keep - self.matched
        if unknown:
            raise QuantizeError(
                f"keep_float: no node of graph @{self.g.name} has source layer or output "
                f"named {join_names(sorted(unknown))}; use names shown by `infercc opt --show-ir`"
                " (the '// ...' source comments or the %value names)")

    def _range(self, v: Value) -> tuple[float, float]:
        if v.name not in self.stats:
            raise QuantizeError(
                f"no calibration statistics for %{v.name} (source layer {_label(v)}), which "
                f"must be quantized; the statistics were recorded on another graph "
                f"(@{self.stats.graph_name}). Recalibrate on this graph after the default "
                "pipeline (calibrate(graph, data) or `infercc compile --calibration DATA`); "
                "in `infercc opt -p`, run the default pipeline before quantize, as "
                "calibration did: -p '<default pipeline>,quantize{stats=...}'")
        # The model's own inputs and outputs keep their whole observed range: an output's
        # extremes are the prediction (the top logit), which a clipping method would flatten.
        # A bounded activation (relu6, clip) already fixes the range; its saturated values
        # pile up at the bound, and a clipping method would cut them all down together.
        method = self.method
        if (v.producer is None or v.is_graph_output or _bounded(v.producer)
                or _only_averaged(v)):
            method = "minmax"
        try:
            return tensor_range(self.stats[v.name], method, symmetric=self.symmetric,
                                percentile=self.percentile)
        except ScaleError as e:
            raise QuantizeError(f"%{v.name} (source layer {_label(v)}): {e}") from None

    def params(self) -> dict[int, QuantParams]:
        """QuantParams of every planned activation (by value id)."""
        members: dict[int, list[int]] = {}
        for k in self.values:
            members.setdefault(self.cls.find(k), []).append(k)
        out: dict[int, QuantParams] = {}
        for root, ks in members.items():
            fixed = [self.fixed[k] for k in ks if k in self.fixed]
            if fixed:
                s, z = fixed[0]
                qp = QuantParams.per_tensor(s, z)
            else:
                lo, hi = 0.0, 0.0
                for k in ks:
                    rs = list(self.extra.get(k, []))
                    if k in self.contrib:
                        rs.append(self._range(self.values[k]))
                    for a, b in rs:
                        lo, hi = min(lo, a), max(hi, b)
                qp = _f32_params(params_from_range(lo, hi, symmetric=self.symmetric))
            for k in ks:
                out[k] = qp
        return out


def _bounded(node: Node) -> bool:
    """Whether ``node``'s output is clamped to a fixed range by its own activation."""
    return node.op == "clip" or node.attrs.get("activation", "") in ("relu6", "relu_n1_to_1")


def _weight_shift(node: Node, w_float: np.ndarray, w_qp: QuantParams,
                  stats: CalibrationStats, axis: int) -> np.ndarray | None:
    """The mean output shift of ``node`` from rounding its weight (see
    :mod:`.bias_correction`), or None without the input's channel means."""
    x = node.input(0)
    ts = stats.tensors.get(x.name)
    mean = ts.channel_mean if ts is not None else None
    if mean is None:
        return None
    dw = fake_quantize(w_float, w_qp, symmetric=True) - w_float
    return output_shift(node, dw, mean, axis)


def _only_averaged(v: Value) -> bool:
    """Whether every reader of ``v`` averages it (global average pooling)."""
    users = v.users
    return bool(users) and all(n.op in ("global_avg_pool", "reduce_mean") for n in users)


def _f32_params(qp: QuantParams) -> QuantParams:
    """Scales rounded to f32, as the const that carries them stores them."""
    return QuantParams(tuple(float(np.float32(s)) for s in qp.scale), qp.zero_point, qp.axis)


# -- rewriting -------------------------------------------------------------------------------
class _Rewriter:
    def __init__(self, graph: Graph, per_channel: bool, symmetric: bool,
                 float_bias: bool = False):
        self.g = graph
        self.per_channel = per_channel
        self.symmetric = symmetric
        self.float_bias = float_bias
        self.after: dict[int, list[Node]] = {}   # anchor node id -> nodes placed after it
        self.top: list[Node] = []                # nodes placed before every original node
        self.cache: dict[Any, Value] = {}

    def _place(self, nodes: list[Node], anchor: Node | None) -> None:
        if anchor is None:
            self.top.extend(nodes)
        else:
            self.after.setdefault(id(anchor), []).extend(nodes)

    def _const(self, array: np.ndarray, name: str, source, ty: TensorType | None = None) -> Value:
        v = self.g.add_const(array, self.g.fresh_name(name), source=source, type=ty)
        return v

    def qdq(self, x: Value, qp: QuantParams, base: str, anchor: Node | None, source,
            q_suffix: str = "q", dq_suffix: str = "dq") -> tuple[Node, Value]:
        """Insert ``quantize``/``dequantize`` of ``x`` after ``anchor``; return (q node, dq)."""
        scale = self._const(np.float32(qp.scale[0]), f"{base}.scale", source)
        zp = self._const(np.int8(qp.zero_point[0]), f"{base}.zp", source)
        q = self.g.add_node("quantize", [x, scale, zp], {},
                            names=[self.g.fresh_name(f"{base}.{q_suffix}")], source=source)
        dq = self.g.add_node("dequantize", [q.output, scale, zp], {},
                             names=[self.g.fresh_name(f"{base}.{dq_suffix}")], source=source)
        self._place([scale.producer, zp.producer, q, dq], anchor)
        return q, dq.output

    def activation(self, x: Value, qp: QuantParams) -> None:
        """Quantize ``x`` right after its producer; every other reader reads ``x.dq``."""
        prod = x.producer
        source = prod.source if prod is not None else ()
        name = x.name
        q, dq = self.qdq(x, qp, name, prod, source)
        for node, i in x.uses():
            if node is not q:
                node.set_input(i, dq)
        if x.is_graph_output:
            self.g.outputs = [dq if o is x else o for o in self.g.outputs]
            self.g.rename(x, self.g.fresh_name(f"{name}.f"))
            self.g.rename(dq, name)

    def requantize(self, node: Node, i: int, qp: QuantParams, base: str) -> None:
        x = node.input(i)  # a dq value
        q, rdq = self.qdq(x, qp, base, x.producer, x.producer.source, "rq", "rdq")
        node.set_input(i, rdq)

    def const_operand(self, node: Node, i: int, qp: QuantParams | None) -> QuantParams:
        c = node.input(i)
        a = _dense(c).astype(np.float64)
        if qp is None:
            qp = _f32_params(params_from_range(float(a.min(initial=0.0)),
                                               float(a.max(initial=0.0)),
                                               symmetric=self.symmetric))
        key = ("c", id(c), qp)
        dq = self.cache.get(key)
        if dq is None:
            s, z = np.float32(qp.scale[0]), qp.zero_point[0]
            lo = -127 if self.symmetric else -128
            q = np.clip(np.rint(a / np.float64(s)) + z, lo, 127).astype(np.int8)
            dq = self._qconst(c, q, qp, np.float32(s), np.int8(z), None, node.source)
            self.cache[key] = dq
        node.set_input(i, dq)
        return qp

    def _qconst(self, c: Value, q: np.ndarray, qp: QuantParams, scale, zp, axis, source
                ) -> Value:
        ty = TensorType(DType.from_numpy(q.dtype), tuple(q.shape), qp)
        qv = self._const(q, f"{c.name}.q", source, ty)
        sv = self._const(scale, f"{c.name}.scale", source)
        zv = self._const(zp, f"{c.name}.zp", source)
        attrs = {} if axis is None else {"axis": int(axis)}
        dq = self.g.add_node("dequantize", [qv, sv, zv], attrs,
                             names=[self.g.fresh_name(f"{c.name}.dq")], source=source)
        self._place([qv.producer, sv.producer, zv.producer, dq], c.producer)
        return dq.output

    def weight(self, node: Node, i: int, axis: int, fold: float = 1.0) -> QuantParams:
        """Quantize ``node``'s weight input ``i`` (times ``fold``) along ``axis``."""
        w = node.input(i)
        key = ("w", id(w), axis, fold, self.per_channel)
        hit = self.cache.get(key)
        if hit is not None:
            node.set_input(i, hit)
            return hit.producer.inputs[0].type.quant
        a = _dense(w).astype(np.float64) * fold
        qp = _f32_params(weight_params(a, axis if self.per_channel else None))
        s = np.array(qp.scale, np.float32)
        if qp.axis is not None:
            shape = [1] * a.ndim
            shape[axis] = -1
            sb = s.reshape(shape)
        else:
            sb = s[0]
        q = np.clip(np.rint(a / sb.astype(np.float64)), -127, 127).astype(np.int8)
        if qp.axis is not None:
            dq = self._qconst(w, q, qp, s, np.zeros(s.size, np.int8), axis, node.source)
        else:
            dq = self._qconst(w, q, qp, np.float32(s[0]), np.int8(0), None, node.source)
        self.cache[key] = dq
        node.set_input(i, dq)
        return qp

    def bias(self, node: Node, i: int, in_qp: QuantParams, w_qp: QuantParams, fold: float = 1.0,
             shift: np.ndarray | None = None) -> QuantParams:
        """Quantize ``node``'s bias input ``i`` (times ``fold``, minus ``shift``) to int32."""
        b = node.input(i)
        a = _dense(b).astype(np.float64).reshape(-1) * fold
        if shift is not None:
            a = a - shift
        bqp = bias_params(in_qp, w_qp)
        s = np.array(bqp.scale, np.float64).astype(np.float32)
        if s.size == 1 and a.size > 1:
            s = np.full(a.size, s[0], np.float32)
        bqp = QuantParams.per_axis(s, np.zeros(s.size, np.int64), 0)
        key = ("b", id(b), tuple(s.tolist()), fold,
               None if shift is None else shift.tobytes())
        dq = self.cache.get(key)
        if dq is None:
            with np.errstate(divide="ignore", invalid="ignore"):
                q = np.where(s > 0, np.rint(a / s.astype(np.float64)), 0.0)
            q = np.clip(q, _I32.min, _I32.max).astype(np.int32)
            if self.float_bias:  # the int32 values, stored back as float
                f = (q.astype(np.float64) * s).astype(np.float32).reshape(b.type.shape)
                dq = self._const(f, f"{b.name}.i32f", node.source)
                self._place([dq.producer], b.producer)
            else:
                dq = self._qconst(b, q, bqp, s, np.zeros(s.size, np.int32), 0, node.source)
            self.cache[key] = dq
        node.set_input(i, dq)
        return bqp

    def reorder(self) -> None:
        order: list[Node] = []

        def emit(n: Node) -> None:
            order.append(n)
            for m in self.after.pop(id(n), ()):
                emit(m)

        placed = {id(n) for n in self.top}
        placed |= {id(m) for ms in self.after.values() for m in ms}
        originals = [n for n in self.g.nodes if id(n) not in placed]
        for n in self.top:
            emit(n)
        for n in originals:
            emit(n)
        reorder(self.g, order)


def quantize_graph(
    graph: Graph,
    stats: CalibrationStats,
    *,
    method: str = "minmax",
    percentile: float = 99.99,
    spec: QuantSpec | None = None,
    scheme: str = "tflite",
    keep_float: Iterable[str] = (),
    per_channel: bool = True,
    bias_correction: bool = True,
) -> QuantizeSummary:
    """Rewrite ``graph`` in place into QDQ form (see the module docstring) and summarize.

    ``stats`` must come from :func:`~.calibration.calibrate` run on this graph (after the
    default pipeline), keyed by value name. ``spec`` is the target's quantization spec;
    without one, target ``scheme``'s (:func:`resolve_spec`). ``per_channel`` weights only
    where the spec allows them. ``bias_correction`` subtracts from each conv / gemm bias the
    mean output shift its weight rounding causes (:mod:`.bias_correction`; needs the
    input's channel means, which ``calibrate`` records; a layer without a bias gets one).
    """
    if method not in METHODS:
        raise QuantizeError(f"unknown calibration method {method!r}; choose one of "
                            f"{', '.join(METHODS)}")
    if spec is None:
        spec = resolve_spec(scheme)
    if spec.activation_dtype != DType.I8 or not spec.symmetric_weights:
        raise QuantizeError(f"quantization spec {spec.name!r}: infercc quantizes int8 "
                            "activations and symmetric weights only")
    if not isinstance(stats, CalibrationStats):
        raise QuantizeError(f"quantize_graph needs CalibrationStats, got {type(stats).__name__}"
                            " (load a stats file with CalibrationStats.load(path))")
    keep = {str(k) for k in keep_float if str(k)}
    planner = _Planner(graph, stats, method, percentile, spec, keep)
    planner.plan()
    params = planner.params()
    summary = QuantizeSummary(spec.name, method, spec.symmetric_activations)
    quantized_ids = {id(n) for n in planner.quantized}
    for n in graph.nodes:
        if n.op == CONST:
            continue
        if id(n) in quantized_ids:
            summary.quantized_ops[n.op] = summary.quantized_ops.get(n.op, 0) + 1
        else:
            summary.float_nodes.append(n.label)
            if planner.kept(n):
                summary.kept.append(n.label)
    for k, v in planner.values.items():
        if spec.output_qdq or planner.needs_qdq(v):
            summary.params[v.name] = params[k]
            summary.sources[v.name] = _label(v)

    rw = _Rewriter(graph, per_channel and spec.per_channel_weights, planner.symmetric,
                   spec.float_bias)
    # weights, biases and const operands first: they need the activations' params only.
    for node in planner.quantized:
        concat_qp = params[id(node.outputs[0])] if node.op in spec.same_scale else None
        weight = _weight(node)
        if weight is not None:
            wi, axis = weight
            bi = schema_or_raise(node.op).bias
            alpha = float(node.attrs.get("alpha", 1.0)) if node.op == "gemm" else 1.0
            beta = float(node.attrs.get("beta", 1.0)) if node.op == "gemm" else 1.0
            wname = node.input(wi).name
            correct = bias_correction and corrects(node)
            w_float = _dense(node.input(wi)) * alpha if correct else None
            w_qp = rw.weight(node, wi, axis, alpha)
            summary.weights[wname] = w_qp
            shift = _weight_shift(node, w_float, w_qp, stats, axis) if correct else None
            if shift is not None and node.input(bi) is None:
                zero = graph.add_const(np.zeros(shift.size, np.float32), f"{wname}.bias",
                                       source=node.source, before=node)
                node.inputs = [*node.inputs[:bi], *[None] * (bi - len(node.inputs)), zero]
            b = node.input(bi) if bi is not None else None
            if b is not None:
                summary.biases[b.name] = rw.bias(node, bi, params[id(node.input(0))], w_qp,
                                                 beta, None if shift is None else shift)
                summary.bias_corrected += shift is not None
            if node.op == "gemm" and (alpha != 1.0 or beta != 1.0):
                node.attrs = {**node.attrs, "alpha": 1.0, "beta": 1.0}
            continue
        for i in _data_indices(node):
            c = node.input(i)
            if c.is_const:
                rw.const_operand(node, i, concat_qp)
                summary.const_operands += 1
    requant = []
    for node, i in planner.requant:
        x, qp = node.input(i), params[id(node.outputs[0])]
        if params[id(x)] != qp:  # same parameters already: nothing to requantize
            requant.append((node, i, x.name, qp))
    # activations: one Q/DQ pair after each producer
    for k, v in planner.values.items():
        if planner.needs_qdq(v):
            rw.activation(v, params[k])
    for node, i, base, qp in requant:
        rw.requantize(node, i, qp, base)
    summary.requantized = len(requant)
    rw.reorder()
    _drop_dead_consts(graph)
    log.info("%s", str(summary).splitlines()[0])
    return summary


def resolve_spec(scheme: str) -> QuantSpec:
    """The quantization spec of target ``scheme`` (looked up by name, so this pass imports no
    target), as a :class:`QuantizeError` when there is none."""
    try:
        return spec_for(scheme)
    except QuantSpecError as e:
        raise QuantizeError(f"unknown quantization scheme {scheme!r}: {e}") from None


def _drop_dead_consts(graph: Graph) -> None:
    for n in list(graph.nodes):
        if n.op == CONST and not n.outputs[0].has_uses:
            graph.erase_node(n)
