"""``compile(..., prune=...)`` fills ``CompileResult.sparsity``; for a .tflite whose graph
meets XNNPACK's sparse-inference conditions (a padded 3x3 stride-2 stem on 3 channels, 1x1
convs whose weights are 80% zeros -- over 2/3 --, a global average pool), the TFLite answer
of the 1x1 layers gains an unverified latency effect; the stem (not 1x1) does not."""

from __future__ import annotations

import numpy as np
import pytest

import compiler

pytest.importorskip("ai_edge_litert")


def _arm_onnx(path, size: int = 16):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    r = np.random.default_rng(0)
    w = {"w1": r.standard_normal((16, 3, 3, 3)), "w2": r.standard_normal((32, 16, 1, 1)),
         "w3": r.standard_normal((64, 32, 1, 1))}
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2],
                              name="stem"),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], name="pw1"),
             helper.make_node("Relu", ["c2"], ["r2"]),
             helper.make_node("Conv", ["r2", "w3"], ["c3"], name="pw2"),
             helper.make_node("GlobalAveragePool", ["c3"], ["y"])]
    g = helper.make_graph(
        nodes, "arm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64, 1, 1])],
        [numpy_helper.from_array(a.astype(np.float32), k) for k, a in w.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return str(path)


def test_xnnpack_sparse_layers_get_unverified_latency(tmp_path):
    r = compiler.compile(_arm_onnx(tmp_path / "arm.onnx"), "tflite",
                         prune="sparsity=0.8,min_size=0")
    answers = {row.layer: row.answers["tflite"] for row in r.sparsity.rows}
    assert set(answers) == {"stem", "pw1", "pw2"}
    for layer in ("pw1", "pw2"):
        assert answers[layer].effects == ("latency",) and not answers[layer].verified
        assert "sparse NCHW kernel" in answers[layer].evidence
    assert answers["stem"].effects == () and answers["stem"].verified
    assert "would run 4 op(s)" in r.sparsity.notes[0]


def test_no_prune_no_report(tmp_path):
    assert compiler.compile(_arm_onnx(tmp_path / "arm.onnx"), "onnx").sparsity is None
