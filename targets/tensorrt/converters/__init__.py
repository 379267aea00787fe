"""TensorRT converters, one module per op family; each registers with
:func:`targets.tensorrt.registry.converter` on import."""
