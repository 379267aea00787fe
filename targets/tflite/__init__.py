"""TFLite target: IR (float32, NCHW) -> .tflite flatbuffer (NHWC) that LiteRT runs."""

from .lower import TfliteEmitError, TfliteWriteError, emit_tflite
from .writer import TfliteWriter

__all__ = ["TfliteEmitError", "TfliteWriteError", "TfliteWriter", "emit_tflite"]
