"""Every model of the zoo through the TensorRT target and the stand-in, fp32, fp16 and int8.

The cases are those of tests/support/onnx_zoo.py; the procedure lives in
tests/support/trt_zoo.py (shared with bench/tensorrt_zoo.py, which prints the table that
docs/tensorrt.md quotes): ``compiler.compile(..., target="tensorrt")`` with the engine build
answered by the stand-in, the network executed in numpy on one seeded input. Errors are
max |stand-in - reference| / max(max |reference|, the case's floor).

Bounds: the constants below, each set above the largest value measured with
``python3 bench/tensorrt_zoo.py``; the measured figures and what they mean are in
docs/tensorrt.md, "The zoo through the stand-in" (one home). int8 is compared with the
fake-quant reference (the interpreter on the quantized graph) at the outputs and layer by
layer (each node's kernel on the stand-in's own input values), and as output SQNR against
the float model on one input outside the 8 calibration samples.
"""

from __future__ import annotations

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("torch")

from tests.support.trt_zoo import PRECISIONS, cases, run_case, table  # noqa: E402

#: Models refused at every precision, by case id: a text the refusal contains, and why.
REFUSED = {
    "mobilenet_v2_int8": ("zero point", "a TFLite int8 model with zero points; TensorRT's "
                                        "Q/DQ take zero point 0 only: compile its float "
                                        "model with --int8"),
    "selfie_segmentation": ("Convolution2DTransposeBias",
                            "infercc does not load the custom op"),
    "okay_nabu": ("VAR_HANDLE", "infercc does not load TFLite resource variables"),
}

FP32_TOL, SOURCE_TOL, FP16_TOL, INT8_TOL, LAYER_TOL = 1e-5, 1e-5, 5e-3, 1e-5, 1e-5
_PITCH = ("basic_pitch_nmp.onnx", "basic_pitch_nmp.tflite", "basic_pitch_savedmodel")
FP32_WIDER = {c: 2e-4 for c in _PITCH}
# silero_vad: 1.0e-5 over a floor of 1e-3, as far as the reference interpreter itself is
# from onnxruntime on that model
SOURCE_WIDER = {**{c: 2e-4 for c in _PITCH}, "ppocrv4_det": 2e-4, "silero_vad": 1e-4}
FP16_WIDER = {c: 2e-2 for c in _PITCH}
#: int8 vs fake-quant where rounding flips propagate (measured in parentheses)
INT8_WIDER = {
    "bvlc_cifar10_quick": 1e-2,  # 2.7e-3: 7 flips after an average pooling
    "hand_landmark_lite": 0.5,  # 0.31: a flip after the first conv, through 40 layers
    **{c: 0.5 for c in _PITCH},  # 0.26: a flip after a 1-D convolution
}
#: int8 vs float, output SQNR in dB (measured in parentheses). Random inputs are far from
#: these models' data: detectors and classifiers on noise give low figures, and
#: symmetric activations cost about 6 dB after ReLU against TFLite's asymmetric ones.
MIN_SQNR = {
    "transformer_encoder_layer": 37.0,  # 43.5
    "resnet_basic_block": 33.0,  # 38.9
    "lstm": 33.0,  # 39.2
    "silero_vad": 39.0,  # 45.8
    "resnet_like": 32.0,  # 38.5
    "efficientnet_lite0": 25.0,  # 30.8
    "examples/tiny_cnn.onnx": 54.0,  # 60.3 (softmax probabilities)
    "examples/digits_cnn.keras": 13.0,  # 19.2
    "ppocr_cls": 27.0,  # 33.1
    "ppocrv4_det": 0.0,  # 4.9: its sigmoid map is ~1e-6 on noise, below one int8 step
    "hello_world_float": 36.0,  # 42.4
    "face_detection_front": 9.0,  # 14.7
    "face_detection_full_range_sparse": 7.0,  # 13.3
    "palm_detection_lite": 12.0,  # 17.9
    "hand_landmark_lite": 26.0,  # 32.7
    "open_nsfw": 11.0,  # 17.5
    "bvlc_lenet": 34.0,  # 39.9
    "bvlc_cifar10_quick": 43.0,  # 48.8
    "bvlc_cifar10_full": 42.0,  # 47.8
    "bvlc_alexnet": 41.0,  # 47.1
    "bvlc_caffenet": 41.0,  # 47.0
    "bvlc_googlenet": 54.0,  # 60.3
    "keras_fer": 17.0,  # 23.1
    **{c: 7.0 for c in _PITCH},  # 13.2
}


def _params():
    out = []
    for c in cases():
        for p in PRECISIONS:
            marks = [pytest.mark.slow] if c.slow else []
            out.append(pytest.param(c, p, id=f"{c.id}-{p}", marks=marks))
    return out


# Models with LRN layers, which an fp16 network keeps in fp32: their count.
LRN_LAYERS = {"bvlc_alexnet": 2, "bvlc_caffenet": 2, "bvlc_googlenet": 2}


@pytest.mark.parametrize("case, precision", _params())
def test_zoo_model_through_the_standin(case, precision, tmp_path):
    row = run_case(case, precision, tmp_path)
    print("\n" + table([row]))
    if case.id in REFUSED:
        text, why = REFUSED[case.id]
        assert row.refused is not None, f"{case.id} builds now: remove it from REFUSED"
        assert text in row.refused, row.refused
        pytest.xfail(f"refused ({why}): {row.refused}")
    assert row.refused is None, f"refused: {row.refused}"
    assert row.layers and row.err_ref is not None
    if precision == "fp32":
        assert row.err_ref <= FP32_WIDER.get(case.id, FP32_TOL), row
        if row.err_source is not None:
            assert row.err_source <= SOURCE_WIDER.get(case.id, SOURCE_TOL), row
    elif precision == "fp16":
        assert row.err_ref <= FP16_WIDER.get(case.id, FP16_TOL), row
        # no model reaches the fp16-safe limit on its samples; LRN layers (float32 only
        # in TensorRT) are the only ones kept
        assert row.fp32_kept == LRN_LAYERS.get(case.id, 0), row
    else:
        assert row.err_layer is not None and row.err_layer <= LAYER_TOL, row
        assert row.err_ref <= INT8_WIDER.get(case.id, INT8_TOL), row
        assert row.sqnr_db is not None and row.sqnr_db >= MIN_SQNR[case.id], row
