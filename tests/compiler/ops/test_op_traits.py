"""Op traits on the schemas (compiler/ops/traits.py) and the passes that read them.

Expected values are written out here from the ops' definitions (ONNX layouts), not read
from the schemas; the consumer tests check that fuse-batchnorm, bias correction and the
quantize pass act along the axis the trait names, by running the graphs.
"""

from __future__ import annotations

import numpy as np
import pytest

from compiler.interpreter import Interpreter
from compiler.ir import Graph, TensorType
from compiler.ops import all_schemas, get_schema
from compiler.ops import registry
from compiler.ops.registry import defop, is_pure, same_as_input
from compiler.pass_manager import PassContext, PassManager
from compiler.stats import node_flops

f32 = lambda *s: TensorType("f32", s)  # noqa: E731


# -- the traits themselves -------------------------------------------------------------------
@pytest.mark.parametrize("op, attrs, axes, bias", [
    ("conv", {}, {1: 0}, 2),                       # W [M, C/g, k...]
    ("conv_transpose", {}, {1: 1}, 2),             # W [C, M/g, k...]
    ("gemm", {"transB": 0}, {1: 1}, 2),            # B [K, N]
    ("gemm", {"transB": 1}, {1: 0}, 2),            # B [N, K]
    ("gemm", {}, {1: 1}, 2),                       # transB defaults to 0
    ("matmul", {}, {1: -1}, None),                 # B [..., K, N]
    ("add", {}, {}, None),
    ("batch_norm", {}, {}, None),
    ("relu", {}, {}, None),
])
def test_weights_and_bias(op, attrs, axes, bias):
    s = get_schema(op)
    assert s.weight_axes(attrs) == axes
    assert s.bias == bias


def test_fused_activation_is_the_activation_attribute():
    takes = {n for n, s in all_schemas().items() if s.fused_activation}
    assert takes == {"conv", "conv_transpose", "gemm", "matmul", "add", "sub", "mul", "div"}


@pytest.mark.parametrize("op, role, n_inputs, data", [
    ("conv", "compute", 3, [0]),
    ("gemm", "compute", 3, [0]),
    ("matmul", "compute", 2, [0, 1]),
    ("add", "compute", 2, [0, 1]),
    ("mul", "compute", 2, [0, 1]),
    ("div", "compute", 2, [0]),
    ("prelu", "compute", 2, [0, 1]),
    ("avg_pool", "compute", 1, [0]),
    ("global_avg_pool", "compute", 1, [0]),
    ("reduce_mean", "compute", 2, [0]),
    ("relu", "compute", 1, [0]),
    ("clip", "compute", 3, [0]),
    ("hard_swish", "compute", 1, [0]),
    ("max_pool", "same_scale", 1, [0]),
    ("reduce_max", "same_scale", 2, [0]),
    ("reshape", "same_scale", 2, [0]),
    ("transpose", "same_scale", 1, [0]),
    ("space_to_depth", "same_scale", 1, [0]),
    ("concat", "same_scale", 3, [0, 1, 2]),
    ("sigmoid", "fixed_range", 1, [0]),
    ("softmax", "fixed_range", 1, [0]),
    ("tanh", "fixed_range", 1, [0]),
    ("identity", "none", 1, []),
    ("exp", "none", 1, []),
    ("reduce_min", "none", 2, []),
])
def test_quant_role_and_data_inputs(op, role, n_inputs, data):
    s = get_schema(op)
    assert s.quant_role == role
    assert s.data_inputs(n_inputs) == data


def test_bad_trait_values_are_refused_at_registration():
    with pytest.raises(ValueError, match="quant_role"):
        defop("bad_role_op", inputs=("x",), infer=same_as_input(0), quant_role="sometimes")
    with pytest.raises(ValueError, match="cost"):
        defop("bad_cost_op", inputs=("x",), infer=same_as_input(0), cost="lots")
    assert get_schema("bad_role_op") is None and get_schema("bad_cost_op") is None


