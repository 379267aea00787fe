"""One call from a model to a deployable file: load -> optimise (-> quantize) -> emit.

Contract of :func:`compile`:

* ``model`` is anything :func:`compiler.load` takes: a model path (.onnx, .tflite, .prototxt,
  .keras/.h5/.pb, SavedModel directory, .pt2, .ir), an ``onnx.ModelProto``, a
  ``torch.nn.Module`` (pass ``example_inputs=`` in ``load_options``), a Keras model, or an
  IR :class:`~compiler.ir.Graph` (used as is and optimised **in place**).
* ``target`` names a registered target (:mod:`targets`; ``infercc targets`` lists them),
  optionally with options: ``"tflite{float16=true}"``. Without it the target follows
  ``output``'s extension (``x.onnx`` -> ONNX), and is :data:`targets.DEFAULT_TARGET` when
  there is no output. A target whose extension differs from ``output``'s is a
  :class:`~targets.TargetMismatchError`. The target's :meth:`~targets.Target.load_hints`
  fill in load options the caller did not give. ``float16`` and ``io_dtype`` are target
  options (TFLite's).
* The graph is optimised by one :class:`~compiler.pass_manager.PassManager` running
  ``pipeline`` (a pipeline string; default: the target's
  :meth:`~targets.Target.default_pipeline`), then handed to :meth:`~targets.Target.emit`.
  ``instruments``, ``reproducer`` and ``verify`` are the pass manager's. Passes see the
  target's name in ``ctx.target`` and its typed options in ``ctx.options["target_options"]``.
* ``int8=True`` (targets with ``supports_int8``) makes a fully-integer model: the pipeline
  gets ``calibrate`` and ``quantize{method=...,percentile=...,keep_float=[...]}`` appended
  (the default pipeline is the target's int8 one), so instruments, verification and crash
  reproducers cover them. ``calibration`` is a
  :class:`~compiler.quantization.statistics.CalibrationStats`, the path of a stats ``.npz``
  written by ``CalibrationStats.save`` (used as is: ``calibrate`` is left out), or
  calibration data: anything ``calibrate`` takes (a list of feed dicts or arrays, a data
  ``.npz`` keyed by input name, an ``.npy``, a directory of images read with the
  ``preprocess`` recipe, an iterable of those, a TFLiteConverter-style
  ``representative_dataset`` function or an onnxruntime ``CalibrationDataReader``; see
  :func:`compiler.quantization.calibration.read_samples`); ``progress`` is the progress
  bars of calibration and the accuracy report (see :mod:`compiler.progress`).
  ``io_dtype="int8"`` also makes the quantized inputs and outputs int8 tensors.
  ``CompileResult.calibration`` and ``.quantization`` hold the statistics and the quantize
  summary; ``timings`` gains ``calibrate`` (when it ran) and ``quantize``.
* ``float16`` on a target whose options have a ``samples`` field (TensorRT, which keeps in
  fp32 the layers whose values leave fp16's range on sample inputs): ``calibration`` without
  ``int8`` is those sample inputs, read as calibration data is (up to
  :data:`FP16_MAX_SAMPLES`; saved statistics are refused); without it the target draws
  seeded random inputs and logs that it did. ``keep_float`` without ``int8`` names layers
  such a target keeps in fp32 (its ``keep_fp32`` option; see :func:`takes_fp16`).
* ``prune`` (a string of the ``prune`` pass' options, ``"sparsity=0.5,pattern=2:4"``, the
  grammar of ``prune{...}`` in a pipeline string, or a mapping of them) adds that pass to
  the pipeline: before its first ``calibrate``/``quantize`` (pruned weights are the ones
  calibrated and quantized), else at its end (after the clean-ups and fusions: batch norms
  are folded into the weights that get pruned). See :func:`prune_pass`. ``calibration``
  *data* (also without ``int8``) is the pass' sample data: for ``bias_correction=true``
  and the table's SQNR figures. ``CompileResult.pruning`` holds the
  :class:`~passes.sparsity.report.PruneTable`; ``timings`` gains ``prune``.
* Accuracy (int8 only, needs calibration *data*): ``report=True`` compares every quantized
  activation with float on (up to 32 of) the calibration samples
  (:func:`compiler.quantization.report.layer_report`); ``keep_sensitive=N`` keeps the N most
  sensitive layers float, ``sqnr_budget=dB`` keeps as many as the output SQNR needs
  (:func:`compiler.quantization.sensitivity.mixed_precision`; the best model found is emitted
  even when the budget is missed). ``CompileResult.accuracy`` holds the report, the ranking
  and the layers kept; ``timings`` gains ``accuracy``.
* ``output`` (optional): where the target writes the file, atomically. Without it the
  result is built in memory only (``CompileResult.size`` still says how large it is).
* ``input_shapes={"name": dims}`` fixes input dimensions; for ``.ir``/``.pt2`` files (which
  carry their own shapes) they override the declared shapes and types are re-inferred.
  Dims may be symbols (``"N"``) or ``"?"``: they stay dynamic.
* ``layout="NCHW"|"NHWC"`` is the axis order of the compiled model's 4-D inputs and outputs
  (:mod:`compiler.layout`); default (None): the source's own (Keras/TensorFlow/TFLite NHWC,
  ONNX/PyTorch/Caffe NCHW) for every target. ``CompileResult.layouts`` and the
  ``layout`` of each input's and output's :class:`~targets.DeployedTensor` report it.
* Errors in the user's input (unknown target, unloadable model, failing pass, a graph the
  target cannot express) raise :class:`~compiler.errors.InferccError` subclasses; option
  errors are raised before the model is loaded; nothing is written when the target refuses
  the graph.

This module imports only the standard library at import time, so ``import compiler`` stays
fast; frontends, passes, targets and emitters are imported when :func:`compile` runs.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import InferccError

log = logging.getLogger(__name__)

__all__ = ["AccuracyResult", "CompileResult", "Int8OptionError", "TargetMismatchError",
           "UnknownTargetError", "compile", "compile_pipeline", "int8_refusal", "prune_pass",
           "saved_statistics"]



def __getattr__(name: str) -> Any:
    # the target errors live with the targets (imported lazily: targets imports compiler)
    if name in ("TargetMismatchError", "UnknownTargetError"):
        import targets.base

        return getattr(targets.base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# passes whose time CompileResult.timings reports under their own name
_OWN_TIMINGS = ("prune", "calibrate", "quantize")


@dataclass
class CompileResult:
    """What :func:`compile` produced.

    ``graph`` is the optimised IR graph, ``data`` the emitted bytes (TFLite flatbuffer or a
    serialised ONNX model), ``output`` the written path (or ``None``), ``size`` the byte count,
    ``records`` the pass manager's per-pass records, ``timings`` seconds spent per phase
    (``load``, ``optimize``, ``emit``; ``calibrate``/``quantize``/``accuracy`` with int8,
    ``prune`` with ``prune``), ``pruning`` the prune pass' table (None without ``prune``),
    ``sparsity`` what the pruned weights buy per layer and target (a
    :class:`~passes.sparsity.payoff.PayoffReport`; None without ``prune``),
    ``emitted`` the target's :class:`~targets.EmitResult` (its ``tensor_map`` says where each
    IR value lives in the emitted model) and ``target_options`` the target's typed options.
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
    pruning: Any = field(default=None, repr=False)
    sparsity: Any = field(default=None, repr=False)
    emitted: Any = field(default=None, repr=False)
    target_options: Any = None

    @property
    def report(self):
        """The pass manager's :class:`~compiler.pass_manager.manager.PipelineReport`."""
        from .pass_manager.manager import PipelineReport

        return PipelineReport(list(self.records))

    @property
    def layouts(self) -> dict[str, str]:
        """Input/output name -> ``"NCHW"``/``"NHWC"`` for each 4-D input and output."""
        from .layout import interface_layouts

        return interface_layouts(self.graph)

    @property
    def tensor_map(self) -> dict:
        """IR value name -> :class:`~targets.DeployedTensor` (see ``emitted``)."""
        return self.emitted.tensor_map if self.emitted is not None else {}

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
    target: str | None = None,
    *,
    pipeline: str | None = None,
    float16: bool = False,
    output: str | os.PathLike | None = None,
    input_shapes: Mapping[str, Sequence[Any]] | None = None,
    layout: str | None = None,
    int8: bool = False,
    calibration: Any = None,
    method: str = "minmax",
    percentile: float = 99.99,
    keep_float: Sequence[str] = (),
    io_dtype: str = "float",
    progress: Any = False,
    preprocess: Any = None,
    report: bool = False,
    keep_sensitive: int | None = None,
    sqnr_budget: float | None = None,
    prune: str | Mapping[str, Any] | None = None,
    instruments: Iterable[Any] = (),
    reproducer: str | os.PathLike | None = None,
    verify: bool = True,
    **load_options: Any,
) -> CompileResult:
    """Load ``model``, run the pipeline over it and emit it for ``target`` (see the module
    doc)."""
    from targets import resolve_target

    from .layout import check_layout

    layout = check_layout(layout)
    tgt, spec = resolve_target(target, output)
    given = {k: v for k, v in (("float16", float16), ("io_dtype", io_dtype))
             if v != {"float16": False, "io_dtype": "float"}[k]}
    pruner = prune_pass(prune) if prune is not None else None
    samples = None
    if not int8 and calibration is not None \
            and takes_fp16(tgt.options(spec, **given), "samples"):
        samples, calibration = calibration, None  # the sample inputs of an fp16 build
        if saved_statistics(samples) is not None:
            raise Int8OptionError("float16 builds read sample inputs; pass calibration data, "
                                  "not saved statistics")
    keep_fp32: tuple[str, ...] = ()
    if not int8 and keep_float and takes_fp16(tgt.options(spec, **given), "keep_fp32"):
        keep_fp32, keep_float = tuple(keep_float), ()  # layers the fp16 build keeps fp32
    prune_data = None  # the prune pass' sample data
    if pruner is not None and not int8:
        prune_data = samples if samples is not None else calibration
        calibration = None if samples is None else calibration
    elif pruner is not None:
        prune_data = calibration
    if prune_data is not None and saved_statistics(prune_data) is not None:
        prune_data = None  # statistics: nothing the prune pass can run
        if not int8:
            raise Int8OptionError("prune reads sample inputs; pass calibration data, not "
                                  "saved statistics")
    if pruner is not None and pruner.bias_correction and prune_data is None:
        from passes.sparsity.prune import PruneError

        raise PruneError("prune: bias_correction=true needs sample data: give calibration "
                         "data (`infercc compile --calibration DATA` or "
                         "compile(..., calibration=DATA)); saved statistics hold none")
    _check_int8_options(tgt, int8, calibration, method, keep_float, given)
    options = tgt.options(spec, **given)
    kept = tuple(getattr(options, "keep_fp32", ())) + keep_fp32
    if keep_fp32:
        options = tgt.options(options, keep_fp32=kept)
    if int8 and getattr(options, "float16", False):
        raise Int8OptionError("int8 and float16 exclude each other; pick one")
    wants_accuracy = report or keep_sensitive is not None or sqnr_budget is not None
    _check_accuracy_options(int8, report, keep_sensitive, sqnr_budget)
    saved_stats = saved_statistics(calibration) if int8 else None
    if wants_accuracy and saved_stats is not None:
        raise Int8OptionError("the accuracy report and mixed precision compare float and int8 "
                              "activations on sample inputs; pass calibration data, not saved "
                              "statistics")
    # Build the pipeline before loading: a typo should not cost a (possibly slow) model load.
    from .pass_manager import PassContext, PassManager

    parsed = compile_pipeline(tgt, pipeline, int8=int8, calibrate=saved_stats is None,
                              method=method, percentile=percentile, keep_float=keep_float,
                              prune=pruner)

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    graph = _load(model, tgt, input_shapes, dict(load_options), layout)
    timings["load"] = time.perf_counter() - t0

    ctx = PassContext(target=tgt.name, options={"target_options": options})
    keeper = _FloatGraphKeeper() if wants_accuracy else None
    from .quantization.calibration import replayable

    if keeper is not None or (pruner is not None and int8):
        # calibration and the report (or the prune pass) each read the data
        calibration = replayable(calibration)
    if prune_data is not None and not int8:  # the prune pass reads it, then maybe fp16
        prune_data = replayable(prune_data)
        samples = prune_data if samples is not None else None
        ctx.options["calibration"] = prune_data
    if int8:
        ctx.options.update(calibration=calibration if saved_stats is None else saved_stats,
                           preprocess=preprocess, progress=progress)
        if saved_stats is not None:
            _check_stats_fit(graph, saved_stats)
            ctx.artifacts["calibration"] = saved_stats
    all_instruments = list(instruments) + ([keeper] if keeper is not None else [])
    t0 = time.perf_counter()
    passes_run = PassManager(parsed, all_instruments, verify=verify,
                             reproducer=reproducer).run(graph, ctx)
    spent = time.perf_counter() - t0
    for r in passes_run.records:
        if r.name in _OWN_TIMINGS:
            timings[r.name] = timings.get(r.name, 0.0) + r.time_ms / 1e3
    timings["optimize"] = spent - sum(timings.get(k, 0.0) for k in _OWN_TIMINGS)

    stats = ctx.artifacts.get("calibration") if int8 else None
    pruning = ctx.artifacts.get("pruning") if pruner is not None else None
    summary = ctx.artifacts.get("quantization") if int8 else None
    accuracy = None
    if keeper is not None and keeper.graph is not None:
        t0 = time.perf_counter()
        accuracy = _accuracy(keeper, graph, stats, ctx, calibration, preprocess, method,
                             percentile, keep_sensitive, sqnr_budget, progress)
        if accuracy.graph is not None:
            graph, summary = accuracy.graph, accuracy.summary
        timings["accuracy"] = time.perf_counter() - t0

    if takes_fp16(options, "samples"):
        options.samples = _fp16_samples(graph, samples, preprocess)  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    emitted = tgt.emit(graph, options, output)
    _record_layouts(emitted, graph)
    timings["emit"] = time.perf_counter() - t0
    size = emitted.size
    sparsity = _sparsity_payoff(graph, tgt, options, emitted) if pruner is not None else None
    log.info("compiled to %s: %d bytes (load %.2fs, optimize %.2fs, emit %.2fs)", tgt.name,
             size, timings["load"], timings["optimize"], timings["emit"])
    return CompileResult(graph=graph, target=tgt.name,
                         output=Path(output) if output is not None else None, size=size,
                         data=emitted.data, records=list(passes_run.records), timings=timings,
                         pipeline=str(parsed), calibration=stats, quantization=summary,
                         accuracy=accuracy, emitted=emitted, target_options=options,
                         pruning=pruning, sparsity=sparsity)


