"""TensorRT: explicit-quantization rules for QDQ models that TensorRT builds engines from.

infercc writes such models with the ONNX target; this package holds only the quantization
spec (:mod:`.quant_spec`).
"""
