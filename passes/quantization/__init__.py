"""INT8 quantization: calibration statistics and scale selection.

``calibrate(graph, data)`` records per-tensor min/max and histograms
(:mod:`.calibration`); :mod:`.scales` turns them into QuantParams with the minmax, entropy,
percentile or mse method, and gives weight and bias parameters; :func:`quantize_graph`
(:mod:`.quantize`, pass ``quantize``) rewrites the graph into QDQ form, quantizing what the
target's quantization spec (:mod:`compiler.quantization.spec`) says it runs quantized.
"""

from .calibration import CalibrationError, CalibrationStats, TensorStats, calibrate
from .images import DEFAULT_RECIPE, ImageFolder, Recipe, parse_recipe
from .quantize import QuantizeError, QuantizeSummary, quantize_graph, resolve_spec
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
    "DEFAULT_RECIPE", "METHODS", "CalibrationError",
    "CalibrationStats", "ImageFolder", "QuantizeError", "QuantizeSummary", "Recipe",
    "ScaleError", "TensorStats", "parse_recipe",
    "activation_params", "bias_params", "calibrate", "fake_quantize", "params_from_range",
    "quantize_graph", "ranges", "resolve_spec", "tensor_range", "weight_params",
]