def _sparsity_payoff(graph: Any, tgt: Any, options: Any, emitted: Any) -> Any:
    """What the pruned weights of ``graph`` buy on every builtin target (the
    :class:`~passes.sparsity.payoff.PayoffReport`; the compiled target's rule gets its
    options); for a .tflite, also whether XNNPACK would run it sparse on ARM."""
    import dataclasses

    from passes.sparsity.payoff import payoff_report
    from targets import BUILTIN_TARGETS, get_target

    for name in BUILTIN_TARGETS:  # importing a target registers its sparse rule
        get_target(name)
    given = {f.name: getattr(options, f.name) for f in dataclasses.fields(options)}
    note = None
    if tgt.name == "tflite":
        from targets.tflite.xnnpack_sparse import check

        xnn = check(emitted.data)
        ops, where = xnn.sparse_ops(), emitted.tensor_map
        given["xnnpack_sparse"] = {n.label for n in graph.nodes for v in n.outputs
                                   if v.name in where and where[v.name].name in ops}
        note = f"{tgt.name}: {xnn.summary()}"
    report = payoff_report(graph, options={tgt.name: given})
    report.compiled = tgt.name
    if note is not None and report.rows:
        report.notes.append(note)
    return report


def compile_pipeline(target: Any, pipeline: str | None = None, *, int8: bool = False,
                     calibrate: bool = True, method: str = "minmax",
                     percentile: float = 99.99, keep_float: Sequence[str] = (),
                     prune: Any = None) -> Any:
    """The :class:`~compiler.pass_manager.Pipeline` :func:`compile` runs for ``target`` (a
    :class:`~targets.Target`): ``pipeline`` (default: the target's default pipeline, which
    the name ``default`` in ``pipeline`` also stands for), and
    with ``int8`` then ``calibrate`` (unless ``calibrate=False``: saved statistics are
    given) and ``quantize`` with the given options, unless ``pipeline`` has its own
    ``quantize`` (whose requirements the pass manager checks). ``prune`` (a ``prune`` pass,
    options as :func:`prune_pass` takes them) goes before the first ``calibrate`` or
    ``quantize``, else at the end; a pipeline with its own ``prune`` refuses it."""
    from .pass_manager import Pipeline, default_registry, parse_pipeline

    default = target.default_pipeline(int8)  # also what 'default' in ``pipeline`` means
    passes = list(parse_pipeline(pipeline if pipeline is not None else default,
                                 default=default))
    if int8 and not any(p.name == "quantize" for p in passes):  # else the caller's own
        reg = default_registry()
        if calibrate:
            passes.append(reg.get("calibrate")())
        passes.append(reg.get("quantize")(method=method, percentile=percentile,
                                          keep_float=list(keep_float), scheme=target.name))
    if prune is not None:
        from passes.sparsity.prune import PruneError

        if any(p.name == "prune" for p in passes):
            raise PruneError("the pipeline has its own prune pass; drop it or the prune "
                             "options (--prune / prune=)")
        pruner = prune if getattr(prune, "name", None) == "prune" else prune_pass(prune)
        at = next((i for i, p in enumerate(passes) if p.name in ("calibrate", "quantize")),
                  len(passes))
        passes.insert(at, pruner)
    return Pipeline(passes)


