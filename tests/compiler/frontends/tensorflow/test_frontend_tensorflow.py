"""TensorFlow / Keras frontend against TensorFlow itself (seeded inputs, measured tolerances).

Each case prints max abs / max rel error with ``-s``. Keras applications are built with
``weights=None`` after ``keras.utils.set_random_seed(0)`` and ``classifier_activation=None``
so the compared outputs are logits (softmax of random weights is nearly flat and would hide
errors).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from compiler.errors import ModelLoadError, UnsupportedOpsError
from compiler.interpreter import run_graph
from compiler.ir import verify
from tests.conftest import model_path

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from compiler.frontends.tensorflow import TFImportError, load_tensorflow


def _errs(got: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    abs_err = float(np.abs(got - ref).max())
    return abs_err, abs_err / max(float(np.abs(ref).max()), 1e-12)


def _count(g, op: str) -> int:
    return sum(1 for n in g.nodes if n.op == op)


def _run_nhwc(g, x_nhwc: np.ndarray, layout: str) -> np.ndarray:
    feed = x_nhwc.transpose(0, 3, 1, 2) if layout == "NCHW" else x_nhwc
    return next(iter(run_graph(g, {g.inputs[0].name: feed}).values()))


def _check_app(name: str, tol_rel: float) -> None:
    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, name)(weights=None, classifier_activation=None)
    x = np.random.default_rng(0).uniform(0, 255, (1, 224, 224, 3)).astype(np.float32)
    ref = model(x, training=False).numpy()
    for layout in ("NCHW", "NHWC"):
        g = load_tensorflow(model, layout=layout)
        verify(g)
        got = _run_nhwc(g, x, layout)
        a, r = _errs(got, ref)
        print(f"{name} {layout}: max abs {a:.3g}, max rel {r:.3g}, transposes {_count(g, 'transpose')}")
        assert r < tol_rel
        # Layout guarantee: classifier output is 2-D, so NCHW has no transpose at all and
        # NHWC only the one after the input.
        assert _count(g, "transpose") == (0 if layout == "NCHW" else 1)
        if layout == "NCHW":
            # Keras's unknown batch dim stays dynamic
            assert g.inputs[0].type.shape == ("N", 3, 224, 224)


def test_mobilenet_v2():
    # measured: max rel err ~1e-6 (float32 summation order)
    _check_app("MobileNetV2", 1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ResNet50", "EfficientNetB0", "DenseNet121"])
def test_keras_applications_slow(name):
    _check_app(name, 1e-4)


def test_fer_hdf5_mini_xception():
    path = model_path("keras/fer/emotion_model.hdf5")
    model = keras.models.load_model(str(path), compile=False)
    g = load_tensorflow(path)
    verify(g)
    x = np.random.default_rng(1).uniform(-1, 1, (1, 64, 64, 1)).astype(np.float32)
    ref = model(x, training=False).numpy()
    got = _run_nhwc(g, x, "NCHW")
    a, r = _errs(got, ref)
    print(f"emotion_model: max abs {a:.3g}, max rel {r:.3g}")
    assert a < 1e-5  # measured ~5e-7 on softmax probabilities
    assert _count(g, "transpose") == 0
    assert g.inputs[0].type.shape == ("N", 1, 64, 64)  # the .hdf5's batch stays dynamic
    convs = [n for n in g.nodes if n.op == "conv"]
    assert convs[0].source == ("conv2d_1",)
    assert any(n.source == ("separable_conv2d_1",) for n in convs)


def test_basic_pitch_savedmodel_tf1():
    path = model_path("tf_savedmodel/basic-pitch/nmp")
    g = load_tensorflow(path)
    verify(g)
    x = np.random.default_rng(2).uniform(-0.5, 0.5, (1, 43844, 1)).astype(np.float32)
    with tf.Graph().as_default() as tg, tf.compat.v1.Session(graph=tg) as sess:
        meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], str(path))
        sd = meta.signature_def["serving_default"]
        keys = sorted(sd.outputs)
        refs = sess.run([sd.outputs[k].name for k in keys], {sd.inputs["input_2"].name: x})
    out = run_graph(g, {g.inputs[0].name: x})
    assert [v.name for v in g.outputs] == keys
    for k, ref in zip(keys, refs):
        a, r = _errs(out[k], ref)
        print(f"basic-pitch {k}: max abs {a:.3g}, max rel {r:.3g}")
        assert a < 1e-4  # measured ~1e-6 (sigmoid outputs in [0, 1])


def _small_keras_model():
    keras.utils.set_random_seed(3)
    inp = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="c1")(inp)
    y = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    y = keras.layers.BatchNormalization(name="bn")(y)
    y = keras.layers.LeakyReLU(0.1, name="lrelu")(y)
    x = keras.layers.Concatenate(name="cat")([x, y])
    x = keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same", name="up")(x)
    x = keras.layers.UpSampling2D(2, interpolation="bilinear", name="ups")(x)
    x = keras.layers.AveragePooling2D(2, name="avg")(x)
    x = keras.layers.ZeroPadding2D(1, name="zp")(x)
    x = keras.layers.Conv2D(5, 3, padding="valid", activation="sigmoid", name="c2")(x)
    return keras.Model(inp, x)


def test_frozen_pb_and_4d_output(tmp_path):
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    model = _small_keras_model()
    # randomize BN statistics so the test sees them
    bn = model.get_layer("bn")
    rng = np.random.default_rng(4)
    bn.set_weights([rng.uniform(0.5, 1.5, 8), rng.normal(0, 0.1, 8), rng.normal(0, 0.1, 8), rng.uniform(0.5, 2, 8)])
    fn = tf.function(lambda x: model(x, training=False))
    cf = fn.get_concrete_function(tf.TensorSpec([1, 32, 32, 3], tf.float32))
    frozen = convert_variables_to_constants_v2(cf)
    pb = tmp_path / "small.pb"
    pb.write_bytes(frozen.graph.as_graph_def().SerializeToString())
    x = rng.uniform(-1, 1, (1, 32, 32, 3)).astype(np.float32)
    ref = model(x, training=False).numpy()
    for layout in ("NCHW", "NHWC"):
        g = load_tensorflow(pb, layout=layout)
        verify(g)
        got = _run_nhwc(g, x, layout)
        a, r = _errs(got, ref)
        print(f"small.pb {layout}: max abs {a:.3g}, max rel {r:.3g}, transposes {_count(g, 'transpose')}")
        assert a < 1e-5  # measured ~1e-7
        # one transpose before the 4-D output; NHWC adds one after the input
        assert _count(g, "transpose") == (1 if layout == "NCHW" else 2)
    # the Keras object path gives the same graph semantics
    g = load_tensorflow(model)
    a, _ = _errs(_run_nhwc(g, x, "NCHW"), ref)
    assert a < 1e-5


def test_keras_variables_inlined_or_converted():
    """A flat Keras trace has its variable reads replaced by constants directly; a trace
    with a nested function falls back to TF's convert_variables_to_constants_v2. Both load
    to graphs that compute what Keras does."""
    from compiler.frontends.tensorflow.loader import _inline_variables

    class Scaled(keras.layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1],), initializer="random_normal", name="w")

        @tf.function
        def call(self, x):  # a function inside the trace: a library function in the GraphDef
            return x * self.w

    keras.utils.set_random_seed(5)
    inp = keras.Input((6,), name="v")
    flat = keras.Model(inp, keras.layers.Dense(4, name="d")(inp))
    nested = keras.Model(inp, Scaled(name="s")(keras.layers.Dense(4, name="d2")(inp)))
    x = np.random.default_rng(5).normal(size=(1, 6)).astype(np.float32)
    for model, inlined in ((flat, True), (nested, False)):
        fn = tf.function(lambda t, m=model: m(t, training=False))
        cf = fn.get_concrete_function(tf.TensorSpec([1, 6], tf.float32))
        assert (_inline_variables(cf) is not None) == inlined, model
        g = load_tensorflow(model)
        got = run_graph(g, {"v": x})
        (out,) = got.values()
        np.testing.assert_allclose(out, model(x).numpy(), rtol=1e-6, atol=1e-6)


def test_unsupported_ops_listed_with_layers():
    inp = keras.Input((8,), name="v")
    x = keras.layers.Lambda(lambda t: tf.math.cumprod(t, axis=1), name="cp")(inp)
    x = keras.layers.Lambda(lambda t: tf.math.bessel_i0e(t), name="bessel_a")(x)
    x = keras.layers.Lambda(lambda t: tf.math.bessel_i0e(t), name="bessel_b")(x)
    model = keras.Model(inp, x)
    with pytest.raises(UnsupportedOpsError) as ei:
        load_tensorflow(model)
    err = ei.value
    assert set(err.unsupported) == {"Cumprod", "BesselI0e"}
    layers = " ".join(err.unsupported["BesselI0e"])
    assert "bessel_a" in layers and "bessel_b" in layers


def test_missing_file_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="no such file"):
        load_tensorflow(tmp_path / "nope.keras")
    bad = tmp_path / "bad.pb"
    bad.write_bytes(b"\x00garbage\xff" * 10)
    with pytest.raises(ModelLoadError):
        load_tensorflow(bad)
    with pytest.raises(ModelLoadError, match="saved_model.pb"):
        load_tensorflow(tmp_path)


def test_shape_ops_frozen_graph(tmp_path):
    """SYMMETRIC MirrorPad, StridedSlice masks, Pack/Unpack, GatherV2, nearest resize."""
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    def f(x):
        a = tf.pad(x, [[0, 0], [2, 1], [1, 0]], mode="SYMMETRIC")
        b = a[:, ::-2, tf.newaxis, 1:]
        c = x[..., -1]
        u0, u1 = tf.unstack(tf.stack([c, c * 2], axis=-1), axis=-1)
        e = tf.gather(x, [2, 0, 1, 1, 3], axis=1)
        r = tf.image.resize(x[..., None], [7, 9], method="nearest")[..., 0]
        return tf.reduce_sum(b, axis=[1, 2]), u0 - u1 + tf.reduce_max(e, axis=2), r

    cf = tf.function(f).get_concrete_function(tf.TensorSpec([2, 5, 4], tf.float32))
    pb = tmp_path / "ops.pb"
    pb.write_bytes(convert_variables_to_constants_v2(cf).graph.as_graph_def().SerializeToString())
    g = load_tensorflow(pb)
    verify(g)
    x = np.random.default_rng(5).standard_normal((2, 5, 4)).astype(np.float32)
    refs = [r.numpy() for r in f(tf.constant(x))]
    out = run_graph(g, {g.inputs[0].name: x})
    for v, ref in zip(g.outputs, refs):
        a, _ = _errs(out[v.name], ref)
        assert out[v.name].shape == ref.shape
        assert a < 1e-6  # measured 0.0: pure data movement and exact sums of few terms


def test_symbolic_input_shapes_stay_dynamic():
    keras.utils.set_random_seed(5)
    inp = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    out = keras.layers.Dense(2)(keras.layers.Flatten()(x))
    model = keras.Model(inp, out)
    g = load_tensorflow(model, input_shapes={"image": ["B", 8, 8, 3]}, layout="NHWC")
    verify(g)
    assert g.inputs[0].type.shape == ("B", 8, 8, 3)
    x = np.random.default_rng(5).standard_normal((3, 8, 8, 3)).astype(np.float32)
    a, _ = _errs(_run_nhwc(g, x, "NHWC"), model(x, training=False).numpy())
    assert a < 1e-5  # measured ~2e-7


def test_a_batch_asked_dynamic_is_not_fixed_silently():
    """The model's own unknown batch becomes 1 where a lowering needs it (the
    Conv2DTranspose's output shape; test_frozen_pb_and_4d_output), but not one the caller
    asked to be dynamic."""
    with pytest.raises(TFImportError, match="Conv2DBackpropInput"):
        load_tensorflow(_small_keras_model(), input_shapes={"image": ["N", 32, 32, 3]})
