"""The sparsity payoff report: which layers it asks about, how it gathers the rules'
answers, and what its digest, markdown and JSON say. The rules here are stand-ins
registered for the test (the targets' own rules have their own tests)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from compiler import sparse_payoff
from compiler.ir import Graph, TensorType
from compiler.sparse_payoff import SparsePayoff, register_rule
from passes.sparsity.payoff import payoff_report


@pytest.fixture
def rules(monkeypatch):
    monkeypatch.setattr(sparse_payoff, "_RULES", {})
    asked = []

    def fast(node, w, options):
        asked.append((node.label, w.shape, dict(options)))
        return SparsePayoff("fast", node.label, "csc", ("latency",), {"latency": 0.5},
                            "measured", verified=False)

    register_rule("fast", fast)
    register_rule("dense", lambda node, w, options: SparsePayoff("dense", node.label, None,
                                                                 evidence="no kernel"))
    return asked


def _graph() -> Graph:
    g = Graph("g")
    x = g.add_input("x", TensorType("f32", (1, 8)))
    w1 = np.ones((8, 8), np.float32)
    w1[:, :6] = 0  # 75% zeros
    h = g.add_node("matmul", [x, g.add_const(w1, "w1")], source=["fc1"]).output
    h = g.add_node("relu", [h], source=["act"]).output
    w2 = np.ones((8, 4), np.float32)  # dense: not asked about
    g.outputs = [g.add_node("matmul", [h, g.add_const(w2, "w2")], source=["fc2"]).output]
    return g


def test_asks_every_rule_about_layers_with_zeros(rules):
    rep = payoff_report(_graph(), options={"fast": {"mode": "x"}})
    assert rep.targets == ["dense", "fast"]
    assert [(r.layer, r.op, r.shape, r.zeros) for r in rep.rows] == [
        ("fc1", "matmul", (8, 8), 0.75)]
    assert rules == [("fc1", (8, 8), {"mode": "x"})]
    assert rep.effects("fast") == {"latency": 1} and rep.effects("dense") == {}
    rep.compiled = "dense"
    assert rep.digest() == ("sparsity pays (1 layer(s) with zeros): dense (this file): "
                            "nothing; fast: latency on 1 (unverified)")


def test_markdown_and_json(rules):
    rep = payoff_report(_graph())
    rep.notes.append("whole-model note")
    md = rep.markdown()
    assert "| fc1 | matmul | 8x8 | 75.0% | nothing | latency 0.5x (csc, unverified) |" in md
    assert "- whole-model note" in md and "- dense: no kernel" in md
    data = json.loads(json.dumps(rep.json()))
    (layer,) = data["layers"]
    assert layer["targets"]["fast"] == {"storage": "csc", "effects": ["latency"],
                                        "factors": {"latency": 0.5}, "evidence": "measured",
                                        "verified": False}
    assert data["notes"] == ["whole-model note"]


def test_unregistered_target_is_left_out_with_a_warning(rules, caplog):
    with caplog.at_level(logging.WARNING):
        rep = payoff_report(_graph(), targets=["fast", "nope"])
    assert rep.targets == ["fast"] and "no sparse rule registered for nope" in caplog.text


def test_no_zeros_no_rows(rules):
    g = Graph("g")
    x = g.add_input("x", TensorType("f32", (1, 2)))
    g.outputs = [g.add_node("matmul", [x, g.add_const(np.ones((2, 2), np.float32), "w")],
                            source=["fc"]).output]
    rep = payoff_report(g)
    assert not rep.rows and rep.digest() == "sparsity pays: no layer holds zeros"


def test_a_quantized_weight_is_read_before_its_dequantize(rules):
    g = Graph("g")
    x = g.add_input("x", TensorType("f32", (1, 4)))
    q = np.array([[0, 0, 0, 5], [0, 0, 7, 0], [1, 0, 0, 0], [0, 0, 0, 0]], np.int8)
    w = g.add_node("dequantize", [g.add_const(q, "wq"),
                                  g.add_const(np.full(4, 0.5, np.float32), "s"),
                                  g.add_const(np.zeros(4, np.int8), "zp")],
                   {"axis": 1}, source=["fc"]).output
    g.outputs = [g.add_node("matmul", [x, w], source=["fc"]).output]
    rep = payoff_report(g)
    (row,) = rep.rows
    assert row.zeros == 13 / 16 and rules[0][1] == (4, 4)