def prune_pass(options: str | Mapping[str, Any]) -> Any:
    """The ``prune`` pass configured by ``options``: a string in the grammar of the options
    of ``prune{...}`` in a pipeline string (``"sparsity=0.5,pattern=2:4,exclude=[a;b*]"``;
    ``""``: the defaults) or a mapping of option name to value (``{"sparsity": 0.5}``). Both
    are read by the pipeline parser, so the names, types and checks are the pass' own.
    Raises :class:`~passes.sparsity.prune.PruneError` for bad options."""
    from passes.sparsity.prune import PruneError

    from .errors import PipelineError
    from .pass_manager import parse_pipeline
    from .pass_manager.pipeline import format_value

    if isinstance(options, Mapping):
        text = ",".join(f"{k}={format_value(v)}" for k, v in options.items())
    elif isinstance(options, str):
        text = options.strip()
        if text.startswith("prune{") and text.endswith("}"):
            text = text[len("prune{"):-1]
    else:
        raise PruneError(f"prune={options!r}: give the prune pass' options as a string "
                         "('sparsity=0.5,pattern=2:4') or a mapping")
    try:
        passes = list(parse_pipeline(f"prune{{{text}}}" if text else "prune"))
    except PipelineError as e:
        raise PruneError(f"bad prune options {text!r} (the options of prune{{...}}: see "
                         f"`infercc passes` and docs/sparsity.md): {e}") from None
    if len(passes) != 1:
        raise PruneError(f"bad prune options {text!r}: give only the options of the prune "
                         "pass, e.g. 'sparsity=0.5,pattern=2:4'")
    return passes[0]


