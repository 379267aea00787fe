"""fuse-batchnorm: hand-written IR text, interpreter before/after, and torch as the reference.

The torch checks export a module's weights into the IR by hand (no frontend involved), so
they test the pass and the kernels against an independent implementation.
"""

from __future__ import annotations

import numpy as np
import pytest

from compiler.interpreter import Interpreter
from compiler.ir import Graph, TensorType, parse_graph, verify
from compiler.pass_manager.base import PassContext
from passes.fusion.fuse_batchnorm import FuseBatchNorm
from tests.support.pass_checks import apply, assert_ir, assert_same_numerics

torch = pytest.importorskip("torch")

# -- IR text -----------------------------------------------------------------------------
# eps=0 and var=4 make s = gamma/2 exact: s = [1, 0.5];
# W' = [3*1, 4*0.5] = [3, 2]; b' = (b - mean)*s + beta = [(1-1)*1 + 0.5, (2-0)*0.5 + 1].
BN_IN = """
graph @g(%x: f32[1,1,2,2]) -> (f32[1,2,2,2]) {
  %w: f32[2,1,1,1] = const() {value=dense<f32[2,1,1,1] [3.0, 4.0]>}  // conv1.weight
  %b: f32[2] = const() {value=dense<f32[2] [1.0, 2.0]>}  // conv1.bias
  %c: f32[1,2,2,2] = conv(%x, %w, %b) {kernel_shape=[1, 1]}  // conv1
  %gamma: f32[2] = const() {value=dense<f32[2] [2.0, 1.0]>}  // bn1.weight
  %beta: f32[2] = const() {value=dense<f32[2] [0.5, 1.0]>}  // bn1.bias
  %mean: f32[2] = const() {value=dense<f32[2] [1.0, 0.0]>}  // bn1.running_mean
  %var: f32[2] = const() {value=dense<f32[2] [4.0, 4.0]>}  // bn1.running_var
  %y: f32[1,2,2,2] = batch_norm(%c, %gamma, %beta, %mean, %var) {epsilon=0.0}  // bn1
  return %y
}
"""

# The graph output keeps its name %y (conv takes it over); the weight and bias constants
# are updated in place and record the batch norm among their sources.
BN_OUT = """
graph @g(%x: f32[1,1,2,2]) -> (f32[1,2,2,2]) {
  %w: f32[2,1,1,1] = const() {value=dense<f32[2,1,1,1] [3.0, 2.0]>}  // conv1.weight, bn1
  %b: f32[2] = const() {value=dense<f32[2] [0.5, 2.0]>}  // conv1.bias, bn1
  %y: f32[1,2,2,2] = conv(%x, %w, %b) {kernel_shape=[1, 1]}  // conv1, bn1
  return %y
}
"""


def test_fuse_conv_bn_ir_and_numerics():
    before, after, res = apply(FuseBatchNorm(), BN_IN)
    assert_ir(after, BN_OUT)
    assert res.stats == {"fused": 1, "fused_mul_add": 0, "standalone": 0}
    # float32 rounding differs between (x*w+b-mean)/2*g+beta and x*w'+b': measured max abs
    # diff 6e-8 (outputs ~5); tolerance 1e-6
    assert_same_numerics(before, after, rtol=1e-6, atol=1e-6)


