"""One call from a model to a deployable file: load -> optimise -> emit.

Contract of :func:`compile`:

* ``model`` is anything :func:`compiler.load` takes: a model path (.onnx, .tflite, .prototxt,
  .keras/.h5/.pb, SavedModel directory, .pt2, .ir), an ``onnx.ModelProto``, a
  ``torch.nn.Module`` (pass ``example_inputs=`` in ``load_options``), a Keras model, or an
  IR :class:`~compiler.ir.Graph` (used as is and optimised **in place**).
* The graph is optimised by a :class:`~compiler.pass_manager.PassManager` running
  ``pipeline`` (a pipeline string; default :data:`passes.DEFAULT_PIPELINE`), then handed to
  the target's emitter:

  - ``"tflite"``: :func:`targets.tflite.lower.emit_tflite` (``float16`` stores weights as
    float16). TensorFlow/Keras sources are loaded with ``layout="NHWC"`` (TFLite's layout;
    the emitter folds the boundary transposes) unless ``load_options`` names a layout.
  - ``"onnx"``: :func:`targets.onnx.exporter.export_onnx` (``float16`` is refused).

* ``int8=True`` (TFLite only) makes a fully-integer model: after the pipeline the graph is
  calibrated (:func:`passes.quantization.calibration.calibrate`) on ``calibration``, rewritten
  into QDQ form by :func:`passes.quantization.quantize.quantize_graph` (scheme ``"tflite"``,
  ``method``/``percentile`` choose the activation ranges, ``keep_float`` names layers kept in
  float) and emitted with int8 kernels; ``io_dtype="int8"`` also makes the quantized inputs
  and outputs int8 tensors. ``calibration`` is a
  :class:`~passes.quantization.calibration.CalibrationStats`, the path of a stats ``.npz``
  written by ``CalibrationStats.save`` (used as is, nothing is run), or calibration data:
  anything ``calibrate`` takes (a list of feed dicts or arrays, a data ``.npz`` keyed by
  input name, an ``.npy``, a directory of images read with the ``preprocess`` recipe, an
  iterable); ``progress`` shows calibration's progress bar. Without an explicit
  ``pipeline`` the default one fuses only the relu family (TFLite's int8 kernels fuse no
  tanh/sigmoid). ``CompileResult.calibration`` and ``.quantization`` hold the statistics and
  the quantize summary; ``timings`` gains ``calibrate`` and ``quantize``.
* Accuracy (int8 only, needs calibration *data*): ``report=True`` compares every quantized
  activation with float on (up to 32 of) the calibration samples
  (:func:`passes.quantization.report.layer_report`); ``keep_sensitive=N`` keeps the N most
  sensitive layers float, ``sqnr_budget=dB`` keeps as many as the output SQNR needs
  (:func:`passes.quantization.sensitivity.mixed_precision`; the best model found is emitted
  even when the budget is missed). ``CompileResult.accuracy`` holds the report, the ranking
  and the layers kept; ``timings`` gains ``accuracy``.
* ``output`` (optional): where the emitter writes the file, atomically. Without it the
  result is built in memory only (``CompileResult.size`` still says how large it is).
* ``input_shapes={"name": dims}`` fixes input dimensions; for ``.ir``/``.pt2`` files (which
  carry their own shapes) they override the declared shapes and types are re-inferred.
* Errors in the user's input (unknown target, unloadable model, failing pass, a graph the
  target cannot express) raise :class:`~compiler.errors.InferccError` subclasses; nothing is
  written when the emitter refuses the graph.

This module imports only the standard library at import time, so ``import compiler`` stays
fast; frontends, passes and emitters are imported when :func:`compile` runs.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import InferccError

log = logging.getLogger(__name__)

TARGETS: tuple[str, ...] = ("tflite", "onnx")


class UnknownTargetError(InferccError):
    """``target`` names no emitter."""


@dataclass
class CompileResult:
    """What :func:`compile` produced.

    ``graph`` is the optimised IR graph, ``data`` the emitted bytes (TFLite flatbuffer or a
    serialised ONNX model), ``output`` the written path (or ``None``), ``size`` the byte count,
    ``records`` the pass manager's per-pass records and ``timings`` seconds spent per phase
    (``load``, ``optimize``, ``emit``).
    """

    graph: Any
    target: str
    output: Path | None
    size: int
    data: bytes = field(repr=False)
    records: list = field(default_factory=list, repr=False)
    timings: dict[str, float] = field(default_factory=dict)
    pipeline: str = ""
    calibration: Any = field(default=None, repr=False)
    quantization: Any = field(default=None, repr=False)
    accuracy: "AccuracyResult | None" = field(default=None, repr=False)

    @property
    def report(self):
        """The pass manager's :class:`~compiler.pass_manager.manager.PipelineReport`."""
        from .pass_manager.manager import PipelineReport

        return PipelineReport(list(self.records))

    @property
    def total_seconds(self) -> float:
        return sum(self.timings.values())


