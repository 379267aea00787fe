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

import importlib
from typing import Any

# name -> submodule; imported on first use, so importing one submodule (a pass importing
# the rewrite) does not import the calibration driver, images and the runtime with it.
_EXPORTS = {
    "calibrate": "calibration",
    "DEFAULT_RECIPE": "images", "ImageFolder": "images", "Recipe": "images",
    "parse_recipe": "images",
    "QuantizeError": "rewrite", "QuantizeSummary": "rewrite", "quantize_graph": "rewrite",
    "resolve_spec": "rewrite",
    "METHODS": "scales", "ScaleError": "scales", "activation_params": "scales",
    "bias_params": "scales", "fake_quantize": "scales", "params_from_range": "scales",
    "ranges": "scales", "tensor_range": "scales", "weight_params": "scales",
    "CalibrationError": "statistics", "CalibrationStats": "statistics",
    "TensorStats": "statistics",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


__all__ = sorted(_EXPORTS)
