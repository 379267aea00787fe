"""The pre-flight: every node TensorRT cannot express, listed at once with its layer name."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.errors import InferccError, UnsupportedOpsError
from compiler.ir import Graph, TensorType
from targets.tensorrt.preflight import TensorRTUnsupportedError, check, problems


def _graph() -> Graph:
    """relu (fine) -> mish (no converter) -> conv with run-time weights -> hardmax (none)."""
    g = Graph("net")
    x = g.add_input("x", TensorType("f32", (1, 2, 5, 5)))
    w = g.add_input("w", TensorType("f32", (2, 2, 1, 1)))
    y = g.add_node("relu", [x], source=["act0"]).output
    y = g.add_node("mish", [y], source=["act1"]).output
    y = g.add_node("conv", [y, w], source=["conv_dyn"]).output
    y = g.add_node("hardmax", [y], {"axis": 1}, source=["head"]).output
    g.outputs = [y]
    return g


def test_lists_every_refused_node_with_its_layer_and_reason():
    found = problems(_graph())
    assert [(p.op, p.layer) for p in found] == [("mish", "act1"), ("conv", "conv_dyn"),
                                                ("hardmax", "head")]
    assert found[0].reason == "no TensorRT converter for this op"
    assert "constant kernels" in found[1].reason
    assert all(p.dtype == "f32" for p in found)


def test_check_raises_one_error_naming_them_all():
    with pytest.raises(TensorRTUnsupportedError) as e:
        check(_graph(), "net.onnx")
    text = str(e.value)
    assert isinstance(e.value, UnsupportedOpsError) and isinstance(e.value, InferccError)
    assert text.startswith("net.onnx: 3 unsupported op type(s)")
    for word in ("mish (f32)", "act1", "conv_dyn", "hardmax (f32)", "head", "Nothing was written"):
        assert word in text


def test_types_tensorrt_lacks_are_refused():
    g = Graph()
    x = g.add_input("x", TensorType("f64", (2, 2)))
    y = g.add_node("relu", [x], source=["r"]).output
    g.outputs = [y]
    found = problems(g)
    assert [(p.op, p.layer) for p in found] == [("input", "x"), ("relu", "r")]
    assert "f64" in found[1].reason


def test_a_model_quantized_with_zero_points_is_refused_with_what_to_do():
    """A TFLite-style int8 graph (zero points, int32 biases): one line per rule, naming the
    layers, and the way out (compile the float model with --int8)."""
    from compiler.quantization.calibration import calibrate
    from compiler.quantization.rewrite import quantize_graph

    g = Graph("q")
    r = np.random.default_rng(0)
    x = g.add_input("x", TensorType("f32", (1, 4, 6, 6)))
    for i in range(3):
        x = g.add_node("conv", [x, g.add_const(r.standard_normal((4, 4, 1, 1))
                                               .astype(np.float32), f"w{i}"),
                                g.add_const(np.full(4, 0.5, np.float32), f"b{i}")],
                       {"activation": "relu"}, source=[f"conv{i}"]).output
    g.outputs = [x]
    feeds = [{"x": r.uniform(-1, 1, (1, 4, 6, 6)).astype(np.float32)} for _ in range(4)]
    quantize_graph(g, calibrate(g, feeds, progress=False), scheme="tflite")
    with pytest.raises(TensorRTUnsupportedError) as e:
        check(g, "model.tflite")
    text = str(e.value)
    rules = [line for line in text.splitlines() if line.startswith("  ")]
    assert any(line.startswith("  quantize (i8): non-zero zero point") for line in rules)
    assert len(rules) == len(e.value.unsupported) <= 4  # grouped by rule, not by value
    assert "conv1" in text and "conv2" in text
    assert "Compile the float model instead with --int8 --calibration DATA" in text


def test_a_convertible_graph_passes():
    g = Graph()
    x = g.add_input("x", TensorType("f32", (1, 2, 5, 5)))
    w = g.add_const(np.ones((3, 2, 3, 3), np.float32), "w")
    y = g.add_node("conv", [x, w], {"pads": [1, 1, 1, 1]}, source=["c"]).output
    g.outputs = [g.add_node("relu", [y]).output]
    check(g)
    assert problems(g) == []


def test_dynamic_input_dims_are_refused_with_what_to_do():
    g = Graph()
    x = g.add_input("image", TensorType("f32", ("N", 3, 8, 8)))
    g.outputs = [g.add_node("relu", [x], source=["r"]).output]
    (p,) = problems(g)
    assert (p.op, p.layer) == ("input", "image")
    assert "dynamic shape [Nx3x8x8]" in p.reason and "--input-shape image:1x3x8x8" in p.reason
