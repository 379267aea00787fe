"""Calibration falls back to the reference interpreter visibly: one warning naming why.

The graph runs a Relu on int16 values: the reference interpreter computes it, onnxruntime
1.32's CPU provider has no Relu kernel for int16 and refuses the session, which is the
situation the fallback exists for.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from compiler.ir import parse_graph
from compiler.quantization import calibrate

INT16_RELU = """graph @int16_relu(%x: f32[2,3]) -> (f32[2,3]) {
  %a : i16[2,3] = cast(%x) {to=5}
  %b : i16[2,3] = relu(%a)
  %y : f32[2,3] = cast(%b) {to=1}
  return %y
}"""


def test_fallback_warns_once_naming_the_reason(caplog):
    g = parse_graph(INT16_RELU)
    samples = [np.array([[-2.0, 0.5, 3.0], [1.0, -1.0, 7.0]], np.float32)] * 2
    with caplog.at_level(logging.INFO, logger="compiler.quantization.calibration"):
        first = calibrate(g, samples, progress=False)
        calibrate(g, samples, progress=False)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "@int16_relu" in warnings[0] and "reference interpreter" in warnings[0]
    assert "Relu" in warnings[0]  # onnxruntime's own reason: no int16 Relu kernel
    # the fallback itself still calibrates: relu(int16(x)) of the samples spans [0, 7]
    y = first["y"]
    assert (y.min, y.max) == (0.0, 7.0)
