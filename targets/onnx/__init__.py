"""ONNX target: IR -> .onnx that onnxruntime runs."""

from .exporter import export_onnx

__all__ = ["export_onnx"]
