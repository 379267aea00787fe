"""Fully-integer TFLite emission for IR graphs in QDQ form.

Contract of :class:`Int8Policy` (used by :func:`targets.tflite.lower.emit_tflite` when
the graph has ``quantize``/``dequantize`` nodes; the QDQ form is the one pass ``quantize``
writes, see ``docs/quantization.md``):

* Q/DQ nodes are absorbed, not emitted one for one. An activation ``x`` followed by
  ``quantize -> dequantize`` becomes ONE int8 tensor with TFLite per-tensor quantization
  parameters: a node that TFLite can run in int8 (all its activation inputs are such
  dequantized values, its weights are int8 constants, every output feeds only quantize
  nodes, see :data:`INT8_OPS`) writes the int8 tensor directly; any other node runs in float
  and gets ``DEQUANTIZE`` before (once per tensor and layout) and ``QUANTIZE`` after. A
  quantize whose input is already int8 with other parameters becomes a requantizing
  ``QUANTIZE`` (int8 -> int8); with equal parameters it emits nothing.
* Constants: ``dequantize(const)`` is folded first. Weights of CONV_2D, DEPTHWISE_CONV_2D,
  FULLY_CONNECTED and TRANSPOSE_CONV are written int8 (zero point 0) per channel, and the
  IR's quantized axis is carried through the TFLite layout transpose:
  ``quantized_dimension = perm.index(ir_axis)`` (conv OIHW axis 0 -> OHWI dim 0, depthwise
  axis 0 -> 1HWC dim 3, gemm/matmul output axis -> [out, in] dim 0, conv_transpose IOHW
  axis 1 -> OHWI dim 0). Biases are int32 with scale ``input scale x weight scale`` computed
  from the tensors actually written (float64 product, as LiteRT checks it), re-rounded from
  the dequantized bias. Other int8 constant operands (add/mul/sub/prelu) keep their own
  per-tensor parameters; float constants an int8 op reads (PADV2's pad value, MAXIMUM/MINIMUM
  bounds) are quantized with the op's input parameters.
* TFLite's int8 kernel rules are enforced where the tensors meet them: ops that need equal
  input and output parameters (:data:`SAME_SCALE`: concat, reshape, pools, pad, resize,
  slicing, ...) get a requantizing QUANTIZE on the output (or, for CONCATENATION, on each
  differing input); LOGISTIC/SOFTMAX write (1/256, -128) and TANH (1/128, 0) and are
  requantized when the graph asks for other parameters. Fused RELU/RELU6/RELU_N1_TO_1 stay
  fused (TFLite clamps in the output's quantized domain). PAD pads with the zero point.
  Operator versions follow TFLite's ``op_version.cc`` for int8 inputs (:func:`int8_version`).
* Interface: graph inputs/outputs keep their names. ``io_dtype="float"``: float tensors with
  ``QUANTIZE`` after an input and ``DEQUANTIZE`` before an output; ``io_dtype="int8"``: an
  input all of whose readers are quantize nodes, and an output that is a dequantized value,
  are int8 tensors carrying the parameters (the signature still names them).
* Nodes the QDQ form quantizes but TFLite cannot run in int8 (e.g. a conv with a fused
  sigmoid, BATCH_MATMUL of two activations) run in float between DEQUANTIZE/QUANTIZE, as the
  fake-quant reference computes them; each is logged and listed in
  :attr:`Int8Policy.float_nodes`. Nodes that cannot be expressed at all are reported at
  once by :class:`~targets.tflite.lower.TfliteEmitError` before anything is written.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from compiler.ir.graph import CONST, Graph, Node, Value
from compiler.ir.types import DType, QuantParams, TensorType
from compiler.ops.registry import schema_or_raise

from .errors import TfliteEmitError, Unsupported
from .layout import broadcast_to_order, dims, ident, permute
from .quant_spec import KERNELS_FIXED_OUTPUT, KERNELS_SAME_SCALE, QUANT_SPEC
from .writer import TfliteWriter, tflite_type

log = logging.getLogger(__name__)

_T_F32 = tflite_type(np.float32)
_T_I8 = tflite_type(np.int8)
_T_I32 = tflite_type(np.int32)

#: IR ops that may run as int8 TFLite kernels (the quantization spec's ops + identity)
INT8_OPS = QUANT_SPEC.ops | {"identity"}
_FUSABLE = QUANT_SPEC.fused_activations
#: TFLite ops whose int8 kernels need the output parameters equal to the input's
SAME_SCALE = KERNELS_SAME_SCALE
#: ops that only move or pad bytes: an output made by the lowering without parameters
#: takes its input's
_VIEW_OPS = frozenset({"TRANSPOSE", "RESHAPE", "PAD", "PADV2", "MIRROR_PAD", "SLICE",
                       "STRIDED_SLICE"})
#: output parameters TFLite's int8 kernels require
FIXED_OUTPUT = KERNELS_FIXED_OUTPUT
#: where the bias sits (int32 with scale input x weight)
_BIAS_INPUT = {"CONV_2D": 2, "DEPTHWISE_CONV_2D": 2, "FULLY_CONNECTED": 2, "TRANSPOSE_CONV": 3}
_DATA_INPUT = {"TRANSPOSE_CONV": 2}  # the activation input (0 for every other op)

# version 2 for an int8 input (TFLite's op_version.cc); others listed separately below
_V2 = frozenset({
    "ADD", "SUB", "MUL", "MAX_POOL_2D", "AVERAGE_POOL_2D", "TRANSPOSE", "GATHER", "SLICE",
    "SPLIT", "SPLIT_V", "STRIDED_SLICE", "RELU", "RELU6", "MAXIMUM", "MINIMUM", "LOGISTIC",
    "TANH", "PAD", "PADV2", "CONCATENATION", "SOFTMAX", "MEAN", "MIRROR_PAD", "REDUCE_MAX",
    "REDUCE_MIN", "SUM", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH", "BATCH_MATMUL",
    "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "DEQUANTIZE", "PACK", "ARG_MAX"})


def _int8_data_inputs(node: Node) -> tuple[int, ...]:
    """Inputs of the node's int8 kernel that carry int8 data (the others must be constants):
    its op's quantized data operands less its weights; input 0 of identity."""
    s = schema_or_raise(node.op)
    weights = s.weight_axes(node.attrs)
    data = [i for i in s.data_inputs(len(node.inputs)) if i not in weights]
    return tuple(data) or (0,)


