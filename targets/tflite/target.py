"""The TFLite target: options, load hints, pipelines, capabilities and the emitter driver.

The lowering itself lives in :mod:`targets.tflite.lower` (float) and
:mod:`targets.tflite.quantized` (int8); this module only describes the target to the
compiler driver and turns what the emitter wrote into an :class:`~targets.EmitResult`.
"""

from __future__ import annotations

import importlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from compiler.ir.graph import CONST, Node

from ..base import EmitResult, Target, TargetOptions
from .errors import TfliteEmitError
from .layout import NHWC_OPS, oversized_dim
from .sparse_tensors import MODES
from . import sparse_rule  # noqa: F401 - registers the "tflite" sparse rule

log = logging.getLogger(__name__)

@dataclass
class TFLiteOptions(TargetOptions):
    """``float16``: store float weights as float16 (dequantized at load); ``io_dtype``:
    ``"int8"`` makes a quantized model's inputs and outputs int8 tensors (``"float"``:
    QUANTIZE/DEQUANTIZE inside the model); ``sparse_weights``: ``"none"``, ``"densify"``
    (pruned float conv/fully-connected weights stored sparse behind DENSIFY: a smaller
    file) or ``"fc_blocks"`` (float fully-connected weights stored 1x4 block-sparse for
    LiteRT's sparse kernel), from ``sparse_threshold`` zeros (default per mode: 0.5 and the
    measured break-even 0.8; see
    :mod:`targets.tflite.sparse_tensors`)."""

    name: ClassVar[str] = "tflite"

    float16: bool = False
    io_dtype: Literal["float", "int8"] = "float"
    sparse_weights: Literal["none", "densify", "fc_blocks"] = "none"
    sparse_threshold: float | None = None

    def __post_init__(self) -> None:
        if self.io_dtype not in ("float", "int8"):
            raise ValueError(f"io_dtype {self.io_dtype!r}: use 'float' or 'int8'")
        if self.sparse_weights not in MODES:
            raise ValueError(f"sparse_weights {self.sparse_weights!r}: use one of "
                             f"{', '.join(MODES)}")
        if self.sparse_threshold is not None and not 0.0 <= self.sparse_threshold <= 1.0:
            raise ValueError(f"sparse_threshold {self.sparse_threshold}: use a zero "
                             "fraction between 0 and 1")


class TFLiteTarget(Target):
    name: ClassVar[str] = "tflite"
    title: ClassVar[str] = "TFLite"
    summary: ClassVar[str] = ("TFLite flatbuffer (float32, float16 weights, or fully-integer "
                              "int8) run by LiteRT; NHWC layouts folded")
    extensions: ClassVar[tuple[str, ...]] = (".tflite",)
    Options: ClassVar[type[TargetOptions]] = TFLiteOptions
    executor: ClassVar[str | None] = "litert"
    supports_int8: ClassVar[bool] = True

    def default_pipeline(self, int8: bool = False) -> str:
        pipeline = super().default_pipeline(int8)
        if int8:
            # TFLite's int8 kernels fuse only the activations the quantization spec lists
            # (the relu family): a tanh/sigmoid left as its own op gets calibrated and runs
            # in int8 instead of falling back to float.
            allowed = ",".join(sorted(a for a in self.quant_spec.fused_activations if a))
            fuse = f"fuse-activation{{allowed=[{allowed}]}}"
            pipeline = ",".join(fuse if p.strip() == "fuse-activation" else p
                                for p in pipeline.split(","))
        return pipeline

    @property
    def quant_spec(self) -> Any:
        return importlib.import_module("targets.tflite.quant_spec").QUANT_SPEC

    def supports(self, node: Node) -> str | None:
        """The emitter's own answer (:func:`targets.tflite.emit.unsupported_reason`, from the
        lowering registry it dispatches on), plus the format's limits: known ranks and
        int32-sized dimensions."""
        from .emit import unsupported_reason

        if node.op == CONST:
            return None
        for v in list(node.inputs) + list(node.outputs):
            if v is None:
                continue
            if v.type.shape is None:
                return f"%{v.name} has unknown rank; TFLite needs ranks"
            too_big = oversized_dim(v.name, v.type.shape)
            if too_big:
                return too_big
        return unsupported_reason(node)

    def emit(self, graph: Any, options: TargetOptions | None = None,
             output: str | os.PathLike | None = None) -> EmitResult:
        from .emit import emit, write_model

        opts = options if options is not None else self.Options()
        assert isinstance(opts, TFLiteOptions), opts
        why = dynamic_input_problem(graph)
        if why:  # one error for the cause, not one per convolution it reaches
            raise TfliteEmitError(graph.name, [("model", "-", why)])
        emitted = emit(graph, float16=opts.float16, io_dtype=opts.io_dtype,
                       sparse_weights=opts.sparse_weights,
                       sparse_threshold=opts.sparse_threshold)
        if output is not None:
            Path(output).parent.mkdir(parents=True, exist_ok=True)
            write_model(output, emitted.data)
        return EmitResult(data=emitted.data, tensor_map=emitted.tensors, target=self.name,
                          output=Path(output) if output is not None else None,
                          float_nodes=emitted.float_nodes)


#: what an unknown non-batch dim becomes in the suggested ``--input-shape``
EXAMPLE_DIM = 640


def dynamic_input_problem(graph: Any) -> str | None:
    """Why ``graph`` cannot be TFLite because inputs have dynamic non-batch dims that reach
    a spatial op (TFLite's convolutions, pools and resizes need static spatial dims), naming
    each such input and the ``--input-shape`` that fixes it; None when no spatial op meets
    a dynamic spatial dim (a dynamic batch is fine: TFLite's shape signature keeps it)."""
    blocked = any(
        n.op in NHWC_OPS and n.inputs and n.inputs[0] is not None
        and n.inputs[0].type.rank == 4
        and not all(isinstance(d, int) for d in n.inputs[0].type.shape[2:])
        for n in graph.nodes)
    dynamic = [v for v in graph.inputs if v.type.shape is not None
               and not all(isinstance(d, int) for d in v.type.shape[1:])]
    if not blocked or not dynamic:
        return None
    fixes = []
    for v in dynamic:
        dims = [d if isinstance(d, int) else 1 if i == 0 else EXAMPLE_DIM
                for i, d in enumerate(v.type.shape)]
        fixes.append((v, dims))
    shown = ", ".join(f"%{v.name} [{', '.join(str(d) for d in v.type.shape)}]"
                      for v, _ in fixes)
    flags = " ".join(f"--input-shape {v.name}:{','.join(map(str, dims))}" for v, dims in fixes)
    api = ", ".join(f"{v.name!r}: {dims}" for v, dims in fixes)
    return (f"input(s) {shown} have dynamic dims, and TFLite's convolutions, pools and "
            f"resizes need static spatial dims; fix them at load with {flags} "
            f"(compiler.compile(..., input_shapes={{{api}}})), putting the sizes you will "
            f"feed where {EXAMPLE_DIM} stands for an unknown dim")
