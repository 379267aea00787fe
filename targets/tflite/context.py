"""The state one TFLite emission carries, and the tensor operations every lowering uses.

Contract of :class:`EmitContext`:

* ``w`` is the :class:`~targets.tflite.writer.TfliteWriter` being filled; ``g`` the graph
  being lowered. ``t[id(value)]`` is the tensor index of an IR value and ``perm[id(value)]``
  its physical order (see :mod:`targets.tflite.layout`): the tensor holds
  ``value.transpose(perm)``.
* :meth:`get` gives a value's tensor in its stored order; :meth:`as_perm` in a wanted order
  (one ``TRANSPOSE``, or a ``RESHAPE`` when only size-1 axes move, made once per value and
  order); constants are written on first use, permuted, and cached per order.
* :meth:`out` makes the tensor of a result value (in a given order); :meth:`alias` binds a
  result to an existing tensor (ops that emit nothing).
* ``quant`` is the int8 policy (:class:`targets.tflite.quantized.Int8Policy`) when the graph
  is in QDQ form, else None. The context consults it at the points where quantization
  changes what a tensor is: a result's parameters (:meth:`out`), helper tensors
  (:meth:`tmp`), int8 values read by a float kernel (:meth:`get` / :meth:`as_perm` read
  their float shadow), int8 constants (:meth:`as_perm`, :meth:`operand`,
  :meth:`weight_const`) and the graph interface.
* ``float16=True`` stores every float constant as float16 behind a ``DEQUANTIZE`` op.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from compiler.ir.graph import Graph, Node, Value, is_sparse
from compiler.ir.types import DType

from . import sparse_tensors
from .errors import Unsupported
from .layout import (TO_NHWC, broadcast_to_order, dims, ident, only_unit_axes_move,
                     permute)
from .writer import TfliteWriter, op_version, tflite_type

if TYPE_CHECKING:
    from .quantized import Int8Policy

#: IR element types the target writes, and their numpy (= TFLite) types
TENSOR_TYPES = {DType.F32: np.dtype(np.float32), DType.I32: np.dtype(np.int32),
                DType.I64: np.dtype(np.int64), DType.BOOL: np.dtype(bool)}
_CONST_TYPES = (np.dtype(np.int32), np.dtype(np.int64), np.dtype(bool))

# Fused activations infercc writes. TFLite's enum also has TANH, but the float kernels clamp
# through CalculateActivationRange, which knows only the RELU family: measured with LiteRT,
# CONV_2D with fused TANH returns the un-activated value and FULLY_CONNECTED refuses it at
# prepare time. So tanh and sigmoid become separate TANH / LOGISTIC ops.
FUSED = {"": 0, "relu": 1, "relu_n1_to_1": 2, "relu6": 3}
_SEPARATE_ACT = {"tanh": "TANH", "sigmoid": "LOGISTIC", "relu": "RELU", "relu6": "RELU6",
                 "relu_n1_to_1": "RELU_N1_TO_1"}


def np_dtype(v: Value) -> np.dtype:
    """The numpy dtype of ``v``'s TFLite tensor (float32 for types the target refuses, so a
    pre-flight placeholder can still be made)."""
    return TENSOR_TYPES.get(v.type.dtype, np.dtype(np.float32))


def transpose_version(tensor: Any) -> int:
    """``TRANSPOSE`` of a bool tensor is version 3 (``op_version.cc``); other types 1."""
    return 3 if tensor.type == tflite_type(np.dtype(bool)) else 1


class EmitContext:
    """Tensors, physical orders and constants of one graph being written as TFLite."""

    def __init__(self, graph: Graph, float16: bool = False,
                 quant: Int8Policy | None = None, sparse_weights: str = "none",
                 sparse_threshold: float | None = None):
        self.g = graph
        self.float16 = float16
        self.sparse_weights = sparse_weights
        self.sparse_threshold = sparse_threshold
        self.quant = quant
        self.w: TfliteWriter = quant.bind(self) if quant is not None \
            else TfliteWriter(graph.name)
        self.t: dict[int, int] = {}  # id(IR value) -> tensor index (in the value's order)
        self.perm: dict[int, tuple[int, ...]] = {}  # id(IR value) -> physical order
        self.problems: list[tuple[str, str, str]] = []
        self.consts: dict[tuple[int, Any], int] = {}
        self._views: dict[tuple[int, tuple[int, ...]], int] = {}
        #: tensors of the graph outputs written so far
        self.outs: list[int] = []
        # id(padded value) -> (unpadded value, its stored order in the padded value's axes
        # or None when they share axes, its spatial sizes): zero PADs folded into the SAME
        # padding of the convs reading them (see peepholes.fold_pad)
        self.padfold: dict[int, tuple[Value, tuple[int, ...] | None, list[int]]] = {}

    @contextlib.contextmanager
    def node_scope(self, node: Node) -> Iterator[None]:
        """Lower ``node`` inside this scope (the int8 policy sets its per-node mode)."""
        if self.quant is None:
            yield
            return
        with self.quant.node_scope(node):
            yield

    # -- tensors and physical orders -------------------------------------------------------
    def perm_of(self, v: Value) -> tuple[int, ...]:
        return self.perm.get(id(v), ident(v.type.rank or 0))

    def out(self, v: Value, perm: Sequence[int] | None = None) -> int:
        """A fresh tensor for IR value ``v`` stored in order ``perm`` (logical by default)."""
        r = v.type.rank or 0
        perm = ident(r) if perm is None else tuple(perm)
        static, sig = dims(permute(v.type.shape, perm))
        name = v.name
        if perm != ident(r) and (v.is_graph_output or v in self.g.inputs):
            name = v.name + "_stored"  # the interface name belongs to the logical tensor
        idx = self.w.add_tensor(name, np_dtype(v), static, shape_signature=sig)
        self.t[id(v)] = idx
        self.perm[id(v)] = perm
        if self.quant is not None:
            self.quant.on_result(v, idx)
        return idx

    def alias(self, v: Value, idx: int, perm: Sequence[int]) -> None:
        """Bind result ``v`` to the existing tensor ``idx`` holding it in order ``perm``."""
        self.t[id(v)] = idx
        self.perm[id(v)] = tuple(perm)

    def tmp(self, name: str, shape: Sequence[Any], dtype: Any = np.float32) -> int:
        """A helper tensor no IR value owns."""
        static, sig = dims(shape)
        idx = self.w.add_tensor(name, dtype, static, shape_signature=sig)
        if self.quant is not None:
            self.quant.on_helper(idx, dtype)
        return idx

    def i32(self, name: str, values: Any) -> int:
        return self.w.add_const(name, np.asarray(values, dtype=np.int32))

    def float_const(self, name: str, array: np.ndarray) -> int:
        a = np.asarray(array, dtype=np.float32)
        if not self.float16:
            return self.w.add_const(name, a)
        half = self.w.add_const(name + "_f16", a.astype(np.float16))
        full = self.w.add_tensor(name, np.float32, a.shape)
        self.w.add_operator("DEQUANTIZE", [half], [full],
                            version=op_version("DEQUANTIZE", input_dtype=np.float16))
        return full

    def nonfloat_const(self, name: str, a: np.ndarray) -> int:
        if a.dtype not in _CONST_TYPES:
            raise Unsupported(f"constant %{name} is {a.dtype}; the TFLite target writes "
                              "float32, int32, int64 and bool constants")
        return self.w.add_const(name, a)

    def const_array(self, v: Value) -> np.ndarray:
        c = v.const_value
        if hasattr(c, "toarray"):
            c = c.toarray()
        return np.asarray(c)

    def bcast_const(self, name: str, a: np.ndarray, perm: Sequence[int]) -> int:
        """Float constant ``a`` broadcast against a value stored in order ``perm``."""
        return self.float_const(name, broadcast_to_order(np.asarray(a, np.float32), perm))

    def weight_const(self, v: Value | None, name: str, array: np.ndarray,
                     perm: Sequence[int], consumer: str = "") -> int:
        """The tensor of weight ``v`` written as ``array`` (= v's value transposed by
        ``perm``, TFLite's layout) for the op ``consumer``; int8 when the int8 policy
        quantizes it, else sparse when the ``sparse_weights`` rule
        (:func:`targets.tflite.sparse_tensors.choose`) picks it."""
        if self.quant is not None:
            idx = self.quant.weight_const(v, name, perm)
            if idx is not None:
                return idx
        choice = sparse_tensors.choose(
            self.sparse_weights, self.sparse_threshold, consumer, array,
            ir_sparse=v is not None and is_sparse(v.const_value))
        if choice is not None:
            return self.sparse_const(name, array, choice)
        return self.float_const(name, array)

    def sparse_const(self, name: str, array: np.ndarray,
                     choice: sparse_tensors.Choice) -> int:
        """Float weight ``array`` stored sparse (float16 values when ``float16``); behind
        ``DENSIFY`` (then ``DEQUANTIZE`` for float16) when ``choice.densify``."""
        a = np.asarray(array, dtype=np.float32)
        half = self.float16 and choice.densify
        values, sparsity = sparse_tensors.encode(a.astype(np.float16) if half else a,
                                                 block=choice.block)
        stored = self.w.add_sparse_const(name + ("_sparse_f16" if half else "_sparse"),
                                         a.shape, values, sparsity)
        if not choice.densify:
            return stored
        dense = self.w.add_tensor(name + ("_f16" if half else ""), values.dtype, a.shape)
        self.w.add_operator("DENSIFY", [stored], [dense])
        if not half:
            return dense
        full = self.w.add_tensor(name, np.float32, a.shape)
        self.w.add_operator("DEQUANTIZE", [dense], [full],
                            version=op_version("DEQUANTIZE", input_dtype=np.float16))
        return full

    def get(self, v: Value | None) -> int:
        """The tensor of an IR value in its physical order (constants: logical order); an
        int8 value read by a float kernel is read through its DEQUANTIZE."""
        if self.quant is not None:
            v = self.quant.float_view(v)
        return self.stored(v)

    def stored(self, v: Value | None) -> int:
        """The tensor of an IR value as stored (int8 or float)."""
        if v is None:
            return -1
        if id(v) in self.t:
            return self.t[id(v)]
        if v.is_const:
            return self.as_perm(v, ident(v.type.rank or 0))
        raise Unsupported(f"input %{v.name} has no TFLite tensor")

    def as_perm(self, v: Value, want: Sequence[int]) -> int:
        """The tensor of ``v`` stored in order ``want`` (a TRANSPOSE made once if needed)."""
        want = tuple(want)
        if self.quant is not None:
            idx = self.quant.int8_const(v, want)
            if idx is not None:
                return idx
            v = self.quant.float_view(v)
        if v.is_const and id(v) not in self.t:
            key = (id(v), want)
            if key not in self.consts:
                a = self.const_array(v)
                if a.dtype != np.float32:
                    self.consts[key] = self.nonfloat_const(v.name, a.transpose(want))
                    return self.consts[key]
                self.consts[key] = self.float_const(v.name, a.transpose(want))
            return self.consts[key]
        have = self.perm_of(v)
        src = self.get(v)
        if have == want:
            return src
        key = (id(v), want)
        if key in self._views:
            return self._views[key]
        shape = list(v.type.shape)
        new_shape = permute(shape, want)
        name = v.name if want == ident(len(want)) and v.is_graph_output \
            else v.name + "_" + "".join(map(str, want))
        dst = self.tmp(name, new_shape, np_dtype(v))
        static, sig = dims(new_shape)
        if only_unit_axes_move(shape, have, want) and sig.count(-1) <= 1:  # same bytes
            self.w.add_operator("RESHAPE", [src, self.i32("shape", sig)], [dst],
                                self.w.options("Reshape", newShape=sig))
        else:
            self.transpose(src, [have.index(a) for a in want], dst)
        self._views[key] = dst
        return dst

    def nhwc(self, v: Value) -> int:
        if v.type.rank != 4:
            raise Unsupported(f"input %{v.name} has rank {v.type.rank}; only rank 4 (NCHW) "
                              "is supported")
        return self.as_perm(v, TO_NHWC)

    def logical(self, v: Value) -> int:
        return self.as_perm(v, ident(v.type.rank or 0))

    def pick_perm(self, values: Sequence[Value | None], rank: int) -> tuple[int, ...]:
        """The physical order of the first non-constant operand of full rank."""
        for v in values:
            if v is not None and not v.is_const and v.type.rank == rank:
                return self.perm_of(v)
        return ident(rank)

    def operand(self, v: Value, perm: Sequence[int]) -> int:
        """An elementwise float operand of a node whose result is stored in order ``perm``."""
        if self.quant is not None:
            idx = self.quant.int8_operand(v, perm)
            if idx is not None:
                return idx
        r = len(perm)
        if not v.is_const:
            if v.type.rank == r:
                return self.as_perm(v, perm)
            if v.type.is_static and v.type.numel() == 1:
                return self.get(v)
            if tuple(perm) == ident(r):
                return self.get(v)  # numpy broadcasting from the right holds as is
            raise Unsupported(f"operand %{v.name} of rank {v.type.rank} broadcasts against a "
                              f"rank-{r} value stored in order {list(perm)}")
        key = (id(v), ("bcast", tuple(perm)))
        if key not in self.consts:
            a = self.const_array(v).astype(np.float32)
            if a.ndim > r:
                raise Unsupported(f"constant %{v.name} has rank {a.ndim} > {r}")
            self.consts[key] = self.float_const(v.name, broadcast_to_order(a, perm))
        return self.consts[key]

    def typed_operand(self, v: Value, perm: Sequence[int]) -> int:
        """Like :meth:`operand`, for a tensor of any type the target writes."""
        if v.type.dtype == DType.F32:
            return self.operand(v, perm)
        r = len(perm)
        if not v.is_const:
            if v.type.rank == r:
                return self.as_perm(v, perm)
            if (v.type.is_static and v.type.numel() == 1) or tuple(perm) == ident(r):
                return self.get(v)
            raise Unsupported(f"operand %{v.name} of rank {v.type.rank} broadcasts "
                              f"against a rank-{r} value stored in order {list(perm)}")
        key = (id(v), ("typed", tuple(perm)))
        if key not in self.consts:
            a = self.const_array(v)
            if a.ndim > r:
                raise Unsupported(f"constant %{v.name} has rank {a.ndim} > {r}")
            self.consts[key] = self.nonfloat_const(v.name, broadcast_to_order(a, perm))
        return self.consts[key]

    def weight(self, v: Value | None, what: str) -> np.ndarray:
        """The float32 array of constant weight ``v`` (refused if not a float constant)."""
        if v is None or not v.is_const:
            raise Unsupported(f"{what} must be a constant")
        a = self.const_array(v)
        if a.dtype != np.float32:
            raise Unsupported(f"{what} %{v.name} is {a.dtype}, not float32")
        return a

    def transpose(self, src: int, perm: Sequence[int], dst: int) -> None:
        self.w.add_operator("TRANSPOSE", [src, self.i32("perm", list(perm))], [dst],
                            version=transpose_version(self.w.tensor(src)))

    def reshape_known(self, src: int, dst: int, shape: Sequence[Any]) -> None:
        """RESHAPE ``src`` -> ``dst`` (at most one unknown dim, written as -1)."""
        sig = [d if isinstance(d, int) else -1 for d in shape]
        self.w.add_operator("RESHAPE", [src, self.i32("shape", sig)], [dst],
                            self.w.options("Reshape", newShape=sig))

    # -- activation handling ---------------------------------------------------------------
    def act(self, v: Value, act: str, perm: Sequence[int] | None = None,
            fusable: bool = True) -> tuple[int, int, Callable[[], None]]:
        """(fused code, tensor the op writes, what to emit after the op) for result ``v``
        with the IR ``activation`` attribute ``act``."""
        act = act or ""
        perm = ident(v.type.rank or 0) if perm is None else tuple(perm)
        if act == "":
            return 0, self.out(v, perm), lambda: None
        if act in FUSED and fusable:
            return FUSED[act], self.out(v, perm), lambda: None
        if act in _SEPARATE_ACT:
            static, sig = dims(permute(v.type.shape, perm))
            pre = self.w.add_tensor(v.name + "_preact", np.float32, static, shape_signature=sig)

            def post() -> None:
                self.w.add_operator(_SEPARATE_ACT[act], [pre], [self.out(v, perm)])

            return 0, pre, post
        raise Unsupported(f"activation {act!r} has no TFLite form")


def const_ints(v: Value | None, what: str) -> list[int] | None:
    """The integers of constant input ``v`` flattened (None when the input is absent)."""
    if v is None:
        return None
    c = v.const_value
    if c is None:
        raise Unsupported(f"{what} %{v.name} must be a constant")
    return [int(i) for i in np.asarray(c).reshape(-1)]


def const_scalar(v: Value | None) -> float | None:
    """The float of scalar constant input ``v`` (None when the input is absent)."""
    if v is None:
        return None
    c = v.const_value
    if c is None:
        raise Unsupported(f"bound %{v.name} is not a constant")
    c = np.asarray(c)
    if c.size != 1:
        raise Unsupported(f"bound %{v.name} is not a scalar")
    return float(c.reshape(()))
