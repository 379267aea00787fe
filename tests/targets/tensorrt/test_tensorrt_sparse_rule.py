"""The TensorRT sparse rule: 2:4 weights of eligible shape -> storage "2:4", latency on
sparse tensor cores, unverified (no TensorRT here); others dense with the reason. And a
model pruned ``pattern=2:4`` by ``compile`` gets SPARSE_WEIGHTS with no option: in the
builder config of the stand-in, and as ``--sparsity=enable`` in the trtexec command of the
TensorRT-profile ONNX."""

from __future__ import annotations

import numpy as np
import pytest

import compiler
from compiler.ir import Graph, TensorType
from compiler.sparse_payoff import rule_for
from targets.tensorrt import sparse_rule  # noqa: F401 - registers the rule
from tests.conftest import REPO


def _conv(w: np.ndarray):
    g = Graph("c")
    x = g.add_input("x", TensorType("f32", (1, w.shape[1], 4, 4)))
    node = g.add_node("conv", [x, g.add_const(w, "w")], {"group": 1}, source=["conv1"])
    g.outputs = [node.output]
    return node


def _two_of_four(o: int, i: int) -> np.ndarray:
    w = np.ones((o, i, 3, 3), np.float32)
    w.reshape(o, i // 4, 4, 9)[:, :, :2] = 0  # input channels 0,1 of every 4 zero
    return w


def test_2_4_weight_of_eligible_shape():
    node = _conv(_two_of_four(16, 16))
    a = rule_for("tensorrt")(node, node.input(1).const_value, {})
    assert (a.storage, a.effects, a.factors, a.verified) == ("2:4", ("latency",), None, False)
    assert "SPARSE_WEIGHTS" in a.evidence and "Structured Sparsity" in a.evidence


@pytest.mark.parametrize("w, why", [
    (_two_of_four(12, 16), "12 outputs / reduction 16 are not multiples of 8 / 16"),
    (np.ones((16, 16, 3, 3), np.float32), "is not 2:4 along axis 1"),
])
def test_others_stay_dense_with_the_reason(w, why):
    a = rule_for("tensorrt")(_conv(w), w, {})
    assert a.storage is None and not a.effects and why in a.evidence


TINY = str(REPO / "examples" / "models" / "tiny_cnn.onnx")


def test_compile_pruned_2_4_sets_sparse_weights(monkeypatch):
    from targets.tensorrt import target as target_mod
    from tests.support import trt_standin as trt

    seen = {}

    def build(self, network, config):
        seen["sparse"] = config.get_flag(trt.BuilderFlag.SPARSE_WEIGHTS)
        return b"engine"

    monkeypatch.setattr(target_mod, "import_tensorrt", lambda: trt)
    monkeypatch.setattr(trt.Builder, "build_serialized_network", build)
    kw = {"input_shapes": {"input": [1, 3, 32, 32]}}
    r = compiler.compile(TINY, "tensorrt", prune="pattern=2:4,min_size=0", **kw)
    assert seen["sparse"] is True
    # features.2.pw (32x16 1x1) qualifies; classifier.fc (10 outputs) is 2:4 but not % 8
    assert [layer for kind, layer, _ in r.emitted.layer_notes if kind == "sparse"] == [
        "features.2.pw"]
    assert r.sparsity.effects("tensorrt") == {"latency": 1}
    compiler.compile(TINY, "tensorrt", **kw)
    assert seen["sparse"] is False  # unpruned: no 2:4 weights, no flag


def test_profile_onnx_trtexec_command_enables_sparsity(tmp_path, capsys):
    from compiler.cli import main

    args = ["compile", TINY, "--input-shape", "input:1x3x32x32", "--target", "tensorrt"]
    assert main(args + ["--prune", "pattern=2:4,min_size=0", "-o", str(tmp_path / "a.onnx")]) == 0
    out = capsys.readouterr().out
    assert "--stronglyTyped --sparsity=enable --saveEngine=" in out
    assert "tensorrt (this file): latency on 1 (unverified)" in out
    assert main(args + ["-o", str(tmp_path / "b.onnx")]) == 0
    assert "--sparsity" not in capsys.readouterr().out


def test_a_quantized_weight_is_not_flagged():
    g = Graph("c")
    x = g.add_input("x", TensorType("f32", (1, 16, 4, 4)))
    w = g.add_input("w", TensorType("f32", (16, 16, 3, 3)))  # as a dequantize's output
    node = g.add_node("conv", [x, w], {"group": 1}, source=["conv1"])
    a = rule_for("tensorrt")(node, _two_of_four(16, 16).astype(np.int8), {})
    assert a.storage is None and "int8 weight behind a dequantize" in a.evidence
