"""Per-op TFLite lowerings, one module per op family; importing this package registers
them all (:mod:`targets.tflite.registry`)."""

from . import conv, dense, elementwise, integer, norm, quant, reduce, sequence, tensor  # noqa: F401
