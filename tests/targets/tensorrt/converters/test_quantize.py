"""Quantized kernels of 1-D convolutions, which TensorRT runs as 2-D on an appended axis.

The int8 kernel's dequantize must produce the 2-D kernel (O, I, K, 1), reading the int8
constant directly (the pattern TensorRT recognises as a quantized kernel), and the layer's
kernel weights stay empty since input 1 carries the kernel. Oracle: the reference interpreter
on the quantized IR graph (fake-quant). Bound: max |stand-in - fake-quant| / max |fake-quant|
<= 1e-5 (float32 summation order); measured 7e-8..9e-8 on the torch model below (`pytest -s`
prints it). basic-pitch's nmp.onnx has no 1-D convolutions once loaded (its 32 convs have
4-D kernels), so it does not exercise this.
"""

from __future__ import annotations

import numpy as np
import pytest

import compiler
from compiler.compile import compile_pipeline
from compiler.ir import Graph, TensorType
from compiler.pass_manager import PassManager
from compiler.quantization.calibration import calibrate
from compiler.quantization.rewrite import quantize_graph
from targets import get_target
from targets.tensorrt.network import build_network
from targets.tensorrt.preflight import problems
from tests.support import trt_standin as trt
from tests.support.trt_check import reference, through_standin

REL_TOL = 1e-5


def _feeds(g: Graph, n: int) -> list[dict[str, np.ndarray]]:
    r = np.random.default_rng(0)
    return [{v.name: r.uniform(-1, 1, v.type.shape).astype(np.float32) for v in g.inputs}
            for _ in range(n)]


def _quantized(g: Graph) -> tuple[Graph, list[dict[str, np.ndarray]]]:
    """``g`` in its QDQ form by the tensorrt scheme (calibrated on 8 seeded feeds)."""
    feeds = _feeds(g, 8)
    float_g = g.copy()
    quantize_graph(g, calibrate(g, feeds, progress=False), scheme="tensorrt")
    return float_g, feeds


def _worst(g: Graph, feeds) -> float:
    worst = 0.0
    for f in feeds:
        got, want = through_standin(g, f), reference(g, f)
        for k, w in want.items():
            assert got[k].shape == w.shape
            worst = max(worst, float(np.abs(got[k].astype(np.float64) - w).max())
                        / max(float(np.abs(w).max()), 1e-6))
    return worst


@pytest.fixture
def conv1d_model() -> Graph:
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1 = torch.nn.Conv1d(4, 8, 5, padding=2)
            self.c2 = torch.nn.Conv1d(8, 8, 3, stride=2, dilation=2, padding=1)
            self.up = torch.nn.ConvTranspose1d(8, 4, 4, stride=2, padding=1)

        def forward(self, x):
            return self.up(torch.relu(self.c2(torch.relu(self.c1(x)))))

    torch.manual_seed(0)
    g = compiler.load(Net().eval(), example_inputs=(torch.randn(1, 4, 32),))
    PassManager(compile_pipeline(get_target("tensorrt"))).run(g)
    return g


def test_int8_conv1d_and_conv_transpose1d_match_fake_quant(conv1d_model):
    g = conv1d_model
    _, feeds = _quantized(g)
    kernels = [n for n in g.nodes if n.op in ("conv", "conv_transpose")
               and n.input(1).producer is not None and n.input(1).producer.op == "dequantize"]
    assert sorted(n.op for n in kernels) == ["conv", "conv", "conv_transpose"]
    assert problems(g) == []
    worst = _worst(g, feeds[:3])
    print(f"int8 conv1d model: stand-in vs fake-quant {worst:.3g}")
    assert worst <= REL_TOL


def test_the_kernel_dequantize_reads_a_2d_int8_constant(conv1d_model):
    g = conv1d_model
    _quantized(g)
    network, _ = build_network(g, trt)  # type: ignore[arg-type]
    layers = [network.get_layer(i) for i in range(network.num_layers)]
    convs = [ly for ly in layers if ly.type in (trt.LayerType.CONVOLUTION,
                                                 trt.LayerType.DECONVOLUTION)]
    assert len(convs) == 3
    by_output = {ly.get_output(0).name: ly for ly in layers}
    for conv in convs:
        assert conv.kernel.size == 0  # the kernel comes from input 1
        dq = by_output[conv.get_input(1).name]
        assert dq.type == trt.LayerType.DEQUANTIZE
        const = by_output[dq.get_input(0).name]
        assert const.type == trt.LayerType.CONSTANT
        assert dq.get_input(0).dtype == trt.int8
        shape = tuple(dq.get_input(0).shape)
        assert len(shape) == 4 and shape[-1] == 1
        assert dq.axis == (0 if conv.type == trt.LayerType.CONVOLUTION else 1)


def test_a_kernel_other_layers_read_keeps_the_preflight_refusal():
    """A dequantized kernel that is also read as data cannot become 2-D for the conv alone."""
    g = Graph("shared")
    x = g.add_input("x", TensorType("f32", (1, 2, 8)))
    w = g.add_const(np.random.default_rng(0).integers(-5, 5, (2, 2, 3)).astype(np.int8), "wq")
    s = g.add_const(np.full((2,), 0.1, np.float32), "ws")
    wdq = g.add_node("dequantize", [w, s], {"axis": 0}, source=["w"]).output
    c = g.add_node("conv", [x, wdq], {"pads": [1, 1]}, source=["conv"]).output
    g.outputs = [c, g.add_node("relu", [wdq], source=["kernel_relu"]).output]
    found = [p for p in problems(g) if p.op == "conv"]
    assert len(found) == 1 and "quantized kernel other layers read too" in found[0].reason
