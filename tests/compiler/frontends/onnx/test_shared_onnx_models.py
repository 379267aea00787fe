"""The real ONNX models in ../shared/models/onnx: import, verify, run on the reference
interpreter against onnxruntime, export -> re-import, and the IR text round trip.

Inputs are seeded and realistic: printed text lines and pages rendered with OpenCV for the
OCR models (with PaddleOCR's preprocessing), a synthetic voiced-speech signal for silero-vad
(streamed chunk by chunk with its state fed back) and a synthetic plucked-note melody for
basic-pitch. Each tolerance is the max |interpreter - onnxruntime| measured on these
inputs (stated next to it) times a headroom factor.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from compiler.frontends.onnx import load_onnx
from compiler.interpreter import Interpreter
from compiler.ir import parse_graph, print_graph, verify
from tests.conftest import model_path

ort = pytest.importorskip("onnxruntime")

CLS = "onnx/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx"
DET = "onnx/rapidocr/ch_PP-OCRv4_det_infer.onnx"
VAD = "onnx/silero-vad/silero_vad_16k_op15.onnx"
PITCH = "onnx/basic-pitch/nmp.onnx"

# max |interpreter - onnxruntime| measured on the inputs below (onnx 1.23, onnxruntime 1.32,
# numpy/OpenBLAS on x86-64), with ~5x headroom for BLAS/threading differences
TOL = {
    CLS: 2e-6,  # measured 3.6e-7 (softmax probabilities; the handwriting crops are unsaturated)
    DET: 1e-4,  # measured 9.9e-6 at 96x96 and 2.1e-5 at 640x640 (sigmoid text map)
    VAD: 1e-5,  # measured 2.3e-6 over 4 streamed chunks (probability and LSTM state)
    PITCH: 5e-5,  # measured 7.4e-6 (sigmoid note/onset/contour maps)
}


# -- realistic seeded inputs ----------------------------------------------------------------


def _text_line(text: str, h: int = 48, w: int = 192, seed: int = 0) -> np.ndarray:
    """A printed text line (dark anti-aliased glyphs on light paper with sensor noise)."""
    import cv2

    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 235, np.uint8)
    cv2.putText(img, text, (4, int(h * 0.7)), cv2.FONT_HERSHEY_SIMPLEX, h / 53, (20, 20, 20), 2, cv2.LINE_AA)
    return np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)


def _text_page(size: int) -> np.ndarray:
    """A size x size page of printed text lines, as the detector sees a document photo."""
    import cv2

    img = np.full((size, size, 3), 235, np.uint8)
    scale = size / 240
    words = ["infercc", "ONNX 2026", "graph compiler", "text line", "Hello world", "0123456789"]
    y = int(30 * scale)
    for k, w in enumerate(words):
        cv2.putText(img, w, (int(10 * scale), y), cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale, (25, 25, 25),
                    max(1, int(2 * scale)), cv2.LINE_AA)
        y += int(38 * scale)
    rng = np.random.default_rng(3)
    return np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)


def _photo_crops() -> list[np.ndarray]:
    """Two 48x192 crops of scikit-image's photo of handwritten formulas: the classifier is
    unsure on them (p ~ 0.5), so they exercise its logits rather than saturated outputs."""
    import cv2
    from skimage import data

    page = data.text()
    crops = [page[10:60, 20:220], page[70:120, 200:400]]
    return [np.repeat(cv2.resize(np.ascontiguousarray(c), (192, 48))[..., None], 3, axis=2) for c in crops]


def cls_input() -> dict[str, np.ndarray]:
    """Four printed 48x192 text lines (2nd and 4th upside down) and two handwriting crops,
    with PaddleOCR's cls normalization."""
    lines = [_text_line("Hello 2024"), _text_line("Hello 2024")[::-1, ::-1],
             _text_line("infercc test", seed=1), _text_line("infercc test", seed=1)[::-1, ::-1]]
    lines += _photo_crops()
    x = [((im.astype(np.float32) / 255.0 - 0.5) / 0.5).transpose(2, 0, 1) for im in lines]
    return {"x": np.stack(x).astype(np.float32)}


CLS_LABELS = [0, 1, 0, 1]  # the printed lines; class 1 = rotated by 180 degrees


def det_input(size: int = 96) -> dict[str, np.ndarray]:
    """A printed page at size x size, ImageNet mean/std as PaddleOCR det uses."""
    rgb = _text_page(size).astype(np.float32) / 255.0
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)
    return {"x": ((rgb - mean) / std).transpose(2, 0, 1)[None].astype(np.float32)}


