"""INT8 quantization: calibration statistics and scale selection.

``calibrate(graph, data)`` records per-tensor min/max and histograms
(:mod:`.calibration`); :mod:`.scales` turns them into QuantParams with the minmax, entropy,
percentile or mse method, and gives weight and bias parameters; :func:`quantize_graph`
(:mod:`.quantize`, pass ``quantize``) rewrites the graph into QDQ form.
"""

from .calibration import CalibrationError, CalibrationStats, TensorStats, calibrate
from .images import DEFAULT_RECIPE, ImageFolder, Recipe, parse_recipe
from .quantize import QUANTIZABLE, SHARED, QuantizeError, QuantizeSummary, quantize_graph
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
    "DEFAULT_RECIPE", "METHODS", "QUANTIZABLE", "SHARED", "CalibrationError",
    "CalibrationStats", "ImageFolder", "QuantizeError", "QuantizeSummary", "Recipe",
    "ScaleError", "TensorStats", "parse_recipe",
    "activation_params", "bias_params", "calibrate", "fake_quantize", "params_from_range",
    "quantize_graph", "ranges", "tensor_range", "weight_params",
]
