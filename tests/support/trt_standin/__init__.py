"""A recording stand-in for TensorRT's ``tensorrt`` module, for tests on machines without it.

Import it as ``from tests.support import trt_standin as trt`` and hand it to code that expects
the ``tensorrt`` module. It has the names and parameter names of ``tensorrt-stubs`` 10.13
(checked by a test against the stub file), records the network that code builds, refuses
what TensorRT refuses with ``StandinError`` (naming the rule and the page that states it), and
runs the network in numpy:

    builder = trt.Builder(trt.Logger())
    net = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    x = net.add_input("x", trt.float32, (1, 3, 8, 8))
    ...
    outputs = trt.execute(net, {"x": array})
    print(trt.summary(net))

What it checks: equal ranks for elementwise, select and matrix multiply (batch dimensions),
bitmask axes, Q/DQ scale and zero-point rules (build-time constant scale, scalar or 1-D along
the axis, INT8 all-zero zero point), strongly-typed operand types (kernel, bias, scale and
operands of the input's type; no precision or output-type overrides), and each layer's shape
rules; optimization profiles (``set_shape`` rules, every dynamic input covered, feeds within
min..max when ``execute`` is given the profile). It builds no engine and says nothing about
tactic choice, speed or memory.
"""

from ._evaluate import attributes, execute, summary
from ._network import (
    Builder, IActivationLayer, IBuilderConfig, ICastLayer, IConcatenationLayer, IConstantLayer,
    IConvolutionLayer, IDeconvolutionLayer, IDequantizeLayer, IElementWiseLayer, IGatherLayer,
    IIdentityLayer, ILayer, ILogger, ILRNLayer, IMatrixMultiplyLayer, INetworkDefinition,
    INormalizationLayer, IOptimizationProfile, IPaddingLayer, IParametricReLULayer,
    IPoolingLayer, IQuantizeLayer,
    IReduceLayer, IResizeLayer, ISelectLayer, IShapeLayer, IShuffleLayer, ISliceLayer,
    ISoftMaxLayer, ISqueezeLayer, ITensor, ITopKLayer, IUnaryLayer, IUnsqueezeLayer, Logger,
    Runtime,
)
from ._types import (
    ActivationType, BuilderFlag, DataType, Dims, Dims2, Dims3, Dims4, DimsHW,
    ElementWiseOperation, GatherMode, MemoryPoolType, InterpolationMode, LayerInformationFormat,
    LayerType,
    MatrixOperation, NetworkDefinitionCreationFlag,
    PaddingMode, Permutation, PoolingType, ProfilingVerbosity, ReduceOperation,
    ResizeCoordinateTransformation, ResizeRoundMode, ResizeSelector, SampleMode, StandinError, TopKOperation, UnaryOperation,
    Weights, nptype, volume,
)

float32 = DataType.FLOAT
float16 = DataType.HALF
bfloat16 = DataType.BF16
int8 = DataType.INT8
int32 = DataType.INT32
int64 = DataType.INT64
uint8 = DataType.UINT8
bool = DataType.BOOL  # noqa: A001 (the binding's name)
fp8 = DataType.FP8
int4 = DataType.INT4

__version__ = "10.13.0-standin"

__all__ = [
    "ActivationType", "Builder", "BuilderFlag", "DataType", "IBuilderConfig",
    "MemoryPoolType", "Dims", "Dims2", "Dims3", "Dims4", "DimsHW",
    "ElementWiseOperation", "GatherMode", "IActivationLayer", "ICastLayer",
    "IConcatenationLayer", "IConstantLayer", "IConvolutionLayer", "IDeconvolutionLayer",
    "IDequantizeLayer", "IElementWiseLayer", "IGatherLayer", "IIdentityLayer", "ILRNLayer",
    "ILayer",
    "ILogger", "IMatrixMultiplyLayer", "INetworkDefinition", "INormalizationLayer",
    "IOptimizationProfile",
    "IPaddingLayer", "IParametricReLULayer", "IPoolingLayer", "IQuantizeLayer", "IReduceLayer",
    "IResizeLayer", "ISelectLayer", "IShapeLayer", "IShuffleLayer", "ISliceLayer",
    "ISoftMaxLayer", "ISqueezeLayer", "ITensor", "ITopKLayer", "IUnaryLayer", "IUnsqueezeLayer",
    "InterpolationMode", "LayerInformationFormat", "LayerType",
    "Logger", "MatrixOperation", "NetworkDefinitionCreationFlag", "PaddingMode", "Permutation",
    "PoolingType", "ProfilingVerbosity", "Runtime", "ReduceOperation", "ResizeCoordinateTransformation", "ResizeRoundMode",
    "ResizeSelector", "SampleMode", "StandinError", "TopKOperation", "UnaryOperation", "Weights",
    "attributes", "execute", "nptype", "summary", "volume",
]
