"""The recording part of the stand-in: Logger, Builder, INetworkDefinition, ITensor, ILayer.

``add_*`` methods have the parameter names of ``tensorrt-stubs`` 10.13. A layer records its
inputs and attributes; what it computes lives in ``_kernels`` (one function per layer type,
each citing TensorRT's operator page). Shapes and types are never computed by hand here: a
tensor's ``shape`` and ``dtype`` come from running the kernels on placeholder inputs (zeros of
the declared shapes; real values for build-time constants such as shape tensors and Q/DQ
scales), so the rule checks in the kernels run when a layer is added, again when one of its
attributes changes and its output is looked at, and at ``execute``. A rule broken raises
``StandinError`` where TensorRT would log an error and return ``None``.

Networks must be created with ``NetworkDefinitionCreationFlag.STRONGLY_TYPED``: types follow
from the inputs, and ``ILayer.precision`` / ``set_output_type`` are refused, as TensorRT
refuses them in strongly-typed networks.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _kernels as K
from ._types import (
    PYTHON_API, ActivationType, BuilderFlag, DataType, Dims, ElementWiseOperation, GatherMode,
    InterpolationMode, LayerType, MatrixOperation, NetworkDefinitionCreationFlag, PaddingMode,
    Permutation,
    PoolingType, ProfilingVerbosity, ReduceOperation, ResizeCoordinateTransformation,
    ResizeRoundMode, ResizeSelector, SampleMode, StandinError, TopKOperation, UnaryOperation, Weights, as_dims, as_weights,
    datatype_of, nptype,
)

log = logging.getLogger(__name__)

NETWORK_PAGE = PYTHON_API.format("Network")
STRONGLY_TYPED_RULE = "strongly typed networks take types from their inputs"


class ILogger:
    class Severity(enum.IntEnum):
        """Named and ordered as the binding's (``INTERNAL_ERROR`` 0 ... ``VERBOSE`` 4)."""

        INTERNAL_ERROR = 0
        ERROR = 1
        WARNING = 2
        INFO = 3
        VERBOSE = 4


class Logger(ILogger):
    """``tensorrt.Logger``: the stand-in forwards nothing; it exists to be handed around."""

    INTERNAL_ERROR = ILogger.Severity.INTERNAL_ERROR
    ERROR = ILogger.Severity.ERROR
    WARNING = ILogger.Severity.WARNING
    INFO = ILogger.Severity.INFO
    VERBOSE = ILogger.Severity.VERBOSE

    def __init__(self, min_severity: int = ILogger.Severity.WARNING) -> None:
        self.min_severity = min_severity

    def log(self, severity: int, msg: str) -> None:
        if severity <= self.min_severity:
            log.info("trt[%s] %s", severity, msg)


class Runtime:
    """``tensorrt.Runtime(logger)``: the stand-in builds no engine, so nothing it is given is
    one; ``deserialize_cuda_engine`` answers as TensorRT does for such data: it logs an error
    and returns None (Runtime page of the Python API)."""

    def __init__(self, logger: ILogger) -> None:
        self.logger = logger

    def deserialize_cuda_engine(self, serialized_engine: Any) -> None:
        log_to = getattr(self.logger, "log", None)
        if log_to is not None:
            log_to(ILogger.Severity.ERROR, "the stand-in has no engines to deserialize")
        return None


class Builder:
    """``tensorrt.Builder(logger)``: only ``create_network`` is modelled (no engine is built)."""

    def __init__(self, logger: Logger) -> None:
        self.logger = logger

    def create_network(self, flags: int = 0) -> INetworkDefinition:
        return INetworkDefinition(int(flags))

    def create_builder_config(self) -> IBuilderConfig:
        return IBuilderConfig()

    def create_optimization_profile(self) -> IOptimizationProfile:
        return IOptimizationProfile()

    @property
    def platform_has_fast_fp16(self) -> bool:
        return True

    @property
    def platform_has_fast_int8(self) -> bool:
        return True

    def build_serialized_network(self, network: INetworkDefinition,
                                 config: IBuilderConfig) -> Any:
        """Checks the config against the network, then refuses: the stand-in builds no engine."""
        config._check(network)
        raise StandinError("build_serialized_network on the stand-in",
                           "an engine needs TensorRT itself; the stand-in only records and "
                           "executes networks", PYTHON_API.format("../Core/Builder"))


