"""Value types of the TensorRT Python API as the stand-in models them: enums, Dims, Weights.

Names and members are those of ``tensorrt-stubs`` 10.13 (``tensorrt_bindings/tensorrt.pyi``);
only the members a converter of infercc can reach are listed. ``StandinError`` is what the
stand-in raises where real TensorRT logs an error and returns ``None``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

OPERATORS = "https://docs.nvidia.com/deeplearning/tensorrt/latest/_static/operators/{}.html"
PYTHON_API = ("https://docs.nvidia.com/deeplearning/tensorrt/latest/_static/python-api/infer/"
              "Graph/{}.html")


def op_page(name: str) -> str:
    """Address of TensorRT's operator page ``name`` (e.g. ``"Convolution"``)."""
    return OPERATORS.format(name)


class StandinError(Exception):
    """A network TensorRT would refuse: names the rule broken and the page that states it."""

    def __init__(self, detail: str, rule: str, page: str) -> None:
        super().__init__(f"{detail} (TensorRT rule: {rule}; see {page})")
        self.detail = detail
        self.rule = rule
        self.page = page


class _Enum(enum.Enum):
    def __repr__(self) -> str:
        return f"{type(self).__name__}.{self.name}"

    __str__ = __repr__

    def __int__(self) -> int:
        return int(self.value)


def _members(name: str, names: str) -> Any:
    return _Enum(name, [(n, i) for i, n in enumerate(names.split())])  # type: ignore[misc]


DataType = _members("DataType", "FLOAT HALF INT8 INT32 BOOL UINT8 FP8 BF16 INT64 INT4 FP4 E8M0")
ActivationType = _members(
    "ActivationType",
    "RELU SIGMOID TANH LEAKY_RELU ELU SELU SOFTSIGN SOFTPLUS CLIP HARD_SIGMOID SCALED_TANH "
    "THRESHOLDED_RELU GELU_ERF GELU_TANH")
UnaryOperation = _members(
    "UnaryOperation",
    "EXP LOG SQRT RECIP ABS NEG SIN COS TAN SINH COSH ASIN ACOS ATAN ASINH ACOSH ATANH CEIL "
    "FLOOR ERF NOT SIGN ROUND ISINF ISNAN")
ElementWiseOperation = _members(
    "ElementWiseOperation", "SUM PROD MAX MIN SUB DIV POW FLOOR_DIV AND OR XOR EQUAL GREATER LESS")
MatrixOperation = _members("MatrixOperation", "NONE TRANSPOSE VECTOR")
PoolingType = _members("PoolingType", "MAX AVERAGE MAX_AVERAGE_BLEND")
PaddingMode = _members("PaddingMode", "EXPLICIT_ROUND_DOWN EXPLICIT_ROUND_UP SAME_UPPER SAME_LOWER")
ReduceOperation = _members("ReduceOperation", "SUM PROD MAX MIN AVG")
SampleMode = _members("SampleMode", "STRICT_BOUNDS WRAP CLAMP FILL REFLECT")
GatherMode = _members("GatherMode", "DEFAULT ELEMENT ND")
InterpolationMode = _members("InterpolationMode", "NEAREST LINEAR CUBIC")
ResizeCoordinateTransformation = _members(
    "ResizeCoordinateTransformation", "ALIGN_CORNERS ASYMMETRIC HALF_PIXEL")
ResizeSelector = _members("ResizeSelector", "FORMULA UPPER")
ResizeRoundMode = _members("ResizeRoundMode", "HALF_UP HALF_DOWN FLOOR CEIL")
TopKOperation = _members("TopKOperation", "MAX MIN")
NetworkDefinitionCreationFlag = _members(
    "NetworkDefinitionCreationFlag",
    "EXPLICIT_BATCH STRONGLY_TYPED PREFER_AOT_PYTHON_PLUGINS PREFER_JIT_PYTHON_PLUGINS")
BuilderFlag = _members(
    "BuilderFlag",
    "FP16 INT8 DEBUG GPU_FALLBACK REFIT DISABLE_TIMING_CACHE TF32 SPARSE_WEIGHTS SAFETY_SCOPE "
    "OBEY_PRECISION_CONSTRAINTS PREFER_PRECISION_CONSTRAINTS DIRECT_IO REJECT_EMPTY_ALGORITHMS "
    "VERSION_COMPATIBLE EXCLUDE_LEAN_RUNTIME FP8 ERROR_ON_TIMING_CACHE_MISS BF16 "
    "DISABLE_COMPILATION_CACHE STRIP_PLAN REFIT_IDENTICAL WEIGHT_STREAMING INT4 REFIT_INDIVIDUAL "
    "STRICT_NANS MONITOR_MEMORY FP4")
MemoryPoolType = _members(
    "MemoryPoolType",
    "WORKSPACE DLA_MANAGED_SRAM DLA_LOCAL_DRAM DLA_GLOBAL_DRAM TACTIC_DRAM TACTIC_SHARED_MEMORY")
