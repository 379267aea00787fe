"""Writes examples/models/tiny_cnn.onnx, the default model of the README's main job.

A small image classifier in the shape of a MobileNet block: conv + batch norm + ReLU, a
depthwise conv + batch norm + ReLU6, global pooling, a classifier, softmax, plus the
Identity/Dropout left-overs exported models often carry. Weights are seeded so the file is
reproducible: `python3 examples/make_tiny_cnn.py` rewrites the same bytes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def build() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    inits = []

    def param(name, shape, scale=0.2, positive=False):
        a = rng.standard_normal(shape).astype(np.float32) * scale
        if positive:
            a = np.abs(a) + 0.5
        inits.append(numpy_helper.from_array(a, name))
        return name

    def bn(prefix, c):
        return [
            param(f"{prefix}.weight", (c,), positive=True),
            param(f"{prefix}.bias", (c,)),
            param(f"{prefix}.running_mean", (c,)),
            param(f"{prefix}.running_var", (c,), positive=True),
        ]

    nodes = [
        helper.make_node("Conv", ["input", param("features.0.conv.weight", (16, 3, 3, 3))], ["c0"],
                         name="features.0.conv", pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("BatchNormalization", ["c0", *bn("features.0.bn", 16)], ["b0"], name="features.0.bn"),
        helper.make_node("Relu", ["b0"], ["r0"], name="features.0.relu"),
        helper.make_node("Conv", ["r0", param("features.1.dw.weight", (16, 1, 3, 3))], ["c1"],
                         name="features.1.dw", pads=[1, 1, 1, 1], group=16),
        helper.make_node("BatchNormalization", ["c1", *bn("features.1.bn", 16)], ["b1"], name="features.1.bn"),
        helper.make_node("Clip", ["b1", "six_lo", "six_hi"], ["r1"], name="features.1.relu6"),
        helper.make_node("Conv", ["r1", param("features.2.pw.weight", (32, 16, 1, 1)),
                                  param("features.2.pw.bias", (32,))], ["c2"], name="features.2.pw"),
        helper.make_node("Relu", ["c2"], ["r2"], name="features.2.relu"),
        helper.make_node("GlobalAveragePool", ["r2"], ["gap"], name="pool"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flatten", axis=1),
        helper.make_node("Dropout", ["flat"], ["drop"], name="classifier.dropout"),
        helper.make_node("Gemm", ["drop", param("classifier.fc.weight", (10, 32)),
                                  param("classifier.fc.bias", (10,))], ["logits"],
                         name="classifier.fc", transB=1),
        helper.make_node("Identity", ["logits"], ["logits_id"], name="classifier.identity"),
        helper.make_node("Softmax", ["logits_id"], ["probs"], name="softmax", axis=1),
    ]
    inits += [numpy_helper.from_array(np.array(0, np.float32), "six_lo"),
              numpy_helper.from_array(np.array(6, np.float32), "six_hi")]
    graph = helper.make_graph(
        nodes,
        "tiny_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 32, 32])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 10])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="infercc-examples")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "models" / "tiny_cnn.onnx")
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(build(), out)
    print(f"wrote {out}")