def _gc_paused(fn):
    """Run ``fn`` with Python's cyclic garbage collector paused (restored afterwards).

    A compile allocates many small IR objects, which triggers full collections; each walks
    every object in the process, TensorFlow's included: one took 0.33 s of a 1.0 s int8
    compile of the FER CNN. The IR's reference cycles are freed by the first collection
    after the compile returns.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return wrapper


@_gc_paused
def compile(  # noqa: A001 - the public name is compiler.compile
    model: Any,
    target: str = "tflite",
    *,
    pipeline: str | None = None,
    float16: bool = False,
    output: str | os.PathLike | None = None,
    input_shapes: Mapping[str, Sequence[Any]] | None = None,
    int8: bool = False,
    calibration: Any = None,
    method: str = "minmax",
    percentile: float = 99.99,
    keep_float: Sequence[str] = (),
    io_dtype: str = "float",
    progress: bool = False,
    preprocess: Any = None,
    report: bool = False,
    keep_sensitive: int | None = None,
    sqnr_budget: float | None = None,
    **load_options: Any,
) -> CompileResult:
    """Load ``model``, run ``pipeline`` over it and emit it for ``target`` (see the module doc)."""
    target = str(target).lower()
    if target not in TARGETS:
        raise UnknownTargetError(
            f"unknown target {target!r}; the targets are: {', '.join(TARGETS)}"
        )
    if float16 and target != "tflite":
        raise UnknownTargetError(f"float16 is a TFLite option; target {target!r} does not take it")
    _check_int8_options(target, int8, calibration, method, float16, keep_float, io_dtype)
    wants_accuracy = report or keep_sensitive is not None or sqnr_budget is not None
    _check_accuracy_options(int8, report, keep_sensitive, sqnr_budget)
    saved_stats = _saved_stats(calibration) if int8 else None
    if wants_accuracy and saved_stats is not None:
        raise Int8OptionError("the accuracy report and mixed precision compare float and int8 "
                              "activations on sample inputs; pass calibration data, not saved "
                              "statistics")
    # Parse the pipeline before loading: a typo should not cost a (possibly slow) model load.
    from passes import DEFAULT_PIPELINE

    from .pass_manager import PassContext, PassManager, parse_pipeline

    if pipeline is not None:
        pipeline_text = pipeline
    elif int8:
        # TFLite's int8 kernels fuse only the relu family; a tanh/sigmoid left as its own op
        # gets calibrated and runs in int8 instead of falling back to float.
        pipeline_text = DEFAULT_PIPELINE.replace(
            "fuse-activation", "fuse-activation{allowed=[relu,relu6,relu_n1_to_1]}")
    else:
        pipeline_text = DEFAULT_PIPELINE
    parsed = parse_pipeline(pipeline_text)

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    graph = _load(model, target, input_shapes, dict(load_options))
    timings["load"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    passes_run = PassManager(parsed).run(graph, PassContext())
    timings["optimize"] = time.perf_counter() - t0

    stats = summary = accuracy = None
    if int8:
        float_graph = graph.copy() if wants_accuracy else None
        stats, summary = _quantize(graph, calibration, saved_stats, method, percentile,
                                   keep_float, progress, preprocess, timings)
        if float_graph is not None:
            t0 = time.perf_counter()
            accuracy = _accuracy(float_graph, graph, stats, calibration, preprocess, method,
                                 percentile, keep_float, keep_sensitive, sqnr_budget, progress)
            if accuracy.graph is not None:
                graph, summary = accuracy.graph, accuracy.summary
            timings["accuracy"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if output is not None:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
    if target == "tflite":
        from targets.tflite.lower import emit_tflite

        data = emit_tflite(graph, output, float16=float16, io_dtype=io_dtype)
    else:
        from targets.onnx.exporter import export_onnx

        data = export_onnx(graph, output).SerializeToString()
    timings["emit"] = time.perf_counter() - t0
    size = os.path.getsize(output) if output is not None else len(data)
    log.info("compiled to %s: %d bytes (load %.2fs, optimize %.2fs, emit %.2fs)", target, size,
             timings["load"], timings["optimize"], timings["emit"])
    return CompileResult(graph=graph, target=target,
                         output=Path(output) if output is not None else None, size=size,
                         data=data, records=list(passes_run.records), timings=timings,
                         pipeline=str(parsed), calibration=stats, quantization=summary,
                         accuracy=accuracy)


class Int8OptionError(InferccError):
    """The int8 options of :func:`compile` do not fit together."""


def _check_int8_options(target: str, int8: bool, calibration: Any, method: str,
                        float16: bool, keep_float: Sequence[str], io_dtype: str) -> None:
    """Refuse option combinations before any (slow) model load."""
    if io_dtype not in ("float", "int8"):
        raise Int8OptionError(f"io_dtype {io_dtype!r}: use 'float' or 'int8'")
    if not int8:
        extra = [n for n, v in (("calibration", calibration is not None),
                                ("keep_float", bool(keep_float)),
                                ("io_dtype='int8'", io_dtype == "int8")) if v]
        if extra:
            raise Int8OptionError(f"{', '.join(extra)} only apply with int8=True")
        return
    if target != "tflite":
        raise Int8OptionError(f"int8 quantization is TFLite-only for now; target {target!r} "
                              "cannot take it (use target='tflite')")
    if float16:
        raise Int8OptionError("int8 and float16 exclude each other; pick one")
    if calibration is None:
        raise Int8OptionError("int8=True needs calibration: sample inputs (a list of feed "
                              "dicts or arrays, a data .npz keyed by input name) or a "
                              "statistics .npz written by CalibrationStats.save")
    from passes.quantization.scales import METHODS

    if method not in METHODS:
        raise Int8OptionError(f"unknown calibration method {method!r}; choose one of "
                              f"{', '.join(METHODS)}")


def _saved_stats(calibration: Any):
    """``calibration`` as saved statistics (a CalibrationStats, or a stats ``.npz`` written by
    ``CalibrationStats.save``), else None: it is calibration data."""
    from passes.quantization.calibration import CalibrationError, CalibrationStats

    if isinstance(calibration, CalibrationStats):
        return calibration
    if isinstance(calibration, (str, os.PathLike)) and \
            Path(calibration).suffix.lower() == ".npz" and Path(calibration).is_file():
        try:
            return CalibrationStats.load(calibration)
        except CalibrationError:
            return None  # not a statistics file: calibration data
    return None


def _quantize(graph, calibration: Any, stats: Any, method: str, percentile: float,
              keep_float: Sequence[str], progress: bool, preprocess: Any,
              timings: dict[str, float]):
    """Calibrate (unless ``stats``, saved statistics, are given) and rewrite ``graph`` into
    QDQ form."""
    from passes.quantization.calibration import CalibrationError, calibrate
    from passes.quantization.quantize import quantize_graph

    t0 = time.perf_counter()
    if stats is None:
        stats = calibrate(graph, calibration, progress=progress, preprocess=preprocess)
    else:
        missing = [v.name for v in graph.inputs if v.name not in stats]
        if missing:
            raise CalibrationError(
                f"the calibration statistics (graph @{stats.graph_name}) have nothing for "
                f"input(s) {missing} of graph @{graph.name}; they were recorded on another "
                "model or pipeline: recalibrate")
    timings["calibrate"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    summary = quantize_graph(graph, stats, method=method, percentile=percentile,
                             scheme="tflite", keep_float=tuple(keep_float))
    timings["quantize"] = time.perf_counter() - t0
    return stats, summary


@dataclass
class AccuracyResult:
    """How far the int8 model is from float, measured on the calibration data.

    ``report``: the per-layer :class:`~passes.quantization.report.LayerReport` of the final
    model; ``ranking``: the sensitivity ranking (worst first) when mixed precision ran;
    ``kept``: layers it kept in float (on top of ``keep_float``); ``met``: whether
    ``sqnr_budget`` was reached; ``summary``/``graph``: the QuantizeSummary and graph of the
    re-quantized model when layers were kept float (else None: the first quantization stands).
    """

    report: Any
    ranking: list = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    met: bool = True
    summary: Any = None
    graph: Any = None


def _check_accuracy_options(int8: bool, report: bool, keep_sensitive: int | None,
                            sqnr_budget: float | None) -> None:
    given = [n for n, v in (("report", report), ("keep_sensitive", keep_sensitive is not None),
                            ("sqnr_budget", sqnr_budget is not None)) if v]
    if given and not int8:
        raise Int8OptionError(f"{', '.join(given)} only apply with int8=True")
    if keep_sensitive is not None and sqnr_budget is not None:
        raise Int8OptionError("give keep_sensitive (a layer count) or sqnr_budget (dB), not both")
    if keep_sensitive is not None and keep_sensitive < 0:
        raise Int8OptionError(f"keep_sensitive={keep_sensitive}; use a count >= 0")


def _accuracy(float_graph, graph, stats, calibration: Any, preprocess: Any, method: str,
              percentile: float, keep_float: Sequence[str], keep_sensitive: int | None,
              sqnr_budget: float | None, progress: bool) -> AccuracyResult:
    """Per-layer report of ``graph`` (QDQ form) vs ``float_graph`` on the calibration data;
    with ``keep_sensitive``/``sqnr_budget``, first re-quantize a copy of ``float_graph``
    keeping the most sensitive layers float (mixed precision; ``result.graph``)."""
    from passes.quantization.report import collect_feeds, layer_report
    from passes.quantization.sensitivity import mixed_precision

    data = calibration
    if isinstance(data, (str, os.PathLike)):  # read the file or image folder once
        data = collect_feeds(float_graph, data, 32, preprocess)
    result = AccuracyResult(report=None)
    if keep_sensitive is not None or sqnr_budget is not None:
        mp = mixed_precision(float_graph, stats, data, keep=keep_sensitive, budget=sqnr_budget,
                             method=method, percentile=percentile, progress=progress,
                             max_samples=32)
        result.ranking, result.kept, result.met = list(mp.ranking), list(mp.kept), mp.met
        if mp.kept:
            from passes.quantization.quantize import quantize_graph

            requant = float_graph.copy()
            result.summary = quantize_graph(requant, stats, method=method,
                                            percentile=percentile, scheme="tflite",
                                            keep_float=tuple(keep_float) + tuple(mp.kept))
            graph = result.graph = requant
    result.report = layer_report(float_graph, graph, data, max_samples=32, progress=progress)
    return result


def _is_tensorflow_source(model: Any) -> bool:
    from .frontends import TF_SUFFIXES

    if isinstance(model, (str, os.PathLike)):
        p = Path(model)
        return p.suffix.lower() in TF_SUFFIXES or (p.is_dir() and (p / "saved_model.pb").exists())
    kind = type(model).__module__.split(".")[0]
    return kind in ("keras", "tf_keras", "tensorflow") or hasattr(model, "signatures")


def _load(model: Any, target: str, input_shapes, options: dict[str, Any]):
    from .frontends import load
    from .ir import Graph

    if isinstance(model, Graph):
        if input_shapes:
            from .input_shapes import override_input_shapes

            override_input_shapes(model, {k: list(v) for k, v in input_shapes.items()},
                                   f"graph @{model.name}")
        return model
    own_shapes = isinstance(model, (str, os.PathLike)) and Path(model).suffix.lower() in (
        ".ir", ".pt2")
    if input_shapes and not own_shapes:
        options["input_shapes"] = {k: list(v) for k, v in input_shapes.items()}
    if target == "tflite" and "layout" not in options and _is_tensorflow_source(model):
        options["layout"] = "NHWC"
    graph = load(model, **options)
    if input_shapes and own_shapes:
        from .input_shapes import override_input_shapes

        override_input_shapes(graph, {k: list(v) for k, v in input_shapes.items()},
                               os.fspath(model))
    return graph

