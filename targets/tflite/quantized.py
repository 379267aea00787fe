"""Fully-integer TFLite emission for IR graphs in QDQ form.

Contract of :func:`quantized_lowering` (used by :func:`targets.tflite.lower.emit_tflite` when
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
  :attr:`QuantLowering.float_nodes`. Nodes that cannot be expressed at all are reported at
  once by :class:`~targets.tflite.lower.TfliteEmitError` before anything is written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from compiler.ir.graph import CONST, Graph, Node, Value
from compiler.ir.types import DType, QuantParams, TensorType
from compiler.ops.registry import schema_or_raise

from .lower import TfliteEmitError, _dims, _ident, _Lowering, _perm, _Unsupported
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


def quantized_lowering(graph: Graph, *, float16: bool = False,
                       io_dtype: str = "float") -> "QuantLowering":
    if float16:
        raise TfliteEmitError(graph.name, [("model", "-", "float16 weights and int8 "
                                            "quantization exclude each other; use one")])
    return QuantLowering(graph, io_dtype)


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


def _qp_key(t: Any) -> tuple:
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


# -- the lowering ----------------------------------------------------------------------------


class QuantLowering(_Lowering):
    """:class:`~targets.tflite.lower._Lowering` with int8 tensors (see the module doc)."""

    def __init__(self, graph: Graph, io_dtype: str = "float"):
        self.prep = _Prepared(graph)
        super().__init__(self.prep.g, False)
        self.w = _HookedWriter(graph.name, self._add_op)
        self.io_int8 = io_dtype == "int8"
        self.problems.extend(self.prep.problems)
        self.consts, self.act = self.prep.consts, self.prep.act
        self._int8 = False
        self._untyped: set[int] = set()
        self._shadows: dict[int, Value] = {}
        #: (op, layer, why) of nodes the QDQ form quantizes that run in float
        self.float_nodes: list[tuple[str, str, str]] = []
        self.int8_nodes: set[int] = set()
        self._out_qp: dict[int, QuantParams] = {}
        self._cur_qp: QuantParams | None = None
        self._plan()

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

    # -- per-node mode, tensors ------------------------------------------------------------
    def _lower_node(self, node: Node, fn: Callable[[Node, dict], None], attrs: dict) -> None:
        self._int8 = id(node) in self.int8_nodes
        planned = [self._out_qp[id(v)] for v in node.outputs if id(v) in self._out_qp]
        self._cur_qp = planned[0] if planned else None
        try:
            fn(node, attrs)
        finally:
            self._int8 = False

    def _set_quant(self, idx: int, qp: QuantParams | tuple, dtype: int = _T_I8,
                   dim: int = 0) -> None:
        t = self.w.tensor(idx)
        t.type = dtype
        q = self.w._s.QuantizationParametersT()
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
        t = self.w.tensor(src)
        idx = self.w.add_tensor(name, np.int8, list(t.shape),
                                shape_signature=t.shapeSignature)
        self._set_quant(idx, qp if qp is not None else _qp_key(t))
        return idx

    def _is_i8(self, idx: int) -> bool:
        return idx >= 0 and self.w.tensor(idx).type == _T_I8

    def _out(self, v: Value, perm: Sequence[int] | None = None) -> int:
        idx = super()._out(v, perm)
        if self._int8 and id(v) in self._out_qp:
            self._set_quant(idx, self._out_qp[id(v)])
        return idx

    def _tmp(self, name: str, shape: Sequence[Any], dtype: Any = np.float32) -> int:
        idx = super()._tmp(name, shape, dtype)
        if np.dtype(dtype) == np.float32:
            self._untyped.add(idx)  # a view made by the lowering; typed when written
        return idx

    def _shadow(self, v: Value) -> Value:
        """A float stand-in for int8 value ``v`` (DEQUANTIZE once, in v's stored order)."""
        if id(v) not in self._shadows:
            s = Value(v.name + "_dequant", TensorType(DType.F32, v.type.shape))
            p = self.perm_of(v)
            static, sig = _dims(_perm(v.type.shape, p))
            dst = self.w.add_tensor(v.name + "_dequant", np.float32, static,
                                    shape_signature=sig)
            self.w.add_operator("DEQUANTIZE", [self.t[id(v)]], [dst])
            self._alias(s, dst, p)
            self._shadows[id(v)] = s
        return self._shadows[id(v)]

    def _floatview(self, v: Value | None) -> Value | None:
        if (v is not None and not self._int8 and id(v) in self.t
                and self._is_i8(self.t[id(v)])):
            return self._shadow(v)
        return v

    def get(self, v: Value | None) -> int:
        return super().get(self._floatview(v))

    def as_perm(self, v: Value, want: Sequence[int]) -> int:
        if self._int8 and v.is_const and id(v) in self.consts:  # e.g. a concat operand
            key = (id(v), ("i8", tuple(want)))
            if key not in self._consts:
                q, qp = self.consts[id(v)]
                a = np.ascontiguousarray(q.astype(np.int8).transpose(want))
                self._consts[key] = self.w.add_const(v.name, a)
                self._set_quant(self._consts[key], qp)
            return self._consts[key]
        return super().as_perm(self._floatview(v), want)

    def operand(self, v: Value, perm: Sequence[int]) -> int:
        if not (self._int8 and v.is_const and id(v) in self.consts):
            return super().operand(v, perm)
        key = (id(v), ("i8bcast", tuple(perm)))
        if key not in self._consts:
            q, qp = self.consts[id(v)]
            r = len(perm)
            if q.ndim > r:
                raise _Unsupported(f"constant %{v.name} has rank {q.ndim} > {r}")
            a = q.reshape((1,) * (r - q.ndim) + q.shape).transpose(perm)
            while a.ndim > 1 and a.shape[0] == 1:
                a = a.reshape(a.shape[1:])
            idx = self.w.add_const(v.name, np.ascontiguousarray(a.astype(np.int8)))
            self._set_quant(idx, qp)
            self._consts[key] = idx
        return self._consts[key]

    def _weight_const(self, v: Value | None, name: str, array: np.ndarray,
                      perm: Sequence[int]) -> int:
        if not (self._int8 and v is not None and id(v) in self.consts):
            return super()._weight_const(v, name, array, perm)
        q, qp = self.consts[id(v)]
        idx = self.w.add_const(name, np.ascontiguousarray(q.transpose(perm).astype(np.int8)))
        dim = 0 if qp.axis is None else list(perm).index(qp.axis)
        self._set_quant(idx, qp, dim=dim)
        return idx

    def _op_div(self, node: Node, attrs: dict) -> None:
        """Division by a constant in int8: MUL by its reciprocal, an int8 constant quantized
        symmetrically per tensor (exact for a scalar: 127 steps)."""
        if not self._int8:
            super()._op_div(node, attrs)
            return
        x, c, y = node.inputs[0], node.inputs[1], node.outputs[0]
        r = y.type.rank
        p = self._pick_perm([x], r)
        recip = 1.0 / np.asarray(c.const_value, np.float64)
        if recip.ndim > r:
            raise _Unsupported(f"constant %{c.name} has rank {recip.ndim} > {r}")
        recip = recip.reshape((1,) * (r - recip.ndim) + recip.shape).transpose(p)
        while recip.ndim > 1 and recip.shape[0] == 1:
            recip = recip.reshape(recip.shape[1:])
        scale = float(np.abs(recip).max()) / 127
        idx = self.w.add_const(c.name + "_reciprocal",
                               np.clip(np.rint(recip / scale), -127, 127).astype(np.int8))
        self._set_quant(idx, ((scale,), (0,)))
        fused, out, post = self._act(y, attrs.get("activation", ""), p)
        self.w.add_operator("MUL", [self.as_perm(x, p), idx], [out],
                            self.w.options("Mul", fusedActivationFunction=fused))
        post()

    # -- Q/DQ ------------------------------------------------------------------------------
    def _op_quantize(self, node: Node, attrs: dict) -> None:
        x, y = node.inputs[0], node.outputs[0]
        qp = self.act[id(y)]
        src = _Lowering.get(self, x)  # the tensor as stored, int8 or float
        p = self.perm_of(x)
        want = ((np.float32(qp.scale[0]),), (int(qp.zero_point[0]),))
        if self._is_i8(src) and _qp_key(self.w.tensor(src)) == want:
            self._alias(y, src, p)
            return
        static, sig = _dims(_perm(y.type.shape, p))
        dst = self.w.add_tensor(y.name, np.int8, static, shape_signature=sig)
        self._set_quant(dst, qp)
        self.w.add_operator("QUANTIZE", [src], [dst])
        self._alias(y, dst, p)

    def _op_dequantize(self, node: Node, attrs: dict) -> None:
        x, y = node.inputs[0], node.outputs[0]
        self._alias(y, self.t[id(x)], self.perm_of(x))

    # -- interface -------------------------------------------------------------------------
    def _graph_input(self, v: Value) -> int:
        users = v.users
        if not (self.io_int8 and users and all(u.op == "quantize" for u in users)
                and not v.is_graph_output):
            if self.io_int8:
                log.warning("input %s is not quantized; it stays float32", v.name)
            return super()._graph_input(v)
        static, sig = _dims(v.type.shape)
        idx = self.w.add_tensor(v.name, np.int8, static, shape_signature=sig)
        self._set_quant(idx, self.act[id(users[0].outputs[0])])
        self._alias(v, idx, _ident(len(static)))
        return idx

    def _graph_output(self, v: Value) -> int:
        if id(v) not in self.t or not self._is_i8(self.t[id(v)]):
            if self.io_int8:
                log.warning("output %s is not quantized; it stays float32", v.name)
            return super()._graph_output(v)
        src, p = self.t[id(v)], self.perm_of(v)
        r = len(p)
        taken = set(self.w.subgraph.inputs) | set(getattr(self, "_outs", []))
        if p != _ident(r):
            dst = self._tmp(v.name + ("" if self.io_int8 else "_int8"), v.type.shape)
            self.transpose(src, [p.index(a) for a in range(r)], dst)
            src = dst
        if self.io_int8:
            if src in taken or (p == _ident(r) and self.w.tensor(src).name != v.name):
                if src in taken:
                    dst = self._tmp(v.name, v.type.shape)
                    self.w.add_operator("RESHAPE", [src, self._i32(
                        "shape", _dims(v.type.shape)[1])], [dst])
                    src = dst
                else:  # the tensor is this output's alone: it takes the output's name
                    self.w.tensor(src).name = self.w.unique_name(v.name)
            idx = src
        else:
            static, sig = _dims(v.type.shape)
            idx = self.w.add_tensor(v.name, np.float32, static, shape_signature=sig)
            self.w.add_operator("DEQUANTIZE", [src], [idx])
        self._outs = getattr(self, "_outs", []) + [idx]
        return idx

    # -- the operator hook -----------------------------------------------------------------
    def _add_op(self, name: str, ins: list[int], outs: list[int], options: Any,
                version: int) -> Any:
        w, T = self.w, self.w.tensor
        data = _DATA_INPUT.get(name, 0)
        src = ins[data] if len(ins) > data else -1
        if name in _VIEW_OPS and self._is_i8(src):
            for o in outs:
                if o in self._untyped:
                    self._set_quant(o, _qp_key(T(src)))
                    self._untyped.discard(o)
        if name in ("QUANTIZE", "DEQUANTIZE"):
            if name == "DEQUANTIZE" and self._is_i8(src):
                version = max(version, 2)
            return w.add_raw(name, ins, outs, options, version)
        if not self._is_i8(src):
            self._untyped.difference_update(outs)
            acts = [i for i in ins if self._is_i8(i) and T(i).buffer == 0]
            if acts:
                raise AssertionError(f"infercc bug: float {name} reads int8 tensor "
                                     f"{T(acts[0]).name}")
            return w.add_raw(name, ins, outs, options, version)
        # an int8 kernel -------------------------------------------------------------------
        for o in outs:
            if o in self._untyped and self._int8 and self._cur_qp is not None:
                # an intermediate of the node (e.g. TRANSPOSE_CONV before its crop): the
                # node's result parameters
                self._set_quant(o, self._cur_qp)
            if not self._is_i8(o):
                raise _Unsupported(f"{name} would write {T(o).name} without int8 parameters")
        self._untyped.difference_update(outs)
        in_qp = _qp_key(T(src))
        for i, k in enumerate(ins):
            if k < 0 or i == data or T(k).type != _T_F32 or not T(k).buffer:
                continue
            ins[i] = self._int_const(k, src, ins[1] if i == _BIAS_INPUT.get(name) else None)
        pre, post = [], []
        if name == "CONCATENATION":
            out_qp = _qp_key(T(outs[0]))
            for i, k in enumerate(ins):
                if _qp_key(T(k)) != out_qp:
                    ins[i] = self._like(k, T(k).name + "_requant", out_qp)
                    pre.append((k, ins[i]))
        elif name in SAME_SCALE or name in FIXED_OUTPUT:
            want = in_qp if name in SAME_SCALE else ((np.float32(FIXED_OUTPUT[name][0]),),
                                                     (FIXED_OUTPUT[name][1],))
            for i, o in enumerate(outs):
                if _qp_key(T(o)) != want:
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
        t = self.w.tensor(k)
        f = np.frombuffer(bytes(self.w.model.buffers[t.buffer].data), np.float32)
        f = f.reshape(list(t.shape)).astype(np.float64)
        in_s, in_z = _qp_key(self.w.tensor(src))
        if weight is not None:
            ws = np.asarray(self.w.tensor(weight).quantization.scale, np.float64)
            scale = (np.float64(in_s[0]) * ws).astype(np.float32)
            q = np.clip(np.rint(f / np.broadcast_to(scale, f.shape).astype(np.float64)),
                        -2**31, 2**31 - 1).astype(np.int32)
            idx = self.w.add_const(t.name + "_int32", q)
            self._set_quant(idx, (scale, np.zeros(scale.size, np.int64)), _T_I32)
            return idx
        q = np.clip(np.rint(f / float(in_s[0])) + in_z[0], -128, 127).astype(np.int8)
        idx = self.w.add_const(t.name + "_int8", q)
        self._set_quant(idx, (in_s, in_z))
        return idx

    def run(self) -> bytes:
        data = super().run()
        if self.float_nodes:
            log.info("%d quantized node(s) run in float: %s", len(self.float_nodes),
                     ", ".join(f"{op} ({layer})" for op, layer, _ in self.float_nodes))
        return data
