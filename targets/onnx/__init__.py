"""ONNX target: IR -> .onnx that onnxruntime runs."""