class _FloatGraphKeeper:
    """A pass instrument that keeps a copy of the graph as it is before ``quantize`` (the
    float model the accuracy report and mixed precision compare against) and the quantize
    pass itself (mixed precision re-runs it keeping more layers float)."""

    def __init__(self) -> None:
        self.graph = None
        self.quantize = None

    def before_pipeline(self, graph, passes, ctx) -> None:
        pass

    def before_pass(self, p, index, graph) -> None:
        if p.name == "quantize":
            self.graph, self.quantize = graph.copy(), p

    def after_pass(self, p, graph, record) -> None:
        pass

    def after_pass_failed(self, p, index, graph, error) -> None:
        pass

    def after_pipeline(self, graph, records) -> None:
        pass


def takes_fp16(options: Any, field: str) -> bool:
    """Whether a target with these options (float16 on) has the option ``field``: ``samples``
    (it decides its fp16 layers on sample inputs, which :func:`compile` fills with its data)
    or ``keep_fp32`` (it keeps layers in fp32 by name, which ``keep_float`` fills without
    ``int8``)."""
    import dataclasses

    return bool(getattr(options, "float16", False)) and dataclasses.is_dataclass(options) \
        and any(f.name == field for f in dataclasses.fields(options))


#: sample inputs an fp16 build reads at most (each is one reference-interpreter run)
FP16_MAX_SAMPLES = 8


