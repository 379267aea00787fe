"""The ``calibrate`` pass: record activation statistics for a later ``quantize``.

An analysis pass: it runs the graph on the pipeline's calibration data and leaves a
:class:`~compiler.quantization.statistics.CalibrationStats` in
``ctx.artifacts["calibration"]``; the graph is not changed. The data and how to read it
come from the pipeline's options, not from the pass' own (they are arrays, iterables or
paths, which a pipeline string cannot carry):

* ``ctx.options["calibration"]`` (required): anything
  :func:`~compiler.quantization.calibration.calibrate` takes;
* ``ctx.options["preprocess"]``: the image recipe for a directory of images;
* ``ctx.options["progress"]``: a progress bar, as :func:`compiler.progress.open_progress`
  takes it (default False).

A caller that already has statistics (saved ones) puts them in ``ctx.artifacts`` and
leaves this pass out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from compiler.ir.graph import Graph
from compiler.pass_manager.base import Pass, PassContext, PassResult

from compiler.quantization.calibration import EXECUTORS, CalibrationError, calibrate


@dataclass
class Calibrate(Pass):
    name: ClassVar[str] = "calibrate"
    summary: ClassVar[str] = ("Record activation statistics on the pipeline's calibration "
                              "data (an analysis: leaves artifacts['calibration'])")
    produces: ClassVar[tuple[str, ...]] = ("calibration",)

    bins: int = 2048
    executor: str = "auto"

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise CalibrationError(f"calibrate: executor={self.executor!r}; use one of "
                                   f"{', '.join(EXECUTORS)}")

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        data = ctx.options.get("calibration")
        if data is None:
            raise CalibrationError("calibrate: no calibration data: put sample inputs in the "
                                   "pipeline's options['calibration'] (compile(..., "
                                   "calibration=DATA) or `infercc compile --calibration`)")
        stats = calibrate(graph, data, bins=self.bins, executor=self.executor,
                          progress=ctx.options.get("progress", False),
                          preprocess=ctx.options.get("preprocess"))
        ctx.artifacts["calibration"] = stats
        return PassResult(modified=False, stats={"samples": stats.num_samples,
                                                 "tensors": len(stats.tensors)})
