"""compiler.debug.evaluate against independent computations.

* Outputs: the float .tflite infercc emits for the committed digits CNN, run through
  evaluate_tflite, against Keras' own predictions of the same Keras model; accuracy and
  agreement are then recomputed from the Keras logits with plain numpy.
* SQNR / agreement helpers against textbook formulas written differently (norm ratio,
  explicit loops).
* Int8 input feeding: TFLiteConverter's full-integer model with int8 I/O (the converter
  quantizes nothing at run time; the caller must) against the converter's float-I/O model of
  the same calibration, whose QUANTIZE/DEQUANTIZE ops LiteRT runs itself.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from compiler.debug.evaluate import (
    EvaluationError,
    compare,
    evaluate_many,
    evaluate_tflite,
    load_data,
)
from compiler.debug.metrics import sqnr_db, top1_agreement

from tests.conftest import REPO

MODEL = REPO / "examples" / "models" / "digits_cnn.keras"
TEST = REPO / "examples" / "data" / "digits_test.npz"
TRAIN = REPO / "examples" / "data" / "digits_train.npz"


@pytest.fixture(scope="module")
def keras_model():
    import keras

    return keras.models.load_model(MODEL, compile=False)


@pytest.fixture(scope="module")
def float_tflite():
    import compiler

    return compiler.compile(str(MODEL), "tflite").data


@pytest.fixture(scope="module")
def test_data():
    with np.load(TEST) as z:
        return {k: z[k] for k in z.files}


def test_outputs_accuracy_agreement_match_keras(keras_model, float_tflite, test_data):
    res = evaluate_tflite(float_tflite, TEST, warmup=1)
    x = test_data["digits"]
    ref = keras_model.predict(x, verbose=0)
    assert res.num_samples == len(x) == 360
    # float32 LiteRT (XNNPACK) vs TF kernels: measured max |diff| 1.9e-6 on logits of ~10
    np.testing.assert_allclose(res.logits, ref, atol=2e-5, rtol=1e-5)
    labels = test_data["labels"]
    correct = sum(int(np.argmax(ref[i]) == labels[i]) for i in range(len(labels)))
    assert res.accuracy == pytest.approx(correct / len(labels))
    assert res.size == len(float_tflite)
    assert res.latency_ms > 0 and len(res.latencies_ms) == 360
    assert top1_agreement(ref, res.logits) == 1.0


def test_max_samples_and_dict_data(float_tflite, test_data):
    res = evaluate_tflite(float_tflite, {"whatever": test_data["digits"][:10],
                                         "labels": test_data["labels"][:10]},
                          max_samples=7, warmup=0)
    assert res.num_samples == 7 and res.labels.shape == (7,)
    # arrays one rank above the input ([N, 1, 8, 8, 1]) hold one sample per index
    res5 = evaluate_tflite(float_tflite, {"digits": test_data["digits"][:7, None]}, warmup=0)
    np.testing.assert_array_equal(res5.logits, res.logits)
    assert res5.accuracy is None


def test_sqnr_and_agreement_formulas():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((50, 10))
    noisy = ref + 0.01 * rng.standard_normal((50, 10))
    expected = 20 * math.log10(np.linalg.norm(ref) / np.linalg.norm(ref - noisy))
    assert sqnr_db(ref, noisy) == pytest.approx(expected, rel=1e-9)
    assert sqnr_db(ref, ref) == math.inf
    other = rng.standard_normal((50, 10))
    agree = 0
    for i in range(50):
        agree += max(range(10), key=lambda j: ref[i, j]) == max(range(10), key=lambda j: other[i, j])
    assert top1_agreement(ref, other) == pytest.approx(agree / 50)
    with pytest.raises(EvaluationError):
        sqnr_db(ref, ref[:3])


@pytest.mark.filterwarnings("ignore:Statistics for quantized inputs")
def test_int8_inputs_are_quantized_with_the_tensor_params(keras_model):
    import tensorflow as tf

    with np.load(TRAIN) as z:
        calib = z["digits"][:64]

    def convert(io_int8: bool) -> bytes:
        def rep():
            for i in range(len(calib)):
                yield [calib[i:i + 1]]

        conv = tf.lite.TFLiteConverter.from_keras_model(keras_model)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if io_int8:
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
        return conv.convert()

    q_model = convert(True)
    res = evaluate_many({"f": convert(False), "q": q_model}, TEST, warmup=0, max_samples=120)
    # same calibration -> same quantization; the int8-I/O model must give the same logits
    # once its int8 outputs are dequantized. Measured: identical on all 120 samples (ties
    # in rounding could differ by one step, 1 scale unit, hence the tolerance).
    from ai_edge_litert.interpreter import Interpreter

    details = Interpreter(model_content=q_model).get_input_details()[0]
    assert details["dtype"] == np.int8  # the path under test
    scale = Interpreter(model_content=q_model).get_output_details()[0]["quantization"][0]
    np.testing.assert_allclose(res["q"].logits, res["f"].logits, atol=scale * 1.01)
    assert top1_agreement(res["f"].logits, res["q"].logits) == 1.0
    table = compare(res, reference="f")
    assert "q" in table and "100.00%" in table


def test_compare_table_values(float_tflite, test_data):
    import compiler

    f16 = compiler.compile(str(MODEL), "tflite", float16=True).data
    res = evaluate_many({"float": float_tflite, "fp16": f16}, TEST, warmup=1, max_samples=50)
    table = compare(res)
    lines = table.splitlines()
    assert lines[0].split()[:2] == ["model", "accuracy"]
    row = next(line for line in lines if line.startswith("fp16")).split()
    acc = np.mean(np.argmax(res["fp16"].logits, 1) == test_data["labels"][:50])
    assert row[1] == f"{acc * 100:.2f}%"
    ref, q = res["float"].logits.astype(np.float64), res["fp16"].logits.astype(np.float64)
    assert float(row[3]) == pytest.approx(
        10 * np.log10((ref ** 2).sum() / ((ref - q) ** 2).sum()), abs=0.051)
    assert float(row[5]) == pytest.approx(len(f16) / len(float_tflite), abs=5e-4)
    with pytest.raises(EvaluationError, match="no result named"):
        compare(res, reference="int8")


def test_bad_data_errors(float_tflite, tmp_path):
    with pytest.raises(EvaluationError, match="does not exist"):
        load_data(tmp_path / "missing.npz")
    with pytest.raises(EvaluationError, match="no evaluation array"):
        evaluate_tflite(float_tflite, {"a": np.zeros((2, 8, 8, 1), np.float32),
                                       "b": np.zeros((2, 8, 8, 1), np.float32)})
    with pytest.raises(EvaluationError, match="takes \\[1, 8, 8, 1\\]"):
        evaluate_tflite(float_tflite, {"digits": np.zeros((2, 9, 8, 1), np.float32)})
    with pytest.raises(EvaluationError, match="LiteRT cannot load"):
        evaluate_tflite(b"not a flatbuffer", {"digits": np.zeros((2, 8, 8, 1), np.float32)})
