"""Small ONNX models written by the tests themselves."""

from __future__ import annotations

from pathlib import Path


def write_nonzero_onnx(path: Path) -> None:
    """Write a two-node ONNX model, relu then NonZero (a data-dependent output shape, which
    the TFLite target does not lower): the model for "unsupported op" paths."""
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"], name="relu0"),
         helper.make_node("NonZero", ["r"], ["nz"], name="where_positive")],
        "nonzero_net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("nz", TensorProto.INT64, [2, None])],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, path)
