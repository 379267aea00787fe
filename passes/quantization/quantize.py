"""The ``quantize`` pass: rewrite a calibrated float graph into "QDQ form".

The rewrite itself is :func:`compiler.quantization.rewrite.quantize_graph` (its docstring
holds the contract: what is quantized, how weights, biases and shared parameters are
treated); this pass takes its statistics from ``stats=FILE.npz`` or the pipeline's
``calibration`` artifact (left by the ``calibrate`` pass) and leaves the
:class:`~compiler.quantization.rewrite.QuantizeSummary` in ``ctx.artifacts["quantization"]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from compiler.ir.graph import Graph
from compiler.pass_manager.base import Pass, PassContext, PassResult
from compiler.quantization.rewrite import QuantizeError, quantize_graph, resolve_spec
from compiler.quantization.scales import METHODS
from compiler.quantization.statistics import CalibrationStats


@dataclass
class Quantize(Pass):
    """Run :func:`~compiler.quantization.rewrite.quantize_graph` with the pass' options.

    Requires the ``calibration`` artifact unless ``stats`` names a statistics file;
    produces the ``quantization`` artifact (the rewrite's summary).
    """

    name: ClassVar[str] = "quantize"
    summary: ClassVar[str] = ("Rewrite into int8 QDQ form from calibration statistics "
                              "(stats=FILE.npz, or the pipeline's calibration artifact)")
    requires: ClassVar[tuple[str, ...]] = ("calibration",)
    produces: ClassVar[tuple[str, ...]] = ("quantization",)

    stats: str = ""
    method: str = "minmax"
    scheme: str = "tflite"
    percentile: float = 99.99
    keep_float: list[str] = field(default_factory=list)
    per_channel: bool = True
    bias_correction: bool = True

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise QuantizeError(f"quantize: method={self.method!r}; choose one of "
                                f"{', '.join(METHODS)}")
        resolve_spec(self.scheme)  # an unknown scheme is an error in the pipeline string
        names: list[str] = []
        for k in self.keep_float:
            names.extend(s.strip() for s in str(k).split(";") if s.strip())
        self.keep_float = names

    def required_artifacts(self) -> tuple[str, ...]:
        return () if self.stats else self.requires

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        if self.stats:
            if not Path(self.stats).exists():
                raise QuantizeError(f"quantize: statistics file {self.stats} does not exist; "
                                    "write one with calibrate(graph, data).save(path) or "
                                    "`infercc compile --save-calibration`")
            stats = CalibrationStats.load(self.stats)
        else:
            stats = ctx.artifacts.get("calibration")
            if stats is None:
                raise QuantizeError("quantize: no statistics: give stats=FILE.npz or put "
                                    "CalibrationStats in the pipeline's artifacts['calibration']")
        summary = quantize_graph(graph, stats, method=self.method, percentile=self.percentile,
                                 scheme=self.scheme, keep_float=self.keep_float,
                                 per_channel=self.per_channel,
                                 bias_correction=self.bias_correction)
        ctx.artifacts["quantization"] = summary
        return PassResult(modified=summary.num_quantized > 0, stats=summary.counts())
