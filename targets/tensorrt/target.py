"""The TensorRT target: options, capabilities, and the engine build where TensorRT imports.

What it writes: with ``import tensorrt`` working, the serialized engine
(``.engine``/``.plan``) built from the strongly typed fp32 or fp16 network of
:func:`targets.tensorrt.network.build_network`, with one optimization profile from the
``shape_ranges`` option when inputs have dynamic dims (:mod:`.profile`). Without TensorRT, emitting is a
:class:`TensorRTNotInstalledError` (exit 2) that says what to install; nothing is written.
Either way :mod:`.preflight` runs first, so an unconvertible model is reported the same on
every machine. The ``tensorrt`` executor (:mod:`.runtime`) runs a written engine where
TensorRT, torch and a CUDA GPU are.

An output ending in ``.onnx`` is the TensorRT-profile ONNX instead (:mod:`.onnx_profile`,
for ``trtexec --stronglyTyped``), written on every machine; asking for an engine without
TensorRT says how to get it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from compiler.errors import InferccError
from compiler.fileio import atomic_write
from compiler.ir.graph import CONST, Node

from ..base import DeployedTensor, EmitResult, Target, TargetOptionError, TargetOptions
from . import preflight
from .api import TrtModule, real_tensorrt
from .profile import ShapeRange, add_profile, parse_shape_ranges, profile_ranges
from . import sparse_rule  # noqa: F401 - registers the "tensorrt" sparse rule

if TYPE_CHECKING:
    from compiler.quantization.spec import QuantSpec

log = logging.getLogger(__name__)


class TensorRTNotInstalledError(InferccError):
    """``import tensorrt`` fails (or finds only type stubs): no engine can be built here."""


class EngineBuildError(InferccError):
    """TensorRT refused to build the engine; the message carries its log."""


@dataclass
class TensorRTOptions(TargetOptions):
    """``workspace_mib``: the builder's workspace memory pool limit in MiB (default:
    TensorRT's, the device's memory). ``float16``: an fp16 network (half tensors and
    weights, FLOAT inputs and outputs, layers that overflow fp16 on a reference run kept
    fp32; see :mod:`.precision`). ``max_aux_streams``: the builder config's limit on
    auxiliary streams (default: TensorRT's heuristic; 0 runs every layer on one stream).
    ``shape_ranges``: the optimization profile, one ``NAME:MIN,OPT,MAX`` per dynamic input
    (``x:1x3x224x224,4x3x224x224,8x3x224x224``; ``NAME:MIN,MAX`` takes opt = max; see
    :mod:`.profile`); the ``--shape-range`` flag fills it. ``keep_fp32``: with ``float16``,
    layers kept in fp32 by name or wildcard pattern (source layer or IR value name, as
    ``keep_float`` names them for int8: :mod:`compiler.layer_names`;
    ``tensorrt{float16=true,keep_fp32=["a","b/*"]}``); ``--keep-float NAME``
    with ``--float16`` fills it.

    2:4 sparse weights need no option: SPARSE_WEIGHTS is set when a layer qualifies
    (:mod:`.sparsity`). ``samples`` (set by :func:`compiler.compile` from ``calibration``
    data given with float16, not parsed from a spec) are the inputs of the fp16 plan.
    """

    name: ClassVar[str] = "tensorrt"

    workspace_mib: int | None = None
    float16: bool = False
    max_aux_streams: int | None = None
    shape_ranges: tuple[str, ...] = ()
    keep_fp32: tuple[str, ...] = ()
    # Not an option of the grammar (init=False): the sample inputs (feed dicts) the fp16
    # plan is decided on, set by compiler.compile from its data; None draws seeded inputs.
    samples: list[dict[str, Any]] | None = field(default=None, init=False, repr=False,
                                                 compare=False)

    def __post_init__(self) -> None:
        if self.max_aux_streams is not None and self.max_aux_streams < 0:
            raise ValueError(f"max_aux_streams {self.max_aux_streams}: use 0 or more")
        self.ranges()  # a malformed range is an option error, before the model loads

    def ranges(self) -> dict[str, ShapeRange]:
        """``shape_ranges`` parsed, by input name."""
        return parse_shape_ranges(self.shape_ranges)


def import_tensorrt() -> TrtModule:
    """The real ``tensorrt`` module (:func:`.api.real_tensorrt`), or
    :class:`TensorRTNotInstalledError` saying why not."""
    trt, why = real_tensorrt()
    if trt is None:
        raise TensorRTNotInstalledError(_NOT_INSTALLED.format(why=why))
    return trt


_NOT_INSTALLED = (
    "cannot build a TensorRT engine here: {why}. Install TensorRT for your CUDA version "
    "(pip install tensorrt, on a machine with an NVIDIA GPU and driver) and compile there; "
    "nothing was written.")


class TensorRTTarget(Target):
    name: ClassVar[str] = "tensorrt"
    title: ClassVar[str] = "TensorRT"
    summary: ClassVar[str] = ("TensorRT engine (strongly typed fp32, fp16 or explicit-Q/DQ int8 "
                              "network; needs TensorRT installed)")
    extensions: ClassVar[tuple[str, ...]] = (".engine", ".plan")
    also_writes: ClassVar[tuple[str, ...]] = (".onnx",)  # the TensorRT-profile ONNX
    Options: ClassVar[type[TargetOptions]] = TensorRTOptions
    executor: ClassVar[str | None] = "tensorrt"
    supports_int8: ClassVar[bool] = True

    def options(self, spec: str | Mapping[str, Any] | TargetOptions | None = None,
                **given: Any) -> TargetOptions:
        """As :meth:`Target.options`; also refuses ``keep_fp32`` without ``float16`` (layers
        are kept in fp32 only in an fp16 network), the one check of that rule: ``compile``
        builds its options here before the model loads, and :meth:`emit` checks the options
        it is handed here too. Not in ``__post_init__``: a spec may name ``keep_fp32`` while
        ``float16`` comes in ``given`` (``--float16``)."""
        opts = super().options(spec, **given)
        keep = getattr(opts, "keep_fp32", ())
        if keep and not getattr(opts, "float16", False):
            raise TargetOptionError(f"target '{self.name}': keep_fp32={list(keep)}: layers are "
                                    "kept in fp32 only in an fp16 network; add float16=true "
                                    "(--float16). Nothing was written.")
        return opts

    @property
    def quant_spec(self) -> QuantSpec:
        from .quant_spec import QUANT_SPEC

        return QUANT_SPEC

    def supports(self, node: Node) -> str | None:
        """Whether a converter takes ``node`` and TensorRT has its element types."""
        if node.op == CONST:
            return None
        return preflight.node_reason(node)

    def emit(self, graph: Any, options: TargetOptions | None = None,
             output: str | os.PathLike[str] | None = None) -> EmitResult:
        opts = self.options(options)
        assert isinstance(opts, TensorRTOptions), opts
        _check_keep_fp32(graph, opts)
        if output is not None and Path(output).suffix.lower() == ".onnx":
            return _emit_profile(graph, opts, output)
        preflight.check(graph, f"graph '{graph.name}'", opts.ranges())
        try:
            trt = import_tensorrt()
        except TensorRTNotInstalledError as e:
            if output is None:
                raise
            raise TensorRTNotInstalledError(
                f"{e} {_build_elsewhere(graph, output, opts)}") from None
        data, tensors, notes = build_engine(graph, trt, opts)
        if output is not None:
            Path(output).parent.mkdir(parents=True, exist_ok=True)
            atomic_write(output, data)
        return EmitResult(data=data, tensor_map=tensors, target=self.name,
                          output=Path(output) if output is not None else None,
                          layer_notes=notes)


def _check_keep_fp32(graph: Any, opts: TensorRTOptions) -> None:
    """Refuse ``keep_fp32`` names no layer matches, on every machine, before TensorRT is
    imported (``keep_fp32`` without ``float16`` is refused by :meth:`TensorRTTarget.options`)."""
    from .precision import check_keep

    check_keep(graph, opts.keep_fp32)


def build_engine(graph: Any, trt: TrtModule, opts: TensorRTOptions,
                 ) -> tuple[bytes, dict[str, DeployedTensor], list[tuple[str, str, str]]]:
    """The serialized engine of ``graph``, its tensor map (IR value -> engine tensor) and
    its layer notes (``("fp32", layer, why)`` for each layer an fp16 network keeps in fp32,
    ``("sparse", layer, why)`` for each layer with 2:4 sparse weights; after the build,
    ``("sparse tactic", layer, ...)`` for each layer TensorRT picked a sparse implementation
    for and ``("int8", engine layer, format)`` for each engine layer running int8 kernels,
    from :mod:`.build_log`). Dynamic inputs get one optimization profile from
    ``opts.shape_ranges`` (run :func:`preflight.check` with them first)."""
    from .build_log import (
        engine_information, int8_layers, recording_logger, sparse_layers,
    )
    from .network import build_network
    from .precision import sample_feeds
    from .sparsity import qualifying

    logger, build_log = recording_logger(trt)
    builder = trt.Builder(logger)
    ranges = profile_ranges(graph, opts.ranges())
    samples = opts.samples
    if samples is None and opts.float16 and ranges:
        # fp16's reference run takes dynamic inputs at the profile's opt shape
        samples = [sample_feeds(graph, shapes={r.name: r.opt for r in ranges})]
    network, ctx = build_network(graph, trt, opts, builder=builder, samples=samples)
    notes = [("fp32", layer, why) for _, layer, why in (ctx.fp16.rows if ctx.fp16 else [])]
    sparse = qualifying(graph)
    notes += [("sparse", s.layer, s.why) for s in sparse]
    config = builder.create_builder_config()
    # layer formats and tactics in the engine, for the int8 report below (and for users'
    # own engine inspection); layer parameters only, no weights
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    if opts.workspace_mib is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, opts.workspace_mib << 20)
    if sparse:
        config.set_flag(trt.BuilderFlag.SPARSE_WEIGHTS)
    if opts.max_aux_streams is not None:
        config.max_aux_streams = opts.max_aux_streams
    if add_profile(trt, builder, config, ranges) == -1:
        raise EngineBuildError(f"{graph.name}: TensorRT refused the optimization profile "
                               f"{', '.join(map(str, ranges))}; its log above says why. "
                               "Nothing was written.")
    blob = builder.build_serialized_network(network, config)
    if blob is None:
        said = " ".join(build_log.errors()[-3:])
        raise EngineBuildError(f"{graph.name}: TensorRT could not build the engine"
                               f"{': ' + said if said else '; its log above says why'}. "
                               "Nothing was written.")
    data = bytes(memoryview(blob))
    _, picked = sparse_layers(build_log)
    notes += [("sparse tactic", layer, "TensorRT picked a 2:4 sparse implementation")
              for layer in picked]
    info = engine_information(trt, data, logger)
    if info is None:
        log.warning("%s: the engine could not be read back to list its int8 layers",
                    graph.name)
    else:
        notes += [("int8", layer, f"runs int8 kernels ({fmt})")
                  for layer, fmt in int8_layers(info)]
    types = {v.name: v.type for v in graph.values()}
    tensors = {name: DeployedTensor(name=t.name, perm=tuple(range(len(t.shape))),
                                    dtype=types[name].dtype.numpy.name if name in types else "")
               for name, t in ctx.tensors.items()}
    return data, tensors, notes


def _build_elsewhere(graph: Any, output: str | os.PathLike[str],
                     opts: TensorRTOptions) -> str:
    from .onnx_profile import trtexec_command

    onnx = Path(output).with_suffix(".onnx")
    return (f"To build it elsewhere, run the same `infercc compile` command with -o {onnx} "
            f"(the TensorRT-profile ONNX, written on any machine), then where TensorRT is "
            f"installed: {trtexec_command(graph, onnx, opts.ranges(), engine=output)}")


def _emit_profile(graph: Any, opts: TensorRTOptions,
                  output: str | os.PathLike[str]) -> EmitResult:
    from targets.onnx.target import _tensor_map  # the ONNX target's own map, reused

    from .onnx_profile import export_profile

    Path(output).parent.mkdir(parents=True, exist_ok=True)
    renamed: dict[str, str] = {}
    model = export_profile(graph, output, float16=bool(getattr(opts, "float16", False)),
                           renamed=renamed, ranges=opts.ranges())
    return EmitResult(data=model.SerializeToString(),
                      tensor_map=_tensor_map(graph, model, renamed), target="tensorrt",
                      output=Path(output))