def is_qdq(graph: Graph) -> bool:
    """Whether ``graph`` has quantize/dequantize nodes (then it is emitted with int8)."""
    return any(n.op in ("quantize", "dequantize") for n in graph.nodes)


def int8_policy(graph: Graph, *, float16: bool = False, io_dtype: str = "float") -> Int8Policy:
    """The int8 policy of QDQ graph ``graph`` (its emission context lowers ``policy.g``)."""
    if float16:
        raise TfliteEmitError(graph.name, [("model", "-", "float16 weights and int8 "
                                            "quantization exclude each other; use one")])
    return Int8Policy(graph, io_dtype)


def int8_version(name: str, ins: Sequence[Any], outs: Sequence[Any], options: Any,
                 base: int) -> int:
    """The operator version LiteRT's kernels need for an op with int8 data (op_version.cc).

    ``ins``/``outs`` are the TensorT objects (None for a missing input)."""
    rank = max((len(t.shape) for t in ins if t is not None), default=0)
    v = 1
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        v = 3
    elif name == "FULLY_CONNECTED":
        v = 5 if getattr(options, "keepNumDims", False) else 4
    elif name == "TRANSPOSE_CONV":
        v = 3 if len(ins) > 3 and ins[3] is not None else 2
    elif name == "MUL":
        s = [t.quantization.scale[0] for t in (ins[0], ins[1], outs[0])]
        v = 3 if s[0] * s[1] / s[2] >= 1.0 else 2
    elif name in ("RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR"):
        hp = getattr(options, "halfPixelCenters", False)
        ac = name == "RESIZE_NEAREST_NEIGHBOR" and getattr(options, "alignCorners", False)
        v = 3 if (hp or ac) else 2
    elif name in ("TRANSPOSE", "STRIDED_SLICE", "PAD", "PADV2") and rank > 4:
        v = 4
    elif name == "SUB" and rank > 4 and ins[0].shape != ins[1].shape:
        v = 3
    elif name in _V2:
        v = 2
    return max(v, base)


def qp_key(t: Any) -> tuple:
    q = t.quantization
    return (tuple(np.float32(s) for s in q.scale), tuple(int(z) for z in q.zeroPoint))


