"""Quantization as a library (no passes here: :mod:`passes.quantization` wraps it).

* :mod:`.statistics`: per-tensor calibration statistics and their portable file;
* :mod:`.calibration`: the :func:`calibrate` driver and the sample readers;
* :mod:`.images`: image folders and preprocessing recipes as calibration data;
* :mod:`.scales`: range methods (minmax, entropy, percentile, mse) and quantization params;
* :mod:`.bias_correction`: the output shift that weight rounding causes;
* :mod:`.spec`: what a target quantizes (:class:`~.spec.QuantSpec`);
* :mod:`.rewrite`: :func:`quantize_graph`, the QDQ rewrite;
* :mod:`.report`: :func:`~.report.layer_report`, float vs quantized per layer;
* :mod:`.sensitivity`: sensitivity ranking and mixed precision.

The names below are the everyday API; report and sensitivity are imported from their
modules (they run models and are heavier to explain than to import).
"""

from .calibration import calibrate
from .images import DEFAULT_RECIPE, ImageFolder, Recipe, parse_recipe
from .rewrite import QuantizeError, QuantizeSummary, quantize_graph, resolve_spec
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
from .statistics import CalibrationError, CalibrationStats, TensorStats

__all__ = [
    "DEFAULT_RECIPE", "METHODS", "CalibrationError",
    "CalibrationStats", "ImageFolder", "QuantizeError", "QuantizeSummary", "Recipe",
    "ScaleError", "TensorStats", "parse_recipe",
    "activation_params", "bias_params", "calibrate", "fake_quantize", "params_from_range",
    "quantize_graph", "ranges", "resolve_spec", "tensor_range", "weight_params",
]
