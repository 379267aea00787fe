"""The TensorRT stand-in (tests/support/trt_standin) against independent references.

Each layer is built through the stand-in's API and executed in numpy, then compared with
torch.nn.functional (convolution, deconvolution, pooling, resize, softmax, normalization,
activations, top-k, Q/DQ) or with numpy written out by hand in the test (elementwise,
shuffle, slice, gather, concatenation, padding). The rule checks are seen to refuse what
TensorRT refuses. The signature test compares every stand-in method with the
``tensorrt-stubs`` 10.13 wheel, fetched with pip (a skip without network, a failure under CI).

Tolerances: float32 results agree with torch to 1e-5 absolute and relative (measured: 0 for
convolution, 5e-7 for convolution + pooling on these sizes); float16 convolution agrees with
torch's float32 result to 1e-2 absolute and relative (measured 8.1e-3 absolute on outputs up
to about 10, i.e. one float16 ulp).
"""

from __future__ import annotations

import ast
import inspect

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.support import trt_standin as trt
from tests.support.trt_stubs import patch_source, stub_dir_or_skip

RNG = np.random.default_rng(12)
STRONG = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
TOL = 1e-5


def new_net() -> trt.INetworkDefinition:
    return trt.Builder(trt.Logger()).create_network(STRONG)


def randn(*shape: int, dtype: type = np.float32) -> np.ndarray:
    return RNG.standard_normal(shape).astype(dtype)


def const(net: trt.INetworkDefinition, a: np.ndarray) -> trt.ITensor:
    return net.add_constant(a.shape, trt.Weights(np.ascontiguousarray(a))).get_output(0)


def run(net: trt.INetworkDefinition, layer: trt.ILayer, feeds: dict[str, np.ndarray],
        index: int = 0) -> np.ndarray:
    out = layer.get_output(index)
    net.mark_output(out)
    got = trt.execute(net, feeds)[out.name]
    assert len(out.shape) == got.ndim and all(d in (-1, n) for d, n in zip(out.shape, got.shape)), \
        "build-time shape differs from the executed one"
    assert np.dtype(trt.nptype(out.dtype)) == got.dtype
    return got


def t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


