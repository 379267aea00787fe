"""What a target is: the :class:`Target` base class, its typed options and what it emits.

A target is the last stage of a compile: it says how a model is loaded for it
(:meth:`Target.load_hints`), which pipelines prepare a graph for it
(:meth:`Target.default_pipeline`), which nodes it can express (:meth:`Target.supports`),
writes the graph (:meth:`Target.emit` -> :class:`EmitResult`) and names the executor that
runs what it wrote (:attr:`Target.executor`).

Options are declared like pass options, as fields of a :class:`TargetOptions` dataclass,
so ``tflite{float16=true}`` parses with the pipeline grammar
(:mod:`compiler.pass_manager.pipeline`) into a typed instance:

    @dataclass
    class TFLiteOptions(TargetOptions):
        name: ClassVar[str] = "tflite"
        float16: bool = False

This module imports only the standard library and :mod:`compiler.errors` at import time.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping

from compiler.errors import InferccError, join_names


class UnknownTargetError(InferccError):
    """A target name, or an option of a target, names nothing that exists."""


class TargetMismatchError(InferccError):
    """The target asked for and the output file's extension disagree."""


class TargetOptionError(InferccError):
    """A target option is unknown for the target or has a bad value."""


@dataclass(frozen=True)
class DeployedTensor:
    """Where one IR value lives in the emitted model.

    ``name``: the tensor's name in the deployed model; ``index``: its index there when the
    format numbers tensors (TFLite), else None; ``perm``: its physical axis order, i.e. the
    deployed tensor holds ``ir_value.transpose(perm)`` (the identity when the layouts
    agree); ``dtype``: the deployed element type (numpy spelling, ``"int8"``);
    ``scale``/``zero_point``/``axis``: its quantization (empty for float tensors; ``axis``
    is the quantized dimension of per-channel parameters, in the deployed order);
    ``layout``: ``"NCHW"``/``"NHWC"`` for a 4-D graph input or output (its interface layout,
    :mod:`compiler.layout`), else empty.
    """

    name: str
    index: int | None = None
    perm: tuple[int, ...] = ()
    dtype: str = ""
    scale: tuple[float, ...] = ()
    zero_point: tuple[int, ...] = ()
    axis: int | None = None
    layout: str = ""

    @property
    def quantized(self) -> bool:
        return bool(self.scale)


@dataclass
class EmitResult:
    """What :meth:`Target.emit` produced.

    ``data``: the model bytes (for a model too large for one file, what was written
    beside ``output`` is not included); ``tensor_map``: IR value name -> the deployed
    tensor holding it (values the emitter folded away are absent); ``target``: the target
    name; ``output``: the written path or None; ``float_nodes``: ``(op, layer, why)`` of each
    quantized node the emitted model runs in float between dequantize and quantize (each
    one is logged when emitted); ``layer_notes``: ``(kind, layer, why)`` of other per-layer
    choices the target made (TensorRT: ``fp32`` layers of an fp16 network, ``sparse``
    layers with 2:4 weights).
    """

    data: bytes = field(repr=False)
    tensor_map: dict[str, DeployedTensor] = field(default_factory=dict, repr=False)
    target: str = ""
    output: Path | None = None
    float_nodes: list[tuple[str, str, str]] = field(default_factory=list, repr=False)
    layer_notes: list[tuple[str, str, str]] = field(default_factory=list, repr=False)

    @property
    def size(self) -> int:
        """Bytes on disk when written, else the size of ``data``."""
        if self.output is not None and self.output.is_file():
            return os.path.getsize(self.output)
        return len(self.data)


@dataclass
class TargetOptions:
    """Base of a target's options; subclasses are dataclasses whose fields are the options.

    ``name`` (the target's name) is used in error messages and when printing options back
    as ``name{opt=value}``.
    """

    name: ClassVar[str] = ""

    @classmethod
    def options(cls) -> list[dataclasses.Field]:
        """The option fields (the interface the pipeline grammar reads)."""
        return [f for f in dataclasses.fields(cls) if f.init]

    def __str__(self) -> str:
        from compiler.pass_manager.pipeline import format_pass

        return format_pass(self)  # type: ignore[arg-type]


