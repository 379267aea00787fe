"""TFLite frontend: a ``.tflite`` flatbuffer -> an IR graph.

``converter`` reads the flatbuffer and converts one subgraph; ``ops`` holds the per-builtin
lowerings (its table is :data:`SUPPORTED_OPS`); ``sparse`` decodes sparse constants.
"""

from .converter import TfliteImportError, load_tflite, read_model, unsupported_ops
from .ops import SUPPORTED_OPS

__all__ = ["SUPPORTED_OPS", "TfliteImportError", "load_tflite", "read_model", "unsupported_ops"]
