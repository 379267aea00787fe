"""fuse-matmul-add on hand-written IR (numerics checked by the interpreter before/after) and
on a Keras Dense layer, whose TFLite file then has one FULLY_CONNECTED and no ADD."""

from __future__ import annotations

import numpy as np

from compiler.ir import parse_graph, print_graph
from passes.fusion.fuse_matmul_add import FuseMatmulAdd
from tests.support.pass_checks import apply, assert_same_numerics

FUSABLE = """
graph @g(%x: f32[N,3]) -> (f32[N,2]) {
  %w: f32[3,2] = const() {value=dense<f32[3,2] [0.5, -1.0, 2.0, 0.25, -0.75, 1.5]>}
  %b: f32[1,2] = const() {value=dense<f32[1,2] [0.125, -3.0]>}
  %m: f32[N,2] = matmul(%x, %w)  // dense
  %y: f32[N,2] = add(%b, %m) {activation="relu"}  // dense_bias
  return %y
}
"""


def test_fuses_bias_add_into_gemm_and_keeps_output_name():
    before, after, res = apply(FuseMatmulAdd(), FUSABLE)
    assert res.modified and res.stats["fused"] == 1
    ops = [n.op for n in after.nodes if n.op != "const"]
    assert ops == ["gemm"]
    gemm = after.nodes[-1]
    assert gemm.outputs[0].name == "y" and gemm.attrs["activation"] == "relu"
    assert set(gemm.source) == {"dense", "dense_bias"}
    assert gemm.input(2).type.shape == (2,)
    # gemm adds the bias after the same dot products: equal up to float32 rounding
    assert_same_numerics(before, after, rtol=1e-6, atol=1e-6)


def test_leaves_unfusable_patterns():
    for text in (
        FUSABLE.replace("%b: f32[1,2]", "%b: f32[2,2]").replace("dense<f32[1,2] [0.125, -3.0]>",
                                                                "dense<f32[2,2] [1.0, 2.0, 3.0, 4.0]>")
        .replace("(%x: f32[N,3])", "(%x: f32[2,3])").replace("f32[N,2]", "f32[2,2]"),
        # the matmul output is read twice
        FUSABLE.replace("return %y", "%z: f32[N,2] = relu(%m)\n  return %y, %z")
        .replace("-> (f32[N,2])", "-> (f32[N,2], f32[N,2])"),
    ):
        g = parse_graph(text)
        before = print_graph(g)
        assert not FuseMatmulAdd().run(g, None).modified
        assert print_graph(g) == before


def test_keras_dense_emits_one_fully_connected(tmp_path):
    import tensorflow as tf

    import compiler
    from tests.support.oracles import op_counts

    tf.keras.utils.set_random_seed(0)
    m = tf.keras.Sequential([tf.keras.Input((6,)), tf.keras.layers.Dense(4, activation="relu"),
                             tf.keras.layers.Dense(3)])
    r = compiler.compile(m, "tflite")
    ops = op_counts(r.data)
    assert ops == {"FULLY_CONNECTED": 2}, ops
    x = np.random.default_rng(0).standard_normal((1, 6)).astype(np.float32)
    from tests.support.oracles import run_litert

    got = next(iter(run_litert(r.data, {r.graph.inputs[0].name: x}).values()))
    np.testing.assert_allclose(got, m(x).numpy(), rtol=1e-5, atol=1e-6)  # measured ~1e-7