def test_fuse_conv_without_bias_and_shared_weight():
    text = """
graph @g(%x: f32[1,1,2,2]) -> (f32[1,2,2,2], f32[1,2,2,2]) {
  %w: f32[2,1,1,1] = const() {value=dense<f32[2,1,1,1] [3.0, 4.0]>}  // conv1.weight
  %c: f32[1,2,2,2] = conv(%x, %w)  // conv1
  %c2: f32[1,2,2,2] = conv(%x, %w)  // conv2
  %gamma: f32[2] = const() {value=dense<f32[2] [2.0, 1.0]>}
  %beta: f32[2] = const() {value=dense<f32[2] [0.5, 1.0]>}
  %mean: f32[2] = const() {value=dense<f32[2] [1.0, 0.0]>}
  %var: f32[2] = const() {value=dense<f32[2] [4.0, 4.0]>}
  %y: f32[1,2,2,2] = batch_norm(%c, %gamma, %beta, %mean, %var) {epsilon=0.0}  // bn1
  %r: f32[1,2,2,2] = relu(%y)  // relu1
  return %r, %c2
}
"""
    # %w is shared with conv2, so conv1 gets a new weight constant; the missing bias
    # becomes a new constant -mean*s + beta = [-1*1 + 0.5, 0*0.5 + 1].
    expected = """
graph @g(%x: f32[1,1,2,2]) -> (f32[1,2,2,2], f32[1,2,2,2]) {
  %w: f32[2,1,1,1] = const() {value=dense<f32[2,1,1,1] [3.0, 4.0]>}  // conv1.weight
  %w_fused: f32[2,1,1,1] = const() {value=dense<f32[2,1,1,1] [3.0, 2.0]>}  // conv1.weight, bn1
  %c_bias: f32[2] = const() {value=dense<f32[2] [-0.5, 1.0]>}  // conv1, bn1
  %c: f32[1,2,2,2] = conv(%x, %w_fused, %c_bias)  // conv1, bn1
  %c2: f32[1,2,2,2] = conv(%x, %w)  // conv2
  %r: f32[1,2,2,2] = relu(%c)  // relu1
  return %r, %c2
}
"""
    before, after, _ = apply(FuseBatchNorm(), text)
    assert_ir(after, expected)
    # measured max abs diff 0 on these inputs; tolerance 1e-6 for f32 reassociation
    assert_same_numerics(before, after, rtol=1e-6, atol=1e-6)


NOT_FUSED = """
graph @g(%x: f32[1,1,2,2], %m: f32[2]) -> (f32[1,2,2,2], f32[1,2,2,2], f32[1,2,2,2]) {
  %w: f32[2,1,1,1] = const() {value=dense<f32[2,1,1,1] [3.0, 4.0]>}
  %gamma: f32[2] = const() {value=dense<f32[2] [2.0, 1.0]>}
  %beta: f32[2] = const() {value=dense<f32[2] [0.5, 1.0]>}
  %mean: f32[2] = const() {value=dense<f32[2] [1.0, 0.0]>}
  %var: f32[2] = const() {value=dense<f32[2] [4.0, 4.0]>}
  %c1: f32[1,2,2,2] = conv(%x, %w)  // multi_use
  %y1: f32[1,2,2,2] = batch_norm(%c1, %gamma, %beta, %mean, %var)
  %s1: f32[1,2,2,2] = add(%y1, %c1)
  %c2: f32[1,2,2,2] = conv(%x, %w)  // non_const_mean
  %y2: f32[1,2,2,2] = batch_norm(%c2, %gamma, %beta, %m, %var)
  %c3: f32[1,2,2,2] = conv(%x, %w) {activation="relu"}  // activated
  %y3: f32[1,2,2,2] = batch_norm(%c3, %gamma, %beta, %mean, %var)
  return %s1, %y2, %y3
}
"""


def test_not_fused_multi_use_nonconst_params_activation():
    _, after, res = apply(FuseBatchNorm(), NOT_FUSED)
    assert not res.modified
    assert_ir(after, NOT_FUSED)


def test_conv_output_that_is_graph_output_not_fused():
    text = """
graph @g(%x: f32[1,1,2,2]) -> (f32[1,2,2,2], f32[1,2,2,2]) {
  %w: f32[2,1,1,1] = const() {value=dense<f32[2,1,1,1] [3.0, 4.0]>}
  %p: f32[2] = const() {value=dense<f32[2] [1.0, 1.0]>}
  %c: f32[1,2,2,2] = conv(%x, %w)
  %y: f32[1,2,2,2] = batch_norm(%c, %p, %p, %p, %p)
  return %c, %y
}
"""
    _, after, res = apply(FuseBatchNorm(), text)
    assert not res.modified
    assert_ir(after, text)


