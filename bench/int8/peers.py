"""The peer quantizers: TFLiteConverter full-integer and onnxruntime quantize_static.

Both are timed from the in-memory float model to the quantized bytes, calibration included.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from bench.quiet import quiet_fds


def converter_float(model: Any) -> bytes:
    import tensorflow as tf

    with quiet_fds():
        return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def converter_int8(model: Any, calib: np.ndarray) -> tuple[bytes, float]:
    """TFLiteConverter full-integer (int8 ops only, float I/O): (bytes, seconds)."""
    import tensorflow as tf

    def representative():
        for i in range(len(calib)):
            yield [calib[i:i + 1]]

    t0 = time.perf_counter()
    with quiet_fds():
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        data = conv.convert()
    return data, time.perf_counter() - t0


class _Reader:
    def __init__(self, name: str, samples: np.ndarray) -> None:
        self.name = name
        self.samples = samples
        self.i = 0

    def get_next(self):
        if self.i >= len(self.samples):
            return None
        self.i += 1
        return {self.name: self.samples[self.i - 1:self.i]}


def ort_qdq(onnx_bytes: bytes, calib_nchw: np.ndarray, tmpdir: str) -> tuple[bytes, float]:
    """onnxruntime quantize_static (QDQ, int8 activations and per-channel int8 weights,
    MinMax calibration): (quantized model bytes, seconds for calibrate + quantize)."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    src = os.path.join(tmpdir, "float.onnx")
    dst = os.path.join(tmpdir, "qdq.onnx")
    with open(src, "wb") as f:
        f.write(onnx_bytes)
    name = onnx.load_from_string(onnx_bytes).graph.input[0].name
    t0 = time.perf_counter()
    with quiet_fds():
        quantize_static(src, dst, _Reader(name, calib_nchw), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        per_channel=True)
    secs = time.perf_counter() - t0
    with open(dst, "rb") as f:
        return f.read(), secs


def ort_run(model_bytes: bytes, x_nchw: np.ndarray) -> tuple[np.ndarray, float]:
    """Outputs of every sample (batch 1) in onnxruntime, 1 thread; and the median ms."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    outs, times = [], []
    for i in range(len(x_nchw)):
        t0 = time.perf_counter()
        y = sess.run(None, {name: x_nchw[i:i + 1]})[0]
        times.append((time.perf_counter() - t0) * 1e3)
        outs.append(y.reshape(-1))
    return np.stack(outs), float(np.median(times))
