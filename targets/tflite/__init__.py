"""TFLite target: IR (float32, NCHW) -> .tflite flatbuffer (NHWC) that LiteRT runs."""

from .lower import (DeployedTensor, Emitted, TfliteEmitError, TfliteWriteError, emit,
                    emit_tflite, supported_ops, unsupported_reason)
from .writer import TfliteWriter

__all__ = ["DeployedTensor", "Emitted", "TfliteEmitError", "TfliteWriteError", "TfliteWriter",
           "emit", "emit_tflite", "supported_ops", "unsupported_reason"]