def speech_like(n: int, sr: int, seed: int = 0) -> np.ndarray:
    """A voiced-speech-like signal: gliding 120-180 Hz harmonics, syllable envelope, noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    f0 = 150 + 30 * np.sin(2 * np.pi * 0.8 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.5 * (1 + np.sin(2 * np.pi * 3.0 * t)) ** 2
    x = 0.3 * envelope * voiced + 0.01 * rng.standard_normal(n)
    return x.astype(np.float32)


def vad_chunks(n_chunks: int = 4) -> list[np.ndarray]:
    """Consecutive 64-sample-context + 512-sample chunks at 16 kHz, as silero-vad streams."""
    audio = speech_like(64 + 512 * n_chunks, 16000)
    return [audio[i * 512 : i * 512 + 576][None] for i in range(n_chunks)]


def pitch_input() -> dict[str, np.ndarray]:
    """Two seconds (43844 samples at 22050 Hz) of plucked notes of a C-major arpeggio."""
    sr, n = 22050, 43844
    rng = np.random.default_rng(1)
    t = np.arange(n) / sr
    x = np.zeros(n)
    for k, midi in enumerate([60, 64, 67, 72, 67, 64, 60, 55]):
        start = k * n // 8
        tt = t[start:] - t[start]
        f = 440.0 * 2 ** ((midi - 69) / 12)
        note = sum(np.sin(2 * np.pi * h * f * tt) * 0.6**h for h in range(1, 6))
        x[start:] += note * np.exp(-3.0 * tt)
    x = 0.2 * x / np.abs(x).max() + 0.001 * rng.standard_normal(n)
    return {"serving_default_input_2:0": x.astype(np.float32)[None, :, None]}


# -- helpers --------------------------------------------------------------------------------


def ort_run(model_or_path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    src = model_or_path.SerializeToString() if isinstance(model_or_path, onnx.ModelProto) else str(model_or_path)
    sess = ort.InferenceSession(src, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def ir_run(graph, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    got = Interpreter(graph).run(feeds)
    return [got[v.name] for v in graph.outputs]


def max_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.shape == y.shape and x.dtype == y.dtype, (x.shape, y.shape, x.dtype, y.dtype)
    return max(float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)))) for x, y in zip(a, b))


def feeds_for(rel: str) -> list[dict[str, np.ndarray]]:
    """The input sets a model is checked on (silero-vad: a stream with its state fed back
    through onnxruntime's own outputs, so every step starts from the same state)."""
    if rel == CLS:
        return [cls_input()]
    if rel == DET:
        return [det_input(96)]
    if rel == PITCH:
        return [pitch_input()]
    path = model_path(VAD)
    state = np.zeros((2, 1, 128), np.float32)
    sets = []
    for chunk in vad_chunks():
        feed = {"input": chunk, "state": state, "sr": np.array(16000, np.int64)}
        sets.append(feed)
        state = ort_run(path, feed)[1]
    return sets


ALL = [CLS, DET, VAD, PITCH]
_GRAPHS: dict[str, object] = {}


def graph_of(rel: str):
    if rel not in _GRAPHS:
        _GRAPHS[rel] = load_onnx(model_path(rel))
    return _GRAPHS[rel]


# -- tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("rel", ALL)
def test_imports_verifies_and_matches_onnxruntime(rel):
    path = model_path(rel)
    g = graph_of(rel)
    verify(g)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [v.name for v in g.inputs] == [i.name for i in sess.get_inputs()]
    assert [v.name for v in g.outputs] == [o.name for o in sess.get_outputs()]
    worst = 0.0
    for feed in feeds_for(rel):
        got = ir_run(g, feed)
        worst = max(worst, max_diff(got, ort_run(path, feed)))
    if rel == CLS:  # the classifier tells upright from upside-down lines
        assert got[0][:4].argmax(axis=1).tolist() == CLS_LABELS
    print(f"{rel}: max |interpreter - onnxruntime| = {worst:.3g}")
    assert worst <= TOL[rel]


@pytest.mark.parametrize("rel", ALL)
def test_export_and_reimport(rel):
    exporter = pytest.importorskip("targets.onnx.exporter")
    path = model_path(rel)
    g = graph_of(rel)
    exported = exporter.export_onnx(g)
    assert isinstance(exported, onnx.ModelProto)
    g2 = load_onnx(exported)
    verify(g2)
    assert [v.name for v in g2.inputs] == [v.name for v in g.inputs]
    for feed in feeds_for(rel)[:2]:
        ref = ort_run(path, feed)
        # the re-imported graph computes what the original computes
        assert max_diff(ir_run(g2, feed), ref) <= TOL[rel]
        # and onnxruntime runs the exported model to the same answer as the original
        assert max_diff(ort_run(exported, feed), ref) <= TOL[rel]


@pytest.mark.parametrize("rel", ALL)
def test_text_round_trip_is_exact(rel):
    g = graph_of(rel)
    text = print_graph(g, with_data=True)
    g2 = parse_graph(text)
    assert print_graph(g2, with_data=True) == text
    consts = [(n.output.name, n.attrs["value"]) for n in _all_nodes(g) if n.op == "const"]
    consts2 = [(n.output.name, n.attrs["value"]) for n in _all_nodes(g2) if n.op == "const"]
    assert [k for k, _ in consts] == [k for k, _ in consts2]
    for (k, a), (_, b) in zip(consts, consts2):
        a = a.toarray() if hasattr(a, "toarray") else a
        b = b.toarray() if hasattr(b, "toarray") else b
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), k


def _all_nodes(g):
    from compiler.ir import Graph

    for n in g.nodes:
        yield n
        for a in n.attrs.values():
            if isinstance(a, Graph):
                yield from _all_nodes(a)


def test_det_at_640_matches_onnxruntime():
    # the full-size input the model is used at; about 2 s on the interpreter
    path = model_path(DET)
    feed = det_input(640)
    got = ir_run(graph_of(DET), feed)
    worst = max_diff(got, ort_run(path, feed))
    text_map = got[0][0, 0]
    assert text_map[50:85, 30:240].max() > 0.9  # the first printed line ("infercc")
    assert text_map[600:, 500:].max() < 0.3  # blank paper
    print(f"det 640x640: max |interpreter - onnxruntime| = {worst:.3g}")
    assert worst <= TOL[DET]
