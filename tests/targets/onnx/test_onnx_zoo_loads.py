"""Every model of the zoo, compiled to .onnx, loads in onnxruntime with default options and
computes what its source framework computes.

The cases and the procedure live in tests/support/onnx_zoo.py (shared with
bench/onnx_zoo_loads.py, which prints the table that docs/onnx.md quotes). The oracle is the
source framework on the same seeded input (onnxruntime on the original .onnx, LiteRT on the
.tflite, torch, OpenCV's Caffe importer), or infercc's reference interpreter on the loaded
source graph where the framework is not run here (Keras, TF SavedModel).

Errors are max |onnxruntime - source| / max(max |source|, floor). Measured with
``python3 bench/onnx_zoo_loads.py``: at most 1.5e-4 (PP-OCRv4 det, a sigmoid map near 0 on
noise, over a floor of 1e-3), 2.5e-5 (basic-pitch SavedModel vs the interpreter, whose 1-D
convolutions sum in another order), 5.1e-6 (hand landmarks), everything else <= 1.4e-6. The
bound is 1e-4, and 1e-3 for PP-OCRv4 det. Models infercc refuses to load are strict xfails
whose reason is the frontend's own message: they are listed, never counted as passes.
"""

from __future__ import annotations

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("torch")

from tests.support.onnx_zoo import cases, run_case, table  # noqa: E402

# Models infercc cannot load (the frontend's reason), by case id.
REFUSED = {
    "selfie_segmentation": "the custom op Convolution2DTransposeBias",
    "okay_nabu": "TFLite resource variables (VAR_HANDLE, READ_VARIABLE, ASSIGN_VARIABLE)",
}


def _params():
    out = []
    for c in cases():
        marks = [pytest.mark.slow] if c.slow else []
        if c.id in REFUSED:
            marks.append(pytest.mark.xfail(reason=f"infercc refuses {REFUSED[c.id]}",
                                           strict=True, raises=AssertionError))
        out.append(pytest.param(c, id=c.id, marks=marks))
    return out


@pytest.mark.parametrize("case", _params())
def test_compiled_model_loads_in_onnxruntime(case, tmp_path):
    row = run_case(case, tmp_path)
    print("\n" + table([row]))
    assert row.loads is not None, f"infercc refused the model: {row.note}"
    assert row.loads, f"onnxruntime cannot open the written model: {row.note}"
    assert row.max_err <= case.tol, row
