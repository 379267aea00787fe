"""Integer and bool tensors in the TFLite target (a mixin of ``lower._Lowering``).

Contract of :class:`NonFloatOps`:

* Tensor types: IR ``f32`` / ``i32`` / ``i64`` / ``bool`` become TFLite ``FLOAT32`` /
  ``INT32`` / ``INT64`` / ``BOOL`` (graph inputs and outputs included: an ``i64`` model input
  stays ``int64``). Other element types (i8, i16, u8, f16, f64, ...) are refused by the
  pre-flight with the value's name; constants of the three non-float types are written in
  their own type (float constants keep the float path, float16 storage included).
* Ops with an integer or bool result:

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

  Integer ``div`` is refused: ONNX truncates toward zero, TFLite's ``FLOOR_DIV`` floors.
* ``slice`` on an axis of unknown size: positive steps only; TFLite resolves negative and
  past-the-end bounds at run time exactly as ONNX clamps them.
* ``reshape`` whose target is computed at run time (more than one unknown dim even after
  ``resolve-shapes``) -> ``RESHAPE`` reading the target tensor (cast to int32). ONNX's
  ``0`` = "copy this dim" is not expressible there; targets computed from the shapes of
  non-empty tensors never hold it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from compiler.ir.graph import Node, Value
from compiler.ir.types import DType

from . import lower as _low
from .writer import tflite_type

_NP = {DType.F32: np.dtype(np.float32), DType.I32: np.dtype(np.int32),
       DType.I64: np.dtype(np.int64), DType.BOOL: np.dtype(bool)}
_CONST_TYPES = (np.dtype(np.int32), np.dtype(np.int64), np.dtype(bool))
# float lowerings that only move data and work for int32 / int64 tensors as they are
_MOVE = {"concat", "reshape", "flatten", "squeeze", "unsqueeze", "gather", "slice", "split",
         "transpose", "identity"}
_COMPARE = {"equal": "EQUAL", "less": "LESS", "less_or_equal": "LESS_EQUAL",
            "greater": "GREATER", "greater_or_equal": "GREATER_EQUAL"}
_LOGICAL = {"and": "LOGICAL_AND", "or": "LOGICAL_OR"}
_INT_BINARY = {"add": ("ADD", "Add", 4), "sub": ("SUB", "Sub", 4), "mul": ("MUL", "Mul", 5)}
_I32_MAX = 2**31 - 1


def np_dtype(v: Value) -> np.dtype:
    """The numpy dtype of ``v``'s TFLite tensor (float32 for types the target refuses, so a
    pre-flight placeholder can still be made)."""
    return _NP.get(v.type.dtype, np.dtype(np.float32))


def transpose_version(tensor: Any) -> int:
    """``TRANSPOSE`` of a bool tensor is version 3 (``op_version.cc``); other types 1."""
    return 3 if tensor.type == tflite_type(np.dtype(bool)) else 1


class NonFloatOps:
    """Lowerings for int32 / int64 / bool values; mixed into ``lower._Lowering``."""

    # -- hooks the driver calls ------------------------------------------------------------
    def _interface_dtype_ok(self, v: Value) -> bool:
        return v.type.dtype in _NP

    def _nonfloat_lowering(self, node: Node, fn: Callable | None) -> Callable:
        """The lowering of a node with a non-float32 result (raises if there is none)."""
        for v in node.outputs:
            if v.type.dtype not in _NP:
                raise _low._Unsupported(
                    f"output %{v.name} is {v.type.dtype}; the TFLite target writes float32, "
                    "int32, int64 and bool tensors")
        own = getattr(self, "_nf_" + node.op, None)
        if own is not None:
            return own
        kinds = {v.type.dtype for v in node.outputs}
        if node.op in _MOVE and fn is not None:
            if DType.BOOL in kinds:
                raise _low._Unsupported(f"bool {node.op} is not supported (bool tensors come "
                                        "from comparisons and feed where / logic / cast)")

            def move(n: Node, attrs: dict) -> None:
                fn(n, attrs)
                for v in n.outputs:  # helper tensors of the float path default to float32
                    if id(v) in self.t:
                        self.w.tensor(self.t[id(v)]).type = tflite_type(np_dtype(v))

            return move
        what = "/".join(sorted(str(k) for k in kinds))
        if node.op == "div":
            raise _low._Unsupported(f"{what} div truncates toward zero; TFLite's FLOOR_DIV "
                                    "floors, so integer division is not expressible")
        raise _low._Unsupported(f"no TFLite lowering for a {what} {node.op}")

    def _nonfloat_const(self, name: str, a: np.ndarray) -> int:
        if a.dtype not in _CONST_TYPES:
            raise _low._Unsupported(f"constant %{name} is {a.dtype}; the TFLite target writes "
                                    "float32, int32, int64 and bool constants")
        return self.w.add_const(name, a)

    def _slice_unknown_dim(self, s: int, e: int, st: int, axis: int,
                           x: Value) -> tuple[int, int, int, bool]:
        """(begin, end, stride, end-mask) of one slice axis whose size is unknown."""
        if st <= 0:
            raise _low._Unsupported(f"axis {axis} of %{x.name} has an unknown size; only "
                                    "positive steps can be sliced there")
        to_end = e >= _I32_MAX
        return max(min(s, _I32_MAX), -_I32_MAX), 0 if to_end else max(e, -_I32_MAX), st, to_end

    # -- operands --------------------------------------------------------------------------
    def _typed_operand(self, v: Value, perm: Sequence[int]) -> int:
        """Like ``operand`` (elementwise operand stored in ``perm``), for any tensor type."""
        if v.type.dtype == DType.F32:
            return self.operand(v, perm)
        r = len(perm)
        if not v.is_const:
            if v.type.rank == r:
                return self.as_perm(v, perm)
            if (v.type.is_static and v.type.numel() == 1) or tuple(perm) == tuple(range(r)):
                return self.get(v)
            raise _low._Unsupported(f"operand %{v.name} of rank {v.type.rank} broadcasts "
                                    f"against a rank-{r} value stored in order {list(perm)}")
        key = (id(v), ("typed", tuple(perm)))
        if key not in self._consts:
            a = self._const_array(v)
            if a.ndim > r:
                raise _low._Unsupported(f"constant %{v.name} has rank {a.ndim} > {r}")
            a = a.reshape((1,) * (r - a.ndim) + a.shape).transpose(perm)
            while a.ndim > 1 and a.shape[0] == 1:
                a = a.reshape(a.shape[1:])
            self._consts[key] = self._nonfloat_const(v.name, a)
        return self._consts[key]

    def _elementwise(self, node: Node, opname: str, operands: Sequence[Value],
                     options: Any = None, version: int = 1) -> None:
        out = node.outputs[0]
        p = self._pick_perm(operands, out.type.rank)
        ins = [self._typed_operand(v, p) for v in operands]
        self.w.add_operator(opname, ins, [self._out(out, p)], options, version=version)

    # -- ops -------------------------------------------------------------------------------
    def _op_cast(self, node: Node, attrs: dict) -> None:
        x, y = node.inputs[0], node.outputs[0]
        if x.type.dtype not in _NP:
            raise _low._Unsupported(f"input %{x.name} is {x.type.dtype}; CAST is written for "
                                    "float32, int32, int64 and bool")
        if np_dtype(x) == np_dtype(y):
            self._alias(y, self.get(x), self.perm_of(x))
            return
        p = self.perm_of(x)
        opts = self.w.options("Cast", inDataType=tflite_type(np_dtype(x)),
                              outDataType=tflite_type(np_dtype(y)))
        self.w.add_operator("CAST", [self.get(x)], [self._out(y, p)], opts)

    _nf_cast = _op_cast

    def _compare(self, node: Node, attrs: dict) -> None:
        self._elementwise(node, _COMPARE[node.op], node.inputs[:2])

    _nf_equal = _nf_less = _nf_less_or_equal = _nf_greater = _nf_greater_or_equal = _compare

    def _nf_not(self, node: Node, attrs: dict) -> None:
        self._elementwise(node, "LOGICAL_NOT", node.inputs[:1])

    def _logical(self, node: Node, attrs: dict) -> None:
        self._elementwise(node, _LOGICAL[node.op], node.inputs[:2])

    _nf_and = _nf_or = _logical

    def _op_where(self, node: Node, attrs: dict) -> None:
        cond, a, b = node.inputs[:3]
        out = node.outputs[0]
        p = self._pick_perm([a, b, cond], out.type.rank)
        ins = [self._typed_operand(v, p) for v in (cond, a, b)]
        self.w.add_operator("SELECT_V2", ins, [self._out(out, p)])

    _nf_where = _op_where

    def _int_binary(self, node: Node, attrs: dict) -> None:
        if attrs.get("activation", ""):
            raise _low._Unsupported("a fused activation on integers has no TFLite form")
        opname, opt, v64 = _INT_BINARY[node.op]
        i64 = node.outputs[0].type.dtype == DType.I64
        self._elementwise(node, opname, node.inputs[:2], self.w.options(opt),
                          version=v64 if i64 else 1)

    _nf_add = _nf_sub = _nf_mul = _int_binary

    def _nf_shape(self, node: Node, attrs: dict) -> None:
        x, y = node.inputs[0], node.outputs[0]
        r = x.type.rank
        start = int(attrs.get("start", 0) or 0)
        end = attrs.get("end")
        lo, hi, _ = slice(start, r if end is None else int(end)).indices(r)
        opts = self.w.options("Shape", outType=tflite_type(np_dtype(y)))
        if (lo, hi) == (0, r):
            self.w.add_operator("SHAPE", [self.logical(x)], [self._out(y)], opts)
            return
        full = self._tmp(y.name + "_full", [r], np_dtype(y))
        self.w.add_operator("SHAPE", [self.logical(x)], [full], opts)
        self.w.add_operator("STRIDED_SLICE", [full, self._i32(y.name + "_begin", [lo]),
                                              self._i32(y.name + "_end", [hi]),
                                              self._i32(y.name + "_strides", [1])],
                            [self._out(y)], self.w.options("StridedSlice"))

    def _reshape_dynamic(self, node: Node) -> None:
        """RESHAPE reading a target computed at run time (cast to int32)."""
        x, target, y = node.inputs[0], node.inputs[1], node.outputs[0]
        if int(node.attrs.get("allowzero", 0) or 0):
            raise _low._Unsupported("allowzero=1 with a run-time target has no TFLite form")
        shape = self.logical(target)
        if target.type.dtype != DType.I32:
            cast = self._tmp(target.name + "_i32", target.type.shape, np.int32)
            self.w.add_operator("CAST", [shape], [cast], self.w.options(
                "Cast", inDataType=tflite_type(np_dtype(target)),
                outDataType=tflite_type(np.int32)))
            shape = cast
        self.w.add_operator("RESHAPE", [self.logical(x), shape], [self._out(y)])