#: builder flags a strongly-typed network refuses (types come from the network instead)
_PRECISION_FLAGS = ("FP16", "INT8", "BF16", "FP8", "INT4", "FP4", "TF32",
                    "OBEY_PRECISION_CONSTRAINTS", "PREFER_PRECISION_CONSTRAINTS")


PROFILE_PAGE = ("https://docs.nvidia.com/deeplearning/tensorrt/latest/_static/python-api/infer/"
                "Core/OptimizationProfile.html")


class IOptimizationProfile:
    """``tensorrt.IOptimizationProfile``: min/opt/max shapes per input name.

    ``set_shape`` checks what its documentation lists (``PROFILE_PAGE``): equal ranks of
    min, opt and max and ``0 <= min <= opt <= max`` per dim (TensorRT raises ValueError);
    the rules that need the network (the input exists, has that rank, static dims equal
    min = opt = max) are checked by ``IBuilderConfig`` at build and by ``execute``.
    ``bool(profile)`` is the partial validation the page describes.
    """

    def __init__(self) -> None:
        self._shapes: dict[str, tuple[Dims, Dims, Dims]] = {}
        self.extra_memory_target = 1.0

    def set_shape(self, input: str, min: Any, opt: Any, max: Any) -> None:  # noqa: A002
        lo, mid, hi = as_dims(min), as_dims(opt), as_dims(max)
        if not len(lo) == len(mid) == len(hi):
            raise ValueError(f"set_shape({input!r}): min {lo}, opt {mid}, max {hi} differ in "
                             f"rank (TensorRT rule: equal ranks; see {PROFILE_PAGE})")
        if any(not 0 <= a <= b <= c for a, b, c in zip(lo, mid, hi)):
            raise ValueError(f"set_shape({input!r}): min {lo}, opt {mid}, max {hi} (TensorRT "
                             f"rule: 0 <= min <= opt <= max per dim; see {PROFILE_PAGE})")
        self._shapes[str(input)] = (lo, mid, hi)

    def get_shape(self, input: str) -> list[Dims]:  # noqa: A002
        return list(self._shapes.get(str(input), ()))

    def __bool__(self) -> bool:
        return all(len(a) == len(b) == len(c) and all(x <= y <= z for x, y, z in zip(a, b, c))
                   for a, b, c in self._shapes.values())

    def _check(self, network: INetworkDefinition) -> None:
        """The rules that need the network: every dynamic input has a shape of its rank,
        static dims equal, every named input exists."""
        inputs = {t.name: t for t in network._inputs}
        for name in self._shapes:
            if name not in inputs:
                raise StandinError(f"optimization profile names {name!r}, which is no input "
                                   f"(the inputs are {list(inputs)})",
                                   "profiles set shapes of network inputs", PROFILE_PAGE)
        for t in inputs.values():
            shapes = self._shapes.get(t.name)
            if shapes is None:
                if -1 in t.shape:
                    raise StandinError(f"dynamic input {t.name!r} {list(t.shape)} has no shape "
                                       "in the optimization profile", "set_shape must be "
                                       "called for any input that has dynamic dims",
                                       PROFILE_PAGE)
                continue
            if len(shapes[0]) != len(t.shape) or any(
                    d != -1 and not a == b == c == d for d, a, b, c in zip(t.shape, *shapes)):
                raise StandinError(f"profile of {t.name!r} {[list(s) for s in shapes]} does not "
                                   f"fit its declared shape {list(t.shape)}",
                                   "same rank; a static dim equals min = opt = max",
                                   PROFILE_PAGE)


