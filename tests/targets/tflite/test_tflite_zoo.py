"""The frontend test zoo compiled to .tflite (``compiler.compile(..., target="tflite")``) and run
in LiteRT, compared with infercc's reference interpreter on the same optimised IR and, where
cheap, with the source framework (torch for the torch modules, onnxruntime for the ONNX files).

Errors are max |diff| / max |reference| over every output on one seeded input. The bounds are
the measured errors with room for a different kernel choice (XNNPACK vs reference kernels):
measured values are stated next to each case. Models the TFLite target cannot express are
strict xfails whose reason is the emitter's own message.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert")
torch = pytest.importorskip("torch")

import compiler  # noqa: E402
from compiler.interpreter import run_graph  # noqa: E402
from tests.conftest import model_path  # noqa: E402
from tests.support.models_torch import (  # noqa: E402
    EfficientNetLite0,
    MobileNetV3Like,
    ResNetLike,
    TransformerNet,
)
from tests.support.oracles import run_litert_list  # noqa: E402


def _rel(a: np.ndarray, b: np.ndarray, floor: float = 1e-6) -> float:
    """max |a - b| / max(max |b|, floor): relative, or absolute-over-floor for tiny outputs."""
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = max(float(np.abs(b).max()), floor)
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max()) / scale


def _inputs(g, values: dict | None = None) -> list[np.ndarray]:
    """Seeded uniform float inputs; ``values`` gives fixed inputs by name (e.g. a sample
    rate)."""
    r = np.random.default_rng(0)
    values = values or {}
    return [values[v.name] if v.name in values else
            r.uniform(-1, 1, [d if isinstance(d, int) else 1 for d in v.type.shape])
            .astype(np.float32) for v in g.inputs]


def _check(model, tol: float, floor: float = 1e-6, values: dict | None = None,
           **load_options) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Compile ``model``, run LiteRT and the IR interpreter, assert rel error <= tol."""
    res = compiler.compile(model, target="tflite", **load_options)
    g = res.graph
    xs = _inputs(g, values)
    got = run_litert_list(res.data, xs)
    ref = run_graph(g, {v.name: x for v, x in zip(g.inputs, xs)})
    want = [ref[v.name] for v in g.outputs]
    assert len(got) == len(want)
    errs = [_rel(a, b, floor) for a, b in zip(got, want)]
    print(f"LiteRT vs IR interpreter: max rel {max(errs):.3g}")
    assert max(errs) <= tol, errs
    return xs, got


# -- torch modules (also compared with torch itself) ----------------------------------------

def _seeded(cls):
    torch.manual_seed(0)
    return cls().eval()


def _efficientnet_lite0():
    m = EfficientNetLite0()
    sd = torch.load(model_path("pytorch/efficientnet-lite0/efficientnet-lite0-57934424.pth"),
                    map_location="cpu", weights_only=True)
    m.load_state_dict(sd, strict=True)
    return m.eval()


# (id, module factory, input shape, tol vs IR interpreter, tol vs torch). Measured max rel
# errors vs the IR interpreter / vs torch: ResNet-like 5.3e-7 / 5.3e-7, MobileNetV3-like
# 3.7e-7 / 3.7e-7, transformer 1.7e-7 / 1.9e-7, EfficientNet-Lite0 (pretrained) 1.2e-6 /
# 1.3e-6.
TORCH_CASES = [
    pytest.param(lambda: _seeded(ResNetLike), (2, 3, 64, 64), 1e-5, 1e-5, id="resnet_like"),
    pytest.param(lambda: _seeded(MobileNetV3Like), (2, 3, 64, 64), 1e-5, 1e-5,
                 id="mobilenetv3_like"),
    pytest.param(lambda: _seeded(TransformerNet), (2, 10, 12), 1e-5, 1e-5, id="transformer"),
    pytest.param(_efficientnet_lite0, (1, 3, 224, 224), 1e-5, 1e-5, id="efficientnet_lite0",
                 marks=pytest.mark.slow),
]


@pytest.mark.parametrize("factory,shape,tol,tol_src", TORCH_CASES)
def test_torch_zoo(factory, shape, tol, tol_src):
    m = factory()
    example = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    xs, got = _check(m, tol, example_inputs=(example,))
    with torch.no_grad():
        ref = m(torch.from_numpy(xs[0])).numpy()
    err = _rel(got[0], ref)
    print(f"LiteRT vs torch: max rel {err:.3g}")
    assert err <= tol_src


# -- files -----------------------------------------------------------------------------------

# silero-vad's three `if`s test whether the encoder output has one frame and whether the
# batch is 1; `resolve-shapes` decides them once the input shapes are fixed (one 512-sample
# chunk at 16 kHz, batch 1, as the model is streamed), so `input_shapes` is part of the case.
# `sr` is an int64 input (the sample rate) and stays one in the .tflite.
SILERO_SHAPES = {"input": (1, 512), "state": (2, 1, 128)}
SILERO_VALUES = {"sr": np.array(16000, np.int64)}