ProfilingVerbosity = _members("ProfilingVerbosity", "LAYER_NAMES_ONLY NONE DETAILED")
LayerInformationFormat = _members("LayerInformationFormat", "ONELINE JSON")
LayerType = _members(
    "LayerType",
    "CONVOLUTION ACTIVATION POOLING LRN SCALE SOFTMAX DECONVOLUTION CONCATENATION ELEMENTWISE "
    "PLUGIN UNARY PADDING SHUFFLE REDUCE TOPK GATHER MATRIX_MULTIPLY RAGGED_SOFTMAX CONSTANT "
    "IDENTITY CAST PLUGIN_V2 SLICE SHAPE PARAMETRIC_RELU RESIZE TRIP_LIMIT RECURRENCE ITERATOR "
    "LOOP_OUTPUT SELECT FILL QUANTIZE DEQUANTIZE CONDITION CONDITIONAL_INPUT CONDITIONAL_OUTPUT "
    "SCATTER EINSUM ASSERTION ONE_HOT NON_ZERO GRID_SAMPLE NMS REVERSE_SEQUENCE NORMALIZATION "
    "PLUGIN_V3 SQUEEZE UNSQUEEZE CUMULATIVE DYNAMIC_QUANTIZE")

#: the numpy type each executable DataType runs in
_NUMPY = {
    DataType.FLOAT: np.dtype(np.float32), DataType.HALF: np.dtype(np.float16),
    DataType.INT8: np.dtype(np.int8), DataType.INT32: np.dtype(np.int32),
    DataType.INT64: np.dtype(np.int64), DataType.BOOL: np.dtype(np.bool_),
    DataType.UINT8: np.dtype(np.uint8),
}
_FROM_NUMPY = {v: k for k, v in _NUMPY.items()}
FLOATS = (DataType.FLOAT, DataType.HALF)
INTEGERS = (DataType.INT32, DataType.INT64)


def nptype(dtype: Any) -> type:
    """The numpy scalar type of a DataType (``tensorrt.nptype``)."""
    if dtype not in _NUMPY:
        raise StandinError(f"{dtype} has no numpy type in the stand-in", "executable types",
                           PYTHON_API.format("../FoundationalTypes/DataType"))
    return _NUMPY[dtype].type


def datatype_of(array: np.ndarray) -> Any:
    """The DataType of a numpy array (float64 and other types TensorRT lacks are refused)."""
    dt = np.asarray(array).dtype
    if dt not in _FROM_NUMPY:
        raise StandinError(f"numpy dtype {dt} is not a TensorRT DataType", "DataType",
                           PYTHON_API.format("../FoundationalTypes/DataType"))
    return _FROM_NUMPY[dt]


class Dims(tuple):  # type: ignore[type-arg]
    """``tensorrt.Dims``: a tuple of ints; -1 marks a dimension known only at run time."""

    MAX_DIMS = 8

    def __new__(cls, shape: Iterable[int] = ()) -> Dims:
        dims = tuple(int(d) for d in shape)
        if len(dims) > cls.MAX_DIMS:
            raise StandinError(f"Dims of rank {len(dims)}", "at most Dims.MAX_DIMS = 8 dimensions",
                               PYTHON_API.format("../FoundationalTypes/Dims"))
        return super().__new__(cls, dims)

    def __repr__(self) -> str:
        return f"({', '.join(map(str, self))})"


def _fixed(rank: int, name: str) -> type:
    def new(cls: type, *args: Any) -> Dims:
        dims = tuple(args[0]) if len(args) == 1 and isinstance(args[0], Sequence) else args
        if len(dims) != rank:
            raise TypeError(f"{name} takes {rank} dimensions, got {len(dims)}")
        return Dims.__new__(cls, dims)  # type: ignore[arg-type]
    return type(name, (Dims,), {"__new__": new})


Dims2 = _fixed(2, "Dims2")
DimsHW = _fixed(2, "DimsHW")
Dims3 = _fixed(3, "Dims3")
Dims4 = _fixed(4, "Dims4")


class Permutation(tuple):  # type: ignore[type-arg]
    """``tensorrt.Permutation``: output dimension i is input dimension ``perm[i]``."""

    def __new__(cls, order: Iterable[int] = ()) -> Permutation:
        return super().__new__(cls, tuple(int(d) for d in order))


def as_dims(value: Any) -> Dims:
    """A Dims from what the binding accepts for a Dims argument (Dims, tuple, list)."""
    return value if isinstance(value, Dims) else Dims(value)


class Weights:
    """``tensorrt.Weights``: a host array; ``Weights()`` / ``Weights(DataType)`` is empty."""

    def __init__(self, a: Any = None, *rest: Any) -> None:
        if a is None or isinstance(a, enum.Enum):
            self._dtype = DataType.FLOAT if a is None else a
            self._array: np.ndarray | None = None
            if rest:
                raise StandinError("Weights(type, ptr, count) needs a raw pointer",
                                   "the stand-in takes numpy arrays only",
                                   PYTHON_API.format("../FoundationalTypes/Weights"))
            return
        arr = np.ascontiguousarray(a)
        self._dtype = datatype_of(arr)
        self._array = arr

    @property
    def dtype(self) -> Any:
        return self._dtype

    @property
    def size(self) -> int:
        return 0 if self._array is None else int(self._array.size)

    @property
    def nbytes(self) -> int:
        return 0 if self._array is None else int(self._array.nbytes)

    def __len__(self) -> int:
        return self.size

    def numpy(self) -> np.ndarray:
        return np.empty(0, nptype(self._dtype)) if self._array is None else self._array

    def __repr__(self) -> str:
        return f"Weights({self._dtype.name}, {self.size})"


def as_weights(value: Any) -> Weights:
    """A Weights from what the binding accepts (Weights, numpy array, None for empty)."""
    if value is None:
        return Weights()
    return value if isinstance(value, Weights) else Weights(np.asarray(value))


def volume(dims: Iterable[int]) -> int:
    """``tensorrt.volume``: the product of the dimensions."""
    out = 1
    for d in dims:
        out *= int(d)
    return out