class IBuilderConfig:
    """``tensorrt.IBuilderConfig``: records flags, memory pool limits, ``max_aux_streams``
    and optimization profiles."""

    def __init__(self) -> None:
        self.flags = 0
        self.max_aux_streams = -1
        self.profiling_verbosity = ProfilingVerbosity.LAYER_NAMES_ONLY
        self.builder_optimization_level = 3
        self._pools: dict[Any, int] = {}
        self._profiles: list[IOptimizationProfile] = []

    def add_optimization_profile(self, profile: IOptimizationProfile) -> int:
        """The profile's index, or -1 when ``bool(profile)`` is False (as documented)."""
        if not profile:
            return -1
        self._profiles.append(profile)
        return len(self._profiles) - 1

    @property
    def num_optimization_profiles(self) -> int:
        return len(self._profiles)

    def set_flag(self, flag: Any) -> None:
        self.flags |= 1 << int(flag)

    def clear_flag(self, flag: Any) -> None:
        self.flags &= ~(1 << int(flag))

    def get_flag(self, flag: Any) -> bool:
        return bool(self.flags >> int(flag) & 1)

    def set_memory_pool_limit(self, pool: Any, pool_size: int) -> None:
        self._pools[pool] = int(pool_size)

    def get_memory_pool_limit(self, pool: Any) -> int:
        return self._pools.get(pool, 0)

    def _check(self, network: INetworkDefinition) -> None:
        if not self._profiles and any(-1 in t.shape for t in network._inputs):
            raise StandinError("a network with dynamic inputs and no optimization profile",
                               "add_optimization_profile must be called at least once if "
                               "the network has dynamic inputs", PROFILE_PAGE)
        for p in self._profiles:
            p._check(network)
        on = [name for name in _PRECISION_FLAGS if self.get_flag(BuilderFlag[name])]
        if on and network.get_flag(NetworkDefinitionCreationFlag.STRONGLY_TYPED):
            raise StandinError(f"builder flags {on} on a strongly-typed network",
                               "precision flags are refused for strongly-typed networks (and "
                               "gone in TensorRT 11)", PYTHON_API.format("../Core/BuilderConfig"))


