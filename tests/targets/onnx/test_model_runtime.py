"""The ``onnxruntime-model`` executor: a .onnx run as it is, with intermediate values."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from compiler.runtime import ExecutorError, open_executor
from tests.conftest import REPO

TINY = REPO / "examples" / "models" / "tiny_cnn.onnx"


def test_outputs_are_onnxruntimes_and_inputs_are_described():
    ex = open_executor("onnxruntime-model", TINY)
    assert ex.input_names == ["input"] and ex.output_names == ["probs"]
    assert ex.inputs[0][1] == ("N", 3, 32, 32) and ex.inputs[0][2] == np.float32
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    (want,) = ort.InferenceSession(str(TINY)).run(None, {"input": x})
    np.testing.assert_array_equal(ex.run({"input": x}).outputs["probs"], want)
    # float64 data is cast to the declared float32
    np.testing.assert_array_equal(ex.run({"input": x.astype(np.float64)}).outputs["probs"],
                                  want)


def test_captured_values_are_the_models_own():
    m = onnx.load(str(TINY))
    names = [o for n in m.graph.node for o in n.output]
    ex = open_executor("onnxruntime-model", TINY, capture=names[:3])
    assert ex.value_names[:3] == names[:3]
    x = np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype(np.float32)
    got = ex.run({"input": x}, capture=names[:3]).captured
    # oracle: the same values made graph outputs by hand, in a session of onnxruntime's own
    inferred = onnx.shape_inference.infer_shapes(m)
    info = {v.name: v for v in inferred.graph.value_info}
    m.graph.output.extend(info[n] for n in names[:3])
    want = ort.InferenceSession(m.SerializeToString()).run(names[:3], {"input": x})
    for n, w in zip(names[:3], want):
        np.testing.assert_array_equal(got[n], w)


def test_unknown_capture_and_missing_feeds_are_executor_errors():
    with pytest.raises(ExecutorError, match="no node outputs named"):
        open_executor("onnxruntime-model", TINY, capture=["nope"])
    ex = open_executor("onnxruntime-model", TINY)
    with pytest.raises(ExecutorError, match="missing"):
        ex.run({})
    with pytest.raises(ExecutorError, match="not named in capture"):
        ex.run({"input": np.zeros((1, 3, 32, 32), np.float32)}, capture=["x"])