class _HookedWriter(TfliteWriter):
    """A writer whose :meth:`add_operator` goes through the integer lowering's rules."""

    def __init__(self, name: str, hook: Callable[..., Any]):
        super().__init__(name)
        self._hook = hook

    def add_operator(self, name: str, inputs: Sequence[int], outputs: Sequence[int],
                     options: Any = None, version: int = 1) -> Any:
        return self._hook(name, list(inputs), list(outputs), options, version)

    def add_raw(self, name: str, inputs: Sequence[int], outputs: Sequence[int],
                options: Any = None, version: int = 1) -> Any:
        return super().add_operator(name, inputs, outputs, options, version)


# -- preparing the graph ---------------------------------------------------------------------


class _Prepared:
    """A private copy of the graph with constant Q/DQ folded and quantized values retyped.

    ``consts[id(v)] = (q, params)``: float constant ``v`` is ``dequantize(q)`` (the int8 or
    int32 data and its parameters, axes in IR layout). ``act[id(y)]``: the per-tensor int8
    parameters of quantize output ``y`` (whose type is rewritten to f32 for the lowering's
    float-only bookkeeping; only shapes matter to it).
    """

    def __init__(self, graph: Graph):
        from compiler.ops.registry import get_schema

        self.g = g = graph.copy()
        self.consts: dict[int, tuple[np.ndarray, QuantParams]] = {}
        self.act: dict[int, QuantParams] = {}
        self.problems: list[tuple[str, str, str]] = []
        for node in list(g.nodes):
            if node.op not in ("quantize", "dequantize"):
                continue
            ins = [v for v in node.inputs if v is not None]
            if not all(v.is_const for v in ins[1:]):
                self.problems.append((node.op, node.label, "scale and zero point must be "
                                      "constants"))
                continue
            if not ins[0].is_const:
                continue
            kernel = get_schema(node.op)
            attrs = kernel.resolve_attrs(node.attrs)
            arrays = [None if v is None else np.asarray(v.const_value) for v in node.inputs]
            out = np.asarray(kernel.kernel(arrays, attrs))
            y = node.outputs[0]
            if node.op == "quantize":
                c = g.add_const(out, g.fresh_name(y.name), before=node, type=y.type)
            else:
                q = arrays[0]
                qp = node.inputs[0].type.quant or _params_of(node, arrays)
                c = g.add_const(out.astype(np.float32), g.fresh_name(y.name), before=node)
                self.consts[id(c)] = (q, qp)
            y.replace_all_uses_with(c)
            g.erase_node(node)
        for node in g.nodes:
            if node.op != "quantize":
                continue
            y = node.outputs[0]
            qp = y.type.quant
            if y.type.dtype != DType.I8 or qp is None or qp.axis is not None:
                self.problems.append((node.op, node.label, f"%{y.name} is {y.type}; TFLite "
                                      "integer emission takes int8 per-tensor activations"))
                continue
            self.act[id(y)] = qp
            y.type = TensorType(DType.F32, y.type.shape, qp)
        for node in g.nodes:
            if node.op == "dequantize" and id(node.inputs[0]) not in self.act and \
                    not any(p[1] == node.label for p in self.problems):
                self.problems.append((node.op, node.label, f"input %{node.inputs[0].name} is "
                                      "not a quantize output of this graph"))


def _params_of(node: Node, arrays: list) -> QuantParams:
    s = np.asarray(arrays[1], np.float32)
    z = np.zeros(s.shape, np.int64) if len(arrays) < 3 or arrays[2] is None else arrays[2]
    if s.size == 1 and s.ndim <= 1:
        return QuantParams.per_tensor(float(s.reshape(())), int(np.asarray(z).reshape(())))
    axis = int(node.attrs.get("axis", 1)) % max(np.asarray(arrays[0]).ndim, 1)
    return QuantParams.per_axis(s, z, axis)


# -- the policy ------------------------------------------------------------------------------