class ITensor:
    """``tensorrt.ITensor``: a layer output or a network input, named, with shape and dtype."""

    def __init__(self, network: INetworkDefinition, producer: ILayer | None, index: int,
                 name: str, shape: Dims | None = None, dtype: Any = None) -> None:
        self._network = network
        self._producer = producer
        self._index = index
        self._name = name
        self._declared_shape = shape
        self._declared_dtype = dtype

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._network._rename(self, str(value))

    @property
    def shape(self) -> Dims:
        if self._producer is None:
            assert self._declared_shape is not None
            return self._declared_shape
        return self._network._spec(self)[0]

    @shape.setter
    def shape(self, value: Any) -> None:
        if self._producer is not None:
            raise StandinError(f"tensor {self._name!r} is a layer output", "only network inputs "
                               "have a settable shape", PYTHON_API.format("LayerBase"))
        self._declared_shape = as_dims(value)
        self._network._invalidate(None)

    @property
    def dtype(self) -> Any:
        if self._producer is None:
            return self._declared_dtype
        return self._network._spec(self)[1]

    @dtype.setter
    def dtype(self, value: Any) -> None:
        if self._producer is not None:
            raise StandinError(f"setting the type of {self._name!r}", STRONGLY_TYPED_RULE,
                               PYTHON_API.format("LayerBase"))
        self._declared_dtype = value
        self._network._invalidate(None)

    @property
    def is_network_input(self) -> bool:
        return self._producer is None

    @property
    def is_network_output(self) -> bool:
        return any(t is self for t in self._network._outputs)

    @property
    def is_shape_tensor(self) -> bool:
        return False

    @property
    def is_execution_tensor(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"ITensor({self._name!r})"


class ILayer:
    """``tensorrt.ILayer``: records inputs, attributes, name; outputs are ITensors.

    Each subclass lists its attributes with their TensorRT defaults in ``ATTRS``; assigning an
    attribute it does not have raises AttributeError, as the binding does, so a converter's
    typo cannot pass silently.
    """

    TYPE: Any = None
    ATTRS: dict[str, Any] = {}
    KERNEL: Callable[..., list[np.ndarray]]
    NUM_OUTPUTS = 1

    def __init__(self, network: INetworkDefinition, inputs: list[ITensor | None],
                 **attrs: Any) -> None:
        object.__setattr__(self, "_network", network)
        object.__setattr__(self, "_inputs", list(inputs))
        object.__setattr__(self, "_index", len(network._layers))
        object.__setattr__(self, "_name", f"(Unnamed Layer* {self._index}) [{self._type_word()}]")
        object.__setattr__(self, "metadata", "")
        for k, v in self.ATTRS.items():
            if k != "padding_nd":  # a view of pre_padding / post_padding
                object.__setattr__(self, k, v() if callable(v) else v)
        for k, v in attrs.items():
            setattr(self, k, v)
        outs = [ITensor(network, self, i, f"{self._name}_output" + (f"_{i}" if i else ""))
                for i in range(self.NUM_OUTPUTS)]
        object.__setattr__(self, "_outputs", outs)

    def _type_word(self) -> str:
        return self.TYPE.name.title().replace("_", "")

    def __setattr__(self, key: str, value: Any) -> None:
        if key == "precision":
            raise StandinError(f"setting precision of layer {self._name!r}", STRONGLY_TYPED_RULE,
                               PYTHON_API.format("LayerBase"))
        if key == "name":
            object.__setattr__(self, "_name", str(value))
            return
        if key == "metadata":
            object.__setattr__(self, key, str(value))
            return
        if key not in self.ATTRS:
            raise AttributeError(f"{type(self).__name__} has no attribute {key!r}")
        object.__setattr__(self, key, self._coerce(key, value))
        self._network._invalidate(self)

    def _coerce(self, key: str, value: Any) -> Any:
        default = self.ATTRS[key]
        if key in ("kernel", "bias", "weights"):
            return as_weights(value)
        if isinstance(default, Dims) or key.endswith("_nd") or key in (
                "pre_padding", "post_padding", "reshape_dims", "start", "shape", "stride"):
            return None if value is None else as_dims(value)
        if key in ("first_transpose", "second_transpose"):
            return None if value is None else Permutation(value)
        if key == "scales":
            return None if value is None else [float(v) for v in value]
        return value

    @property
    def name(self) -> str:
        return self._name

    @property
    def type(self) -> Any:
        return self.TYPE

    @property
    def precision(self) -> Any:
        outs = [t.dtype for t in self._outputs]
        return outs[0] if outs else DataType.FLOAT

    @property
    def precision_is_set(self) -> bool:
        return False

    @property
    def num_inputs(self) -> int:
        return len(self._inputs)

    @property
    def num_outputs(self) -> int:
        return len(self._outputs)

    def get_input(self, index: int) -> ITensor | None:
        return self._inputs[index] if index < len(self._inputs) else None

    def get_output(self, index: int) -> ITensor:
        return self._outputs[index]

    def set_input(self, index: int, tensor: ITensor) -> None:
        if not isinstance(tensor, ITensor) or tensor._network is not self._network:
            raise StandinError(f"set_input({index}) of layer {self._name!r} got {tensor!r}",
                               "inputs are tensors of the same network", NETWORK_PAGE)
        while len(self._inputs) <= index:
            self._inputs.append(None)
        self._inputs[index] = tensor
        self._network._invalidate(self)

    def set_output_type(self, index: int, dtype: Any) -> None:
        raise StandinError(f"set_output_type on layer {self._name!r}", STRONGLY_TYPED_RULE,
                           PYTHON_API.format("LayerBase"))

    def get_output_type(self, index: int) -> Any:
        return self._outputs[index].dtype

    def output_type_is_set(self, index: int) -> bool:
        return False

    def reset_precision(self) -> None:
        pass

    def reset_output_type(self, index: int) -> None:
        pass

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._name!r})"


def _layer(cls_name: str, layer_type: Any, kernel: Callable[..., list[np.ndarray]],
           attrs: dict[str, Any] | None = None, outputs: int = 1) -> type[ILayer]:
    namespace: dict[str, Any] = {"TYPE": layer_type, "ATTRS": attrs or {},
                                 "KERNEL": staticmethod(kernel), "NUM_OUTPUTS": outputs}
    if "type" in namespace["ATTRS"]:  # IActivationLayer.type, IPoolingLayer.type hide ILayer.type
        namespace["type"] = None
    return type(cls_name, (ILayer,), namespace)