def test_standalone_bn_to_mul_add():
    text = """
graph @g(%x: f32[1,2,3,3], %m: f32[2]) -> (f32[1,2,3,3], f32[1,2,3,3]) {
  %gamma: f32[2] = const() {value=dense<f32[2] [2.0, 1.0]>}
  %beta: f32[2] = const() {value=dense<f32[2] [0.5, 1.0]>}
  %mean: f32[2] = const() {value=dense<f32[2] [1.0, 0.0]>}
  %var: f32[2] = const() {value=dense<f32[2] [4.0, 4.0]>}
  %y: f32[1,2,3,3] = batch_norm(%x, %gamma, %beta, %mean, %var) {epsilon=0.0}  // bn1
  %z: f32[1,2,3,3] = batch_norm(%x, %gamma, %beta, %m, %var) {epsilon=0.0}  // bn2
  return %y, %z
}
"""
    # s = [1, 0.5], shift = beta - s*mean = [-0.5, 1.0], shaped [C,1,1] for an NCHW input.
    expected = """
graph @g(%x: f32[1,2,3,3], %m: f32[2]) -> (f32[1,2,3,3], f32[1,2,3,3]) {
  %gamma: f32[2] = const() {value=dense<f32[2] [2.0, 1.0]>}
  %beta: f32[2] = const() {value=dense<f32[2] [0.5, 1.0]>}
  %var: f32[2] = const() {value=dense<f32[2] [4.0, 4.0]>}
  %y_scale: f32[2,1,1] = const() {value=dense<f32[2,1,1] [1.0, 0.5]>}  // bn1
  %y_shift: f32[2,1,1] = const() {value=dense<f32[2,1,1] [-0.5, 1.0]>}  // bn1
  %y_mul: f32[1,2,3,3] = mul(%x, %y_scale)  // bn1
  %y: f32[1,2,3,3] = add(%y_mul, %y_shift)  // bn1
  %z: f32[1,2,3,3] = batch_norm(%x, %gamma, %beta, %m, %var) {epsilon=0.0}  // bn2
  return %y, %z
}
"""
    _, _, res = apply(FuseBatchNorm(), text)
    assert not res.modified
    before, after, res = apply(FuseBatchNorm(standalone=True), text)
    assert_ir(after, expected)
    assert res.stats == {"fused": 0, "fused_mul_add": 0, "standalone": 1}
    # measured max abs diff 0 (s and shift are exact in f32 here); tolerance 1e-6
    assert_same_numerics(before, after, rtol=1e-6, atol=1e-6)


# -- against torch -----------------------------------------------------------------------
def _bn_consts(g: Graph, bn: torch.nn.modules.batchnorm._BatchNorm, name: str):
    f = lambda t: t.detach().numpy().astype(np.float32)
    return [
        g.add_const(f(bn.weight), f"{name}.weight", source=[name]),
        g.add_const(f(bn.bias), f"{name}.bias", source=[name]),
        g.add_const(f(bn.running_mean), f"{name}.running_mean", source=[name]),
        g.add_const(f(bn.running_var), f"{name}.running_var", source=[name]),
    ]


def _randomize(bn, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    n = bn.num_features
    with torch.no_grad():
        bn.weight.copy_(torch.rand(n, generator=gen) * 2 + 0.1)
        bn.bias.copy_(torch.randn(n, generator=gen))
        bn.running_mean.copy_(torch.randn(n, generator=gen))
        bn.running_var.copy_(torch.rand(n, generator=gen) * 3 + 0.05)
    bn.eval()


def _check_against_torch(g: Graph, module, x: np.ndarray, rtol: float, atol: float):
    verify(g)
    with torch.no_grad():
        ref = module(torch.from_numpy(x)).numpy()
    before = Interpreter(g).run({"x": x})[g.outputs[0].name]
    np.testing.assert_allclose(before, ref, rtol=rtol, atol=atol, err_msg="unfused vs torch")
    res = FuseBatchNorm().run(g, PassContext())
    verify(g)
    assert res.stats["fused"] == 1
    assert not g.find("batch_norm")
    after = Interpreter(g).run({"x": x})[g.outputs[0].name]
    np.testing.assert_allclose(after, ref, rtol=rtol, atol=atol, err_msg="fused vs torch")
    np.testing.assert_allclose(after, before, rtol=rtol, atol=atol, err_msg="fused vs unfused")
    return g


def _np(t) -> np.ndarray:
    return t.detach().numpy().astype(np.float32)


def test_conv_bn_matches_torch():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 8, 3, padding=1, stride=2, bias=True)
    bn = torch.nn.BatchNorm2d(8, eps=1e-3)
    _randomize(bn, 1)
    model = torch.nn.Sequential(conv, bn).eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 9)).astype(np.float32)

    g = Graph("convbn")
    xv = g.add_input("x", TensorType("f32", x.shape))
    w = g.add_const(_np(conv.weight), "conv1.weight", source=["conv1"])
    b = g.add_const(_np(conv.bias), "conv1.bias", source=["conv1"])
    c = g.add_node(
        "conv", [xv, w, b], {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [2, 2]},
        names=["c"], source=["conv1"],
    )
    y = g.add_node("batch_norm", [c.output, *_bn_consts(g, bn, "bn1")], {"epsilon": 1e-3},
                   names=["y"], source=["bn1"])
    g.outputs = [y.output]
    # f32 conv sums of 27 products against torch's: measured max abs diff 3.6e-7 (fused vs
    # torch) on outputs up to 2.3 (PYTHONPATH=. python3 measure script in the report);
    # 1e-5 leaves a >20x margin.
    _check_against_torch(g, model, x, rtol=1e-5, atol=1e-5)
    (conv_node,) = g.find("conv")
    assert conv_node.source == ("conv1", "bn1") and conv_node.output.name == "y"


