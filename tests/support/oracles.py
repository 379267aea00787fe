"""Run models for tests through the runtime registry (:mod:`compiler.runtime`).

Which runner a test may use, so that an oracle never shares code with what it checks:

* Tests of a frontend, a pass, an emitter or the compile driver run models through these
  helpers: the executors are not under test there, and one well-tested runner beats a copy
  per test file.
* Tests of the executors themselves (``tests/compiler/runtime/test_runtime.py``) call
  ``ai_edge_litert``, ``onnxruntime`` and numpy directly, never these helpers.
* Tests that compare infercc with onnxruntime on an *original* ``.onnx`` file (ONNX
  frontend, exporter round trips) keep ``onnxruntime.InferenceSession`` on that file: the
  onnxruntime executor runs infercc's own export of an IR graph, so it would check the
  exporter against itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from compiler.ir import Graph
from compiler.runtime import open_executor


def run_litert(model: bytes | str | Path, feeds: Mapping[str, np.ndarray], *,
               dequantize: bool = True, threads: int = 1) -> dict[str, np.ndarray]:
    """Outputs of a ``.tflite`` (bytes or path) by output tensor name (infercc names them
    after the IR values). Float feeds to int8 inputs are quantized with the tensor's
    parameters; quantized outputs come back as float32 unless ``dequantize=False``; inputs
    of a new shape resize the model."""
    ex = open_executor("litert", model, threads=threads, dequantize=dequantize)
    return ex.run(feeds).outputs


def run_litert_list(model: bytes | str | Path, xs: Sequence[np.ndarray], *,
                    dequantize: bool = False) -> list[np.ndarray]:
    """:func:`run_litert` with inputs and outputs in the model's order."""
    ex = open_executor("litert", model, threads=1, dequantize=dequantize)
    return list(ex.run(dict(zip(ex.input_names, xs))).outputs.values())


def op_counts(model: bytes | str | Path) -> dict[str, int]:
    """LiteRT operator names -> count, as written in the model."""
    return open_executor("litert", model).op_counts()


def run_reference(graph: Graph, feeds: Mapping[str, np.ndarray],
                  capture: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """Outputs (and ``capture``d values) of ``graph`` in the reference interpreter."""
    r = open_executor("reference", graph).run(feeds, capture)
    return {**r.outputs, **r.captured}
