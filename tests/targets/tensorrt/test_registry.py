"""The converter registry: priority order, capability checks and their reasons."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.ir import Graph, TensorType
from compiler.ops.registry import get_schema
from targets.tensorrt import registry
from targets.tensorrt.registry import converted_ops, converter, select


@pytest.fixture
def scratch(monkeypatch):
    """An empty registry (the real converters are loaded first, then set aside)."""
    registry.converted_ops()
    monkeypatch.setattr(registry, "_REGISTRY", {})
    return registry._REGISTRY


def _node(op: str = "relu"):
    g = Graph()
    x = g.add_input("x", TensorType("f32", (1, 4)))
    return g.add_node(op, [x], source=["layer1"])


def test_highest_priority_whose_check_passes_wins(scratch):
    calls = []

    @converter("relu", priority=1)
    def low(ctx, node):
        calls.append("low")

    @converter("relu", priority=5, supports=lambda n: "refuses everything")
    def high(ctx, node):
        calls.append("high")

    @converter("relu", priority=3)
    def middle(ctx, node):
        calls.append("middle")

    chosen, reasons = select(_node())
    assert [c.priority for c in registry.converters_for("relu")] == [5, 3, 1]
    assert chosen is not None and chosen.convert is middle
    assert reasons == ["refuses everything"]


def test_every_refusal_is_reported(scratch):
    converter("relu", supports=lambda n: "first reason")(lambda c, n: None)
    converter("relu", supports=lambda n: "second reason")(lambda c, n: None)
    chosen, reasons = select(_node())
    assert chosen is None and reasons == ["first reason", "second reason"]


def test_an_op_without_converters_says_so(scratch):
    chosen, reasons = select(_node())
    assert chosen is None and reasons == ["no TensorRT converter for this op"]


def test_every_converted_op_is_an_ir_op():
    assert [op for op in converted_ops() if get_schema(op) is None] == []


def test_real_check_refuses_runtime_conv_weights():
    g = Graph()
    x = g.add_input("x", TensorType("f32", (1, 2, 5, 5)))
    w = g.add_input("w", TensorType("f32", (3, 2, 3, 3)))
    node = g.add_node("conv", [x, w], source=["conv1"])
    chosen, reasons = select(node)
    assert chosen is None and "constant kernels" in reasons[0]
    wc = g.add_const(np.ones((3, 2, 3, 3), np.float32), "wc")
    ok = g.add_node("conv", [x, wc], source=["conv2"])
    assert select(ok)[0] is not None
