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


def write_convnet_onnx(path: Path, batch: str | int = "N", height: str | int = 8,
                       width: str | int = 8) -> Path:
    """A seeded ONNX conv net: ``x[batch,3,height,width]`` -> conv(4) -> relu -> ``feat``
    (4-D, NCHW) and -> max-pool 2x2 -> flatten -> ``logits``. A str dim is a ``dim_param``."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b")
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["feat"]),
             helper.make_node("MaxPool", ["feat"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["logits"])]
    static = isinstance(height, int) and isinstance(width, int)
    flat = 4 * (height // 2) * (width // 2) if static else None
    g = helper.make_graph(
        nodes, "convnet",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, height, width])],
        [helper.make_tensor_value_info("feat", TensorProto.FLOAT, [batch, 4, height, width]),
         helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, flat])], [w, b])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def write_fixed_batch_onnx(path: Path, data: Path, samples: int = 24) -> tuple[Path, Path]:
    """Write Conv -> Relu -> GlobalAveragePool -> Reshape to [1, 8] -> Gemm (seeded), input
    ``x`` [1, 3, 8, 8], and ``samples`` calibration samples to the .npz ``data``.

    The Reshape fixes the batch size, so calibration's stacked-batch probe fails inside
    onnxruntime (which prints an error line of its own) and falls back to one sample at a
    time: a successful int8 compile that used to show an onnxruntime error."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(a, n) for n, a in (
        ("w1", (rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32)),
        ("b1", (rng.standard_normal(8) * 0.1).astype(np.float32)),
        ("shape", np.array([1, 8], np.int64)),
        ("wf", (rng.standard_normal((4, 8)) * 0.5).astype(np.float32)),
        ("bf", (rng.standard_normal(4) * 0.1).astype(np.float32)))]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("GlobalAveragePool", ["r1"], ["p"], name="pool"),
        helper.make_node("Reshape", ["p", "shape"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], transB=1, name="fc"),
    ]
    graph = helper.make_graph(
        nodes, "fixed_batch",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    np.savez(data, x=rng.standard_normal((samples, 1, 3, 8, 8)).astype(np.float32))
    return path, data
