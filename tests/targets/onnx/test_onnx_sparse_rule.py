"""The ONNX sparse rule: written dense, nothing changes; and the onnxruntime fact it rests
on: a weight stored as ONNX ``sparse_initializer`` runs through the dense kernel (outputs
bit-identical to the dense initializer's), so sparse storage would buy file size only."""

from __future__ import annotations

import numpy as np

from compiler.ir import Graph, TensorType
from compiler.sparse_payoff import rule_for
from targets.onnx import sparse_rule  # noqa: F401 - registers the rule


def test_onnx_rule_is_dense():
    g = Graph("g")
    x = g.add_input("x", TensorType("f32", (1, 8)))
    w = np.zeros((8, 4), np.float32)
    node = g.add_node("matmul", [x, g.add_const(w, "w")], source=["fc"])
    a = rule_for("onnx")(node, w, {})
    assert a.storage is None and not a.effects and "densifies" in a.evidence


def _model(w: np.ndarray, sparse: bool):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, w.shape[1], 6, 6])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, w.shape[0], 6, 6])
    conv = helper.make_node("Conv", ["x", "w"], ["y"])
    if sparse:
        idx = np.flatnonzero(w).astype(np.int64)
        init = helper.make_sparse_tensor(numpy_helper.from_array(w.ravel()[idx], "w"),
                                         numpy_helper.from_array(idx, "w_idx"), list(w.shape))
        g = helper.make_graph([conv], "g", [x], [y], sparse_initializer=[init])
    else:
        g = helper.make_graph([conv], "g", [x], [y], [numpy_helper.from_array(w, "w")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m.SerializeToString()


def test_onnxruntime_densifies_a_sparse_initializer():
    import onnxruntime as ort

    r = np.random.default_rng(0)
    w = r.standard_normal((32, 16, 1, 1)).astype(np.float32)
    w[np.abs(w) < 1.65] = 0  # ~90% zeros
    x = r.standard_normal((1, 16, 6, 6)).astype(np.float32)
    runs = {}
    for sparse in (False, True):
        data = _model(w, sparse)
        runs[sparse] = (len(data), ort.InferenceSession(
            data, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0])
    assert np.array_equal(runs[True][1], runs[False][1])  # the same dense kernel
    assert runs[True][0] < 0.5 * runs[False][0]  # the file would shrink
