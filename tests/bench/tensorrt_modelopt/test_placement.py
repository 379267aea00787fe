"""The Q/DQ placement comparison of bench/tensorrt_vs_modelopt.py on hand-built graphs.

One float graph, ``x -> Conv -> Relu -> Conv -> Add(skip from the Relu) -> GlobalAveragePool``,
quantized by hand in the two styles the bench meets: "a" as infercc writes it (int8 weight
initializers read by a DequantizeLinear, Q/DQ on the conv inputs and on the residual add's
skip input, tensors renamed as infercc's re-export renames them) and "b" as ModelOpt
writes it (float weights through QuantizeLinear/DequantizeLinear, Q/DQ on the conv inputs,
the add's output and the pooling input). Every expected count below is read off the
graphs as built here.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from bench.tensorrt_modelopt.placement import (
    Difference,
    InputQ,
    NodeQ,
    OpCounts,
    differences,
    float_names,
    float_node_names,
    op_counts,
    placement,
    qdq_counts,
    summarize,
)


def _model(nodes, inits):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])
    y = helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, None)
    return helper.make_model(helper.make_graph(nodes, "g", [x], [y], inits))


def _init(name, shape, dtype=np.float32):
    return numpy_helper.from_array(np.ones(shape, dtype), name)


def _scale(name):
    return [numpy_helper.from_array(np.array(0.1, np.float32), name + "_s"),
            numpy_helper.from_array(np.array(0, np.int8), name + "_z")]


def _qdq(src, name):
    """QuantizeLinear + DequantizeLinear of ``src``; DQ output ``name``."""
    return [helper.make_node("QuantizeLinear", [src, src + "_s", src + "_z"], [src + "_q"]),
            helper.make_node("DequantizeLinear", [src + "_q", src + "_s", src + "_z"], [name])]


def float_model():
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1"),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2"),
             helper.make_node("Add", ["c2", "r1"], ["a"], name="add"),
             helper.make_node("GlobalAveragePool", ["a"], ["g"], name="pool")]
    return _model(nodes, [_init("w1", (4, 4, 1, 1)), _init("b1", (4,)), _init("w2", (4, 4, 1, 1))])


def infercc_style():
    """Renamed tensors (c1 -> c1_preact_preact, r1 -> c1_preact), int8 weights + DQ, one DQ
    of the relu output shared by conv2 and the add's skip input, nothing after the add."""
    inits = [_init("w1.q", (4, 4, 1, 1), np.int8), _init("b1.f", (4,)),
             _init("w2.q", (4, 4, 1, 1), np.int8), *_scale("x"), *_scale("c1_preact"),
             *_scale("w1.q"), *_scale("w2.q")]
    nodes = [*_qdq("x", "x.dq"),
             helper.make_node("DequantizeLinear", ["w1.q", "w1.q_s", "w1.q_z"], ["w1.dq"]),
             helper.make_node("Conv", ["x.dq", "w1.dq", "b1.f"], ["c1_preact_preact"], name="Conv@0"),
             helper.make_node("Relu", ["c1_preact_preact"], ["c1_preact"], name="Conv@0_relu"),
             *_qdq("c1_preact", "c1_preact.dq"),
             helper.make_node("DequantizeLinear", ["w2.q", "w2.q_s", "w2.q_z"], ["w2.dq"]),
             helper.make_node("Conv", ["c1_preact.dq", "w2.dq"], ["c2"], name="Conv@1"),
             helper.make_node("Add", ["c1_preact.dq", "c2"], ["a"], name="Add@0"),
             helper.make_node("GlobalAveragePool", ["a"], ["g"], name="Pool@0")]
    return _model(nodes, inits)


