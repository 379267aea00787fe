"""The default clean-up pipeline on real ONNX models, checked against onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.interpreter import Interpreter
from compiler.ir import verify
from compiler.pass_manager import PassManager
from passes import DEFAULT_PIPELINE
from tests.conftest import model_path

ort = pytest.importorskip("onnxruntime")


def test_default_pipeline_on_ppocr_classifier_matches_onnxruntime():
    from compiler.frontends.onnx import load_onnx

    path = model_path("onnx/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx")
    g = load_onnx(path, input_shapes={"x": [2, 3, 48, 192]})
    n_bn = len(g.find("batch_norm"))
    report = PassManager(DEFAULT_PIPELINE).run(g)
    verify(g)
    stats = {r.name: r.stats for r in report.records}
    # every batch_norm of this MobileNetV3-style net follows a single-use conv
    assert n_bn == 35 and stats["fuse-batchnorm"]["fused"] == 35
    assert not g.find("batch_norm") and not g.find("relu")
    assert all(n.attrs.get("activation") in ("relu", "relu6") for n in g.find("conv") if n.attrs.get("activation"))

    x = np.random.default_rng(0).random((2, 3, 48, 192), dtype=np.float32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (ref,) = sess.run(None, {"x": x})
    (got,) = Interpreter(g).run({"x": x}).values()
    # softmax probabilities; measured max abs diff 3.6e-7 vs onnxruntime (unfused: 3.0e-7), tolerance 1e-5
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5)
