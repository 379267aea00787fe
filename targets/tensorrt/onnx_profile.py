"""The TensorRT-profile ONNX: an ONNX model TensorRT's ONNX parser builds a strongly typed
network from (``trtexec --onnx=model.onnx --stronglyTyped --saveEngine=model.engine``).

Contract of :func:`export_profile`:

* The model is written by the ONNX exporter (:func:`targets.onnx.exporter.export_onnx`) at
  :data:`PROFILE_OPSET`, so it is the same model ``--target onnx`` writes, at an opset every
  TensorRT parser from 8.5 on reads.
* Quantized graphs keep the quantize pass's Q/DQ pairs where the ``tensorrt`` quantization
  spec (:mod:`targets.tensorrt.quant_spec`) put them: this module places nothing itself,
  it checks that each pair is one TensorRT's parser takes (:func:`problems`).
* Dynamic dims stay symbolic (``dim_param``) in the written model; ``trtexec`` takes their
  range as ``--minShapes/--optShapes/--maxShapes`` (:func:`trtexec_command`), so each
  dynamic input needs a shape range here too, as for an engine.
* Before anything is written, :func:`problems` lists every node TensorRT cannot take: graph
  inputs with a type TensorRT lacks, dynamic dims without a fitting shape range (the rules
  of :mod:`targets.tensorrt.preflight`), values of a type TensorRT lacks, ONNX ops the parser
  does not import (:data:`PARSER_OPS`) and Q/DQ nodes that break TensorRT's rules (int8 only,
  zero point 0, constant scale). Any problem is a
  :class:`~targets.tensorrt.preflight.TensorRTUnsupportedError` (exit 2) naming each node's
  source layer; the file is written (atomically) only when there is none.
* Dequantized int32 constants (the quantize pass's biases) are written as the float
  constants they stand for: TensorRT's DequantizeLinear takes int8 only, and it adds float
  biases in its fused int8 kernels itself.
* fp16 is not written in this profile: asking for it is :class:`OnnxProfileError`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from compiler.errors import InferccError
from compiler.fileio import atomic_write
from compiler.ir.graph import CONST, Graph, Node
from compiler.ir.types import DType

from . import preflight
from .context import trt_dtype_name
from .preflight import Problem, TensorRTUnsupportedError
from .profile import ShapeRange, profile_ranges, trtexec_shapes

log = logging.getLogger(__name__)

# TensorRT 8.5's parser "supports operators up to Opset 17" (onnx/onnx-tensorrt,
# docs/operators.md at the 8.5 release); TensorRT 10.x and 11.x read opsets 9 and later (11.x
# up to 25: docs.nvidia.com/deeplearning/tensorrt/latest/reference/onnx-opset-guide.html).
# 17 is therefore read by every parser that has STRONGLY_TYPED networks (10.x, 11.x) and by
# the older 8.5/8.6 ones too, and it has every op the IR writes for the model zoo
# (LayerNormalization is opset 17).
PROFILE_OPSET = 17

# The ONNX ops onnx/onnx-tensorrt docs/operators.md marks supported ("Y"), 8.5 release,
# plus LayerNormalization, which the TensorRT 10.0 version of that page marks "Y" ("Only the
# first output `Y` is supported"; onnx/onnx-tensorrt @96e7811, 2024-06-17) and which the IR's
# layer_norm writes with its first output only (the converter refuses one whose Mean or
# InvStdDev output is read).
# Ops not listed there (or marked "N") are refused by the pre-flight.
PARSER_OPS = frozenset({
    "Abs", "Acos", "Acosh", "Add", "And", "ArgMax", "ArgMin", "Asin", "Asinh", "Atan",
    "Atanh", "AveragePool", "BatchNormalization", "Cast", "Ceil", "Celu", "Clip", "Concat",
    "Constant", "ConstantOfShape", "Conv", "ConvTranspose", "Cos", "Cosh", "CumSum",
    "DepthToSpace", "DequantizeLinear", "Div", "Dropout", "Einsum", "Elu", "Equal", "Erf",
    "Exp", "Expand", "EyeLike", "Flatten", "Floor", "Gather", "GatherElements", "GatherND",
    "Gemm", "GlobalAveragePool", "GlobalLpPool", "GlobalMaxPool", "Greater", "GreaterOrEqual",
    "GridSample", "GRU", "HardSigmoid", "HardSwish", "Identity", "If", "ImageScaler",
    "InstanceNormalization", "IsNaN", "LayerNormalization", "LeakyRelu", "Less",
    "LessOrEqual", "Log", "LogSoftmax", "Loop", "LRN", "LSTM", "LpNormalization", "LpPool",
    "MatMul", "Max", "MaxPool", "Mean", "MeanVarianceNormalization", "Min", "Mod", "Mul",
    "Neg", "NonMaxSuppression", "NonZero", "Not", "OneHot", "Or", "Pad", "ParametricSoftplus",
    "Pow", "PRelu", "QuantizeLinear", "RandomNormal", "RandomNormalLike", "RandomUniform",
    "RandomUniformLike", "Range", "Reciprocal", "ReduceL1", "ReduceL2", "ReduceLogSum",
    "ReduceLogSumExp", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum",
    "ReduceSumSquare", "Relu", "Reshape", "Resize", "ReverseSequence", "RNN", "RoiAlign",
    "Round", "ScaledTanh", "Scan", "Scatter", "ScatterElements", "ScatterND", "Selu", "Shape",
    "Shrink", "Sigmoid", "Sign", "Sin", "Sinh", "Size", "Slice", "Softmax", "Softplus",
    "Softsign", "SpaceToDepth", "Split", "Sqrt", "Squeeze", "Sub", "Sum", "Tan", "Tanh",
    "ThresholdedRelu", "Tile", "TopK", "Transpose", "Trilu", "Unsqueeze", "Upsample", "Where",
    "Xor",
})

_QDQ = frozenset({"quantize", "dequantize"})


class OnnxProfileError(InferccError):
    """An option the TensorRT-profile ONNX does not offer (fp16)."""


def problems(graph: Graph, model: Any | None = None,
             ranges: Mapping[str, ShapeRange] | None = None) -> list[Problem]:
    """Every node of ``graph`` (and, given the exported ``model``, every ONNX node) that
    TensorRT's ONNX parser cannot take, in graph order: graph inputs (as
    :mod:`.preflight` judges them), value types, Q/DQ rules, then ONNX ops missing from
    :data:`PARSER_OPS` (reported under the ONNX node's name, its source layer)."""
    found = [p for p in preflight.problems(graph, ranges) if p.op in ("input", "shape-range")]
    for node in graph.nodes:
        if node.op == CONST:
            continue
        why = _type_reason(node) or (_qdq_reason(node) if node.op in _QDQ else None)
        if why is not None:
            dtype = str(node.outputs[0].type.dtype) if node.outputs else "-"
            found.append(Problem(node.op, dtype, node.label, why))
    if model is not None:
        for n in model.graph.node:
            if n.domain not in ("", "ai.onnx") or n.op_type not in PARSER_OPS:
                found.append(Problem(n.op_type, "-", n.name or n.output[0],
                                     f"TensorRT's ONNX parser does not import "
                                     f"{n.domain + '.' if n.domain else ''}{n.op_type}"))
    return found


def _type_reason(node: Node) -> str | None:
    for v in list(node.inputs) + list(node.outputs):
        if v is not None and not v.is_const and trt_dtype_name(v.type.dtype) is None:
            return f"%{v.name} is {v.type.dtype}, which TensorRT has no type for"
    return None


def _qdq_reason(node: Node) -> str | None:
    """Why TensorRT refuses this quantize/dequantize node (TensorRT's ONNX parser and its
    IQuantizeLayer/IDequantizeLayer: INT8 data, a build-time constant scale, zero point 0
    of the same type), or None."""
    quantized = node.outputs[0] if node.op == "quantize" else node.input(0)
    if node.op == "dequantize" and quantized is not None and quantized.is_const \
            and quantized.type.dtype == DType.I32:
        return None  # a quantized bias: written as float (_fold_int32_biases)
    if quantized is None or quantized.type.dtype != DType.I8:
        dtype = quantized.type.dtype if quantized is not None else "?"
        return (f"{node.op} of {dtype}: TensorRT quantizes to and dequantizes from int8 "
                "only")
    scale = node.input(1)
    if scale is None or not scale.is_const:
        return f"{node.op}: the scale is not a constant; TensorRT needs it at build time"
    zp = node.input(2)
    if zp is not None:
        if not zp.is_const:
            return f"{node.op}: the zero point is not a constant"
        if np.any(np.asarray(zp.const_value) != 0):
            # no value in the text, so that every such node groups under one line
            return (f"{node.op}: non-zero zero point (TensorRT's Q/DQ are symmetric: quantize "
                    "with the tensorrt scheme)")
    return None


def export_profile(graph: Graph, path: str | os.PathLike[str] | None = None, *,
                   float16: bool = False,
                   renamed: dict[str, str] | None = None,
                   ranges: Mapping[str, ShapeRange] | None = None) -> Any:
    """The TensorRT-profile ``onnx.ModelProto`` of ``graph``, written to ``path`` when given
    and only when :func:`problems` finds nothing (see the module doc). ``ranges``: the
    shape range of each dynamic input (:mod:`.profile`)."""
    if float16:
        raise OnnxProfileError(
            "the TensorRT-profile ONNX is written in float32 or int8 (Q/DQ) only; for fp16 "
            "write it in float32 and let TensorRT choose half precision, or build the "
            "engine (-o model.engine) where TensorRT is installed. Nothing was written.")
    from targets.onnx.exporter import export_onnx

    # before exporting: the exporter would refuse some of these
    early = problems(graph, ranges=ranges)
    if early:
        raise TensorRTUnsupportedError(f"graph '{graph.name}'", early)
    model = export_onnx(graph, None, opset=PROFILE_OPSET, renamed=renamed)
    _fold_int32_biases(model)
    late = problems(graph, model, ranges)
    if late:
        raise TensorRTUnsupportedError(f"graph '{graph.name}'", late)
    if path is not None:
        atomic_write(path, model.SerializeToString())
        log.info("wrote the TensorRT-profile ONNX %s (opset %d, %d nodes); build it with: %s",
                 path, PROFILE_OPSET, len(model.graph.node),
                 trtexec_command(graph, path, ranges))
    return model


def trtexec_command(graph: Graph, path: str | os.PathLike[str],
                    ranges: Mapping[str, ShapeRange] | None = None,
                    engine: str | os.PathLike[str] | None = None) -> str:
    """The ``trtexec`` command that builds the engine ``engine`` (default: ``path`` with the
    suffix ``.engine``) from the profile at ``path``, with the shape ranges of ``graph``'s
    dynamic inputs as ``--minShapes/--optShapes/--maxShapes`` (and ``--sparsity=enable`` when
    a layer's weights qualify for 2:4 tactics, :mod:`.sparsity`): the one spelling of that
    command (the CLI prints it, and a missing TensorRT's error gives it)."""
    if engine is None:
        engine = os.path.splitext(os.fspath(path))[0] + ".engine"
    from .sparsity import verdicts

    shapes = trtexec_shapes(profile_ranges(graph, dict(ranges or {})))
    # the engine infercc builds sets SPARSE_WEIGHTS when a layer has 2:4 weights; so does this
    sparse = " --sparsity=enable" if any(v.ok for v in verdicts(graph)) else ""
    return (f"trtexec --onnx={os.fspath(path)} --stronglyTyped"
            f"{' ' + shapes if shapes else ''}{sparse} --saveEngine={os.fspath(engine)}")


def _fold_int32_biases(model: Any) -> None:
    """Replace each DequantizeLinear of an int32 initializer in ``model`` by the float32
    initializer it computes, ``(x - zero_point) * scale`` along its ``axis``, dropping the
    initializers nothing else reads."""
    from onnx import TensorProto, numpy_helper

    g = model.graph
    inits = {t.name: t for t in g.initializer}
    folded = []
    for n in g.node:
        if n.op_type != "DequantizeLinear" or n.input[0] not in inits \
                or inits[n.input[0]].data_type != TensorProto.INT32:
            continue
        x = numpy_helper.to_array(inits[n.input[0]]).astype(np.int64)
        scale = numpy_helper.to_array(inits[n.input[1]]).astype(np.float32)
        zp = (numpy_helper.to_array(inits[n.input[2]]).astype(np.int64)
              if len(n.input) > 2 and n.input[2] else np.zeros((), np.int64))
        if scale.ndim == 1 and x.ndim > 1:  # per-axis: broadcast along ``axis``
            axis = next((a.i for a in n.attribute if a.name == "axis"), 1) % x.ndim
            shape = [1] * x.ndim
            shape[axis] = -1
            scale, zp = scale.reshape(shape), zp.reshape(shape) if zp.ndim else zp
        value = ((x - zp).astype(np.float32) * scale).astype(np.float32)
        g.initializer.append(numpy_helper.from_array(value, n.output[0]))
        folded.append(n)
    for n in folded:
        g.node.remove(n)
    if folded:
        read = {i for n in g.node for i in n.input} | {o.name for o in g.output}
        keep = [t for t in g.initializer if t.name in read]
        del g.initializer[:]
        g.initializer.extend(keep)
        log.debug("wrote %d int32 dequantized constants as float", len(folded))