def _conv_attrs() -> dict[str, Any]:
    return {"num_output_maps": 0, "kernel_size_nd": Dims(), "stride_nd": None,
            "pre_padding": None, "post_padding": None, "dilation_nd": None, "num_groups": 1,
            "padding_mode": PaddingMode.EXPLICIT_ROUND_DOWN, "kernel": Weights, "bias": Weights}


class _PaddingNd:
    """``padding_nd``: reading gives the pre-padding, writing sets pre- and post-padding."""

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        return self if obj is None else obj.pre_padding

    def __set__(self, obj: Any, value: Any) -> None:
        obj.pre_padding = value
        obj.post_padding = value


IConstantLayer = _layer("IConstantLayer", LayerType.CONSTANT, K.constant,
                        {"shape": Dims(), "weights": Weights})
IConvolutionLayer = _layer("IConvolutionLayer", LayerType.CONVOLUTION, K.convolution,
                           _conv_attrs())
IDeconvolutionLayer = _layer("IDeconvolutionLayer", LayerType.DECONVOLUTION, K.deconvolution,
                             _conv_attrs())
IPoolingLayer = _layer("IPoolingLayer", LayerType.POOLING, K.pooling, {
    "type": PoolingType.MAX, "window_size_nd": Dims(), "stride_nd": None, "pre_padding": None,
    "post_padding": None, "padding_mode": PaddingMode.EXPLICIT_ROUND_DOWN, "blend_factor": 0.0,
    "average_count_excludes_padding": True})
for _cls in (IConvolutionLayer, IDeconvolutionLayer, IPoolingLayer):
    _cls.padding_nd = _PaddingNd()  # type: ignore[attr-defined]
    _cls.ATTRS = {**_cls.ATTRS, "padding_nd": None}
IMatrixMultiplyLayer = _layer("IMatrixMultiplyLayer", LayerType.MATRIX_MULTIPLY,
                              K.matrix_multiply, {"op0": MatrixOperation.NONE,
                                                  "op1": MatrixOperation.NONE})
IElementWiseLayer = _layer("IElementWiseLayer", LayerType.ELEMENTWISE, K.elementwise,
                           {"op": ElementWiseOperation.SUM})
IActivationLayer = _layer("IActivationLayer", LayerType.ACTIVATION, K.activation,
                          {"type": ActivationType.RELU, "alpha": 0.0, "beta": 0.0})
IUnaryLayer = _layer("IUnaryLayer", LayerType.UNARY, K.unary, {"op": UnaryOperation.EXP})
IReduceLayer = _layer("IReduceLayer", LayerType.REDUCE, K.reduce,
                      {"op": ReduceOperation.SUM, "axes": 0, "keep_dims": False})
ISoftMaxLayer = _layer("ISoftMaxLayer", LayerType.SOFTMAX, K.softmax, {"axes": None})
IShuffleLayer = _layer("IShuffleLayer", LayerType.SHUFFLE, K.shuffle, {
    "first_transpose": None, "reshape_dims": None, "second_transpose": None,
    "zero_is_placeholder": True})
ISliceLayer = _layer("ISliceLayer", LayerType.SLICE, K.slice_, {
    "start": Dims(), "shape": Dims(), "stride": Dims(), "mode": SampleMode.STRICT_BOUNDS,
    "axes": None})
IGatherLayer = _layer("IGatherLayer", LayerType.GATHER, K.gather,
                      {"axis": 0, "mode": GatherMode.DEFAULT, "num_elementwise_dims": 0})
IConcatenationLayer = _layer("IConcatenationLayer", LayerType.CONCATENATION, K.concatenation,
                             {"axis": None})
IResizeLayer = _layer("IResizeLayer", LayerType.RESIZE, K.resize, {
    "shape": None, "scales": None, "resize_mode": InterpolationMode.NEAREST,
    "coordinate_transformation": ResizeCoordinateTransformation.ASYMMETRIC,
    "selector_for_single_pixel": ResizeSelector.FORMULA,
    "nearest_rounding": ResizeRoundMode.FLOOR, "cubic_coeff": -0.75, "exclude_outside": False})
