"""TFLite frontend: a ``.tflite`` flatbuffer -> an IR graph.

``reader`` reads the flatbuffer, ``verify`` checks it before anything trusts it,
``converter`` converts one subgraph, ``ops`` holds the per-builtin lowerings (its table is
:data:`SUPPORTED_OPS`) and ``sparse`` decodes sparse constants.
"""

from .converter import TfliteImportError, load_tflite, unsupported_ops
from .ops import SUPPORTED_OPS
from .reader import read_model

__all__ = ["SUPPORTED_OPS", "TfliteImportError", "load_tflite", "read_model", "unsupported_ops"]