# (id, path under ../shared/models, load options, tol vs IR interpreter and vs
# onnxruntime). Measured max rel errors vs the IR interpreter / vs onnxruntime: fer 6.5e-7,
# open_nsfw 5.1e-7, ppocr cls 1.1e-7 / 4.7e-7, PP-OCRv4 det 6e-9 / 1.0e-4. The det map is a
# sigmoid that is ~1e-6 everywhere on this random input, so its errors are taken over a floor
# of 1e-3 (i.e. absolute: 6e-12 vs the IR, 1e-7 vs onnxruntime). silero-vad: the speech
# probability is ~1.3e-3 on noise, so its errors are over a floor of 1e-3 too (absolute
# 1.2e-10 / 1.2e-8 on it; the next state, max 1.8: 6e-8 / 1.2e-7, i.e. 3.4e-8 / 6.7e-8 rel).
# basic-pitch nmp (dynamic batch kept): 2.0e-5 vs the IR interpreter (whose 1-D convs sum
# in another order: it differs from onnxruntime by as much) and 1.6e-6 vs onnxruntime.
FILE_CASES = [
    pytest.param("keras/fer/emotion_model.hdf5", {}, 1e-5, id="keras_fer", marks=pytest.mark.slow),
    pytest.param("caffe/open_nsfw/deploy.prototxt", {}, 1e-5, id="caffe_open_nsfw"),
    pytest.param("onnx/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx",
                 {"input_shapes": {"x": (1, 3, 48, 192)}}, 1e-5, id="ppocr_cls"),
    pytest.param("onnx/rapidocr/ch_PP-OCRv4_det_infer.onnx",
                 {"input_shapes": {"x": (1, 3, 96, 96)}, "floor": 1e-3}, 1e-3, id="ppocrv4_det"),
    pytest.param("onnx/silero-vad/silero_vad_16k_op15.onnx",
                 {"input_shapes": SILERO_SHAPES, "values": SILERO_VALUES, "floor": 1e-3}, 1e-4,
                 id="silero_vad"),
    pytest.param("onnx/basic-pitch/nmp.onnx", {}, 1e-4, id="basic_pitch_nmp"),
]


@pytest.mark.parametrize("rel,opts,tol", FILE_CASES)
def test_file_zoo(rel, opts, tol):
    path = str(model_path(rel))
    opts = dict(opts)
    floor = opts.pop("floor", 1e-6)
    values = opts.pop("values", None)
    xs, got = _check(path, tol, floor, values, **opts)
    if path.endswith(".onnx"):
        ort = pytest.importorskip("onnxruntime")
        import onnx

        m = onnx.load(path)
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        names = [i.name for i in sess.get_inputs()]
        want = sess.run(None, dict(zip(names, xs)))
        errs = [_rel(a, b, floor) for a, b in zip(got, want)]
        print(f"LiteRT vs onnxruntime: max rel {max(errs):.3g}")
        assert len(m.graph.output) == len(got)
        assert max(errs) <= tol


# -- lowering peepholes the Keras EfficientNet pattern needs ---------------------------------

def test_se_block_pattern_lowers_lean():
    """x * 1 + 0 (Keras swish beta / a zero offset) emits nothing; a zero PAD that equals
    TFLite SAME for the stride-2 depthwise conv reading it is folded into it (also through
    the NHWC -> NCHW transpose an NHWC import puts before it); the squeeze-excite
    ``mean(keepdims=0) -> reshape [N,C,1,1] -> conv`` is one RESHAPE. Compared with torch."""
    from compiler.ir.graph import Graph
    from compiler.ir.types import TensorType
    from tests.support.tflite_model import op_names, unpack
    from targets.tflite import emit_tflite

    r = np.random.default_rng(3)
    c = 8
    dw = r.standard_normal((c, 1, 3, 3)).astype(np.float32)
    pw = r.standard_normal((4, c, 1, 1)).astype(np.float32)
    g = Graph("se")
    x = g.add_input("x", TensorType("f32", (1, 16, 16, c)))  # NHWC, as a Keras import
    one = g.add_const(np.ones((1,), np.float32), "one")
    zero = g.add_const(np.zeros((1,), np.float32), "zero")
    h = g.add_node("mul", [one, x]).output
    h = g.add_node("add", [h, zero]).output
    pads = g.add_const(np.array([0, 0, 0, 0, 0, 1, 1, 0], np.int64), "pads")
    h = g.add_node("pad", [h, pads]).output
    h = g.add_node("transpose", [h], {"perm": [0, 3, 1, 2]}).output
    h = g.add_node("conv", [h, g.add_const(dw, "dw")],
                   {"group": c, "strides": [2, 2], "kernel_shape": [3, 3]}).output
    axes = g.add_const(np.array([2, 3], np.int64), "axes")
    m = g.add_node("reduce_mean", [h, axes], {"keepdims": 0}).output
    shape = g.add_const(np.array([1, c, 1, 1], np.int64), "shape")
    m = g.add_node("reshape", [m, shape]).output
    y = g.add_node("conv", [m, g.add_const(pw, "pw")], {"kernel_shape": [1, 1]}).output
    g.outputs = [y]
    data = emit_tflite(g)
    # the second RESHAPE only gives the NCHW graph output its logical order
    assert sorted(op_names(unpack(data))) == ["CONV_2D", "DEPTHWISE_CONV_2D", "MEAN", "RESHAPE",
                                              "RESHAPE"]
    xv = r.standard_normal((1, 16, 16, c)).astype(np.float32)
    (got,) = run_litert_list(data, [xv])
    t = torch.nn.functional.pad(torch.from_numpy(xv).permute(0, 3, 1, 2), (0, 1, 0, 1))
    t = torch.nn.functional.conv2d(t, torch.from_numpy(dw), stride=2, groups=c)
    want = torch.nn.functional.conv2d(t.mean((2, 3), keepdim=True), torch.from_numpy(pw))
    err = _rel(got, want.numpy())
    print(f"LiteRT vs torch: max rel {err:.3g}")
    assert err <= 1e-5, err  # measured 1.6e-7