class Int8Policy:
    """How a QDQ graph's int8 tensors are written (see the module doc).

    The :class:`~targets.tflite.context.EmitContext` lowering ``policy.g`` (the prepared
    copy) holds this object as ``ctx.quant`` and consults it where a tensor's type or
    parameters depend on quantization; the Q/DQ nodes and int8 ``div`` have their own
    lowerings (:mod:`targets.tflite.ops.quant`), selected when :meth:`is_int8` holds.
    """

    def __init__(self, graph: Graph, io_dtype: str = "float"):
        self.name = graph.name
        self.prep = _Prepared(graph)
        self.g = self.prep.g
        self.io_int8 = io_dtype == "int8"
        #: problems found while preparing the graph (reported with the lowering's)
        self.problems = list(self.prep.problems)
        self.consts, self.act = self.prep.consts, self.prep.act
        self.ctx: Any = None  # the EmitContext, set by bind()
        self._int8 = False
        self._untyped: set[int] = set()
        self._shadows: dict[int, Value] = {}
        #: (op, layer, why) of nodes the QDQ form quantizes that run in float
        self.float_nodes: list[tuple[str, str, str]] = []
        self.int8_nodes: set[int] = set()
        self._out_qp: dict[int, QuantParams] = {}
        self._cur_qp: QuantParams | None = None
        self._plan()

    def bind(self, ctx: Any) -> TfliteWriter:
        """Attach to the emission context ``ctx``; returns the writer ``ctx`` must use (its
        operators go through :meth:`_add_op`, which applies TFLite's int8 kernel rules)."""
        self.ctx = ctx
        return _HookedWriter(self.name, self._add_op)

    # -- planning --------------------------------------------------------------------------
    def _dq_act(self, v: Value | None) -> bool:
        """Whether ``v`` is a dequantized activation (an int8 tensor at run time)."""
        return (v is not None and v.producer is not None and v.producer.op == "dequantize"
                and id(v.producer.inputs[0]) in self.act)

    def _plan(self) -> None:
        for node in self.g.nodes:
            if node.op in (CONST, "quantize", "dequantize"):
                continue
            outs = [v for v in node.outputs if v.has_uses]
            quantized = outs and all(
                not v.is_graph_output and all(u.op == "quantize" for u in v.users)
                for v in outs)
            if not quantized:
                continue  # a float node: its result is used in float
            why = self._int8_refusal(node)
            if why:
                self.float_nodes.append((node.op, node.label, why))
                # float weights/operands: the quantize pass kept the node float on purpose
                kept = "float constant" in why or "not an int8 constant" in why
                log.log(logging.INFO if kept else logging.WARNING,
                        "%s (layer %s) runs in float between DEQUANTIZE/QUANTIZE: %s",
                        node.op, node.label, why)
                continue
            self.int8_nodes.add(id(node))
            for v in outs:
                self._out_qp[id(v)] = self.act[id(v.users[0].outputs[0])]

    def _int8_refusal(self, node: Node) -> str:
        """Why ``node`` cannot be an int8 kernel ('' when it can)."""
        op = node.op
        if op not in INT8_OPS:
            return "TFLite has no int8 kernel infercc emits for this op"
        act = node.attrs.get("activation", "") or ""
        if act not in _FUSABLE or (act and op in ("conv_transpose", "matmul")):
            return f"activation {act!r} is not fused by TFLite's int8 kernels"
        data = _int8_data_inputs(node)
        weights = schema_or_raise(op).weight_axes(node.attrs)
        for i, v in enumerate(node.inputs):
            if v is None:
                continue
            if i in data and v.is_const:
                if len(data) > 1 and id(v) in self.consts and \
                        self.consts[id(v)][1].axis is None:
                    continue
                return f"operand %{v.name} is a float constant, not quantized per tensor"
            if i in data and not self._dq_act(v):
                return f"input %{v.name} is not a quantized activation"
            if i not in data and not v.is_const and not weights:
                return f"input %{v.name} must be a constant"
        if op == "div":
            c = node.inputs[1]
            a = None if id(c) in self.consts else c.const_value
            if a is None or np.asarray(a).dtype != np.float32 or not np.all(np.asarray(a)):
                return "only division by a nonzero float constant becomes an int8 MUL"
        for wi, axis in weights.items():
            wv = node.inputs[wi]
            if op == "matmul" and not (wv.is_const and wv.type.rank == 2):
                return "matmul of two activations (BATCH_MATMUL) stays float"
            axis %= wv.type.rank
            entry = self.consts.get(id(wv))
            if entry is None or entry[0].dtype != np.int8:
                return f"weight %{wv.name} is not an int8 constant"
            if entry[1].axis not in (None, axis) or any(entry[1].zero_point):
                return (f"weight %{wv.name} is quantized along axis {entry[1].axis} or with "
                        f"nonzero zero points; TFLite needs output-channel axis {axis}, zp 0")
            for v in node.inputs[2:]:
                if v is not None and not v.is_const:
                    return f"bias %{v.name} must be a constant"
        return ""

    def is_int8(self, node: Node) -> bool:
        """Whether ``node`` runs as an int8 TFLite kernel."""
        return id(node) in self.int8_nodes

    # -- hooks the emission context calls ----------------------------------------------------
    @contextlib.contextmanager
    def node_scope(self, node: Node) -> Iterator[None]:
        """While ``node`` is lowered: its int8 mode and planned result parameters."""
        self._int8 = self.is_int8(node)
        planned = [self._out_qp[id(v)] for v in node.outputs if id(v) in self._out_qp]
        self._cur_qp = planned[0] if planned else None
        try:
            yield
        finally:
            self._int8 = False

    def on_result(self, v: Value, idx: int) -> None:
        """Result tensor ``idx`` of ``v`` was made: int8 with its planned parameters."""
        if self._int8 and id(v) in self._out_qp:
            self.set_quant(idx, self._out_qp[id(v)])

    def on_helper(self, idx: int, dtype: Any) -> None:
        """Helper tensor ``idx`` was made: a float32 one is typed when an op writes it."""
        if np.dtype(dtype) == np.float32:
            self._untyped.add(idx)  # a view made by the lowering; typed when written

    def float_view(self, v: Value | None) -> Value | None:
        """``v``, or its float stand-in when a float kernel reads int8 value ``v``."""
        if (v is not None and not self._int8 and id(v) in self.ctx.t
                and self.is_i8(self.ctx.t[id(v)])):
            return self._shadow(v)
        return v

    def _shadow(self, v: Value) -> Value:
        """A float stand-in for int8 value ``v`` (DEQUANTIZE once, in v's stored order)."""
        ctx = self.ctx
        if id(v) not in self._shadows:
            s = Value(v.name + "_dequant", TensorType(DType.F32, v.type.shape))
            p = ctx.perm_of(v)
            static, sig = dims(permute(v.type.shape, p))
            dst = ctx.w.add_tensor(v.name + "_dequant", np.float32, static,
                                   shape_signature=sig)
            ctx.w.add_operator("DEQUANTIZE", [ctx.t[id(v)]], [dst])
            ctx.alias(s, dst, p)
            self._shadows[id(v)] = s
        return self._shadows[id(v)]

    def int8_const(self, v: Value, want: Sequence[int]) -> int | None:
        """The int8 tensor of quantized constant ``v`` in order ``want`` when an int8
        kernel reads it (e.g. a concat operand), else None."""
        if not (self._int8 and v.is_const and id(v) in self.consts):
            return None
        ctx = self.ctx
        key = (id(v), ("i8", tuple(want)))
        if key not in ctx.consts:
            q, qp = self.consts[id(v)]
            a = np.ascontiguousarray(q.astype(np.int8).transpose(want))
            ctx.consts[key] = ctx.w.add_const(v.name, a)
            self.set_quant(ctx.consts[key], qp)
        return ctx.consts[key]

    def int8_operand(self, v: Value, perm: Sequence[int]) -> int | None:
        """The int8 tensor of quantized constant ``v`` broadcast against a value stored in
        order ``perm`` when an int8 kernel reads it, else None."""
        if not (self._int8 and v.is_const and id(v) in self.consts):
            return None
        ctx = self.ctx
        key = (id(v), ("i8bcast", tuple(perm)))
        if key not in ctx.consts:
            q, qp = self.consts[id(v)]
            if q.ndim > len(perm):
                raise Unsupported(f"constant %{v.name} has rank {q.ndim} > {len(perm)}")
            a = broadcast_to_order(q, perm)
            idx = ctx.w.add_const(v.name, np.ascontiguousarray(a.astype(np.int8)))
            self.set_quant(idx, qp)
            ctx.consts[key] = idx
        return ctx.consts[key]

    def weight_const(self, v: Value | None, name: str, perm: Sequence[int]) -> int | None:
        """The int8 per-channel tensor of weight ``v`` (transposed by ``perm``) when an int8
        kernel reads it, else None; the quantized axis follows the transpose."""
        if not (self._int8 and v is not None and id(v) in self.consts):
            return None
        q, qp = self.consts[id(v)]
        idx = self.ctx.w.add_const(name,
                                   np.ascontiguousarray(q.transpose(perm).astype(np.int8)))
        dim = 0 if qp.axis is None else list(perm).index(qp.axis)
        self.set_quant(idx, qp, dim=dim)
        return idx

    # -- interface -------------------------------------------------------------------------
    def graph_input(self, v: Value) -> int | None:
        """The int8 tensor of input ``v`` (``io_dtype="int8"`` and only quantize nodes read
        it), else None (a float input)."""
        users = v.users
        if not (self.io_int8 and users and all(u.op == "quantize" for u in users)
                and not v.is_graph_output):
            if self.io_int8:
                log.warning("input %s is not quantized; it stays float32", v.name)
            return None
        ctx = self.ctx
        static, sig = dims(v.type.shape)
        idx = ctx.w.add_tensor(v.name, np.int8, static, shape_signature=sig)
        self.set_quant(idx, self.act[id(users[0].outputs[0])])
        ctx.alias(v, idx, ident(len(static)))
        return idx

    def graph_output(self, v: Value) -> int | None:
        """The tensor of output ``v`` when it is an int8 value (int8 for ``io_dtype="int8"``,
        else DEQUANTIZEd to float), else None (a float output)."""
        ctx = self.ctx
        if id(v) not in ctx.t or not self.is_i8(ctx.t[id(v)]):
            if self.io_int8:
                log.warning("output %s is not quantized; it stays float32", v.name)
            return None
        src, p = ctx.t[id(v)], ctx.perm_of(v)
        r = len(p)
        taken = set(ctx.w.subgraph.inputs) | set(ctx.outs)
        if p != ident(r):
            dst = ctx.tmp(v.name + ("" if self.io_int8 else "_int8"), v.type.shape)
            ctx.transpose(src, [p.index(a) for a in range(r)], dst)
            src = dst
        if self.io_int8:
            if src in taken or (p == ident(r) and ctx.w.tensor(src).name != v.name):
                if src in taken:
                    dst = ctx.tmp(v.name, v.type.shape)
                    ctx.w.add_operator("RESHAPE", [src, ctx.i32(
                        "shape", dims(v.type.shape)[1])], [dst])
                    src = dst
                else:  # the tensor is this output's alone: it takes the output's name
                    ctx.w.tensor(src).name = ctx.w.unique_name(v.name)
            return src
        static, sig = dims(v.type.shape)
        idx = ctx.w.add_tensor(v.name, np.float32, static, shape_signature=sig)
        ctx.w.add_operator("DEQUANTIZE", [src], [idx])
        return idx

    def finish(self) -> None:
        if self.float_nodes:
            log.info("%d quantized node(s) run in float: %s", len(self.float_nodes),
                     ", ".join(f"{op} ({layer})" for op, layer, _ in self.float_nodes))

    # -- tensors ---------------------------------------------------------------------------
    def set_quant(self, idx: int, qp: QuantParams | tuple, dtype: int = _T_I8,
                  dim: int = 0) -> None:
        """Give tensor ``idx`` type ``dtype`` and quantization parameters ``qp``."""
        t = self.ctx.w.tensor(idx)
        t.type = dtype
        q = self.ctx.w._s.QuantizationParametersT()
        if isinstance(qp, QuantParams):
            scales, zps = qp.scale, qp.zero_point
        else:
            scales, zps = qp
        q.scale = [float(np.float32(s)) for s in np.ravel(scales)]
        q.zeroPoint = [int(z) for z in np.ravel(zps)]
        q.quantizedDimension = int(dim)
        t.quantization = q

    def _like(self, src: int, name: str, qp: tuple | None = None) -> int:
        """A new int8 activation tensor shaped as ``src`` (its parameters unless ``qp``)."""
        t = self.ctx.w.tensor(src)
        idx = self.ctx.w.add_tensor(name, np.int8, list(t.shape),
                                    shape_signature=t.shapeSignature)
        self.set_quant(idx, qp if qp is not None else qp_key(t))
        return idx

    def is_i8(self, idx: int) -> bool:
        return idx >= 0 and self.ctx.w.tensor(idx).type == _T_I8

    # -- the operator hook -----------------------------------------------------------------
    def _add_op(self, name: str, ins: list[int], outs: list[int], options: Any,
                version: int) -> Any:
        w, T = self.ctx.w, self.ctx.w.tensor
        data = _DATA_INPUT.get(name, 0)
        src = ins[data] if len(ins) > data else -1
        if name in _VIEW_OPS and self.is_i8(src):
            for o in outs:
                if o in self._untyped:
                    self.set_quant(o, qp_key(T(src)))
                    self._untyped.discard(o)
        if name in ("QUANTIZE", "DEQUANTIZE"):
            if name == "DEQUANTIZE" and self.is_i8(src):
                version = max(version, 2)
            return w.add_raw(name, ins, outs, options, version)
        if not self.is_i8(src):
            self._untyped.difference_update(outs)
            acts = [i for i in ins if self.is_i8(i) and T(i).buffer == 0]
            if acts:
                raise AssertionError(f"infercc bug: float {name} reads int8 tensor "
                                     f"{T(acts[0]).name}")
            return w.add_raw(name, ins, outs, options, version)
        # an int8 kernel -------------------------------------------------------------------
        for o in outs:
            if o in self._untyped and self._int8 and self._cur_qp is not None:
                # an intermediate of the node (e.g. TRANSPOSE_CONV before its crop): the
                # node's result parameters
                self.set_quant(o, self._cur_qp)
            if not self.is_i8(o):
                raise Unsupported(f"{name} would write {T(o).name} without int8 parameters")
        self._untyped.difference_update(outs)
        in_qp = qp_key(T(src))
        for i, k in enumerate(ins):
            if k < 0 or i == data or T(k).type != _T_F32 or not T(k).buffer:
                continue
            ins[i] = self._int_const(k, src, ins[1] if i == _BIAS_INPUT.get(name) else None)
        pre, post = [], []
        if name == "CONCATENATION":
            out_qp = qp_key(T(outs[0]))
            for i, k in enumerate(ins):
                if qp_key(T(k)) != out_qp:
                    ins[i] = self._like(k, T(k).name + "_requant", out_qp)
                    pre.append((k, ins[i]))
        elif name in SAME_SCALE or name in FIXED_OUTPUT:
            want = in_qp if name in SAME_SCALE else ((np.float32(FIXED_OUTPUT[name][0]),),
                                                     (FIXED_OUTPUT[name][1],))
            for i, o in enumerate(outs):
                if qp_key(T(o)) != want:
                    outs[i] = self._like(o, T(o).name + "_kernel", want)
                    post.append((outs[i], o))
        for a, b in pre:
            w.add_raw("QUANTIZE", [a], [b])
        tin = [T(k) if k >= 0 else None for k in ins]
        version = int8_version(name, tin, [T(o) for o in outs], options, version)
        op = w.add_raw(name, ins, outs, options, version)
        for a, b in post:
            w.add_raw("QUANTIZE", [a], [b])
        return op

    def _int_const(self, k: int, src: int, weight: int | None) -> int:
        """An integer copy of float constant tensor ``k`` read by an int8 op: int32 bias
        (``weight`` given: scale = input scale x weight scale) or int8 with the input's
        parameters (a pad value or a clamp bound)."""
        t = self.ctx.w.tensor(k)
        f = np.frombuffer(bytes(self.ctx.w.model.buffers[t.buffer].data), np.float32)
        f = f.reshape(list(t.shape)).astype(np.float64)
        in_s, in_z = qp_key(self.ctx.w.tensor(src))
        if weight is not None:
            ws = np.asarray(self.ctx.w.tensor(weight).quantization.scale, np.float64)
            scale = (np.float64(in_s[0]) * ws).astype(np.float32)
            q = np.clip(np.rint(f / np.broadcast_to(scale, f.shape).astype(np.float64)),
                        -2**31, 2**31 - 1).astype(np.int32)
            idx = self.ctx.w.add_const(t.name + "_int32", q)
            self.set_quant(idx, (scale, np.zeros(scale.size, np.int64)), _T_I32)
            return idx
        q = np.clip(np.rint(f / float(in_s[0])) + in_z[0], -128, 127).astype(np.int8)
        idx = self.ctx.w.add_const(t.name + "_int8", q)
        self.set_quant(idx, (in_s, in_z))
        return idx

    def qp_key(self, idx: int) -> tuple:
        """The (scales, zero points) of tensor ``idx`` as compared for equality."""
        return qp_key(self.ctx.w.tensor(idx))
