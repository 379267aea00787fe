"""Caffe frontend: a ``.prototxt`` network plus its ``.caffemodel`` weights -> an IR graph.

``proto`` holds infercc's own reader/writer of Caffe's protobuf messages (no ``caffe`` or
compiled ``caffe_pb2`` needed); ``reader`` turns nets into layers and weight blobs;
``importer`` lowers the layers.
"""

from .importer import SUPPORTED_OPS, CaffeImportError, load_caffe

__all__ = ["SUPPORTED_OPS", "CaffeImportError", "load_caffe"]