# ---------------------------------------------------------------- convolution / deconvolution
@pytest.mark.parametrize("groups,dilation,stride,pad", [
    (1, 1, 1, (1, 1, 1, 1)), (2, 1, 2, (0, 1, 2, 0)), (6, 2, 1, (2, 2, 2, 2)),
    (3, 1, 3, (1, 0, 1, 0)),
])
def test_convolution_2d_matches_torch(groups, dilation, stride, pad):
    x, w, b = randn(2, 6, 11, 9), randn(12, 6 // groups, 3, 3), randn(12)
    net = new_net()
    inp = net.add_input("x", trt.float32, x.shape)
    conv = net.add_convolution_nd(inp, 12, (3, 3), trt.Weights(w), trt.Weights(b))
    conv.num_groups = groups
    conv.dilation_nd = (dilation, dilation)
    conv.stride_nd = (stride, stride)
    conv.pre_padding = (pad[0], pad[1])
    conv.post_padding = (pad[2], pad[3])
    got = run(net, conv, {"x": x})
    xp = F.pad(t(x), (pad[1], pad[3], pad[0], pad[2]))
    ref = F.conv2d(xp, t(w), t(b), stride=stride, dilation=dilation, groups=groups).numpy()
    np.testing.assert_allclose(got, ref, atol=TOL, rtol=TOL)


def test_convolution_same_upper_lower_and_1d_3d():
    x = randn(1, 2, 10)
    w = randn(3, 2, 4)
    P = trt.PaddingMode
    for mode, (lo, hi) in ((P.SAME_UPPER, (1, 2)), (P.SAME_LOWER, (2, 1))):
        net = new_net()
        conv = net.add_convolution_nd(net.add_input("x", trt.float32, x.shape), 3, (4,),
                                      trt.Weights(w), None)
        conv.padding_mode = mode
        got = run(net, conv, {"x": x})
        np.testing.assert_allclose(got, F.conv1d(F.pad(t(x), (lo, hi)), t(w)).numpy(), atol=TOL)
    x3, w3 = randn(1, 2, 5, 6, 4), randn(4, 2, 2, 3, 2)
    net = new_net()
    conv = net.add_convolution_nd(net.add_input("x", trt.float32, x3.shape), 4, (2, 3, 2),
                                  trt.Weights(w3), None)
    conv.stride_nd = (1, 2, 1)
    np.testing.assert_allclose(run(net, conv, {"x": x3}),
                               F.conv3d(t(x3), t(w3), stride=(1, 2, 1)).numpy(), atol=TOL)


def test_convolution_kernel_from_a_dequantized_tensor():
    """Explicit quantization gives the kernel as input 1 (empty Weights in the call)."""
    x, wq = randn(1, 4, 6, 6), RNG.integers(-127, 128, (8, 4, 3, 3)).astype(np.int8)
    scale = np.abs(randn(8)) / 100 + 1e-3
    net = new_net()
    dq = net.add_dequantize(const(net, wq), const(net, scale), trt.float32)
    dq.axis = 0
    conv = net.add_convolution_nd(net.add_input("x", trt.float32, x.shape), 8, (3, 3),
                                  trt.Weights(), None)
    conv.set_input(1, dq.get_output(0))
    got = run(net, conv, {"x": x})
    w = wq.astype(np.float32) * scale[:, None, None, None]
    np.testing.assert_allclose(got, F.conv2d(t(x), t(w)).numpy(), atol=TOL, rtol=TOL)


def test_convolution_half_runs_in_half_against_torch_float():
    x, w, b = randn(1, 3, 16, 16), randn(8, 3, 3, 3), randn(8)
    net = new_net()
    conv = net.add_convolution_nd(net.add_input("x", trt.float16, x.shape), 8, (3, 3),
                                  trt.Weights(w.astype(np.float16)),
                                  trt.Weights(b.astype(np.float16)))
    got = run(net, conv, {"x": x.astype(np.float16)})
    assert got.dtype == np.float16
    ref = F.conv2d(t(x), t(w), t(b)).numpy()
    np.testing.assert_allclose(got.astype(np.float32), ref, atol=1e-2, rtol=1e-2)


@pytest.mark.parametrize("groups,stride,padding,output_padding,dilation", [
    (1, 2, 1, 1, 1), (2, 3, 2, 2, 1), (4, 2, 2, 0, 2),
])
def test_deconvolution_matches_torch(groups, stride, padding, output_padding, dilation):
    x, w, b = randn(2, 4, 5, 6), randn(4, 8 // groups, 3, 3), randn(8)
    net = new_net()
    de = net.add_deconvolution_nd(net.add_input("x", trt.float32, x.shape), 8, (3, 3),
                                  trt.Weights(w), trt.Weights(b))
    de.num_groups = groups
    de.stride_nd = (stride, stride)
    de.dilation_nd = (dilation, dilation)
    de.pre_padding = (padding, padding)
    de.post_padding = (padding - output_padding,) * 2
    got = run(net, de, {"x": x})
    ref = F.conv_transpose2d(t(x), t(w), t(b), stride=stride, padding=padding,
                             output_padding=output_padding, groups=groups, dilation=dilation)
    np.testing.assert_allclose(got, ref.numpy(), atol=TOL, rtol=TOL)


def test_deconvolution_refuses_negative_padding():
    net = new_net()
    de = net.add_deconvolution_nd(net.add_input("x", trt.float32, (1, 2, 4, 4)), 2, (3, 3),
                                  trt.Weights(randn(2, 2, 3, 3)), None)
    de.post_padding = (-1, -1)
    with pytest.raises(trt.StandinError, match="padding >= 0"):
        de.get_output(0).shape


# ---------------------------------------------------------------------------- pooling
@pytest.mark.parametrize("kind,pad,ceil,count_pad", [
    ("max", 1, False, False), ("max", 0, True, False), ("avg", 1, False, True),
    ("avg", 1, False, False), ("avg", 1, True, True), ("avg", 0, True, False),
])
def test_pooling_matches_torch(kind, pad, ceil, count_pad):
    x = randn(1, 3, 10, 9)
    net = new_net()
    ptype = trt.PoolingType.MAX if kind == "max" else trt.PoolingType.AVERAGE
    pool = net.add_pooling_nd(net.add_input("x", trt.float32, x.shape), ptype, (3, 3))
    pool.stride_nd = (2, 2)
    pool.padding_nd = (pad, pad)
    if ceil:
        pool.padding_mode = trt.PaddingMode.EXPLICIT_ROUND_UP
    pool.average_count_excludes_padding = not count_pad
    got = run(net, pool, {"x": x})
    if kind == "max":
        ref = F.max_pool2d(t(x), 3, 2, pad, ceil_mode=ceil)
    else:
        ref = F.avg_pool2d(t(x), 3, 2, pad, ceil_mode=ceil, count_include_pad=count_pad)
    np.testing.assert_allclose(got, ref.numpy(), atol=TOL, rtol=TOL)


# ---------------------------------------------------------------------- matrix multiply
@pytest.mark.parametrize("op0,op1", [("NONE", "NONE"), ("TRANSPOSE", "NONE"),
                                     ("NONE", "TRANSPOSE"), ("NONE", "VECTOR")])
def test_matrix_multiply_matches_torch(op0, op1):
    a = randn(2, 1, 4, 5) if op0 == "NONE" else randn(2, 1, 5, 4)
    b = {"NONE": randn(1, 3, 5, 6), "TRANSPOSE": randn(1, 3, 6, 5), "VECTOR": randn(1, 3, 5)}[op1]
    net = new_net()
    mm = net.add_matrix_multiply(net.add_input("a", trt.float32, a.shape),
                                 trt.MatrixOperation.__members__[op0],
                                 net.add_input("b", trt.float32, b.shape),
                                 trt.MatrixOperation.__members__[op1])
    got = run(net, mm, {"a": a, "b": b})
    ta, tb = t(a), t(b)
    ta = ta.transpose(-1, -2) if op0 == "TRANSPOSE" else ta
    tb = tb.transpose(-1, -2) if op1 == "TRANSPOSE" else tb
    ref = (ta @ tb[..., None])[..., 0] if op1 == "VECTOR" else ta @ tb
    np.testing.assert_allclose(got, ref.numpy(), atol=TOL, rtol=TOL)


def test_matrix_multiply_refuses_unequal_ranks_and_mixed_types():
    net = new_net()
    a = net.add_input("a", trt.float32, (2, 4, 5))
    with pytest.raises(trt.StandinError, match="same number of batch dimensions"):
        net.add_matrix_multiply(a, trt.MatrixOperation.NONE,
                                net.add_input("b", trt.float32, (5, 6)), trt.MatrixOperation.NONE)
    with pytest.raises(trt.StandinError, match="operand types must match"):
        net.add_matrix_multiply(a, trt.MatrixOperation.NONE,
                                net.add_input("c", trt.float16, (2, 5, 6)),
                                trt.MatrixOperation.NONE)


# --------------------------------------------------------------------------- elementwise
def test_elementwise_by_hand_with_broadcast():
    a, b = randn(2, 1, 4), randn(1, 3, 4)
    E = trt.ElementWiseOperation
    cases = {E.SUM: a + b, E.PROD: a * b, E.SUB: a - b, E.DIV: a / b, E.MAX: np.maximum(a, b),
             E.MIN: np.minimum(a, b), E.GREATER: a > b, E.LESS: a < b}
    for op, want in cases.items():
        net = new_net()
        layer = net.add_elementwise(net.add_input("a", trt.float32, a.shape),
                                    net.add_input("b", trt.float32, b.shape), op)
        got = run(net, layer, {"a": a, "b": b})
        assert got.shape == (2, 3, 4) and got.dtype == want.dtype, op
        np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=str(op))


def test_elementwise_integer_division_truncates_and_floor_div_floors():
    a, b = np.array([7, -7, 7, -7], np.int32), np.array([2, 2, -2, -2], np.int32)
    for op, want in ((trt.ElementWiseOperation.DIV, [3, -3, -3, 3]),
                     (trt.ElementWiseOperation.FLOOR_DIV, [3, -4, -4, 3])):
        net = new_net()
        layer = net.add_elementwise(const(net, a), const(net, b), op)
        np.testing.assert_array_equal(run(net, layer, {}), want)


def test_elementwise_refuses_unequal_ranks_bad_broadcast_and_mixed_types():
    net = new_net()
    a = net.add_input("a", trt.float32, (2, 3, 4))
    with pytest.raises(trt.StandinError, match="same number of dimensions"):
        net.add_elementwise(a, net.add_input("b", trt.float32, (3, 4)),
                            trt.ElementWiseOperation.SUM)
    with pytest.raises(trt.StandinError, match="equal or one of them is 1"):
        net.add_elementwise(a, net.add_input("c", trt.float32, (2, 2, 4)),
                            trt.ElementWiseOperation.SUM)
    with pytest.raises(trt.StandinError, match="operand types must match"):
        net.add_elementwise(a, net.add_input("d", trt.float16, (2, 3, 4)),
                            trt.ElementWiseOperation.SUM)


# ---------------------------------------------------------------- activation and unary
ACTIVATIONS = [
    ("RELU", 0, 0, F.relu), ("SIGMOID", 0, 0, torch.sigmoid), ("TANH", 0, 0, torch.tanh),
    ("LEAKY_RELU", 0.1, 0, lambda v: F.leaky_relu(v, 0.1)),
    ("ELU", 0.7, 0, lambda v: F.elu(v, 0.7)),
    ("SELU", 1.6732632423543772, 1.0507009873554805, F.selu),
    ("SOFTPLUS", 1, 1, F.softplus), ("SOFTSIGN", 0, 0, F.softsign),
    ("CLIP", 0, 6, F.relu6), ("HARD_SIGMOID", 1 / 6, 0.5, F.hardsigmoid),
    ("GELU_ERF", 0, 0, F.gelu), ("GELU_TANH", 0, 0, lambda v: F.gelu(v, approximate="tanh")),
]


@pytest.mark.parametrize("name,alpha,beta,ref", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_matches_torch(name, alpha, beta, ref):
    x = randn(3, 50) * 4
    net = new_net()
    act = net.add_activation(net.add_input("x", trt.float32, x.shape),
                             trt.ActivationType.__members__[name])
    act.alpha, act.beta = alpha, beta
    np.testing.assert_allclose(run(net, act, {"x": x}), ref(t(x)).numpy(), atol=2e-6, rtol=1e-5)


def test_unary_and_parametric_relu_match_torch():
    x = randn(2, 3, 4, 4)
    U = trt.UnaryOperation
    for op, ref in ((U.EXP, torch.exp), (U.ABS, torch.abs), (U.ERF, torch.erf),
                    (U.FLOOR, torch.floor), (U.NEG, torch.neg), (U.SIN, torch.sin)):
        net = new_net()
        got = run(net, net.add_unary(net.add_input("x", trt.float32, x.shape), op), {"x": x})
        np.testing.assert_allclose(got, ref(t(x)).numpy(), atol=1e-6, rtol=1e-6)
    slopes = randn(1, 3, 1, 1)
    net = new_net()
    pr = net.add_parametric_relu(net.add_input("x", trt.float32, x.shape), const(net, slopes))
    np.testing.assert_allclose(run(net, pr, {"x": x}),
                               F.prelu(t(x), t(slopes.reshape(3))).numpy(), atol=TOL)


# ------------------------------------------------------------------- reduce, softmax, topk
def test_reduce_with_bitmask_axes_matches_torch():
    x = randn(2, 3, 4, 5)
    R = trt.ReduceOperation

    def prod(v, dim, keepdim):
        for d in sorted(dim, reverse=True):
            v = torch.prod(v, dim=d, keepdim=keepdim)
        return v

    for op, ref in ((R.SUM, torch.sum), (R.AVG, torch.mean), (R.MAX, torch.amax),
                    (R.MIN, torch.amin), (R.PROD, prod)):
        for mask, dims, keep in ((0b1100, (2, 3), True), (0b0010, (1,), False)):
            net = new_net()
            red = net.add_reduce(net.add_input("x", trt.float32, x.shape), op, mask, keep)
            got = run(net, red, {"x": x})
            np.testing.assert_allclose(got, ref(t(x), dim=dims, keepdim=keep).numpy(),
                                       atol=TOL, rtol=TOL)


def test_bitmask_axes_are_checked():
    net = new_net()
    x = net.add_input("x", trt.float32, (2, 3, 4))
    with pytest.raises(trt.StandinError, match="bitmask"):
        net.add_reduce(x, trt.ReduceOperation.SUM, 1 << 3, False)  # no dimension 3
    with pytest.raises(trt.StandinError, match="bitmask"):
        net.add_reduce(x, trt.ReduceOperation.SUM, 0, False)
    sm = net.add_softmax(x)
    sm.axes = 0b110  # two axes
    with pytest.raises(trt.StandinError, match="exactly one axis"):
        sm.get_output(0).shape


def test_softmax_axis_and_its_default():
    x = randn(2, 5, 3, 4)
    for mask, dim in ((1 << 3, 3), (None, 1)):  # unset: rank - 3
        net = new_net()
        sm = net.add_softmax(net.add_input("x", trt.float32, x.shape))
        if mask is not None:
            sm.axes = mask
        np.testing.assert_allclose(run(net, sm, {"x": x}), torch.softmax(t(x), dim).numpy(),
                                   atol=1e-6)


def test_topk_matches_torch():
    x = randn(3, 10)
    for op, largest in ((trt.TopKOperation.MAX, True), (trt.TopKOperation.MIN, False)):
        net = new_net()
        tk = net.add_topk(net.add_input("x", trt.float32, x.shape), op, 4, 1 << 1)
        net.mark_output(tk.get_output(0))
        net.mark_output(tk.get_output(1))
        out = trt.execute(net, {"x": x})
        ref = torch.topk(t(x), 4, dim=1, largest=largest)
        np.testing.assert_array_equal(out[tk.get_output(0).name], ref.values.numpy())
        np.testing.assert_array_equal(out[tk.get_output(1).name], ref.indices.numpy())
        assert out[tk.get_output(1).name].dtype == np.int32


# --------------------------------------------------------------- shuffle, slice, gather
def test_shuffle_transpose_reshape_transpose_by_hand():
    x = randn(2, 3, 4, 5)
    net = new_net()
    sh = net.add_shuffle(net.add_input("x", trt.float32, x.shape))
    sh.first_transpose = (0, 2, 3, 1)  # NCHW -> NHWC
    sh.reshape_dims = (0, -1, 3)  # 0 copies N
    sh.second_transpose = (0, 2, 1)
    got = run(net, sh, {"x": x})
    want = np.transpose(np.transpose(x, (0, 2, 3, 1)).reshape(2, 20, 3), (0, 2, 1))
    np.testing.assert_array_equal(got, want)


def test_shuffle_zero_is_placeholder_false_makes_an_empty_dimension():
    net = new_net()
    sh = net.add_shuffle(const(net, np.zeros((0, 3), np.float32)))
    sh.zero_is_placeholder = False
    sh.reshape_dims = (3, 0)
    assert tuple(sh.get_output(0).shape) == (3, 0)
    net2 = new_net()
    sh2 = net2.add_shuffle(const(net2, np.zeros((0, 3), np.float32)))
    sh2.reshape_dims = (3, 0)  # 0 copies dimension 1 (= 3): 9 elements from 0, refused
    with pytest.raises(trt.StandinError, match="volume"):
        sh2.get_output(0).shape


def test_shuffle_with_a_shape_tensor_from_the_shape_layer():
    x = randn(2, 3, 4)
    net = new_net()
    inp = net.add_input("x", trt.float32, (-1, 3, 4))
    shp = net.add_shape(inp).get_output(0)
    tail = net.add_slice(shp, (1,), (2,), (1,)).get_output(0)
    prod = net.add_reduce(tail, trt.ReduceOperation.PROD, 1, True).get_output(0)
    head = net.add_slice(shp, (0,), (1,), (1,)).get_output(0)
    dims = net.add_concatenation([head, prod])
    dims.axis = 0
    sh = net.add_shuffle(inp)
    sh.set_input(1, dims.get_output(0))
    assert tuple(sh.get_output(0).shape) == (-1, 12)
    np.testing.assert_array_equal(run(net, sh, {"x": x}), x.reshape(2, 12))


def test_slice_modes_by_hand():
    x = np.arange(20, dtype=np.float32).reshape(4, 5)
    net = new_net()
    sl = net.add_slice(net.add_input("x", trt.float32, x.shape), (1, 4), (2, 3), (2, -2))
    np.testing.assert_array_equal(run(net, sl, {"x": x}), x[[1, 3]][:, [4, 2, 0]])
    for mode, cols in ((trt.SampleMode.WRAP, [3, 4, 0, 1]), (trt.SampleMode.CLAMP, [3, 4, 4, 4]),
                       (trt.SampleMode.REFLECT, [3, 4, 3, 2])):
        net = new_net()
        sl = net.add_slice(net.add_input("x", trt.float32, x.shape), (0, 3), (4, 4), (1, 1))
        sl.mode = mode
        np.testing.assert_array_equal(run(net, sl, {"x": x}), x[:, cols], err_msg=str(mode))
    net = new_net()
    sl = net.add_slice(net.add_input("x", trt.float32, x.shape), (0, 3), (4, 4), (1, 1))
    sl.mode = trt.SampleMode.FILL
    sl.set_input(4, const(net, np.array(-1, np.float32)))
    want = np.concatenate([x[:, 3:], -np.ones((4, 2), np.float32)], axis=1)
    np.testing.assert_array_equal(run(net, sl, {"x": x}), want)
    net = new_net()
    sl = net.add_slice(net.add_input("x", trt.float32, x.shape), (0, 3), (4, 4), (1, 1))
    with pytest.raises(trt.StandinError, match="STRICT_BOUNDS"):
        sl.get_output(0).shape


def test_gather_modes_by_hand():
    data = randn(3, 4, 5)
    idx = np.array([[2, -1], [0, 1]], np.int32)
    net = new_net()
    g = net.add_gather(net.add_input("d", trt.float32, data.shape), const(net, idx), 1)
    want = np.stack([data[:, 2], data[:, 3], data[:, 0], data[:, 1]], axis=1).reshape(3, 2, 2, 5)
    np.testing.assert_array_equal(run(net, g, {"d": data}), want)
    eidx = RNG.integers(0, 4, (3, 2, 5)).astype(np.int64)
    net = new_net()
    g = net.add_gather_v2(net.add_input("d", trt.float32, data.shape), const(net, eidx),
                          trt.GatherMode.ELEMENT)
    g.axis = 1
    want = np.empty((3, 2, 5), np.float32)
    for i in range(3):
        for j in range(2):
            for k in range(5):
                want[i, j, k] = data[i, eidx[i, j, k], k]
    np.testing.assert_array_equal(run(net, g, {"d": data}), want)
    net = new_net()
    g = net.add_gather(net.add_input("d", trt.float32, data.shape),
                       const(net, idx.astype(np.float32)), 1)
    with pytest.raises(trt.StandinError, match="INT32 or INT64"):
        g.get_output(0).dtype


def test_concatenation_and_padding_by_hand():
    a, b = randn(1, 2, 3, 3), randn(1, 4, 3, 3)
    net = new_net()
    cat = net.add_concatenation([net.add_input("a", trt.float32, a.shape),
                                 net.add_input("b", trt.float32, b.shape)])
    got = run(net, cat, {"a": a, "b": b})  # axis unset: rank - 3 = 1
    np.testing.assert_array_equal(got, np.concatenate([a, b], axis=1))
    cat.axis = -3
    with pytest.raises(trt.StandinError, match="0 <= axis < rank"):
        cat.get_output(0).shape
    net = new_net()
    pad = net.add_padding_nd(net.add_input("a", trt.float32, a.shape), (1, -1), (2, 0))
    want = np.zeros((1, 2, 6, 2), np.float32)
    want[:, :, 1:4, :] = a[:, :, :, 1:]
    np.testing.assert_array_equal(run(net, pad, {"a": a}), want)


# --------------------------------------------------------------------------------- resize
RESIZES = [
    ("NEAREST", "ASYMMETRIC", "FLOOR", dict(mode="nearest")),
    ("NEAREST", "HALF_PIXEL", "HALF_UP", dict(mode="nearest-exact")),
    ("LINEAR", "HALF_PIXEL", "FLOOR", dict(mode="bilinear", align_corners=False)),
    ("LINEAR", "ALIGN_CORNERS", "FLOOR", dict(mode="bilinear", align_corners=True)),
    ("CUBIC", "HALF_PIXEL", "FLOOR", dict(mode="bicubic", align_corners=False)),
]


@pytest.mark.parametrize("mode,coord,rounding,ref", RESIZES,
                         ids=[f"{r[0]}-{r[1]}" for r in RESIZES])
@pytest.mark.parametrize("out_hw", [(14, 10), (3, 4)])
def test_resize_matches_torch(mode, coord, rounding, ref, out_hw):
    x = randn(1, 2, 7, 5)
    net = new_net()
    rs = net.add_resize(net.add_input("x", trt.float32, x.shape))
    rs.shape = (1, 2) + out_hw
    rs.resize_mode = trt.InterpolationMode.__members__[mode]
    rs.coordinate_transformation = trt.ResizeCoordinateTransformation.__members__[coord]
    rs.nearest_rounding = trt.ResizeRoundMode.__members__[rounding]
    got = run(net, rs, {"x": x})
    want = F.interpolate(t(x), size=out_hw, **ref).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def test_resize_by_scales_floors_the_output_size():
    x = randn(1, 1, 5, 5)
    net = new_net()
    rs = net.add_resize(net.add_input("x", trt.float32, x.shape))
    rs.scales = (1, 1, 1.5, 2)
    got = run(net, rs, {"x": x})
    assert got.shape == (1, 1, 7, 10)
    want = F.interpolate(t(x), scale_factor=(1.5, 2), mode="nearest").numpy()
    np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------------------ normalization
def test_normalization_as_layer_instance_and_group_norm_matches_torch():
    x = randn(2, 6, 5, 4)
    scale, bias = randn(6), randn(6)
    cases = [
        (0b1100, 1, np.ones((1, 1, 1, 4), np.float32), np.zeros((1, 1, 1, 4), np.float32),
         F.layer_norm(t(x), (5, 4), eps=1e-5)),
        (0b1100, 1, scale.reshape(1, 6, 1, 1), bias.reshape(1, 6, 1, 1),
         F.instance_norm(t(x), weight=t(scale), bias=t(bias), eps=1e-5)),
        (0b1100, 3, scale.reshape(1, 6, 1, 1), bias.reshape(1, 6, 1, 1),
         F.group_norm(t(x), 3, t(scale), t(bias), eps=1e-5)),
    ]
    for mask, groups, s, b, ref in cases:
        net = new_net()
        nl = net.add_normalization(net.add_input("x", trt.float32, x.shape), const(net, s),
                                   const(net, b), mask)
        nl.num_groups = groups
        np.testing.assert_allclose(run(net, nl, {"x": x}), ref.numpy(), atol=2e-5, rtol=1e-5)


def test_lrn_matches_torch():
    x = randn(1, 7, 3, 3) * 3
    net = new_net()
    layer = net.add_lrn(net.add_input("x", trt.float32, x.shape), 5, 1e-2, 0.75, 2.0)
    ref = F.local_response_norm(t(x), 5, alpha=1e-2, beta=0.75, k=2.0).numpy()
    np.testing.assert_allclose(run(net, layer, {"x": x}), ref, atol=1e-6, rtol=1e-5)


def test_lrn_of_half_is_refused_as_its_page_lists_float32_only():
    x = randn(1, 7, 3, 3).astype(np.float16)
    net = new_net()
    with pytest.raises(trt.StandinError, match="LRN takes FLOAT only.*LRN.html"):
        layer = net.add_lrn(net.add_input("x", trt.float16, x.shape), 5, 1e-2, 0.75, 2.0)
        run(net, layer, {"x": x})


def test_squeeze_unsqueeze_by_hand():
    x = randn(2, 1, 3)
    net = new_net()
    un = net.add_unsqueeze(net.add_input("x", trt.float32, x.shape),
                           const(net, np.array([0, -1], np.int64)))
    assert tuple(un.get_output(0).shape) == (1, 2, 1, 3, 1)
    sq = net.add_squeeze(un.get_output(0), const(net, np.array([1 + 1], np.int32)))
    np.testing.assert_array_equal(run(net, sq, {"x": x}), x.reshape(1, 2, 3, 1))
    with pytest.raises(trt.StandinError, match="squeezed sizes are 1"):
        net.add_squeeze(un.get_output(0), const(net, np.array([1], np.int32)))


# ------------------------------------------------------------------------------ Q/DQ
def test_quantize_per_tensor_and_per_channel_match_torch():
    x = randn(2, 3, 4, 4) * 3
    scale = np.float32(0.02)
    net = new_net()
    q = net.add_quantize(net.add_input("x", trt.float32, x.shape),
                         const(net, np.array(scale, np.float32)), trt.int8)
    got = run(net, q, {"x": x})
    fq = torch.fake_quantize_per_tensor_affine(t(x), float(scale), 0, -128, 127)
    ref = torch.round(fq / float(scale)).to(torch.int8).numpy()
    np.testing.assert_array_equal(got, ref)
    scales = np.array([0.01, 0.02, 0.05], np.float32)
    net = new_net()
    q = net.add_quantize(net.add_input("x", trt.float32, x.shape), const(net, scales), trt.int8)
    q.axis = 1
    dq = net.add_dequantize(q.get_output(0), const(net, scales), trt.float32)
    dq.axis = 1
    got = run(net, dq, {"x": x})
    ref = torch.fake_quantize_per_channel_affine(t(x), t(scales), torch.zeros(3, dtype=torch.int32),
                                                 1, -128, 127).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-7)


def test_qdq_rules_are_checked():
    x = (2, 3, 4, 4)
    cases = [  # (scale, axis, zero point, scale from input, match)
        (np.full(4, 0.1, np.float32), 1, None, False, "as many values as the quantization axis"),
        (np.full((1, 3), 0.1, np.float32), 1, None, False, "scalar .per-tensor. or 1-D"),
        (np.array(0.1, np.float32), -1, np.array(3, np.int8), False, "zero points are all 0"),
        (np.array(0.1, np.float32), -1, np.array(0, np.int32), False, "zero point is INT8"),
        (np.array(0.1, np.float16), -1, None, False, "the scale has the input's type"),
        (np.array(0.1, np.float32), -1, None, True, "build-time constant"),
    ]
    for scale, axis, zp, dynamic, match in cases:
        net = new_net()
        inp = net.add_input("x", trt.float32, x)
        s = net.add_input("s", trt.float32, scale.shape) if dynamic else const(net, scale)
        with pytest.raises(trt.StandinError, match=match):
            q = net.add_quantize(inp, s, trt.int8)
            q.axis = axis
            if zp is not None:
                q.set_input(2, const(net, zp))
            q.get_output(0).shape


# ------------------------------------------------------- cast, identity, shape, select
def test_cast_identity_shape_select_by_hand():
    x = np.array([[-1.7, 0.2], [2.5, -0.0]], np.float32)
    net = new_net()
    inp = net.add_input("x", trt.float32, x.shape)
    c = net.add_cast(inp, trt.int32)
    np.testing.assert_array_equal(run(net, c, {"x": x}), [[-1, 0], [2, 0]])
    net = new_net()
    inp = net.add_input("x", trt.float32, x.shape)
    np.testing.assert_array_equal(run(net, net.add_identity(inp), {"x": x}), x)
    net = new_net()
    got = run(net, net.add_shape(net.add_input("x", trt.float32, x.shape)), {"x": x})
    assert got.dtype == np.int64 and list(got) == [2, 2]
    net = new_net()
    inp = net.add_input("x", trt.float32, x.shape)
    zero = const(net, np.zeros((1, 1), np.float32))
    cond = net.add_elementwise(inp, zero, trt.ElementWiseOperation.GREATER).get_output(0)
    sel = net.add_select(cond, inp, net.add_unary(inp, trt.UnaryOperation.NEG).get_output(0))
    np.testing.assert_array_equal(run(net, sel, {"x": x}), np.abs(x))


# --------------------------------------------------------------- strongly typed network
def test_strongly_typed_rules():
    with pytest.raises(trt.StandinError, match="STRONGLY_TYPED"):
        trt.Builder(trt.Logger()).create_network(0)
    net = new_net()
    inp = net.add_input("x", trt.float16, (1, 3, 8, 8))
    conv = net.add_convolution_nd(inp, 4, (3, 3), trt.Weights(randn(4, 3, 3, 3)), None)
    with pytest.raises(trt.StandinError, match="kernel and input types match"):
        conv.get_output(0).shape
    layer = net.add_activation(inp, trt.ActivationType.RELU)
    with pytest.raises(trt.StandinError, match="strongly typed"):
        layer.precision = trt.float32
    with pytest.raises(trt.StandinError, match="strongly typed"):
        layer.set_output_type(0, trt.float32)
    with pytest.raises(AttributeError):
        layer.strides = (1, 1)  # not an attribute of IActivationLayer: a typo is caught


def test_builder_config_records_options_and_refuses_precision_flags():
    builder = trt.Builder(trt.Logger())
    net = builder.create_network(STRONG)
    net.mark_output(net.add_activation(net.add_input("x", trt.float32, (1, 4)),
                                       trt.ActivationType.RELU).get_output(0))
    config = builder.create_builder_config()
    config.set_flag(trt.BuilderFlag.SPARSE_WEIGHTS)
    config.max_aux_streams = 2
    assert config.get_flag(trt.BuilderFlag.SPARSE_WEIGHTS)
    assert not config.get_flag(trt.BuilderFlag.FP16)
    with pytest.raises(trt.StandinError, match="builds no engine|only records"):
        builder.build_serialized_network(net, config)
    config.set_flag(trt.BuilderFlag.FP16)
    with pytest.raises(trt.StandinError, match="precision flags are refused"):
        builder.build_serialized_network(net, config)


def test_dynamic_batch_gives_minus_one_and_runs_any_batch():
    w = randn(4, 3, 3, 3)
    net = new_net()
    conv = net.add_convolution_nd(net.add_input("x", trt.float32, (-1, 3, 8, 8)), 4, (3, 3),
                                  trt.Weights(w), None)
    assert tuple(conv.get_output(0).shape) == (-1, 4, 6, 6)
    net.mark_output(conv.get_output(0))
    for n in (1, 3):
        x = randn(n, 3, 8, 8)
        got = trt.execute(net, {"x": x})[conv.get_output(0).name]
        np.testing.assert_allclose(got, F.conv2d(t(x), t(w)).numpy(), atol=TOL)


def _dynamic_relu_net() -> tuple[trt.Builder, trt.INetworkDefinition]:
    builder = trt.Builder(trt.Logger())
    net = builder.create_network(STRONG)
    x = net.add_input("x", trt.float32, (-1, 3, -1))
    net.mark_output(net.add_activation(x, trt.ActivationType.RELU).get_output(0))
    return builder, net


def test_optimization_profile_set_shape_checks_what_its_page_states():
    profile = trt.Builder(trt.Logger()).create_optimization_profile()
    profile.set_shape("x", (1, 3, 4), (2, 3, 8), (4, 3, 16))
    assert profile.get_shape("x") == [(1, 3, 4), (2, 3, 8), (4, 3, 16)]
    assert profile.get_shape("y") == [] and bool(profile)
    with pytest.raises(ValueError, match="min <= opt <= max"):
        profile.set_shape("x", (1, 3, 4), (8, 3, 8), (4, 3, 16))
    with pytest.raises(ValueError, match="equal ranks"):
        profile.set_shape("x", (1, 3), (1, 3, 4), (1, 3, 4))
    with pytest.raises(ValueError, match="min <= opt <= max"):
        profile.set_shape("x", (-1, 3, 4), (1, 3, 4), (1, 3, 4))


def test_dynamic_network_needs_a_fitting_profile_to_build():
    builder, net = _dynamic_relu_net()
    config = builder.create_builder_config()
    with pytest.raises(trt.StandinError, match="add_optimization_profile must be called"):
        builder.build_serialized_network(net, config)
    profile = builder.create_optimization_profile()
    profile.set_shape("x", (1, 2, 4), (2, 2, 8), (4, 2, 16))  # dim 1 is 3 in the network
    assert config.add_optimization_profile(profile) == 0
    assert config.num_optimization_profiles == 1
    with pytest.raises(trt.StandinError, match="static dim equals min = opt = max"):
        builder.build_serialized_network(net, config)
    good = builder.create_optimization_profile()
    good.set_shape("x", (1, 3, 4), (2, 3, 8), (4, 3, 16))
    config2 = builder.create_builder_config()
    config2.add_optimization_profile(good)
    with pytest.raises(trt.StandinError, match="only records"):  # every rule passed
        builder.build_serialized_network(net, config2)
    other = builder.create_optimization_profile()
    other.set_shape("y", (1,), (1,), (1,))
    config3 = builder.create_builder_config()
    config3.add_optimization_profile(other)
    with pytest.raises(trt.StandinError, match="names 'y', which is no input"):
        builder.build_serialized_network(net, config3)


def test_execute_refuses_feeds_outside_the_profile():
    builder, net = _dynamic_relu_net()
    profile = builder.create_optimization_profile()
    profile.set_shape("x", (1, 3, 4), (2, 3, 8), (4, 3, 16))
    out = net.get_output(0).name
    for shape in ((1, 3, 4), (2, 3, 8), (4, 3, 16), (3, 3, 5)):
        x = randn(*shape)
        np.testing.assert_array_equal(trt.execute(net, {"x": x}, profile=profile)[out],
                                      np.maximum(x, 0))
    for shape in ((5, 3, 8), (2, 3, 3), (2, 3, 17)):
        with pytest.raises(trt.StandinError, match="outside the optimization profile"):
            trt.execute(net, {"x": randn(*shape)}, profile=profile)
    trt.execute(net, {"x": randn(5, 3, 17)})  # without a profile only the declared shape counts


def test_summary_lists_layers_names_attributes_and_types():
    net = new_net()
    conv = net.add_convolution_nd(net.add_input("x", trt.float32, (1, 3, 8, 8)), 4, (3, 3),
                                  trt.Weights(randn(4, 3, 3, 3)), None)
    conv.name = "features.0"
    conv.stride_nd = (2, 2)
    net.mark_output(conv.get_output(0))
    text = trt.summary(net)
    assert "CONVOLUTION" in text and "'features.0'" in text and "stride_nd=(2,2)" in text
    assert "FLOAT[1, 4, 3, 3]" in text
    assert [layer.name for layer in net.layers] == ["features.0"]


# ------------------------------------------------------------- signatures vs the stubs
def _stub_classes() -> dict[str, ast.ClassDef]:
    src = stub_dir_or_skip() / "tensorrt_bindings" / "tensorrt.pyi"
    tree = ast.parse(src.read_text())
    return {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}


def _stub_params(cls: ast.ClassDef, name: str) -> list[list[str]]:
    out = []
    for node in cls.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            args = node.args
            names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
            out.append(names[1:])  # drop self
    return out


def differences(classes: dict[str, type], stubs: dict[str, ast.ClassDef]) -> tuple[list[str], int]:
    """Where stand-in classes differ from the stub's: names, enum members, layer attributes,
    properties vs methods, parameter names. Returns (differences, methods compared)."""
    found: list[str] = []
    checked = 0
    for name, obj in classes.items():
        if name not in stubs:
            found.append(f"{name} is not a class of the TensorRT Python API")
            continue
        stub = stubs[name]
        members = {n.target.id for n in stub.body if isinstance(n, ast.AnnAssign)
                   and isinstance(n.target, ast.Name)}
        if hasattr(obj, "__members__"):
            found += [f"{name}.{m} is not in the stub" for m in set(obj.__members__) - members]
            continue
        for attr in getattr(obj, "ATTRS", {}):
            if not (attr in members or _stub_params(stub, attr) or _inherited(stubs, stub, attr)):
                found.append(f"{name}.{attr} is not an attribute in the stub")
        for meth, fn in vars(obj).items():
            if meth.startswith("_"):
                continue
            if isinstance(fn, property) and meth != "layers":  # `layers`: the stand-in's own
                if not (meth in members or _stub_is_property(stub, meth)):
                    found.append(f"{name}.{meth} is a property in the stand-in, not in the stub")
                continue
            if not inspect.isfunction(fn):
                continue
            if _stub_is_property(stub, meth):
                found.append(f"{name}.{meth} is a property in the stub")
                continue
            overloads = _stub_params(stub, meth)
            params = list(inspect.signature(fn).parameters)[1:]
            if params not in overloads:
                found.append(f"{name}.{meth}{params} vs stub {overloads}")
            checked += 1
    return found, checked


def test_every_standin_name_and_signature_matches_the_stub_file():
    classes = {n: getattr(trt, n) for n in trt.__all__
               if inspect.isclass(getattr(trt, n)) and n != "StandinError"}
    found, checked = differences(classes, _stub_classes())
    assert found == []
    assert checked > 40  # the add_* methods and the ILayer / ITensor / Builder accessors


def test_the_signature_check_sees_a_wrong_parameter_name_and_a_missing_attribute():
    class INetworkDefinition:  # noqa: N801 (named as the API class it imitates)
        def add_softmax(self, tensor):  # the binding calls it `input`
            pass

    wrong_attrs = type("IConvolutionLayer", (), {"ATTRS": {"strides": None}})
    found, _ = differences({"INetworkDefinition": INetworkDefinition,
                            "IConvolutionLayer": wrong_attrs}, _stub_classes())
    assert any("add_softmax['tensor']" in f for f in found)
    assert any("IConvolutionLayer.strides" in f for f in found)


def test_stub_fixes_make_the_generated_stub_text_parse():
    broken = ("import tensorrt_libs as tensorrt_libs\n"
              "__all__ = ['a', 'tensorrt_libs', 'b']\n"
              "class P:\n"
              "    def f(self, in: int, out: int) -> None: ...\n"
              "    def add_scale_nd(self, a: int = None, channel_axis: int) -> None: ...\n")
    with pytest.raises(SyntaxError):
        ast.parse(broken)
    fixed = patch_source(broken)
    ast.parse(fixed)
    assert "tensorrt_libs" not in fixed and "in_: int" in fixed


def _stub_is_property(cls: ast.ClassDef, name: str) -> bool:
    return any(isinstance(n, ast.FunctionDef) and n.name == name
               and any(ast.unparse(d) == "property" for d in n.decorator_list) for n in cls.body)


def _inherited(stubs: dict[str, ast.ClassDef], cls: ast.ClassDef, attr: str) -> bool:
    for base in cls.bases:
        b = stubs.get(ast.unparse(base))
        if b is not None and (attr in {n.target.id for n in b.body if isinstance(n, ast.AnnAssign)
                                       and isinstance(n.target, ast.Name)}
                              or _stub_params(b, attr)):
            return True
    return False