def _fp16_samples(graph: Any, data: Any, preprocess: Any) -> list[dict[str, Any]] | None:
    """Up to :data:`FP16_MAX_SAMPLES` feeds of ``data`` (the ``calibration`` argument of an
    fp16 build), or None without data (the target then draws its own; it logs which)."""
    if data is None:
        return None
    from .quantization.calibration import CalibrationError, iter_feeds

    feeds = list(iter_feeds(graph, data, FP16_MAX_SAMPLES, preprocess))
    if not feeds:
        raise CalibrationError("the sample inputs of the float16 build yielded no samples")
    return feeds


class Int8OptionError(InferccError):
    """The int8 options of :func:`compile` do not fit together."""


def int8_refusal(target: Any) -> str | None:
    """Why ``target`` (a :class:`~targets.Target`) cannot take int8, or None when it can."""
    if target.supports_int8:
        return None
    from targets import get_target, target_names

    offer = [t for t in map(get_target, target_names()) if t.supports_int8]
    return (f"int8 quantization is {'/'.join(t.title or t.name for t in offer) or 'not offered'}"
            f"-only for now; target {target.name!r} cannot take it"
            + (f" (use target={offer[0].name!r})" if offer else ""))


def _check_int8_options(target: Any, int8: bool, calibration: Any, method: str,
                        keep_float: Sequence[str], given: Mapping[str, Any]) -> None:
    """Refuse option combinations before any (slow) model load."""
    if not int8:
        extra = [n for n, v in (("calibration", calibration is not None),
                                ("keep_float", bool(keep_float)),
                                ("io_dtype='int8'", given.get("io_dtype") == "int8")) if v]
        if extra:
            raise Int8OptionError(f"{', '.join(extra)} only apply with int8=True")
        return
    refusal = int8_refusal(target)
    if refusal:
        raise Int8OptionError(refusal)
    if given.get("float16"):
        raise Int8OptionError("int8 and float16 exclude each other; pick one")
    if calibration is None:
        raise Int8OptionError("int8=True needs calibration: sample inputs (a list of feed "
                              "dicts or arrays, a data .npz keyed by input name) or a "
                              "statistics .npz written by CalibrationStats.save")
    from .quantization.scales import METHODS

    if method not in METHODS:
        raise Int8OptionError(f"unknown calibration method {method!r}; choose one of "
                              f"{', '.join(METHODS)}")


