"""Integer and bool tensors in the TFLite target.

Contract:

* Tensor types: IR ``f32`` / ``i32`` / ``i64`` / ``bool`` become TFLite ``FLOAT32`` /
  ``INT32`` / ``INT64`` / ``BOOL`` (graph inputs and outputs included: an ``i64`` model input
  stays ``int64``). Other element types (i8, i16, u8, f16, f64, ...) are refused with the
  value's name; constants of the three non-float types are written in their own type.
* Ops with an integer or bool result (the lowerings here are selected by
  :func:`integer_result`):

  - ``cast`` (any of the four types, both ways) -> ``CAST``; a cast to the same type
    emits nothing;
  - ``equal`` / ``less`` / ``less_or_equal`` / ``greater`` / ``greater_or_equal`` ->
    ``EQUAL`` / ``LESS`` / ``LESS_EQUAL`` / ``GREATER`` / ``GREATER_EQUAL`` (float or
    integer operands, broadcasting), ``not`` / ``and`` / ``or`` -> ``LOGICAL_*``;
  - ``where`` -> ``SELECT_V2`` (any result type);
  - integer ``add`` / ``sub`` / ``mul`` -> ``ADD`` / ``SUB`` / ``MUL`` (int64 needs versions
    4 / 4 / 5, as TFLite's ``op_version.cc`` states);
  - ``shape`` -> ``SHAPE`` (``out_type`` int64, as the IR's), start/end -> ``STRIDED_SLICE``;
  - data movement of int32/int64 values (concat, reshape, flatten, squeeze, unsqueeze,
    gather, slice, split, transpose, identity) uses the float lowerings unchanged (their
    kernels are type-generic at version 1); bool data movement is refused.

  Integer ``div`` is refused: ONNX truncates toward zero, TFLite's ``FLOOR_DIV`` floors
  (:func:`no_lowering_reason` says why a node has no lowering).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from compiler.ir.graph import Node, Value
from compiler.ir.types import DType

from ..context import TENSOR_TYPES, EmitContext, np_dtype
from ..errors import Unsupported
from ..registry import LowerFn, lowering, register
from ..writer import tflite_type
from . import tensor

_COMPARE = {"equal": "EQUAL", "less": "LESS", "less_or_equal": "LESS_EQUAL",
            "greater": "GREATER", "greater_or_equal": "GREATER_EQUAL"}
_LOGICAL = {"and": "LOGICAL_AND", "or": "LOGICAL_OR"}
_INT_BINARY = {"add": ("ADD", "Add", 4), "sub": ("SUB", "Sub", 4), "mul": ("MUL", "Mul", 5)}
# float lowerings that only move data and work for int32 / int64 tensors as they are
_MOVE: dict[str, LowerFn] = {
    "concat": tensor.lower_concat, "reshape": tensor.lower_reshape,
    "flatten": tensor.lower_reshape, "squeeze": tensor.lower_reshape,
    "unsqueeze": tensor.lower_reshape, "gather": tensor.lower_gather,
    "slice": tensor.lower_slice, "split": tensor.lower_split,
    "transpose": tensor.lower_transpose, "identity": tensor.lower_identity}


def writable_result(node: Node, ctx: Any = None) -> bool:
    """Every output of ``node`` has a type the target writes (float32, int32, int64, bool)."""
    return all(v.type.dtype in TENSOR_TYPES for v in node.outputs)


def integer_result(node: Node, ctx: Any = None) -> bool:
    """Some output is int32 / int64 / bool and every output has a type the target writes."""
    return writable_result(node) and any(v.type.dtype != DType.F32 for v in node.outputs)


def _int_move(node: Node, ctx: Any = None) -> bool:
    return integer_result(node) and all(v.type.dtype != DType.BOOL for v in node.outputs)


def no_lowering_reason(node: Node) -> str:
    """Why no registered lowering takes ``node`` (the message the user sees)."""
    for v in node.outputs:
        if v.type.dtype not in TENSOR_TYPES:
            return (f"output %{v.name} is {v.type.dtype}; the TFLite target writes float32, "
                    "int32, int64 and bool tensors")
    kinds = {v.type.dtype for v in node.outputs}
    if kinds == {DType.F32}:
        return "no TFLite lowering for this op"
    if node.op in _MOVE and DType.BOOL in kinds:
        return (f"bool {node.op} is not supported (bool tensors come from comparisons and "
                "feed where / logic / cast)")
    what = "/".join(sorted(str(k) for k in kinds))
    if node.op == "div":
        return (f"{what} div truncates toward zero; TFLite's FLOOR_DIV floors, so integer "
                "division is not expressible")
    return f"no TFLite lowering for a {what} {node.op}"


def elementwise(ctx: EmitContext, node: Node, opname: str, operands: Sequence[Value],
                options: Any = None, version: int = 1) -> None:
    """``opname`` over ``operands`` of any written type, broadcasting in their stored order."""
    out = node.outputs[0]
    p = ctx.pick_perm(operands, out.type.rank)
    ins = [ctx.typed_operand(v, p) for v in operands]
    ctx.w.add_operator(opname, ins, [ctx.out(out, p)], options, version=version)


def _typed_move(move: LowerFn) -> LowerFn:
    def lower_typed_move(ctx: EmitContext, node: Node, attrs: dict) -> None:
        move(ctx, node, attrs)
        for v in node.outputs:  # helper tensors of the float path default to float32
            if id(v) in ctx.t:
                ctx.w.tensor(ctx.t[id(v)]).type = tflite_type(np_dtype(v))

    return lower_typed_move


for _op, _fn in _MOVE.items():
    register(_op, _typed_move(_fn), when=_int_move)


@lowering("cast", when=writable_result)
def lower_cast(ctx: EmitContext, node: Node, attrs: dict) -> None:
    x, y = node.inputs[0], node.outputs[0]
    if x.type.dtype not in TENSOR_TYPES:
        raise Unsupported(f"input %{x.name} is {x.type.dtype}; CAST is written for "
                          "float32, int32, int64 and bool")
    if np_dtype(x) == np_dtype(y):
        ctx.alias(y, ctx.get(x), ctx.perm_of(x))
        return
    p = ctx.perm_of(x)
    opts = ctx.w.options("Cast", inDataType=tflite_type(np_dtype(x)),
                         outDataType=tflite_type(np_dtype(y)))
    ctx.w.add_operator("CAST", [ctx.get(x)], [ctx.out(y, p)], opts)


@lowering(*_COMPARE, when=integer_result)
def lower_compare(ctx: EmitContext, node: Node, attrs: dict) -> None:
    elementwise(ctx, node, _COMPARE[node.op], node.inputs[:2])


@lowering("not", when=integer_result)
def lower_not(ctx: EmitContext, node: Node, attrs: dict) -> None:
    elementwise(ctx, node, "LOGICAL_NOT", node.inputs[:1])


@lowering(*_LOGICAL, when=integer_result)
def lower_logical(ctx: EmitContext, node: Node, attrs: dict) -> None:
    elementwise(ctx, node, _LOGICAL[node.op], node.inputs[:2])


@lowering("where", when=writable_result)
def lower_where(ctx: EmitContext, node: Node, attrs: dict) -> None:
    cond, a, b = node.inputs[:3]
    out = node.outputs[0]
    p = ctx.pick_perm([a, b, cond], out.type.rank)
    ins = [ctx.typed_operand(v, p) for v in (cond, a, b)]
    ctx.w.add_operator("SELECT_V2", ins, [ctx.out(out, p)])


@lowering(*_INT_BINARY, when=integer_result)
def lower_int_binary(ctx: EmitContext, node: Node, attrs: dict) -> None:
    if attrs.get("activation", ""):
        raise Unsupported("a fused activation on integers has no TFLite form")
    opname, opt, v64 = _INT_BINARY[node.op]
    i64 = node.outputs[0].type.dtype == DType.I64
    elementwise(ctx, node, opname, node.inputs[:2], ctx.w.options(opt),
                version=v64 if i64 else 1)


@lowering("shape", when=integer_result)
def lower_shape(ctx: EmitContext, node: Node, attrs: dict) -> None:
    x, y = node.inputs[0], node.outputs[0]
    r = x.type.rank
    start = int(attrs.get("start", 0) or 0)
    end = attrs.get("end")
    lo, hi, _ = slice(start, r if end is None else int(end)).indices(r)
    opts = ctx.w.options("Shape", outType=tflite_type(np_dtype(y)))
    if (lo, hi) == (0, r):
        ctx.w.add_operator("SHAPE", [ctx.logical(x)], [ctx.out(y)], opts)
        return
    full = ctx.tmp(y.name + "_full", [r], np_dtype(y))
    ctx.w.add_operator("SHAPE", [ctx.logical(x)], [full], opts)
    ctx.w.add_operator("STRIDED_SLICE", [full, ctx.i32(y.name + "_begin", [lo]),
                                         ctx.i32(y.name + "_end", [hi]),
                                         ctx.i32(y.name + "_strides", [1])],
                       [ctx.out(y)], ctx.w.options("StridedSlice"))
