"""2:4 sparse weight eligibility, against polygraphy's sparsity checker on the same weights.

Weights are pruned here by magnitude (the 2 smallest of every 4 along an axis set to zero),
written as ONNX initializers, and checked twice: by polygraphy's ``SparsityPruner.check``
(what ``polygraphy inspect sparsity`` runs; it checks the pattern only) and by
:mod:`targets.tensorrt.sparsity` on the IR loaded from the same file (pattern and shape).
"""

from __future__ import annotations

import numpy as np
import pytest

import onnx
from onnx import TensorProto, helper, numpy_helper

import compiler
from compiler.ir import Graph, TensorType
from targets.tensorrt.sparsity import is_2_4, qualifying, verdicts
from targets.tensorrt.target import TensorRTOptions, build_engine
from tests.support import trt_standin as trt


def prune_2_4(w: np.ndarray, axis: int) -> np.ndarray:
    """``w`` with the 2 smallest |values| of every 4 consecutive ones along ``axis`` zeroed."""
    a = np.moveaxis(w.copy(), axis, -1)
    groups = a.reshape(-1, 4)
    smallest = np.argsort(np.abs(groups), axis=1)[:, :2]
    np.put_along_axis(groups, smallest, 0.0, axis=1)
    return np.moveaxis(groups.reshape(a.shape), -1, axis)


# name -> (weight, expected: pattern 2:4 along the reduction axis, eligible shape)
def _weights() -> dict[str, np.ndarray]:
    r = np.random.default_rng(0)

    def n(*shape):
        return r.standard_normal(shape).astype(np.float32)

    return {
        "conv_pruned": prune_2_4(n(16, 32, 3, 3), 1),     # 2:4, eligible
        "conv_dense": n(16, 32, 3, 3),                    # not 2:4
        "conv_wrong_axis": prune_2_4(n(16, 32, 3, 3), 0),  # 2:4 along outputs only
        "conv_small": prune_2_4(n(12, 8, 1, 1), 1),       # 2:4 but 12 outputs, reduction 8
        "matmul_pruned": prune_2_4(n(32, 16), 0),         # K=32 first: eligible
        "gemm_t_pruned": prune_2_4(n(16, 32), 1),         # transB: K=32 second: eligible
        "gemm_wrong_axis": prune_2_4(n(32, 24), 1),       # pruned along N, not K
    }


EXPECTED_OK = {"conv_pruned", "matmul_pruned", "gemm_t_pruned"}


def _model(weights: dict[str, np.ndarray]):
    conv = [helper.make_node("Conv", ["x", k], [f"{k}_out"], name=k, pads=[1, 1, 1, 1])
            for k in ("conv_pruned", "conv_dense", "conv_wrong_axis")]
    conv.append(helper.make_node("Conv", ["x8", "conv_small"], ["conv_small_out"],
                                 name="conv_small"))
    mm = [helper.make_node("MatMul", ["y", "matmul_pruned"], ["matmul_out"],
                           name="matmul_pruned"),
          helper.make_node("Gemm", ["y", "gemm_t_pruned"], ["gemm_t_out"], name="gemm_t_pruned",
                           transB=1),
          helper.make_node("Gemm", ["y", "gemm_wrong_axis"], ["gemm_w_out"],
                           name="gemm_wrong_axis")]
    outs = [n.output[0] for n in conv + mm]
    graph = helper.make_graph(
        conv + mm, "sparse",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 32, 8, 8]),
         helper.make_tensor_value_info("x8", TensorProto.FLOAT, [1, 8, 8, 8]),
         helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 32])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs],
        initializer=[numpy_helper.from_array(w, k) for k, w in weights.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_eligibility_agrees_with_polygraphy(tmp_path):
    from polygraphy.tools.sparse import SparsityPruner

    weights = _weights()
    model = _model(weights)
    checker = SparsityPruner(model)
    with np.errstate(over="ignore"):  # its float64 max sentinel cast to float32
        checker.check()
    poly_sparse = set(checker.sparse_tensors)
    # polygraphy's verdict on the pattern, per tensor, as this test built them.
    assert poly_sparse == {"conv_pruned", "conv_small", "matmul_pruned", "gemm_t_pruned"}

    path = tmp_path / "sparse.onnx"
    onnx.save(model, str(path))
    g = compiler.load(str(path))
    found = {v.layer: v for v in verdicts(g)}
    assert set(found) == set(weights)
    for name, v in found.items():
        pattern = "is 2:4" in v.why
        assert pattern == (name in poly_sparse), (name, v.why)
        assert v.ok == (name in EXPECTED_OK), (name, v.why)
    assert "not multiples of 8 / 16" in found["conv_small"].why
    assert {v.layer for v in qualifying(g)} == EXPECTED_OK


def test_is_2_4_counts_zeros_per_group():
    assert is_2_4(np.array([[0, 1, 0, 2, 3, 0, 0, 0]], np.float32), 1)
    assert not is_2_4(np.array([[0, 1, 5, 2, 3, 0, 0, 0]], np.float32), 1)
    assert not is_2_4(np.zeros((2, 6), np.float32), 1)  # 6 is no multiple of 4


def _conv_graph(w: np.ndarray) -> Graph:
    g = Graph("c")
    x = g.add_input("x", TensorType("f32", (1, w.shape[1], 4, 4)))
    wv = g.add_const(w, "w")
    g.outputs = [g.add_node("conv", [x, wv], {"group": 1}, source=["conv1"]).output]
    return g


def _config_seen(monkeypatch, g: Graph, opts: TensorRTOptions) -> dict:
    seen: dict = {}

    def spy(self, network, config):
        seen["sparse"] = config.get_flag(trt.BuilderFlag.SPARSE_WEIGHTS)
        seen["fp16_flag"] = config.get_flag(trt.BuilderFlag.FP16)
        seen["aux"] = config.max_aux_streams
        raise trt.StandinError("spy", "stop before the build", "")

    monkeypatch.setattr(trt.Builder, "build_serialized_network", spy)
    with pytest.raises(trt.StandinError):
        build_engine(g, trt, opts)
    return seen


def test_builder_config_gets_sparse_weights_and_aux_streams(monkeypatch):
    w = np.random.default_rng(0).standard_normal((16, 16, 3, 3)).astype(np.float32)
    pruned = _config_seen(monkeypatch, _conv_graph(prune_2_4(w, 1)),
                          TensorRTOptions(max_aux_streams=2))
    assert pruned == {"sparse": True, "fp16_flag": False, "aux": 2}
    dense = _config_seen(monkeypatch, _conv_graph(w), TensorRTOptions(float16=True))
    # No qualifying layer, no flag; fp16 is in the network's types, never a builder flag;
    # max_aux_streams left at TensorRT's default (-1, its heuristic).
    assert dense == {"sparse": False, "fp16_flag": False, "aux": -1}
