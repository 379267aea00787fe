"""IR element types and arrays -> ONNX ``TensorProto`` / ``TypeProto``.

Contracts:

* :func:`elem_type` maps every IR :class:`~compiler.ir.DType` to an ONNX
  ``TensorProto.DataType``.
* :func:`to_tensor_proto` turns a numpy array (or a ``scipy.sparse`` matrix, densified) into a
  ``TensorProto`` of the requested IR element type; ``i4``/``u4`` values (stored by the IR in
  int8/uint8 arrays) are packed by ONNX, ``bf16`` works with or without ``ml_dtypes``.
* :func:`type_proto` writes a :class:`~compiler.ir.TensorType`: symbolic dims become
  ``dim_param``, ``"?"`` an empty dim, an unknown rank no shape. Type-level quantization
  parameters are dropped (ONNX types cannot hold them; Q/DQ nodes carry the real ones).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from compiler.ir.graph import is_sparse
from compiler.ir.types import UNKNOWN_DIM, DType, TensorType

# IR element type -> onnx.TensorProto.DataType (the numbers are fixed by onnx.proto).
_ELEM_TYPES: dict[DType, int] = {
    DType.F32: 1,
    DType.U8: 2,
    DType.I8: 3,
    DType.U16: 4,
    DType.I16: 5,
    DType.I32: 6,
    DType.I64: 7,
    DType.STR: 8,
    DType.BOOL: 9,
    DType.F16: 10,
    DType.F64: 11,
    DType.U32: 12,
    DType.U64: 13,
    DType.BF16: 16,
    DType.U4: 21,
    DType.I4: 22,
}


def elem_type(dtype: DType) -> int:
    """The ONNX ``TensorProto.DataType`` number of an IR element type."""
    return _ELEM_TYPES[DType(dtype)]


def dense(value: Any) -> np.ndarray:
    """``value`` as a dense numpy array.

    scipy.sparse constants are densified: ONNX's ``sparse_initializer`` would only shrink
    the file. onnxruntime densifies it when the session loads and runs its dense Conv/MatMul
    kernels (targets/onnx/sparse_rule.py cites the measurement; onnxruntime's maintainers
    say the same in microsoft/onnxruntime#5578), while a dense file loads in every ONNX
    consumer, including tools that drop sparse initializers (onnx/onnx#3009).
    """
    if is_sparse(value):
        return np.asarray(value.toarray())
    return np.asarray(value)


def to_tensor_proto(value: Any, name: str = "", dtype: DType | None = None) -> Any:
    """A ``TensorProto`` holding ``value`` with IR element type ``dtype`` (default: its own)."""
    from onnx import TensorProto, helper, numpy_helper

    arr = dense(value)
    if dtype is None:
        dtype = DType.from_numpy(arr.dtype)
    dtype = DType(dtype)
    if dtype in (DType.I4, DType.U4):
        # the IR keeps 4-bit values unpacked in 8-bit arrays; make_tensor packs them
        code = elem_type(dtype)
        return helper.make_tensor(name, code, list(arr.shape), arr.astype(np.int64).ravel().tolist())
    if dtype == DType.BF16 and arr.dtype.name != "bfloat16":
        # without ml_dtypes the IR computes bf16 in float32; make_tensor rounds to bf16
        return helper.make_tensor(name, TensorProto.BFLOAT16, list(arr.shape),
                                  arr.astype(np.float32).ravel().tolist())
    if dtype == DType.STR:
        arr = np.array([str(x) for x in arr.ravel().tolist()], dtype=object).reshape(arr.shape)
        return numpy_helper.from_array(arr, name)
    want = dtype.numpy
    if arr.dtype != want:
        arr = arr.astype(want)
    if not arr.flags.c_contiguous:
        arr = arr.copy(order="C")  # (np.ascontiguousarray would turn a 0-d array into 1-d)
    return numpy_helper.from_array(arr, name)


def type_proto(t: TensorType) -> Any:
    """The ONNX ``TypeProto`` of an IR tensor type (quantization parameters dropped)."""
    from onnx import helper

    shape = None
    if t.shape is not None:
        shape = [None if d == UNKNOWN_DIM else d for d in t.shape]
    return helper.make_tensor_type_proto(elem_type(t.dtype), shape)


def value_info(name: str, t: TensorType) -> Any:
    from onnx import helper

    return helper.make_value_info(name, type_proto(t))


def scalar(value: float, dtype: DType, name: str) -> Any:
    """A 0-d ``TensorProto`` of IR element type ``dtype``."""
    return to_tensor_proto(np.array(value, dtype=np.float64), name, dtype)