# -- pure ------------------------------------------------------------------------------------
@pytest.fixture
def random_op(monkeypatch):
    """A plugin-style op whose result differs from run to run, registered for one test."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry.all_schemas()))

    @defop("test_random_like", inputs=("x",), infer=same_as_input(0), pure=False)
    def kernel(inputs, attrs):
        return np.random.default_rng().random(inputs[0].shape).astype(inputs[0].dtype)

    return "test_random_like"


def test_builtin_ops_are_pure_and_unknown_ops_are_not():
    assert all(s.pure for s in all_schemas().values())
    assert is_pure("add") and not is_pure("no_such_op")


def test_impure_op_is_neither_merged_nor_folded(random_op):
    assert not is_pure(random_op)
    g = Graph("rnd")
    x = g.add_input("x", f32(4))
    c = g.add_const(np.ones(4, np.float32), "c")
    r1 = g.add_node(random_op, [x], names=["r1"]).output
    r2 = g.add_node(random_op, [x], names=["r2"]).output
    r3 = g.add_node(random_op, [c], names=["r3"]).output
    s1 = g.add_node("add", [r1, r2], names=["s1"]).output
    g.outputs = [g.add_node("add", [s1, r3], names=["y"]).output]
    PassManager("cse,fold-constants").run(g, PassContext())
    assert len(g.find(random_op)) == 3  # not merged (r1, r2) and not folded (r3)

    # the same graph with a pure op is merged and folded: the test can fail
    h = Graph("pure")
    x = h.add_input("x", f32(4))
    c = h.add_const(np.ones(4, np.float32), "c")
    r1 = h.add_node("exp", [x], names=["r1"]).output
    r2 = h.add_node("exp", [x], names=["r2"]).output
    r3 = h.add_node("exp", [c], names=["r3"]).output
    s1 = h.add_node("add", [r1, r2], names=["s1"]).output
    h.outputs = [h.add_node("add", [s1, r3], names=["y"]).output]
    PassManager("cse,fold-constants").run(h, PassContext())
    assert len(h.find("exp")) == 1


# -- cost ------------------------------------------------------------------------------------
def _one(op, in_shape, out_shape, attrs=None, extra=()):
    g = Graph("cost")
    x = g.add_input("x", f32(*in_shape))
    ins = [x, *[g.add_const(np.ones(s, np.float32), f"c{i}") for i, s in enumerate(extra)]]
    return g.add_node(op, ins, attrs or {}, out_types=[f32(*out_shape)], names=["y"])


@pytest.mark.parametrize("op, in_shape, out_shape, attrs, extra, flops", [
    ("relu", (2, 3), (2, 3), {}, (), 6),                                  # 1 per element
    ("softmax", (2, 5), (2, 5), {}, (), 30),                              # 3 per element
    ("layer_norm", (2, 4), (2, 4), {}, ((4,),), 16),                      # 2 per element
    ("batch_norm", (1, 2, 3, 3), (1, 2, 3, 3), {}, ((2,),) * 4, 36),
    ("avg_pool", (1, 1, 4, 4), (1, 1, 2, 2), {"kernel_shape": [2, 2], "strides": [2, 2]},
     (), 16),                                                             # window per output
    ("global_avg_pool", (1, 2, 3, 3), (1, 2, 1, 1), {}, (), 18),          # input elements
    ("transpose", (2, 3), (3, 2), {}, (), 0),                             # data movement
])
def test_flops_follow_the_cost_trait(op, in_shape, out_shape, attrs, extra, flops):
    node = _one(op, in_shape, out_shape, attrs, extra)
    assert node_flops(node) == (flops, 0)


def test_unknown_output_shape_is_uncounted_even_for_data_movement():
    g = Graph("sym")
    x = g.add_input("x", TensorType("f32", ("N", 3)))
    node = g.add_node("transpose", [x], {}, names=["t"])
    assert node_flops(node) is None


def test_bytes_count_each_tensor_once():
    # conv x[1,3,8,8] f32 (768 B) * w[4,3,3,3] f32 (432 B) + b[4] f32 (16 B) -> y[1,4,8,8]
    # f32 (1024 B): 2240 bytes, written out by hand from the shapes.
    g = Graph("conv_bytes")
    x = g.add_input("x", f32(1, 3, 8, 8))
    w = g.add_const(np.zeros((4, 3, 3, 3), np.float32), "w")
    b = g.add_const(np.zeros(4, np.float32), "b")
    node = g.add_node("conv", [x, w, b], {"pads": [1, 1, 1, 1]}, names=["y"])
    assert get_schema("conv").bytes(node) == 768 + 432 + 16 + 1024
    # an absent optional input counts nothing; int8 elements are one byte each
    q = g.add_input("q", TensorType("i8", (5, 7)))
    assert get_schema("relu").bytes(g.add_node("relu", [q], {}, names=["r"])) == 35 + 35
    # i4: half a byte per element, rounded up per tensor (7 elements -> 4 bytes)
    h = g.add_input("h", TensorType("i4", (7,)))
    assert get_schema("identity").bytes(g.add_node("identity", [h], {}, names=["i"])) == 8
    sym = g.add_input("s", TensorType("f32", ("N", 3)))
    assert get_schema("relu").bytes(g.add_node("relu", [sym], {}, names=["rs"])) is None


# -- consumers read the same axis ------------------------------------------------------------
def _gemm_bn_graph(trans_b: int, rng):
    g = Graph(f"gemm_bn{trans_b}")
    x = g.add_input("x", f32(3, 5))
    w = rng.standard_normal((4, 5) if trans_b else (5, 4)).astype(np.float32)
    wv = g.add_const(w, "w")
    bv = g.add_const(rng.standard_normal(4).astype(np.float32), "b")
    y = g.add_node("gemm", [x, wv, bv], {"transB": trans_b}, names=["y"]).output
    consts = [g.add_const(a.astype(np.float32), n) for n, a in (
        ("gamma", rng.uniform(0.5, 2, 4)), ("beta", rng.standard_normal(4)),
        ("mean", rng.standard_normal(4)), ("var", rng.uniform(0.5, 2, 4)))]
    g.outputs = [g.add_node("batch_norm", [y, *consts], names=["bn"]).output]
    return g


@pytest.mark.parametrize("trans_b", [0, 1])
def test_fuse_batchnorm_scales_gemm_weight_along_the_trait_axis(trans_b):
    rng = np.random.default_rng(trans_b)
    g = _gemm_bn_graph(trans_b, rng)
    x = rng.standard_normal((3, 5)).astype(np.float32)
    want = Interpreter(g).run({"x": x})["bn"]
    w_before = g.value("w").const_value.copy()
    PassManager("fuse-batchnorm").run(g, PassContext())
    assert not g.find("batch_norm")
    np.testing.assert_allclose(Interpreter(g).run({"x": x})["bn"], want, rtol=1e-5, atol=1e-5)
    gemm = g.find("gemm")[0]
    w_after = gemm.input(1).const_value
    axis = get_schema("gemm").weight_axes(gemm.attrs)[1]
    ratio = w_after / w_before  # one factor per output channel, along the trait's axis
    other = 1 - axis
    np.testing.assert_allclose(ratio, np.take(ratio, [0], axis=other).repeat(5, axis=other),
                               rtol=1e-5)


@pytest.mark.parametrize("trans_b", [0, 1])
def test_bias_correction_and_quantize_use_the_trait_axis(trans_b):
    from compiler.quantization import calibrate, quantize_graph
    from compiler.quantization.bias_correction import output_shift

    rng = np.random.default_rng(10 + trans_b)
    g = Graph(f"gemm{trans_b}")
    x = g.add_input("x", f32(8, 5))
    w = rng.standard_normal((4, 5) if trans_b else (5, 4)).astype(np.float32)
    y = g.add_node("gemm", [x, g.add_const(w, "w"), g.add_const(np.zeros(4, np.float32), "b")],
                   {"transB": trans_b}, names=["y"]).output
    g.outputs = [y]
    node = g.find("gemm")[0]

    # bias correction: the default axis is the trait's, and it is the right one (y = x @ B)
    dw = rng.standard_normal(w.shape)
    mean = rng.standard_normal(5)
    want = mean @ (dw.T if trans_b else dw)
    np.testing.assert_allclose(output_shift(node, dw, mean), want)

    # quantize: per-channel weight scales along the trait's axis: one per output channel
    xs = [rng.standard_normal((8, 5)).astype(np.float32) for _ in range(4)]
    st = calibrate(g, xs, progress=False)
    s = quantize_graph(g, st)
    qp = s.weights["w"]
    assert qp.axis == (0 if trans_b else 1) and len(qp.scale) == 4
    np.testing.assert_allclose(qp.scale, np.abs(w).max(axis=1 - qp.axis) / 127, rtol=1e-6)
