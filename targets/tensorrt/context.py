"""The state one network build shares with the converters, and the functions they all use.

A :class:`ConversionContext` holds the injected ``trt`` module, the network being built and
the map IR value name -> TensorRT tensor. Constants become ``add_constant`` layers when a
converter first reads them as tensors; converters that need a constant's array (weights,
shapes, axes) read it with :meth:`ConversionContext.const_array` and no layer is made.
Every layer is named after its node's source layer, so TensorRT's build log names them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from compiler.errors import InferccError
from compiler.ir.graph import Node, Value
from compiler.ir.types import DType

from .api import TrtModule

if TYPE_CHECKING:
    import tensorrt

    from .precision import Fp16Plan

log = logging.getLogger(__name__)


class ConversionError(InferccError):
    """A node passed its converter's check but its context cannot be expressed."""


# IR element type -> the name of the TensorRT DataType member.
_TRT_DTYPES = {DType.F32: "FLOAT", DType.F16: "HALF", DType.BF16: "BF16", DType.I8: "INT8",
               DType.U8: "UINT8", DType.I32: "INT32", DType.I64: "INT64", DType.BOOL: "BOOL",
               DType.I4: "INT4"}

# numpy dtypes TensorRT weights hold; f64 constants are narrowed to f32.
_WEIGHT_DTYPES = {np.dtype(np.float64): np.dtype(np.float32)}


def trt_dtype_name(dtype: DType) -> str | None:
    """The TensorRT DataType member name of ``dtype``, or None when TensorRT has none."""
    return _TRT_DTYPES.get(dtype)


