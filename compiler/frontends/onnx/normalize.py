"""Older ONNX op forms -> the latest opset's form, which is what the IR ops implement.

Each rule takes a :class:`NodeView` (one ONNX node with its inputs already resolved to IR
values and its attributes converted) and either edits it in place (op name, inputs,
attributes) or emits the IR nodes itself and returns the output values. Rules are keyed by
ONNX op type and look at ``view.opset`` (the model's default-domain opset).

Covered: attributes that became inputs (Split ``split``, Squeeze/Unsqueeze ``axes``,
Reduce* ``axes``, Pad ``pads``/``value``, Clip ``min``/``max``, Slice before opset 10, TopK
``k``, Reshape ``shape``, Dropout ``ratio``, Upsample/Resize-10 ``scales``), changed
semantics (Softmax/LogSoftmax/Hardmax before 13 flatten to 2-D), renamed ops and values
(Upsample -> resize, Scatter -> scatter_elements, GridSample modes), legacy attributes
(``consumed_inputs``, ``is_test``, ``spatial``, ``broadcast``), BatchNormalization's legacy
training outputs, and the control-flow ops (If/Loop/Scan) with closure conversion.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ...ir.graph import Graph, Value, sanitize_name
from ...ir.types import DType, TensorType
from ...ops.onnx_names import ir_name

# op type -> IR op name where it is not ir_name(op_type)
_RENAMED = {"Constant": "const", "Identity": "identity", "Upsample": "resize", "Scatter": "scatter_elements"}

# Legacy attributes that carry no meaning for inference in any opset.
_LEGACY_ATTRS = {"consumed_inputs", "is_test"}


def ir_op_for(op_type: str) -> str:
    return _RENAMED.get(op_type) or ir_name(op_type)


def required_ir_ops(op_type: str, opset: int) -> list[str] | None:
    """The IR ops a node of ``op_type`` lowers to at ``opset``."""
    if op_type == "Constant":
        return []
    ops = [ir_op_for(op_type)]
    if op_type in ("Softmax", "LogSoftmax", "Hardmax") and opset < 13:
        ops += ["flatten", "reshape", "shape"]
    return ops


class NodeView:
    """One ONNX node being lowered: the editable parts and helpers to add nodes."""

    def __init__(self, conv, scope, node, label, where, inputs, attrs, outputs):
        self.conv = conv
        self.scope = scope
        self.node = node
        self.op_type: str = node.op_type
        self.opset: int = conv.opset
        self.label: str = label
        self.where: str = where
        self.inputs: list[Value | None] = list(inputs)
        self.attrs: dict[str, Any] = dict(attrs)
        self.outputs: list[str] = list(outputs)
        self.ir_op: str = ir_op_for(node.op_type)

    @property
    def graph(self) -> Graph:
        return self.scope.graph

    def input(self, i: int) -> Value | None:
        return self.inputs[i] if i < len(self.inputs) else None

    def set_input(self, i: int, v: Value | None) -> None:
        while len(self.inputs) <= i:
            self.inputs.append(None)
        self.inputs[i] = v

    def const(self, value: Any, hint: str, dtype: Any = None) -> Value:
        """A new ``const`` node (named after the node and ``hint``) holding ``value``."""
        arr = np.asarray(value, dtype=dtype)
        # add_node renames on a clash, so the hint is passed as is
        return self.graph.add_const(arr, f"{sanitize_name(self.label)}_{hint}", source=(self.label,))

    def pop_attr_to_input(self, attr: str, index: int, dtype: Any) -> None:
        """Move attribute ``attr`` (if present) into input ``index`` as a constant."""
        if attr in self.attrs:
            self.set_input(index, self.const(self.attrs.pop(attr), attr, dtype))

    def drop_if_unused(self, value: Value | None) -> None:
        """Mark a ``const`` this rewrite stopped reading (an emptied Resize roi, ...); it is
        erased once the whole graph is converted if nothing else reads it."""
        if value is not None and value.is_const:
            self.conv.orphans.append(value)

    def emit(self, op: str, inputs: Sequence[Value | None], attrs: dict[str, Any] | None = None,
             names: Sequence[str] | None = None):
        """Add an IR node for this ONNX node; ``names`` default to fresh helper names."""
        if names is None:
            names = [f"{sanitize_name(self.label)}_{op}"]
        return self.conv.emit(self, op, inputs, dict(attrs or {}), names)

    def dtype_of_input(self, i: int) -> DType:
        v = self.input(i)
        return v.type.dtype if v is not None else DType.F32

    def const_value(self, i: int) -> np.ndarray | None:
        v = self.input(i)
        return None if v is None else v.const_value

    def fail(self, msg: str):
        from .importer import OnnxImportError

        raise OnnxImportError(f"{self.where}: {msg}")

    def graph_attr(self, name: str) -> Any:
        """Remove and return the subgraph attribute ``name``; a missing one, or one of another
        type, is refused here rather than trusted by the control-flow rules."""
        import onnx

        g = self.attrs.pop(name, None)
        if not isinstance(g, onnx.GraphProto):
            what = "is missing" if g is None else f"is a {type(g).__name__}, not a graph"
            self.fail(f"attribute '{name}' {what}; a {self.op_type} node needs its '{name}' "
                      "subgraph: re-export the model")
        return g


Rule = Callable[[NodeView], "list[Value] | None"]
_RULES: dict[str, Rule] = {}


def rule(*op_types: str) -> Callable[[Rule], Rule]:
    def wrap(fn: Rule) -> Rule:
        for t in op_types:
            _RULES[t] = fn
        return fn

    return wrap


def normalize(view: NodeView) -> list[Value] | None:
    for k in _LEGACY_ATTRS:
        view.attrs.pop(k, None)
    fn = _RULES.get(view.op_type)
    return fn(view) if fn is not None else None


# -- attributes that became inputs -----------------------------------------------------------

_I64 = np.int64


@rule("Split")
def _split(v: NodeView):
    if v.opset < 13:
        v.pop_attr_to_input("split", 1, _I64)
    if v.input(1) is None and "num_outputs" not in v.attrs:
        v.attrs["num_outputs"] = max(len(v.node.output), 1)


@rule("Squeeze", "Unsqueeze")
def _squeeze(v: NodeView):
    if v.opset < 13:
        v.pop_attr_to_input("axes", 1, _I64)


_REDUCE_AXES_INPUT_SINCE = {"ReduceSum": 13}


@rule("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
      "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare")
def _reduce(v: NodeView):
    if v.opset < _REDUCE_AXES_INPUT_SINCE.get(v.op_type, 18):
        v.pop_attr_to_input("axes", 1, _I64)


@rule("Pad")
def _pad(v: NodeView):
    if v.opset < 11:
        if "paddings" in v.attrs:  # opset 1 spelling
            v.attrs["pads"] = v.attrs.pop("paddings")
        value = v.attrs.pop("value", 0.0)
        v.pop_attr_to_input("pads", 1, _I64)
        if value != 0.0:
            v.set_input(2, v.const(value, "constant_value", v.dtype_of_input(0).numpy))


@rule("Clip")
def _clip(v: NodeView):
    if v.opset < 11:
        dt = v.dtype_of_input(0).numpy
        v.pop_attr_to_input("min", 1, dt)
        v.pop_attr_to_input("max", 2, dt)


@rule("Slice")
def _slice(v: NodeView):
    if v.opset < 10:
        v.pop_attr_to_input("starts", 1, _I64)
        v.pop_attr_to_input("ends", 2, _I64)
        v.pop_attr_to_input("axes", 3, _I64)


@rule("TopK")
def _topk(v: NodeView):
    if v.opset < 10 and "k" in v.attrs:
        v.set_input(1, v.const([v.attrs.pop("k")], "k", _I64))


@rule("Reshape")
def _reshape(v: NodeView):
    if v.opset < 5:
        v.pop_attr_to_input("shape", 1, _I64)


@rule("Dropout")
def _dropout(v: NodeView):
    if v.opset < 12 and "ratio" in v.attrs:
        v.set_input(1, v.const(v.attrs.pop("ratio"), "ratio", np.float32))
    if v.opset < 10 and len(v.outputs) > 1 and v.outputs[1] in v.conv.used_names:
        v.fail("the mask output of Dropout before opset 10 is not supported")
    if v.opset < 10:
        v.outputs = v.outputs[:1]


@rule("Cast")
def _cast(v: NodeView):
    to = v.attrs.get("to")
    if isinstance(to, str):  # opset 1-5 spelled the type as a string
        import onnx

        v.attrs["to"] = int(onnx.TensorProto.DataType.Value(to.upper()))


@rule("Concat")
def _concat(v: NodeView):
    if v.opset < 4:
        v.attrs.setdefault("axis", 1)


# -- changed semantics -----------------------------------------------------------------------


@rule("Softmax", "LogSoftmax", "Hardmax")
def _softmax(v: NodeView):
    if v.opset >= 13:
        return None
    axis = int(v.attrs.pop("axis", 1))
    x = v.input(0)
    rank = x.type.rank
    if rank is not None and (axis % max(rank, 1)) == rank - 1:
        v.attrs["axis"] = -1
        return None
    # before opset 13 the input was coerced to 2-D at `axis` and normalized over the
    # flattened trailing dims
    shape = v.emit("shape", [x]).output
    flat = v.emit("flatten", [x], {"axis": axis}).output
    y = v.emit(v.ir_op, [flat], {"axis": -1}).output
    out = v.emit("reshape", [y, shape], {}, names=v.outputs[:1]).output
    return [out]


@rule("Upsample")
def _upsample(v: NodeView):
    if "scales" in v.attrs:  # opset 7-8
        v.set_input(1, v.const(v.attrs.pop("scales"), "scales", np.float32))
    mode = v.attrs.pop("mode", "nearest")
    v.inputs = [v.input(0), None, v.input(1)]
    v.attrs = _resize10_attrs(mode)


def _resize10_attrs(mode: str) -> dict[str, Any]:
    # Upsample and Resize-10 index the input as x_in = x_out / scale (asymmetric) and take
    # the floor for nearest (ONNX's own Resize 10->11 adapter does the same)
    attrs = {"mode": mode, "coordinate_transformation_mode": "asymmetric"}
    if mode == "nearest":
        attrs["nearest_mode"] = "floor"
    return attrs


@rule("Resize")
def _resize(v: NodeView):
    if v.opset < 11:
        mode = v.attrs.pop("mode", "nearest")
        v.inputs = [v.input(0), None, v.input(1)]
        v.attrs.update(_resize10_attrs(mode))
        return
    # opset 11-12 required roi/scales inputs, given as empty tensors when unused
    for i in (1, 2):
        c = v.const_value(i)
        if c is not None and np.size(c) == 0:
            old = v.input(i)
            v.set_input(i, None)
            v.drop_if_unused(old)
    return


@rule("GridSample")
def _grid_sample(v: NodeView):
    if v.opset < 20:
        mode = v.attrs.get("mode")
        v.attrs["mode"] = {"bilinear": "linear", "bicubic": "cubic"}.get(mode, mode) if mode else "linear"


@rule("BatchNormalization")
def _batch_norm(v: NodeView):
    for k in ("spatial", "momentum") if v.opset < 14 else ("spatial",):
        v.attrs.pop(k, None)
    if v.opset < 14 and len(v.outputs) > 1:
        used = [o for o in v.outputs[1:] if o and o in v.conv.used_names]
        if used:
            v.fail(f"training-mode outputs ({', '.join(used)}) of BatchNormalization are not supported")
        v.outputs = v.outputs[:1]


@rule("Gemm")
def _gemm(v: NodeView):
    v.attrs.pop("broadcast", None)


@rule("Add", "Sub", "Mul", "Div", "Pow", "And", "Or", "Xor", "Equal", "Greater", "Less")
def _legacy_broadcast(v: NodeView):
    if v.opset >= 7:
        return
    v.attrs.pop("broadcast", None)
    axis = v.attrs.pop("axis", None)
    a, b = v.input(0), v.input(1)
    if axis is not None and a is not None and b is not None and a.type.rank is not None and b.type.rank is not None:
        if axis % max(a.type.rank, 1) != a.type.rank - b.type.rank:
            v.fail("legacy broadcasting along a middle axis (opset < 7) is not supported")
    return


# -- control flow ------------------------------------------------------------------------------


@rule("If")
def _if(v: NodeView):
    then_gp, else_gp = v.graph_attr("then_branch"), v.graph_attr("else_branch")
    conv, scope = v.conv, v.scope
    base = sanitize_name(v.label)
    g_then, cap_then = conv.convert_subgraph(then_gp, scope, [], then_gp.name or f"{base}_then", v.where)
    g_else, cap_else = conv.convert_subgraph(else_gp, scope, [], else_gp.name or f"{base}_else", v.where)
    captures = _union(cap_then, cap_else)
    _close_over(g_then, 0, cap_then, captures)
    _close_over(g_else, 0, cap_else, captures)
    v.attrs["then_branch"], v.attrs["else_branch"] = g_then, g_else
    v.inputs = [v.input(0)] + captures


@rule("Loop")
def _loop(v: NodeView):
    body_gp = v.graph_attr("body")
    carried = list(v.inputs[2:])
    formal = [TensorType(DType.I64, ()), TensorType(DType.BOOL, ())]
    for c in carried:
        formal.append(None if c is None else TensorType(c.type.dtype, None))
    body, caps = v.conv.convert_subgraph(body_gp, v.scope, formal, body_gp.name or f"{sanitize_name(v.label)}_body", v.where)
    v.attrs["body"] = body
    inputs = [v.input(0), v.input(1)] + carried
    if caps:
        v.attrs["num_captures"] = len(caps)
    v.inputs = inputs + caps


@rule("Scan")
def _scan(v: NodeView):
    if v.opset < 9:
        v.fail("Scan before opset 9 (with a batch axis and sequence_lens) is not supported; "
               "convert the model with onnx.version_converter to opset 9 or later")
    body_gp = v.graph_attr("body")
    n_scan = int(v.attrs.get("num_scan_inputs", 0))
    states = v.inputs[: len(v.inputs) - n_scan]
    scans = v.inputs[len(v.inputs) - n_scan:]
    in_axes = v.attrs.get("scan_input_axes") or [0] * n_scan
    formal: list[TensorType | None] = [None if s is None else s.type for s in states]
    for x, ax in zip(scans, in_axes):
        if x is None or x.type.shape is None:
            formal.append(None if x is None else TensorType(x.type.dtype, None))
        else:
            shape = list(x.type.shape)
            del shape[ax % len(shape)]
            formal.append(TensorType(x.type.dtype, tuple(shape)))
    body, caps = v.conv.convert_subgraph(body_gp, v.scope, formal, body_gp.name or f"{sanitize_name(v.label)}_body", v.where)
    v.attrs["body"] = body
    if caps:
        v.attrs["num_captures"] = len(caps)
    v.inputs = list(v.inputs) + caps


def _union(a: list[Value], b: list[Value]) -> list[Value]:
    out = list(a)
    seen = {id(x) for x in a}
    for x in b:
        if id(x) not in seen:
            out.append(x)
            seen.add(id(x))
    return out


def add_fresh_input(g: Graph, hint: str, t: TensorType) -> Value:
    from .importer import add_fresh_input as _add

    return _add(g, hint, t)


def _close_over(g: Graph, n_formal: int, own: list[Value], union: list[Value]) -> None:
    """Make ``g``'s capture inputs (after ``n_formal`` formal ones) follow ``union``'s order."""
    formal = g.inputs[:n_formal]
    by_outer = {id(outer): inner for outer, inner in zip(own, g.inputs[n_formal:])}
    caps = []
    for outer in union:
        inner = by_outer.get(id(outer))
        if inner is None:  # captured only by the other branch: an unused input here
            inner = add_fresh_input(g, outer.name, outer.type)
            g.inputs.remove(inner)
        caps.append(inner)
    g.inputs = formal + caps


# -- 4-bit integers ----------------------------------------------------------------------------
# i4/u4 tensors are stored unpacked in int8/uint8 arrays, so a kernel cannot see that its
# target is 4 bits wide from the arrays alone: name the type in an attribute.

_FOUR_BIT_CODES = {DType.I4: 22, DType.U4: 21}


@rule("QuantizeLinear")
def _quantize_4bit(v: NodeView):
    zp = v.input(2)
    if zp is not None and zp.type.dtype in _FOUR_BIT_CODES and not v.attrs.get("output_dtype"):
        v.attrs["output_dtype"] = _FOUR_BIT_CODES[zp.type.dtype]


@rule("CastLike")
def _castlike_4bit(v: NodeView):
    target = v.input(1)
    if target is None or target.type.dtype not in _FOUR_BIT_CODES:
        return None
    attrs = {"to": _FOUR_BIT_CODES[target.type.dtype]}
    if "saturate" in v.attrs:
        attrs["saturate"] = v.attrs["saturate"]
    return v.emit("cast", [v.input(0)], attrs, names=v.outputs).outputs