IPaddingLayer = _layer("IPaddingLayer", LayerType.PADDING, K.padding,
                       {"pre_padding_nd": Dims(), "post_padding_nd": Dims()})
ICastLayer = _layer("ICastLayer", LayerType.CAST, K.cast, {"to_type": DataType.FLOAT})
IIdentityLayer = _layer("IIdentityLayer", LayerType.IDENTITY, K.identity)
IQuantizeLayer = _layer("IQuantizeLayer", LayerType.QUANTIZE, K.quantize,
                        {"axis": -1, "to_type": DataType.INT8})
IDequantizeLayer = _layer("IDequantizeLayer", LayerType.DEQUANTIZE, K.dequantize,
                          {"axis": -1, "to_type": DataType.FLOAT})
INormalizationLayer = _layer("INormalizationLayer", LayerType.NORMALIZATION, K.normalization, {
    "axes": 0, "epsilon": 1e-5, "num_groups": 1, "compute_precision": DataType.FLOAT})
IShapeLayer = _layer("IShapeLayer", LayerType.SHAPE, K.shape)
ISelectLayer = _layer("ISelectLayer", LayerType.SELECT, K.select)
ITopKLayer = _layer("ITopKLayer", LayerType.TOPK, K.topk,
                    {"op": TopKOperation.MAX, "k": 1, "axes": 0}, outputs=2)
ILRNLayer = _layer("ILRNLayer", LayerType.LRN, K.lrn,
                   {"window_size": 1, "alpha": 1e-4, "beta": 0.75, "k": 1.0})
ISqueezeLayer = _layer("ISqueezeLayer", LayerType.SQUEEZE, K.squeeze)
IUnsqueezeLayer = _layer("IUnsqueezeLayer", LayerType.UNSQUEEZE, K.unsqueeze)
IParametricReLULayer = _layer("IParametricReLULayer", LayerType.PARAMETRIC_RELU,
                              K.parametric_relu)


#: layers whose validity no later attribute can change: refused when added, as TensorRT's
#: add_* returns None for them; the others are checked when an output's shape or type is read
#: and at execute (TensorRT checks them when the network is built)
_CHECKED_WHEN_ADDED = {
    LayerType.ELEMENTWISE, LayerType.MATRIX_MULTIPLY, LayerType.SELECT, LayerType.CONSTANT,
    LayerType.SHAPE, LayerType.CAST, LayerType.IDENTITY, LayerType.UNARY,
    LayerType.PARAMETRIC_RELU, LayerType.REDUCE, LayerType.TOPK, LayerType.ACTIVATION,
    LayerType.SQUEEZE, LayerType.UNSQUEEZE,
}