class Target:
    """Base class of every target. Subclasses set the class attributes and override
    :meth:`emit` (and, where they differ from the defaults, the other methods).

    Contracts: ``name`` is the registry name (kebab-case); ``extensions`` are the output
    file suffixes (lower case, with the dot) that select this target when none is named;
    ``Options`` is its :class:`TargetOptions` subclass; ``executor`` names the runtime
    executor (:func:`compiler.runtime.open_executor`) that runs what it emits, or None;
    ``supports_int8`` says whether :attr:`quant_spec` is available.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""  # how messages spell it: "TFLite"
    summary: ClassVar[str] = ""
    extensions: ClassVar[tuple[str, ...]] = ()
    # suffixes it also writes when named, without claiming them (tensorrt: its profile .onnx)
    also_writes: ClassVar[tuple[str, ...]] = ()
    Options: ClassVar[type[TargetOptions]] = TargetOptions
    executor: ClassVar[str | None] = None
    supports_int8: ClassVar[bool] = False

    # -- options ---------------------------------------------------------------------------
    def options(self, spec: str | Mapping[str, Any] | TargetOptions | None = None,
                **given: Any) -> TargetOptions:
        """Typed options from ``spec`` (``"name{opt=v}"``, a mapping of option values, an
        instance, or None for the defaults) updated by ``given``.

        Raises :class:`TargetOptionError` naming the target and the valid options when an
        option is unknown or its value has the wrong type.
        """
        if isinstance(spec, TargetOptions):
            base = spec
        elif isinstance(spec, str):
            base = parse_target_options(self, spec)
        else:
            base = self.Options()
            given = {**dict(spec or {}), **given}
        if not given:
            return base
        names = {f.name for f in self.Options.options()}
        unknown = [k for k in given if k not in names]
        if unknown:
            raise TargetOptionError(
                f"{join_names(sorted(unknown))}: not an option of target '{self.name}'; "
                f"{_describe(self)}")
        try:
            return dataclasses.replace(base, **given)
        except (TypeError, ValueError) as e:
            raise TargetOptionError(f"target '{self.name}': {e}") from None

    # -- loading and pipelines -------------------------------------------------------------
    def load_hints(self, model: Any) -> dict[str, Any]:
        """Load options (``compiler.load`` keywords) that suit this target for ``model``;
        the caller's own options win over these."""
        return {}

    def default_pipeline(self, int8: bool = False) -> str:
        """The pipeline run before :meth:`emit`. With ``int8`` the one that prepares a graph
        for calibration and quantization (the quantize step itself is appended by the
        caller)."""
        from passes import DEFAULT_PIPELINE

        return DEFAULT_PIPELINE

    @property
    def quant_spec(self) -> Any:
        """The target's :class:`compiler.quantization.spec.QuantSpec` (which ops run in
        int8, fixed output parameters, shared scales, symmetry)."""
        raise UnknownTargetError(f"target '{self.name}' does not offer int8 quantization")

    # -- capabilities, emitting, running ---------------------------------------------------
    def supports(self, node: Any) -> str | None:
        """None when this target can express ``node``; otherwise why not (one phrase).

        A static per-node answer (op, types, ranks); the emitter may still refuse a node
        whose context it cannot express. The default accepts every node.
        """
        return None

    def emit(self, graph: Any, options: TargetOptions | None = None,
             output: str | os.PathLike | None = None) -> EmitResult:
        """Write ``graph`` for this target; to ``output`` atomically when given.

        Raises an :class:`~compiler.errors.InferccError` listing every node it cannot
        express before anything is written.
        """
        raise NotImplementedError

    def open_executor(self, model: EmitResult | str | os.PathLike | bytes, **opts: Any) -> Any:
        """An executor (``compiler.runtime``) for what :meth:`emit` wrote: an
        :class:`EmitResult`, a path or the model bytes."""
        if self.executor is None:
            raise UnknownTargetError(f"target '{self.name}' names no executor")
        from compiler.runtime import open_executor  # a lower layer: imported, not by name

        if isinstance(model, EmitResult):
            model = model.output if model.output is not None else model.data
        return open_executor(self.executor, model, **opts)

    def __repr__(self) -> str:
        return f"<target {self.name}>"


def parse_target_options(target: Target, text: str) -> TargetOptions:
    """``"tflite{float16=true}"`` (or ``"tflite"``) -> ``target``'s typed options.

    The grammar is the pipeline grammar's for one pass; errors point at the option with a
    caret, as pipeline errors do.
    """
    from compiler.errors import PipelineError
    from compiler.pass_manager.pipeline import _Parser

    parser = _Parser(text, _OptionsLookup(target))  # type: ignore[arg-type]
    try:
        parser.ws()
        opts = parser.parse_pass()
        parser.ws()
        if parser.peek():
            raise parser.error(f"unexpected {parser.found()} after the target's options")
    except PipelineError as e:
        raise TargetOptionError(str(e).replace("bad pipeline", "bad target options", 1)
                                .replace(" pass '", " target '")) from None
    return opts  # type: ignore[return-value]


class _OptionsLookup:
    """The registry interface the pipeline parser reads, answering for one target only."""

    def __init__(self, target: Target):
        self.target = target

    def __contains__(self, name: str) -> bool:
        return name == self.target.name

    def unknown_message(self, name: str) -> str:
        return f"'{name}' is not the target's name '{self.target.name}'"

    def get(self, name: str) -> type[TargetOptions]:
        return self.target.Options


def _describe(target: Target) -> str:
    from compiler.pass_manager.pipeline import describe_options

    opts = describe_options(target.Options)  # type: ignore[arg-type]
    if not opts:
        return f"target '{target.name}' takes no options"
    return f"valid options of '{target.name}': " + ", ".join(
        f"{n}: {t} = {d}" for n, t, d in opts)


def describe_target_options(target: Target) -> list[tuple[str, str, str]]:
    """``(name, type, default)`` of each option of ``target``, for help texts."""
    from compiler.pass_manager.pipeline import describe_options

    return describe_options(target.Options)  # type: ignore[arg-type]
