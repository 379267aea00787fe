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

    @property
    def report(self):
        """The pass manager's :class:`~compiler.pass_manager.manager.PipelineReport`."""
        from .pass_manager.manager import PipelineReport

        return PipelineReport(list(self.records))

    @property
    def total_seconds(self) -> float:
        return sum(self.timings.values())


def compile(  # noqa: A001 - the public name is compiler.compile
    model: Any,
    target: str = "tflite",
    *,
    pipeline: str | None = None,
    float16: bool = False,
    output: str | os.PathLike | None = None,
    input_shapes: Mapping[str, Sequence[Any]] | None = None,
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
    # Parse the pipeline before loading: a typo should not cost a (possibly slow) model load.
    from passes import DEFAULT_PIPELINE

    from .pass_manager import PassContext, PassManager, parse_pipeline

    pipeline_text = DEFAULT_PIPELINE if pipeline is None else pipeline
    parsed = parse_pipeline(pipeline_text)

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    graph = _load(model, target, input_shapes, dict(load_options))
    timings["load"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    report = PassManager(parsed).run(graph, PassContext())
    timings["optimize"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if output is not None:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
    if target == "tflite":
        from targets.tflite.lower import emit_tflite

        data = emit_tflite(graph, output, float16=float16)
    else:
        from targets.onnx.exporter import export_onnx

        data = export_onnx(graph, output).SerializeToString()
    timings["emit"] = time.perf_counter() - t0
    size = os.path.getsize(output) if output is not None else len(data)
    log.info("compiled to %s: %d bytes (load %.2fs, optimize %.2fs, emit %.2fs)", target, size,
             timings["load"], timings["optimize"], timings["emit"])
    return CompileResult(graph=graph, target=target,
                         output=Path(output) if output is not None else None, size=size,
                         data=data, records=list(report.records), timings=timings,
                         pipeline=str(parsed))


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
            from .cli import _override_input_shapes

            _override_input_shapes(model, {k: list(v) for k, v in input_shapes.items()},
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
        from .cli import _override_input_shapes

        _override_input_shapes(graph, {k: list(v) for k, v in input_shapes.items()},
                               os.fspath(model))
    return graph

