"""The TFLite sparse rule on hand-built nodes. Expected answers are worked out by hand from
the documented thresholds (:mod:`targets.tflite.sparse_tensors`: densify from 50% zeros,
fc_blocks from 80% zero 1x4 blocks) and the measured ratios the rule cites
(docs/tflite.md: fc_blocks latency 2.26x at 50%, 1.00x at 80%, 0.32x at 90% zero blocks;
load 0.29x / 0.24x / 0.13x; densify load 2.3x, the low end on MediaPipe's sparse models).
Byte counts: float32 values plus uint8 index vectors (segments: one more than the rows)."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.ir import Graph, TensorType
from compiler.sparse_payoff import rule_for

pytest.importorskip("ai_edge_litert")
from targets.tflite import sparse_rule  # noqa: E402,F401 - registers the rule


def _node(op: str, w: np.ndarray, attrs: dict | None = None):
    g = Graph("g")
    if op == "conv":
        x = g.add_input("x", TensorType("f32", (1, w.shape[1] * (attrs or {}).get("group", 1),
                                                4, 4)))
    elif op == "matmul":
        x = g.add_input("x", TensorType("f32", (1, w.shape[0])))
    else:  # gemm with transB: w is [N, K]
        x = g.add_input("x", TensorType("f32", (1, w.shape[1])))
    wv = g.add_const(w, "w")
    node = g.add_node(op, [x, wv], attrs or {}, source=["layer"])
    g.outputs = [node.output]
    return node


def _fc_weight(zero_blocks: int) -> np.ndarray:
    """[out=5, in=16] (20 1x4 blocks), its first ``zero_blocks`` blocks zero, others 1."""
    w = np.ones((5, 16), np.float32)
    w.reshape(-1, 4)[:zero_blocks] = 0
    return w


def _ask(node, options=None):
    return rule_for("tflite")(node, np.asarray(node.input(1).const_value), options or {})


def test_fc_blocks_above_break_even_change_latency():
    # 17 of 20 blocks zero = 85%: halfway 80%..90%: latency (1.00 + 0.32) / 2 = 0.66,
    # load (0.24 + 0.13) / 2 = 0.185 -> 0.18 or 0.19 after rounding; size: 3 blocks x 4
    # float32 = 48 B, segments 6 B, indices 3 B = 57 of 320 B = 0.178
    a = _ask(_node("gemm", _fc_weight(17), {"transB": 1}))
    assert a.storage == "tflite-1x4" and a.effects == ("latency", "size", "load")
    assert a.factors["latency"] == pytest.approx(0.66)
    assert a.factors["load"] == pytest.approx(0.185, abs=0.006)
    assert a.factors["size"] == pytest.approx(57 / 320, abs=1e-3)
    assert "85% zero 1x4 blocks" in a.evidence and a.verified


def test_matmul_weight_is_read_as_out_by_in():
    # matmul's weight is [K, N]: the FULLY_CONNECTED weight is its transpose
    a = _ask(_node("matmul", np.ascontiguousarray(_fc_weight(18).T)))
    assert a.storage == "tflite-1x4"  # 18/20 = 90% zero blocks along K
    assert a.factors["latency"] == pytest.approx(0.32)


def test_fc_below_break_even_falls_back_to_densify():
    # 12 of 20 blocks = 60% < 80%: no fc_blocks; 60% of values zero >= 50%: densify.
    # CSR: 32 float32 = 128 B, segments 6 B, indices 32 B = 166 of 320 B
    a = _ask(_node("gemm", _fc_weight(12), {"transB": 1}))
    assert a.storage == "tflite-csr" and a.effects == ("size", "load")
    assert a.factors == {"size": pytest.approx(166 / 320, abs=1e-3), "load": 2.3}
    assert "no faster on x86" in a.evidence


def test_fc_blocks_mode_alone_says_why_not():
    a = _ask(_node("gemm", _fc_weight(12), {"transB": 1}), {"sparse_weights": "fc_blocks"})
    assert a.storage is None and not a.effects
    assert "60% zero 1x4 blocks, below fc_blocks' break-even 80%" in a.evidence


def test_conv_densify_and_its_threshold():
    w = np.ones((4, 4, 1, 1), np.float32)  # 1x1 conv; OHWI rows of 4
    w.reshape(-1)[:10] = 0  # 10/16 = 62.5% zeros: 6 values = 24 B + 5 + 6 index bytes
    a = _ask(_node("conv", w, {"group": 1}))
    assert a.storage == "tflite-csr" and a.factors["size"] == pytest.approx(35 / 64, abs=1e-3)
    assert "CONV_2D weight 62% zeros" in a.evidence or "CONV_2D weight 63% zeros" in a.evidence
    w.reshape(-1)[:] = 1
    w.reshape(-1)[:6] = 0  # 37.5% < 50%
    a = _ask(_node("conv", w, {"group": 1}))
    assert a.storage is None and "below densify's 50%" in a.evidence
    assert "fc_blocks stores only FULLY_CONNECTED weights, not CONV_2D" in a.evidence


def test_depthwise_conv_is_a_densify_consumer():
    w = np.zeros((8, 1, 3, 3), np.float32)
    w[:, 0, 1, 1] = 1  # 8 of 72 non-zero
    a = _ask(_node("conv", w, {"group": 8}))
    assert a.storage == "tflite-csr" and "DEPTHWISE_CONV_2D" in a.evidence


def test_int8_weights_are_never_stored_sparse():
    node = _node("gemm", np.zeros((8, 16), np.float32), {"transB": 1})
    a = rule_for("tflite")(node, np.zeros((8, 16), np.int8), {})  # a quantized weight
    assert a.storage is None and "allocate_tensors" in a.evidence


def test_sparse_weights_none_says_what_a_mode_would_buy():
    a = _ask(_node("gemm", _fc_weight(17), {"transB": 1}), {"sparse_weights": "none"})
    assert a.storage is None and not a.effects
    assert "with tflite{sparse_weights=fc_blocks}: latency 0.66x" in a.evidence
