"""INT8 quantization: calibration statistics and scale selection.

``calibrate(graph, data)`` records per-tensor min/max and histograms
(:mod:`.calibration`); :mod:`.scales` turns them into QuantParams with the minmax, entropy,
percentile or mse method, and gives weight and bias parameters.
"""

from .calibration import CalibrationError, CalibrationStats, TensorStats, calibrate
from .scales import (
    METHODS,
    ScaleError,
    activation_params,
    bias_params,
    fake_quantize,
    params_from_range,
    ranges,
    tensor_range,
    weight_params,
)

__all__ = [
    "METHODS", "CalibrationError", "CalibrationStats", "ScaleError", "TensorStats",
    "activation_params", "bias_params", "calibrate", "fake_quantize", "params_from_range",
    "ranges", "tensor_range", "weight_params",
]