def modelopt_style():
    """Float weights through Q/DQ, the add reads the relu output directly, Q/DQ on the
    add's output before the pooling."""
    inits = [_init("w1", (4, 4, 1, 1)), _init("b1", (4,)), _init("w2", (4, 4, 1, 1)),
             *_scale("x"), *_scale("r1"), *_scale("a"), *_scale("w1"), *_scale("w2")]
    nodes = [*_qdq("x", "x_dq"), *_qdq("w1", "w1_dq"),
             helper.make_node("Conv", ["x_dq", "w1_dq", "b1"], ["c1"], name="conv1"),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             *_qdq("r1", "r1_dq"), *_qdq("w2", "w2_dq"),
             helper.make_node("Conv", ["r1_dq", "w2_dq"], ["c2"], name="conv2"),
             helper.make_node("Add", ["c2", "r1"], ["a"], name="add"),
             *_qdq("a", "a_dq"),
             helper.make_node("GlobalAveragePool", ["a_dq"], ["g"], name="pool")]
    return _model(nodes, inits)


def test_tensors_are_matched_to_the_float_model_by_structure_not_name():
    f = float_model()
    assert float_names(f, infercc_style()) == {
        "c1_preact_preact": "c1", "c1_preact": "r1", "c2": "c2", "a": "a", "g": "g"}
    assert float_names(f, modelopt_style()) == {n: n for n in ("c1", "r1", "c2", "a", "g")}


def test_qdq_counts_split_activation_quantizers_from_weight_dequantizers():
    assert qdq_counts(infercc_style()) == {"activation": 2, "weight": 2}
    assert qdq_counts(modelopt_style()) == {"activation": 3, "weight": 2}
    assert qdq_counts(float_model()) == {"activation": 0, "weight": 0}


def test_per_op_type_counts():
    f = float_model()
    a = op_counts(placement(infercc_style(), float_names(f, infercc_style())))
    b = op_counts(placement(modelopt_style(), float_names(f, modelopt_style())))
    # conv1 reads x, w1, b1 (a rank-1 constant, not compared); conv2 reads r1, w2
    assert a["Conv"] == b["Conv"] == OpCounts(nodes=2, act_q=2, act=2, weight_q=2, weight=2)
    assert a["Relu"] == b["Relu"] == OpCounts(nodes=1, act=1, out_q=1)
    assert a["Add"] == OpCounts(nodes=1, act_q=1, act=2)
    assert b["Add"] == OpCounts(nodes=1, act=2, out_q=1)
    assert a["GlobalAveragePool"] == OpCounts(nodes=1, act=1)
    assert b["GlobalAveragePool"] == OpCounts(nodes=1, act_q=1, act=1)


def test_differences_name_the_float_nodes_and_tensors():
    f = float_model()
    pa = placement(infercc_style(), float_names(f, infercc_style()))
    pb = placement(modelopt_style(), float_names(f, modelopt_style()))
    diffs = differences(pa, pb, float_node_names(f))
    assert diffs == [
        Difference("a", "Add", "add", "activation input", "r1", "a"),
        Difference("a", "Add", "add", "output", "a", "b"),
        Difference("g", "GlobalAveragePool", "pool", "activation input", "a", "b"),
    ]
    assert summarize(diffs + diffs[:1]) == [
        ("Add", "activation input", "a", 2), ("Add", "output", "b", 1),
        ("GlobalAveragePool", "activation input", "b", 1)]
    assert differences(pa, pa) == []


def test_a_node_missing_from_one_model_and_a_weight_quantized_in_one_only():
    conv_q = NodeQ("Conv", "c", [InputQ("x", True, "activation"), InputQ("w", True, "weight")])
    conv_f = NodeQ("Conv", "c", [InputQ("x", True, "activation"), InputQ("w", False, "weight")])
    extra = NodeQ("Identity", "i", [InputQ("c", False, "activation")])
    assert differences({"c": conv_q}, {"c": conv_f, "i": extra}) == [
        Difference("c", "Conv", "", "weight input", "input 1", "a"),
        Difference("i", "Identity", "", "node", "i", "b"),
    ]
