"""Comparing a model with its reference: metrics, their rendering, and evaluation runs.

* :mod:`.metrics`: SQNR, cosine, max |error| and top-1 agreement (pure numpy functions);
* :mod:`.render`: the per-layer report as Markdown, CSV and an SVG chart;
* :mod:`.evaluate`: .tflite models run in LiteRT on held-out data, compared side by side.

Nothing is imported here, so ``import compiler.debug.metrics`` stays light.
"""
