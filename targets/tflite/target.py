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
from .layout import oversized_dim

log = logging.getLogger(__name__)

@dataclass
class TFLiteOptions(TargetOptions):
    """``float16``: store float weights as float16 (dequantized at load); ``io_dtype``:
    ``"int8"`` makes a quantized model's inputs and outputs int8 tensors (``"float"``:
    QUANTIZE/DEQUANTIZE inside the model)."""

    name: ClassVar[str] = "tflite"

    float16: bool = False
    io_dtype: Literal["float", "int8"] = "float"

    def __post_init__(self) -> None:
        if self.io_dtype not in ("float", "int8"):
            raise ValueError(f"io_dtype {self.io_dtype!r}: use 'float' or 'int8'")


class TFLiteTarget(Target):
    name: ClassVar[str] = "tflite"
    title: ClassVar[str] = "TFLite"
    summary: ClassVar[str] = ("TFLite flatbuffer (float32, float16 weights, or fully-integer "
                              "int8) run by LiteRT; NHWC layouts folded")
    extensions: ClassVar[tuple[str, ...]] = (".tflite",)
    Options: ClassVar[type[TargetOptions]] = TFLiteOptions
    executor: ClassVar[str | None] = "litert"
    supports_int8: ClassVar[bool] = True

    def load_hints(self, model: Any) -> dict[str, Any]:
        """TensorFlow/Keras sources load in NHWC, TFLite's layout: the emitter then folds
        the boundary transposes instead of writing TRANSPOSE ops."""
        return {"layout": "NHWC"} if _is_tensorflow_source(model) else {}

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
        emitted = emit(graph, float16=opts.float16, io_dtype=opts.io_dtype)
        if output is not None:
            Path(output).parent.mkdir(parents=True, exist_ok=True)
            write_model(output, emitted.data)
        return EmitResult(data=emitted.data, tensor_map=emitted.tensors, target=self.name,
                          output=Path(output) if output is not None else None,
                          float_nodes=emitted.float_nodes)


def _is_tensorflow_source(model: Any) -> bool:
    from compiler.frontends import TF_SUFFIXES

    if isinstance(model, (str, os.PathLike)):
        p = Path(model)
        return p.suffix.lower() in TF_SUFFIXES or (p.is_dir() and (p / "saved_model.pb").exists())
    kind = type(model).__module__.split(".")[0]
    return kind in ("keras", "tf_keras", "tensorflow") or hasattr(model, "signatures")