def test_conv_transpose_grouped_bn_matches_torch():
    torch.manual_seed(1)
    deconv = torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    bn = torch.nn.BatchNorm2d(6)
    _randomize(bn, 2)
    model = torch.nn.Sequential(deconv, bn).eval()
    x = np.random.default_rng(1).standard_normal((1, 4, 5, 5)).astype(np.float32)

    g = Graph("deconvbn")
    xv = g.add_input("x", TensorType("f32", x.shape))
    w = g.add_const(_np(deconv.weight), "up.weight", source=["up"])
    b = g.add_const(_np(deconv.bias), "up.bias", source=["up"])
    c = g.add_node(
        "conv_transpose", [xv, w, b],
        {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [2, 2],
         "output_padding": [1, 1], "group": 2},
        names=["c"], source=["up"],
    )
    y = g.add_node("batch_norm", [c.output, *_bn_consts(g, bn, "bn")], {"epsilon": 1e-5},
                   names=["y"], source=["bn"])
    g.outputs = [y.output]
    # measured max abs diff 4.8e-7 fused vs torch (outputs up to 4.1); tolerance 1e-5
    _check_against_torch(g, model, x, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("trans_b", [0, 1])
def test_gemm_bn_matches_torch(trans_b: int):
    torch.manual_seed(2)
    fc = torch.nn.Linear(5, 7)
    bn = torch.nn.BatchNorm1d(7)
    _randomize(bn, 3)
    x = np.random.default_rng(2).standard_normal((4, 5)).astype(np.float32)
    alpha, beta = 0.5, 2.0

    class Ref(torch.nn.Module):
        def forward(self, a):  # alpha*A@W^T + beta*b, then BN
            return bn(torch.addmm(fc.bias, a, fc.weight.t(), beta=beta, alpha=alpha))

    g = Graph("gemmbn")
    xv = g.add_input("x", TensorType("f32", x.shape))
    wt = _np(fc.weight) if trans_b else _np(fc.weight).T.copy()
    w = g.add_const(wt, "fc.weight", source=["fc"])
    b = g.add_const(_np(fc.bias), "fc.bias", source=["fc"])
    c = g.add_node("gemm", [xv, w, b], {"alpha": alpha, "beta": beta, "transB": trans_b},
                   names=["c"], source=["fc"])
    y = g.add_node("batch_norm", [c.output, *_bn_consts(g, bn, "bn")], {}, names=["y"], source=["bn"])
    g.outputs = [y.output]
    # 5-term dot products: measured max abs diff 1.8e-7 fused vs torch (outputs up to 4.3);
    # tolerance 1e-5
    _check_against_torch(g, Ref().eval(), x, rtol=1e-5, atol=1e-5)
    (gemm,) = g.find("gemm")
    assert gemm.attrs["beta"] == 1.0


def test_matmul_const_weight_bn_matches_torch():
    torch.manual_seed(3)
    fc = torch.nn.Linear(6, 3, bias=False)
    bn = torch.nn.BatchNorm1d(3)
    _randomize(bn, 4)
    model = torch.nn.Sequential(fc, bn).eval()
    x = np.random.default_rng(3).standard_normal((5, 6)).astype(np.float32)

    g = Graph("mmbn")
    xv = g.add_input("x", TensorType("f32", x.shape))
    w = g.add_const(_np(fc.weight).T.copy(), "fc.weight", source=["fc"])
    c = g.add_node("matmul", [xv, w], {}, names=["c"], source=["fc"])
    y = g.add_node("batch_norm", [c.output, *_bn_consts(g, bn, "bn")], {}, names=["y"], source=["bn"])
    g.outputs = [y.output]
    # measured max abs diff 1.2e-7 fused vs torch (outputs up to 2.3); tolerance 1e-5
    _check_against_torch(g, model, x, rtol=1e-5, atol=1e-5)
    assert [n.op for n in g.nodes] == ["const", "matmul", "const", "add"]
    assert g.find("add")[0].output.name == "y"
    assert g.find("add")[0].source == ("fc", "bn")


def test_matmul_nonconst_weight_not_fused():
    text = """
graph @g(%x: f32[4,3], %w: f32[3,2]) -> (f32[4,2]) {
  %p: f32[2] = const() {value=dense<f32[2] [1.0, 1.0]>}
  %c: f32[4,2] = matmul(%x, %w)
  %y: f32[4,2] = batch_norm(%c, %p, %p, %p, %p)
  return %y
}
"""
    _, after, res = apply(FuseBatchNorm(), text)
    assert not res.modified
    assert_ir(after, text)


# -- batch norm already decomposed into per-channel mul / add ---------------------------------

AFFINE_IR = """graph @g(%x: f32[1,2,4,4]) -> (f32[1,3,4,4]) {
  %w: f32[3,2,1,1] = const() {value=dense<f32[3,2,1,1] [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]>}  // conv.weight
  %c: f32[1,3,4,4] = conv(%x, %w)  // conv
  %s: f32[1,3,1,1] = const() {value=dense<f32[1,3,1,1] [0.5, -2.0, 4.0]>}  // bn.scale
  %m: f32[1,3,4,4] = mul(%c, %s)  // bn/mul
  %t: f32[3,1,1] = const() {value=dense<f32[3,1,1] [1.0, 2.0, 3.0]>}  // bn.shift
  %y: f32[1,3,4,4] = add(%m, %t)  // bn/add
  return %y
}"""


def test_per_channel_mul_add_fold_into_conv():
    g = parse_graph(AFFINE_IR)
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 4)).astype(np.float32)
    before = Interpreter(g).run({"x": x})["y"]
    # independent reference: the same arithmetic in numpy (1x1 conv = channel matmul)
    w = np.arange(1, 7, dtype=np.float64).reshape(3, 2)
    ref = np.einsum("oc,nchw->nohw", w, x) * np.array([0.5, -2.0, 4.0])[None, :, None, None]
    ref += np.array([1.0, 2.0, 3.0])[None, :, None, None]
    np.testing.assert_allclose(before, ref, rtol=1e-6, atol=1e-6)
    res = FuseBatchNorm().run(g, PassContext())
    verify(g)
    assert res.stats["fused_mul_add"] == 2
    assert [n.op for n in g.nodes if n.op != "const"] == ["conv"]
    conv = g.find("conv")[0]
    assert conv.source == ("conv", "bn/mul", "bn/add")
    assert conv.output.name == "y"
    np.testing.assert_allclose(Interpreter(g).run({"x": x})["y"], ref, rtol=1e-6, atol=1e-5)


def test_mul_varying_along_space_is_not_folded():
    text = AFFINE_IR.replace(
        "%s: f32[1,3,1,1] = const() {value=dense<f32[1,3,1,1] [0.5, -2.0, 4.0]>}",
        "%s: f32[1,1,4,1] = const() {value=dense<f32[1,1,4,1] [0.5, -2.0, 4.0, 1.0]>}",
    )
    g = parse_graph(text)
    res = FuseBatchNorm().run(g, PassContext())
    # the mul is not per-channel, and the add then reads the mul rather than the conv
    assert res.stats["fused_mul_add"] == 0 and not res.modified
    assert [n.op for n in g.nodes if n.op != "const"] == ["conv", "mul", "add"]
