"""Tensor types of the IR: element dtype, static or symbolic shape, optional quantization.

Types are frozen and hashable so passes (CSE, pattern matching) can key on them.

Shape dimensions are ``int`` (static), ``str`` (a symbolic name such as ``"N"``) or
``"?"`` (unknown). A shape of ``None`` means the rank itself is unknown.
"""

from __future__ import annotations

import enum
import functools
import json
import re
from dataclasses import dataclass
from typing import Union

import numpy as np

Dim = Union[int, str]
Shape = tuple[Dim, ...]

UNKNOWN_DIM = "?"


class DType(str, enum.Enum):
    """Element types, spelled as in the text format."""

    F16 = "f16"
    BF16 = "bf16"
    F32 = "f32"
    F64 = "f64"
    I4 = "i4"
    I8 = "i8"
    I16 = "i16"
    I32 = "i32"
    I64 = "i64"
    U4 = "u4"
    U8 = "u8"
    U16 = "u16"
    U32 = "u32"
    U64 = "u64"
    BOOL = "bool"
    STR = "str"

    def __str__(self) -> str:  # f"{dtype}" prints the short spelling
        return self.value

    @property
    def numpy(self) -> np.dtype:
        """The numpy dtype that stores this element type."""
        if self is DType.BF16:
            return _bfloat16()
        return np.dtype(_TO_NUMPY[self])

    @property
    def bits(self) -> int | None:
        """Storage bits per element (``bool``: 8, as numpy stores it; ``str``: None)."""
        return _BITS.get(self)

    @property
    def is_float(self) -> bool:
        return self in (DType.F16, DType.BF16, DType.F32, DType.F64)

    @property
    def is_int(self) -> bool:
        return self.value[0] in "iu"

    @classmethod
    def from_numpy(cls, dtype: np.dtype | type) -> "DType":
        dt = np.dtype(dtype)
        if dt.kind in "US" or dt == object:
            return cls.STR
        try:
            return _FROM_NUMPY[dt]
        except KeyError:
            if dt.name == "bfloat16":
                return cls.BF16
            raise ValueError(f"numpy dtype {dt} has no IR element type") from None


_BITS = {DType(k): v for k, v in {"f16": 16, "bf16": 16, "f32": 32, "f64": 64, "i4": 4, "i8": 8,
                                    "i16": 16, "i32": 32, "i64": 64, "u4": 4, "u8": 8,
                                    "u16": 16, "u32": 32, "u64": 64, "bool": 8}.items()}

_TO_NUMPY = {
    DType.F16: "float16",
    DType.F32: "float32",
    DType.F64: "float64",
    DType.I4: "int8",
    DType.I8: "int8",
    DType.I16: "int16",
    DType.I32: "int32",
    DType.I64: "int64",
    DType.U4: "uint8",
    DType.U8: "uint8",
    DType.U16: "uint16",
    DType.U32: "uint32",
    DType.U64: "uint64",
    DType.BOOL: "bool",
    DType.STR: "object",
    DType.BF16: "float32",  # see _bfloat16: ml_dtypes.bfloat16 when that is importable
}


@functools.lru_cache(maxsize=None)
def _bfloat16() -> np.dtype:
    """The numpy dtype of ``bf16``: ``ml_dtypes.bfloat16``, else float32.

    Resolved on first use, not at import: importing ml_dtypes costs about a second, and most
    runs (``infercc passes``, float32 models) never touch bf16. ml_dtypes ships with
    onnx/tensorflow; without it bf16 computes in f32.
    """
    try:
        import ml_dtypes
    except ImportError:  # pragma: no cover
        return np.dtype(np.float32)
    return np.dtype(ml_dtypes.bfloat16)

_FROM_NUMPY = {
    np.dtype(v): k
    for k, v in _TO_NUMPY.items()
    if k not in (DType.I4, DType.U4, DType.STR, DType.BF16)
}


