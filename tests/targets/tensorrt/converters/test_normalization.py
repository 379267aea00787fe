"""Normalization converters (layer, instance and batch norm) vs the reference interpreter,
through the stand-in.

Tolerance 1e-5; measured up to ~1e-6 (mean/variance summed in another order).
"""

from __future__ import annotations

import numpy as np
import pytest

from compiler.ir import Graph, TensorType
from tests.support.trt_check import max_abs_diff

RNG = np.random.default_rng(8)
ATOL = 1e-5
X = (RNG.standard_normal((2, 3, 4, 5)) * 2 + 1).astype(np.float32)


def _rand(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("axis,bias", [(-1, True), (2, True), (1, False)])
def test_layer_norm(axis, bias):
    g = Graph("ln")
    x = g.add_input("x", TensorType("f32", X.shape))
    norm_shape = X.shape[axis:] if axis >= 0 else X.shape[axis:]
    ins = [x, g.add_const(_rand(*norm_shape), "scale")]
    if bias:
        ins.append(g.add_const(_rand(*norm_shape), "bias"))
    node = g.add_node("layer_norm", ins, {"axis": axis, "epsilon": 1e-5}, source=["ln"],
                      num_outputs=1)
    g.outputs = [node.outputs[0]]
    err = max_abs_diff(g, {"x": X})
    print(f"layer_norm axis {axis}: {err:.2e}")
    assert err <= ATOL


def test_instance_norm():
    g = Graph("in")
    x = g.add_input("x", TensorType("f32", X.shape))
    ins = [x, g.add_const(_rand(3), "scale"), g.add_const(_rand(3), "bias")]
    g.outputs = [g.add_node("instance_norm", ins, {"epsilon": 1e-5}, source=["in"]).output]
    assert max_abs_diff(g, {"x": X}) <= ATOL


def test_batch_norm():
    g = Graph("bn")
    x = g.add_input("x", TensorType("f32", X.shape))
    ins = [x] + [g.add_const(v, n) for n, v in (("s", _rand(3)), ("b", _rand(3)),
                                                ("m", _rand(3)),
                                                ("v", np.abs(_rand(3)) + 0.1))]
    node = g.add_node("batch_norm", ins, {"epsilon": 1e-3}, source=["bn"], num_outputs=1)
    g.outputs = [node.outputs[0]]
    assert max_abs_diff(g, {"x": X}) <= ATOL


def test_the_v2_layer_is_used_where_the_module_has_it(monkeypatch):
    """TensorRT 11's add_normalization_v2 wins over add_normalization (TensorRT 10.x)."""
    from tests.support import trt_standin as trt

    calls = []
    real = trt.INetworkDefinition.add_normalization

    def v2(self, *args):
        calls.append("v2")
        return real(self, *args)

    monkeypatch.setattr(trt.INetworkDefinition, "add_normalization_v2", v2, raising=False)
    test_instance_norm()
    assert calls == ["v2"]


def _lrn_graph(size: int) -> Graph:
    g = Graph("lrn")
    x = g.add_input("x", TensorType("f32", (2, 7, 4, 5)))
    g.outputs = [g.add_node("lrn", [x], {"size": size, "alpha": 1e-2, "beta": 0.75,
                                         "bias": 2.0}, source=["norm1"]).output]
    return g


@pytest.mark.parametrize("size", [1, 3, 5])
def test_lrn_across_channels(size):
    """ILRNLayer vs the reference interpreter, and vs torch's LocalResponseNorm (the same
    formula as Caffe's: alpha divided by the window)."""
    x = (RNG.standard_normal((2, 7, 4, 5)) * 3).astype(np.float32)
    g = _lrn_graph(size)
    assert max_abs_diff(g, {"x": x}) <= ATOL
    torch = pytest.importorskip("torch")
    from tests.support.trt_check import through_standin

    got = through_standin(g, {"x": x})[g.outputs[0].name]
    want = torch.nn.LocalResponseNorm(size, 1e-2, 0.75, 2.0)(torch.from_numpy(x)).numpy()
    assert np.abs(got - want).max() <= ATOL


def test_lrn_with_an_even_window_is_refused():
    from targets.tensorrt.preflight import problems

    (p,) = problems(_lrn_graph(4))
    assert p.op == "lrn" and "odd window" in p.reason


def test_lrn_of_a_half_tensor_is_refused():
    """TensorRT's LRN page lists float32 alone; a float16 model's LRN cannot be built."""
    from targets.tensorrt.preflight import problems

    g = Graph("lrn_half")
    x = g.add_input("x", TensorType("f16", (1, 7, 4, 5)))
    g.outputs = [g.add_node("lrn", [x], {"size": 5}, source=["norm1"]).output]
    (p,) = problems(g)
    assert p.op == "lrn" and "float32 only" in p.reason