class ConversionContext:
    """What converters read and write while one network is built."""

    def __init__(self, trt: TrtModule, network: tensorrt.INetworkDefinition):
        self.trt = trt
        self.network = network
        self.tensors: dict[str, tensorrt.ITensor] = {}
        # Keeps the arrays behind trt.Weights alive until the engine is built.
        self.keep: list[np.ndarray] = []
        # True while a node that runs in fp16 is converted: its float weights and constants
        # are made half and float32 in the IR means HALF (see targets.tensorrt.precision).
        self.half = False
        # The fp16 plan of the network (which nodes stay fp32, and why); None for fp32.
        self.fp16: Fp16Plan | None = None

    # -- types and small values ------------------------------------------------------------
    def dtype(self, dtype: DType) -> tensorrt.DataType:
        name = "HALF" if self.half and dtype == DType.F32 else trt_dtype_name(dtype)
        if name is None:
            raise ConversionError(f"element type {dtype} has no TensorRT counterpart")
        value: tensorrt.DataType = getattr(self.trt.DataType, name)
        return value

    def dims(self, values: Any) -> tensorrt.Dims:
        return self.trt.Dims([int(v) for v in values])

    def weights(self, array: Any) -> tensorrt.Weights:
        a = np.ascontiguousarray(array)
        a = a.astype(_WEIGHT_DTYPES.get(a.dtype, a.dtype), copy=False)
        if self.half and a.dtype.kind == "f":
            a = a.astype(np.float16)
        self.keep.append(a)
        return self.trt.Weights(a)

    # -- tensors -----------------------------------------------------------------------------
    def tensor(self, v: Value | None) -> tensorrt.ITensor:
        """The TensorRT tensor of IR value ``v`` (a constant becomes a constant layer)."""
        if v is None:
            raise ConversionError("a required input is absent")
        t = self.tensors.get(v.name)
        if t is None:
            arr = v.const_value
            if arr is None:
                raise ConversionError(f"value %{v.name} has no TensorRT tensor yet")
            t = self.constant(np.asarray(arr), v.name)
            self.tensors[v.name] = t
        return t

    def constant(self, array: Any, name: str) -> tensorrt.ITensor:
        a = np.asarray(array)
        layer = self.network.add_constant(self.dims(a.shape), self.weights(a))
        layer.name = f"const/{name}"
        out = layer.get_output(0)
        out.name = name
        return out

    def scalar(self, value: float, rank: int, dtype: Any = np.float32,
               name: str = "scalar") -> tensorrt.ITensor:
        """A constant of ``rank`` size-1 dims (broadcasts against a rank-``rank`` tensor)."""
        return self.constant(np.full((1,) * rank, value, dtype=dtype), name)

    def const_array(self, node: Node, i: int) -> np.ndarray | None:
        """The array of ``node``'s input ``i`` when it is a constant, else None."""
        v = node.input(i)
        if v is None or v.const_value is None:
            return None
        return np.asarray(v.const_value)

    def set_output(self, node: Node, tensor: tensorrt.ITensor, i: int = 0) -> None:
        v = node.outputs[i]
        tensor.name = v.name
        self.tensors[v.name] = tensor

    @staticmethod
    def rank(t: tensorrt.ITensor) -> int:
        return len(t.shape)

    @staticmethod
    def shape(t: tensorrt.ITensor) -> list[int]:
        """``t``'s dims (-1 where dynamic)."""
        dims = t.shape
        return [int(dims[i]) for i in range(len(dims))]

    # -- layers ------------------------------------------------------------------------------
    def name(self, layer: tensorrt.ILayer, node: Node, suffix: str = "") -> None:
        """Name ``layer`` after ``node``'s source layer; ``suffix`` tells apart the layers
        of one node."""
        layer.name = node.label + (f"/{suffix}" if suffix else "")

    def reshape(self, t: tensorrt.ITensor, shape: Any, node: Node,
                suffix: str = "reshape") -> tensorrt.ITensor:
        """``t`` reshaped to ``shape`` (-1 inferred; 0 is a real zero, not a copy)."""
        layer = self.network.add_shuffle(t)
        layer.reshape_dims = self.dims(shape)
        layer.zero_is_placeholder = False
        self.name(layer, node, suffix)
        return layer.get_output(0)

    def shape_tensor(self, t: tensorrt.ITensor, dims: list[int | None], node: Node,
                     suffix: str) -> tensorrt.ITensor:
        """A 1-D INT64 shape tensor: ``dims[i]`` where it is an int, else ``t``'s dim ``i``
        at run time (``shape(t) * mask + static``: IShapeLayer and two elementwise layers)."""
        name = f"{node.outputs[0].name}/{suffix}"
        shape = self.network.add_shape(t)
        self.name(shape, node, f"{suffix}/shape")
        mask = self.constant(np.array([0 if d is not None else 1 for d in dims], np.int64),
                             f"{name}/mask")
        static = self.constant(np.array([d or 0 for d in dims], np.int64), f"{name}/static")
        E = self.trt.ElementWiseOperation
        kept = self.network.add_elementwise(shape.get_output(0), mask, E.PROD)
        self.name(kept, node, f"{suffix}/dynamic")
        out = self.network.add_elementwise(kept.get_output(0), static, E.SUM)
        self.name(out, node, suffix)
        return out.get_output(0)

    def transpose(self, t: tensorrt.ITensor, perm: Any, node: Node,
                  suffix: str = "transpose") -> tensorrt.ITensor:
        layer = self.network.add_shuffle(t)
        layer.first_transpose = self.trt.Permutation([int(p) for p in perm])
        self.name(layer, node, suffix)
        return layer.get_output(0)

    def to_rank(self, t: tensorrt.ITensor, rank: int, node: Node,
                suffix: str = "broadcast") -> tensorrt.ITensor:
        """``t`` with size-1 dims prepended up to ``rank`` (ONNX broadcasting aligns from the
        right; TensorRT needs equal ranks)."""
        r = self.rank(t)
        if r >= rank:
            return t
        shape = self.shape(t)
        if sum(1 for d in shape if d < 0) > 1:
            # Several dynamic dims: the new shape is [1, ..., 1] ++ shape(t), a shape tensor.
            dims = self.network.add_shape(t)
            self.name(dims, node, f"{suffix}/shape")
            ones = self.constant(np.ones(rank - r, np.int64),
                                 f"{node.outputs[0].name}/{suffix}/ones")
            cat = self.network.add_concatenation([ones, dims.get_output(0)])
            cat.axis = 0
            self.name(cat, node, f"{suffix}/dims")
            layer = self.network.add_shuffle(t)
            layer.set_input(1, cat.get_output(0))
            # a run-time 0 in shape(t) is a length, not "copy the input dim at this index"
            layer.zero_is_placeholder = False
            self.name(layer, node, suffix)
            return layer.get_output(0)
        return self.reshape(t, [1] * (rank - r) + shape, node, suffix)

    def equal_ranks(self, tensors: list[tensorrt.ITensor],
                    node: Node) -> list[tensorrt.ITensor]:
        rank = max(self.rank(t) for t in tensors)
        return [self.to_rank(t, rank, node, f"broadcast{i}") for i, t in enumerate(tensors)]

    def elementwise(self, a: tensorrt.ITensor, b: tensorrt.ITensor,
                    op: tensorrt.ElementWiseOperation, node: Node,
                    suffix: str = "") -> tensorrt.ITensor:
        a, b = self.equal_ranks([a, b], node)
        layer = self.network.add_elementwise(a, b, op)
        self.name(layer, node, suffix)
        return layer.get_output(0)

    def activation(self, t: tensorrt.ITensor, kind: tensorrt.ActivationType, node: Node,
                   alpha: float | None = None, beta: float | None = None,
                   suffix: str = "") -> tensorrt.ITensor:
        layer = self.network.add_activation(t, kind)
        if alpha is not None:
            layer.alpha = float(alpha)
        if beta is not None:
            layer.beta = float(beta)
        self.name(layer, node, suffix)
        return layer.get_output(0)

    def fused_activation(self, t: tensorrt.ITensor, node: Node) -> tensorrt.ITensor:
        """``t`` through the node's fused ``activation`` attribute (none: ``t`` itself)."""
        name = str(node.attrs.get("activation") or "")
        A = self.trt.ActivationType
        if not name:
            return t
        if name == "relu":
            return self.activation(t, A.RELU, node, suffix="relu")
        if name == "relu6":
            return self.activation(t, A.CLIP, node, 0.0, 6.0, suffix="relu6")
        if name == "relu_n1_to_1":
            return self.activation(t, A.CLIP, node, -1.0, 1.0, suffix="relu_n1_to_1")
        if name == "tanh":
            return self.activation(t, A.TANH, node, suffix="tanh")
        if name == "sigmoid":
            return self.activation(t, A.SIGMOID, node, suffix="sigmoid")
        raise ConversionError(f"{node.label}: fused activation '{name}' has no converter")


def fused_activation_reason(node: Node) -> str | None:
    """The capability check shared by ops that carry a fused activation."""
    name = str(node.attrs.get("activation") or "")
    if name in ("", "relu", "relu6", "relu_n1_to_1", "tanh", "sigmoid"):
        return None
    return f"fused activation '{name}'"