def saved_statistics(calibration: Any) -> Any:
    """``calibration`` as saved statistics (a CalibrationStats, or a stats ``.npz`` written by
    ``CalibrationStats.save``), else None: it is calibration data."""
    from .quantization.statistics import CalibrationError, CalibrationStats

    if isinstance(calibration, CalibrationStats):
        return calibration
    if isinstance(calibration, (str, os.PathLike)) and \
            Path(calibration).suffix.lower() == ".npz" and Path(calibration).is_file():
        try:
            return CalibrationStats.load(calibration)
        except CalibrationError:
            return None  # not a statistics file: calibration data
    return None


def _check_stats_fit(graph: Any, stats: Any) -> None:
    """Saved statistics must be of this model: they name its inputs."""
    from .quantization.statistics import CalibrationError

    missing = [v.name for v in graph.inputs if v.name not in stats]
    if missing:
        raise CalibrationError(
            f"the calibration statistics (graph @{stats.graph_name}) have nothing for "
            f"input(s) {missing} of graph @{graph.name}; they were recorded on another "
            "model or pipeline: recalibrate")


@dataclass
class AccuracyResult:
    """How far the int8 model is from float, measured on the calibration data.

    ``report``: the per-layer :class:`~compiler.quantization.report.LayerReport` of the final
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


def _accuracy(keeper: _FloatGraphKeeper, graph, stats, ctx: Any, calibration: Any,
              preprocess: Any, method: str, percentile: float, keep_sensitive: int | None,
              sqnr_budget: float | None, progress: Any) -> AccuracyResult:
    """Per-layer report of ``graph`` (QDQ form) vs the float graph ``keeper`` kept, on the
    calibration data; with ``keep_sensitive``/``sqnr_budget``, first re-run the quantize pass
    on a copy of the float graph keeping the most sensitive layers float (mixed precision;
    ``result.graph``)."""
    import dataclasses

    from .quantization.report import collect_feeds, layer_report
    from .quantization.sensitivity import mixed_precision

    float_graph = keeper.graph
    data = calibration
    if isinstance(data, (str, os.PathLike)):  # read the file or image folder once
        data = collect_feeds(float_graph, data, 32, preprocess)
    result = AccuracyResult(report=None)
    if keep_sensitive is not None or sqnr_budget is not None:
        mp = mixed_precision(float_graph, stats, data, keep=keep_sensitive, budget=sqnr_budget,
                             method=method, percentile=percentile, progress=progress,
                             scheme=keeper.quantize.scheme,
                             max_samples=32)
        result.ranking, result.kept, result.met = list(mp.ranking), list(mp.kept), mp.met
        if mp.kept:
            quantize = dataclasses.replace(
                keeper.quantize, keep_float=list(keeper.quantize.keep_float) + list(mp.kept))
            requant = float_graph.copy()
            sub = dataclasses.replace(ctx, artifacts={"calibration": stats})
            quantize.run(requant, sub)
            result.summary = sub.artifacts["quantization"]
            graph = result.graph = requant
    result.report = layer_report(float_graph, graph, data, max_samples=32, progress=progress)
    return result


def _load(model: Any, target: Any, input_shapes, options: dict[str, Any],
          layout: str | None = None):
    """Load ``model`` for ``target`` (a :class:`~targets.Target` or its name): its load
    hints fill in the options not given; then its 4-D inputs and outputs get ``layout``
    (None: the source's own)."""
    from .layout import set_interface_layout

    graph = _load_source(model, target, input_shapes, options, layout)
    set_interface_layout(graph, layout)
    return graph


def _record_layouts(emitted: Any, graph: Any) -> None:
    """Copy each 4-D input's and output's interface layout into its deployed tensor."""
    import dataclasses

    from .layout import interface_layouts

    for name, layout in interface_layouts(graph).items():
        if name in emitted.tensor_map:
            emitted.tensor_map[name] = dataclasses.replace(emitted.tensor_map[name],
                                                           layout=layout)


def _load_source(model: Any, target: Any, input_shapes, options: dict[str, Any],
                 layout: str | None):
    from .frontends import is_tensorflow_source, load
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
    if isinstance(target, str):
        from targets import get_target

        target = get_target(target)
    for key, value in target.load_hints(model).items():
        options.setdefault(key, value)
    if is_tensorflow_source(model):
        from .layout import SOURCE_LAYOUTS

        # the TensorFlow frontend lays out the inputs itself (cheaper than a transpose pair)
        options.setdefault("layout", layout or SOURCE_LAYOUTS["tensorflow"])
    graph = load(model, **options)
    if input_shapes and own_shapes:
        from .input_shapes import override_input_shapes

        override_input_shapes(graph, {k: list(v) for k, v in input_shapes.items()},
                               os.fspath(model))
    return graph

