"""ONNX frontend: ``.onnx`` files and ``onnx.ModelProto`` -> IR graphs.

``importer`` converts a model (reading, op-support check, conversion, subgraphs);
``normalize`` rewrites older opsets' node forms into the latest opset's; ``conformance``
runs ONNX's own node test cases through the importer and the reference interpreter.
"""

from .importer import OnnxImportError, load_onnx, node_label, read_model, supported_ops, unsupported_ops

__all__ = [
    "OnnxImportError",
    "load_onnx",
    "node_label",
    "read_model",
    "supported_ops",
    "unsupported_ops",
]