@dataclass(frozen=True)
class QuantParams:
    """Affine quantization ``real = scale * (q - zero_point)``.

    Per-tensor when ``axis`` is None (one scale, one zero point), otherwise one pair per
    index along ``axis``.
    """

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int | None = None

    def __post_init__(self) -> None:
        if len(self.scale) != len(self.zero_point):
            raise ValueError("QuantParams: scale and zero_point lengths differ")
        if self.axis is None and len(self.scale) != 1:
            raise ValueError("QuantParams: per-tensor parameters need exactly one scale")

    @classmethod
    def per_tensor(cls, scale: float, zero_point: int = 0) -> "QuantParams":
        return cls((float(scale),), (int(zero_point),), None)

    @classmethod
    def per_axis(cls, scales, zero_points, axis: int) -> "QuantParams":
        return cls(
            tuple(float(s) for s in np.asarray(scales).ravel()),
            tuple(int(z) for z in np.asarray(zero_points).ravel()),
            int(axis),
        )

    def __str__(self) -> str:
        if self.axis is None:
            return f"q({self.scale[0]!r},{self.zero_point[0]})"
        scales = ",".join(repr(s) for s in self.scale)
        zps = ",".join(str(z) for z in self.zero_point)
        return f"q(axis={self.axis}:[{scales}],[{zps}])"


@dataclass(frozen=True)
class TensorType:
    """The type of an SSA value: ``f32[1,3,224,224]``, ``i8[N,10] q(0.02,-3)``."""

    dtype: DType
    shape: Shape | None
    quant: QuantParams | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.dtype, DType):
            object.__setattr__(self, "dtype", DType(self.dtype))
        if self.shape is not None:
            object.__setattr__(self, "shape", tuple(_norm_dim(d) for d in self.shape))

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    @property
    def is_static(self) -> bool:
        return self.shape is not None and all(isinstance(d, int) for d in self.shape)

    def numel(self) -> int | None:
        if not self.is_static:
            return None
        return int(np.prod(self.shape, dtype=np.int64))

    def with_shape(self, shape: Shape | None) -> "TensorType":
        return TensorType(self.dtype, shape, self.quant)

    def with_dtype(self, dtype: DType) -> "TensorType":
        return TensorType(dtype, self.shape, None)

    def with_quant(self, quant: QuantParams | None) -> "TensorType":
        return TensorType(self.dtype, self.shape, quant)

    def __str__(self) -> str:
        if self.shape is None:
            s = f"{self.dtype.value}[*]"
        else:
            s = f"{self.dtype.value}[{','.join(_fmt_dim(d) for d in self.shape)}]"
        if self.quant is not None:
            s += f" {self.quant}"
        return s

    @classmethod
    def of(cls, array: np.ndarray) -> "TensorType":
        """The type of a concrete array (dense numpy or scipy.sparse)."""
        return cls(DType.from_numpy(array.dtype), tuple(int(d) for d in array.shape))


_PLAIN_DIM = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_.]*|\?)$")


def _fmt_dim(d: Dim) -> str:
    if isinstance(d, int) or _PLAIN_DIM.match(d):
        return str(d)
    return json.dumps(d)


def _norm_dim(d: Dim) -> Dim:
    if isinstance(d, (int, np.integer)):
        if d < 0:
            return UNKNOWN_DIM
        return int(d)
    if d is None or d == "":
        return UNKNOWN_DIM
    return str(d)


def dims_compatible(a: Dim, b: Dim) -> bool:
    """Whether two dims can describe the same runtime extent."""
    if a == UNKNOWN_DIM or b == UNKNOWN_DIM:
        return True
    if isinstance(a, str) or isinstance(b, str):
        return True  # a symbol may be bound to any extent
    return a == b


def types_compatible(declared: TensorType, inferred: TensorType) -> bool:
    """Whether ``declared`` (written in the IR) agrees with ``inferred`` (from the schema)."""
    if declared.dtype != inferred.dtype:
        return False
    if declared.shape is None or inferred.shape is None:
        return True
    if len(declared.shape) != len(inferred.shape):
        return False
    return all(dims_compatible(a, b) for a, b in zip(declared.shape, inferred.shape))