class INetworkDefinition:
    """``tensorrt.INetworkDefinition``: the layers in the order they were added."""

    def __init__(self, flags: int) -> None:
        strongly = 1 << NetworkDefinitionCreationFlag.STRONGLY_TYPED.value
        if not flags & strongly:
            raise StandinError("create_network without STRONGLY_TYPED",
                               "TensorRT 11 builds strongly-typed networks only (the flag keeps "
                               "TensorRT 10 builds the same)", NETWORK_PAGE)
        self.flags = flags
        self.name = "Unnamed Network 0"
        self._layers: list[ILayer] = []
        self._inputs: list[ITensor] = []
        self._outputs: list[ITensor] = []
        self._names: dict[str, ITensor] = {}
        self._specs: dict[int, tuple[Any, ...]] = {}  # id(layer) -> output specs, build time

    # -- bookkeeping --------------------------------------------------------------------
    def _rename(self, tensor: ITensor, name: str) -> None:
        tensor._name = name

    def _invalidate(self, layer: ILayer | None) -> None:
        """Forget build-time results of ``layer`` and everything that depends on it."""
        if layer is None:
            self._specs.clear()
            return
        dirty = {id(layer)}
        self._specs.pop(id(layer), None)
        for other in self._layers[layer._index + 1:]:
            if any(t is not None and t._producer is not None and id(t._producer) in dirty
                   for t in other._inputs):
                dirty.add(id(other))
                self._specs.pop(id(other), None)
        # a layer may have been wired (set_input) to a later producer; be safe for those
        for other in self._layers[:layer._index]:
            if any(t is not None and t._producer is not None and id(t._producer) in dirty
                   for t in other._inputs):
                self._specs.clear()
                return

    def _add(self, cls: type[ILayer], inputs: list[ITensor | None], **attrs: Any) -> Any:
        for i, t in enumerate(inputs):
            if t is not None and (not isinstance(t, ITensor) or t._network is not self):
                raise StandinError(f"input {i} of a new {cls.__name__} is {t!r}",
                                   "inputs are tensors of the same network", NETWORK_PAGE)
        layer = cls(self, inputs, **attrs)
        self._layers.append(layer)
        if layer.TYPE in _CHECKED_WHEN_ADDED:
            self._spec(layer._outputs[0])
        return layer

    def _spec(self, tensor: ITensor) -> tuple[Dims, Any]:
        """(shape, dtype) of a tensor, from evaluating the network on placeholder inputs."""
        from ._evaluate import build_time_spec
        return build_time_spec(self, tensor)

    # -- the public API ----------------------------------------------------------------
    def get_flag(self, flag: Any) -> bool:
        return bool(self.flags >> int(flag) & 1)

    @property
    def num_layers(self) -> int:
        return len(self._layers)

    @property
    def num_inputs(self) -> int:
        return len(self._inputs)

    @property
    def num_outputs(self) -> int:
        return len(self._outputs)

    @property
    def layers(self) -> list[ILayer]:
        """All layers in the order they were added (stand-in only; the binding iterates)."""
        return list(self._layers)

    def __len__(self) -> int:
        return len(self._layers)

    def __getitem__(self, arg0: int) -> ILayer:
        return self._layers[arg0]

    def get_layer(self, index: int) -> ILayer:
        return self._layers[index]

    def get_input(self, index: int) -> ITensor:
        return self._inputs[index]

    def get_output(self, index: int) -> ITensor:
        return self._outputs[index]

    def add_input(self, name: str, dtype: Any, shape: Any) -> ITensor:
        if any(t.name == name for t in self._inputs):
            raise StandinError(f"a second network input named {name!r}",
                               "tensor names are unique", NETWORK_PAGE)
        nptype(dtype)
        t = ITensor(self, None, 0, name, as_dims(shape), dtype)
        self._inputs.append(t)
        return t

    def mark_output(self, tensor: ITensor) -> None:
        if tensor.is_network_input:
            raise StandinError(f"network input {tensor.name!r} marked as output",
                               "an input cannot also be an output", NETWORK_PAGE)
        if not any(t is tensor for t in self._outputs):
            self._outputs.append(tensor)

    def unmark_output(self, tensor: ITensor) -> None:
        self._outputs = [t for t in self._outputs if t is not tensor]

    def add_constant(self, shape: Any, weights: Any) -> Any:
        return self._add(IConstantLayer, [], shape=as_dims(shape), weights=as_weights(weights))

    def add_convolution_nd(self, input: ITensor, num_output_maps: int, kernel_shape: Any,
                           kernel: Any, bias: Any = None) -> Any:
        return self._add(IConvolutionLayer, [input], num_output_maps=num_output_maps,
                         kernel_size_nd=as_dims(kernel_shape), kernel=kernel, bias=bias)

    def add_deconvolution_nd(self, input: ITensor, num_output_maps: int, kernel_shape: Any,
                             kernel: Any, bias: Any = None) -> Any:
        return self._add(IDeconvolutionLayer, [input], num_output_maps=num_output_maps,
                         kernel_size_nd=as_dims(kernel_shape), kernel=kernel, bias=bias)

    def add_matrix_multiply(self, input0: ITensor, op0: Any, input1: ITensor, op1: Any) -> Any:
        return self._add(IMatrixMultiplyLayer, [input0, input1], op0=op0, op1=op1)

    def add_elementwise(self, input1: ITensor, input2: ITensor, op: Any) -> Any:
        return self._add(IElementWiseLayer, [input1, input2], op=op)

    def add_activation(self, input: ITensor, type: Any) -> Any:
        return self._add(IActivationLayer, [input], type=type)

    def add_unary(self, input: ITensor, op: Any) -> Any:
        return self._add(IUnaryLayer, [input], op=op)

    def add_pooling_nd(self, input: ITensor, type: Any, window_size: Any) -> Any:
        return self._add(IPoolingLayer, [input], type=type, window_size_nd=as_dims(window_size))

    def add_reduce(self, input: ITensor, op: Any, axes: int, keep_dims: bool) -> Any:
        return self._add(IReduceLayer, [input], op=op, axes=axes, keep_dims=keep_dims)

    def add_softmax(self, input: ITensor) -> Any:
        return self._add(ISoftMaxLayer, [input])

    def add_shuffle(self, input: ITensor) -> Any:
        return self._add(IShuffleLayer, [input])

    def add_slice(self, input: ITensor, start: Any, shape: Any, stride: Any) -> Any:
        return self._add(ISliceLayer, [input], start=as_dims(start), shape=as_dims(shape),
                         stride=as_dims(stride))

    def add_gather(self, input: ITensor, indices: ITensor, axis: int) -> Any:
        return self._add(IGatherLayer, [input, indices], axis=axis)

    def add_gather_v2(self, input: ITensor, indices: ITensor, mode: Any) -> Any:
        return self._add(IGatherLayer, [input, indices], mode=mode)

    def add_concatenation(self, inputs: list[ITensor]) -> Any:
        return self._add(IConcatenationLayer, list(inputs))

    def add_resize(self, input: ITensor) -> Any:
        return self._add(IResizeLayer, [input])

    def add_padding_nd(self, input: ITensor, pre_padding: Any, post_padding: Any) -> Any:
        return self._add(IPaddingLayer, [input], pre_padding_nd=as_dims(pre_padding),
                         post_padding_nd=as_dims(post_padding))

    def add_cast(self, input: ITensor, to_type: Any) -> Any:
        return self._add(ICastLayer, [input], to_type=to_type)

    def add_identity(self, input: ITensor) -> Any:
        return self._add(IIdentityLayer, [input])

    def add_quantize(self, input: ITensor, scale: ITensor, output_type: Any = DataType.INT8) -> Any:
        return self._add(IQuantizeLayer, [input, scale], to_type=output_type)

    def add_dequantize(self, input: ITensor, scale: ITensor,
                       output_type: Any = DataType.FLOAT) -> Any:
        return self._add(IDequantizeLayer, [input, scale], to_type=output_type)

    def add_normalization(self, input: ITensor, scale: ITensor, bias: ITensor,
                          axesMask: int) -> Any:  # noqa: N803 (the binding's name)
        return self._add(INormalizationLayer, [input, scale, bias], axes=axesMask)

    def add_shape(self, input: ITensor) -> Any:
        return self._add(IShapeLayer, [input])

    def add_select(self, condition: ITensor, then_input: ITensor, else_input: ITensor) -> Any:
        return self._add(ISelectLayer, [condition, then_input, else_input])

    def add_topk(self, input: ITensor, op: Any, k: int, axes: int) -> Any:
        return self._add(ITopKLayer, [input], op=op, k=k, axes=axes)

    def add_lrn(self, input: ITensor, window: int, alpha: float, beta: float, k: float) -> Any:
        return self._add(ILRNLayer, [input], window_size=window, alpha=alpha, beta=beta, k=k)

    def add_squeeze(self, input: ITensor, axes: ITensor) -> Any:
        return self._add(ISqueezeLayer, [input, axes])

    def add_unsqueeze(self, input: ITensor, axes: ITensor) -> Any:
        return self._add(IUnsqueezeLayer, [input, axes])

    def add_parametric_relu(self, input: ITensor, slopes: ITensor) -> Any:
        return self._add(IParametricReLULayer, [input, slopes])


__all__ = ["Builder", "ILayer", "ILogger", "INetworkDefinition", "ITensor", "Logger",
           "datatype_of"]
