"""Bias correction (passes/quantization/bias_correction.py and its use in quantize_graph).

The predicted shift is checked against the reference interpreter's conv run on a map that
holds each channel's mean at every position (the stationary input the formula assumes), for
padding, strides, dilations, groups and SAME padding; the correction itself is checked by
running the fake-quant graph: with it, the int8 layer's mean output error drops to what
rounding the activations leaves.
"""

from __future__ import annotations

import numpy as np
import pytest

from compiler.interpreter import run_graph
from compiler.ir.graph import Graph
from compiler.ir.types import DType, TensorType
from compiler.quantization.bias_correction import output_shift
from compiler.quantization.calibration import calibrate
from compiler.quantization.rewrite import quantize_graph
from compiler.quantization.statistics import CalibrationStats

RNG = np.random.default_rng(11)

CONVS = [  # (C in, C out, H, W, kernel, attrs)
    (3, 4, 9, 7, 3, {"pads": [1, 1, 1, 1]}),
    (3, 4, 9, 7, 3, {"pads": [0, 1, 0, 1], "strides": [2, 2]}),
    (2, 5, 10, 10, 3, {"pads": [2, 2, 2, 2], "dilations": [2, 2]}),
    (6, 6, 8, 8, 3, {"pads": [1, 1, 1, 1], "group": 6}),  # depthwise
    (4, 6, 8, 8, 3, {"pads": [1, 1, 1, 1], "group": 2}),
    (3, 4, 9, 9, 5, {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    (3, 4, 6, 6, 1, {}),
    (3, 4, 4, 4, 3, {"pads": [1, 1, 1, 1]}),  # mostly border
]


def _conv_graph(cin, cout, h, w, k, attrs, weight, bias=None):
    g = Graph("bc")
    x = g.add_input("x", TensorType(DType.F32, (1, cin, h, w)))
    ins = [x, g.add_const(weight.astype(np.float32), "w")]
    if bias is not None:
        ins.append(g.add_const(bias.astype(np.float32), "b"))
    y = g.add_node("conv", ins, attrs, names=["y"]).output
    g.outputs = [y]
    return g


@pytest.mark.parametrize("case", range(len(CONVS)))
def test_conv_shift_is_the_conv_of_the_mean_map(case):
    cin, cout, h, w, k, attrs = CONVS[case]
    group = attrs.get("group", 1)
    dw = RNG.normal(0, 1, (cout, cin // group, k, k))
    mean = RNG.normal(1, 2, cin)
    g = _conv_graph(cin, cout, h, w, k, attrs, dw)
    got = output_shift(g.nodes[-1], dw, mean, 0)
    flat = np.broadcast_to(mean[None, :, None, None], (1, cin, h, w)).astype(np.float32)
    want = run_graph(g, {"x": flat})["y"].reshape(cout, -1).mean(axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("trans_b", [0, 1])
def test_gemm_shift(trans_b):
    k, n = 7, 5
    dw = RNG.normal(0, 1, (n, k) if trans_b else (k, n))
    mean = RNG.normal(0, 1, k)
    g = Graph("g")
    x = g.add_input("x", TensorType(DType.F32, (1, k)))
    wv = g.add_const(dw.astype(np.float32), "w")
    node = g.add_node("gemm", [x, wv], {"transB": trans_b}, names=["y"])
    want = mean @ (dw.T if trans_b else dw)
    np.testing.assert_allclose(output_shift(node, dw, mean, 0 if trans_b else 1), want)
    # a shift needs the input's channel count
    assert output_shift(node, dw, mean[:-1], 0 if trans_b else 1) is None


def test_channel_means_recorded_saved_and_old_files_load(tmp_path):
    g = _conv_graph(3, 4, 6, 6, 3, {"pads": [1, 1, 1, 1]}, RNG.normal(0, 1, (4, 3, 3, 3)))
    xs = [RNG.normal(2, 1, (1, 3, 6, 6)).astype(np.float32) for _ in range(10)]
    for executor in ("interpreter", "onnxruntime"):
        st = calibrate(g, xs, progress=False, executor=executor)
        want = np.concatenate(xs).mean(axis=(0, 2, 3))
        np.testing.assert_allclose(st["x"].channel_mean, want, rtol=1e-6)
        assert st["y"].channel_mean is None  # no conv/gemm/matmul reads it
    p = tmp_path / "s.npz"
    st.save(p)
    back = CalibrationStats.load(p)
    np.testing.assert_array_equal(back["x"].channel_mean, st["x"].channel_mean)
    assert back["y"].channel_mean is None
    # a format-1 file (before channel sums) loads, without channel means
    with np.load(p) as z:
        old = {k: z[k] for k in z.files if not k.startswith("channel_")}
    old["metadata"] = np.array(str(old["metadata"]).replace('"format_version": 2',
                                                            '"format_version": 1'))
    np.savez(tmp_path / "v1.npz", **old)
    v1 = CalibrationStats.load(tmp_path / "v1.npz")
    assert v1["x"].channel_mean is None and v1["x"].count == st["x"].count


def _mean_error(g_float, g_int8, xs):
    err = [run_graph(g_int8, {"x": x})["y"] - run_graph(g_float, {"x": x})["y"] for x in xs]
    return np.abs(np.mean(err, axis=(0, 1, 3, 4)))  # per output channel


@pytest.mark.parametrize("with_bias", [True, False])
def test_correction_cancels_the_mean_shift_of_rounded_weights(with_bias):
    """A depthwise 3x3 conv (9 weights per channel, the layer type where rounding shifts the
    output mean most) on inputs with a large mean: the int8 (fake-quant) layer's mean output
    error per channel shrinks with the correction; without a bias the layer gets one."""
    c = 8
    # weights whose rounding error does not average out: one large tap, small others
    w = RNG.normal(0, 0.02, (c, 1, 3, 3))
    w[:, 0, 1, 1] = RNG.uniform(0.5, 1.0, c)
    b = RNG.normal(0, 0.1, c) if with_bias else None
    g = _conv_graph(c, c, 12, 12, 3, {"pads": [1, 1, 1, 1], "group": c}, w, b)
    xs = [RNG.normal(4, 1, (1, c, 12, 12)).astype(np.float32) for _ in range(24)]
    st = calibrate(g, xs, progress=False, executor="interpreter")
    errs = {}
    for bc in (False, True):
        q = g.copy()
        s = quantize_graph(q, st, bias_correction=bc)
        assert s.bias_corrected == int(bc)
        errs[bc] = _mean_error(g, q, xs)
    print(f"\nmean |output error| per channel, bias={with_bias}: without "
          f"{errs[False].mean():.2e}, with {errs[True].mean():.2e}")
    # measured: 1.27e-2 -> 2.5e-4 (with a bias) and 1.12e-2 -> 1.7e-4 (without); what is
    # left is the activations' rounding
    assert errs[True].mean() < 0.25 * errs[False].mean()
