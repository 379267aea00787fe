"""``load_onnx(cut_unsupported=True)``: main-graph nodes infercc cannot lower are cut out;
the rest computes what onnxruntime computes around the cut."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from compiler.errors import UnsupportedOpsError
from compiler.frontends.onnx import load_onnx
from compiler.runtime import open_executor


def _det_model() -> onnx.ModelProto:
    """relu -> Det (not in infercc's op set) -> mul: the cut sits in the middle."""
    g = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"], name="relu0"),
         helper.make_node("Det", ["r"], ["d"], name="det0"),
         helper.make_node("Mul", ["d", "two"], ["y"], name="scale0")], "det_net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        [numpy_helper.from_array(np.array([2.0], np.float32), "two")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_refused_without_the_option():
    with pytest.raises(UnsupportedOpsError, match="Det: det0"):
        load_onnx(_det_model())


def test_the_cut_graph_computes_what_onnxruntime_computes_around_the_cut():
    m = _det_model()
    g = load_onnx(m, cut_unsupported=True)
    assert [v.name for v in g.inputs] == ["x", "d"]
    assert [v.name for v in g.outputs] == ["y", "r"]
    assert (g.metadata["cut_inputs"], g.metadata["cut_outputs"]) == ("d", "r")
    assert str(g.inputs[1].type) == "f32[2]"  # typed by ONNX shape inference
    # oracle: onnxruntime runs the whole model; r and d made outputs of its session
    full = onnx.ModelProto()
    full.CopyFrom(m)
    full.graph.output.extend([helper.make_tensor_value_info("r", TensorProto.FLOAT, None),
                              helper.make_tensor_value_info("d", TensorProto.FLOAT, None)])
    x = np.random.default_rng(0).standard_normal((2, 3, 3)).astype(np.float32)
    y, r, d = ort.InferenceSession(full.SerializeToString()).run(["y", "r", "d"], {"x": x})
    got = open_executor("reference", g).run({"x": x, "d": d}).outputs
    np.testing.assert_array_equal(got["r"], r)
    np.testing.assert_array_equal(got["y"], y)


def test_a_node_inside_a_subgraph_is_not_cut():
    body = helper.make_graph(
        [helper.make_node("Det", ["m"], ["dm"], name="det_in_branch")], "then",
        [], [helper.make_tensor_value_info("dm", TensorProto.FLOAT, [])])
    g = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["m"]),
         helper.make_node("If", ["c"], ["y"], then_branch=body, else_branch=body)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 3]),
         helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(UnsupportedOpsError, match="subgraphs cannot be cut"):
        load_onnx(m, cut_unsupported=True)
