"""IR graph -> TensorRT network definition, through an injected ``trt`` module.

:func:`build_network` creates a STRONGLY_TYPED network (the only kind TensorRT 11 builds;
TensorRT 10.x builds it too), adds the graph inputs (symbolic dims as -1, to be bounded by
an optimization profile), converts every node with the first converter that accepts it
(:mod:`targets.tensorrt.registry`) and marks the graph outputs. Layers carry their node's
source layer name. Run :func:`targets.tensorrt.preflight.check` first: this module assumes
every node has a converter.

With ``options.float16`` the network is fp16, strongly typed: nodes run on half tensors with
half weights, except those :func:`targets.tensorrt.precision.plan_fp16` keeps in fp32 (the
layers ``options.keep_fp32`` names among them). The
network's inputs and outputs stay FLOAT (what ``trtexec`` and callers feeding float32 arrays
expect); explicit ``add_cast`` layers convert where the type changes, one per tensor and type.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from compiler.ir.graph import CONST, Graph, Node
from compiler.ir.types import DType

from .api import TrtModule
from .context import ConversionContext, ConversionError
from .precision import plan_fp16
from .registry import select

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    import numpy as np
    import tensorrt

    from .target import TensorRTOptions

log = logging.getLogger(__name__)


def create_network(trt: TrtModule,
                   builder: tensorrt.Builder) -> tensorrt.INetworkDefinition:
    """An empty strongly typed network of ``builder``."""
    flag = int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    return builder.create_network(1 << flag)


def build_network(graph: Graph, trt: TrtModule, options: TensorRTOptions | None = None,
                  builder: tensorrt.Builder | None = None,
                  samples: Mapping[str, np.ndarray] | Sequence[Mapping[str, np.ndarray]]
                  | None = None,
                  ) -> tuple[tensorrt.INetworkDefinition, ConversionContext]:
    """The network for ``graph`` and the conversion context holding its tensor map
    (``ctx.tensors``: IR value name -> TensorRT tensor; ``ctx.keep`` holds the weight arrays,
    which must outlive the engine build).

    ``builder`` defaults to a new ``trt.Builder(trt.Logger(WARNING))``; pass the builder
    that will build the engine (a network belongs to the builder that made it).
    ``samples``: inputs for the fp16 reference run, one feed dict or several
    (``options.float16`` only; default: a seeded normal draw); ``ctx.fp16`` holds the
    resulting plan (None for fp32).
    """
    if builder is None:
        builder = trt.Builder(trt.Logger(trt.Logger.WARNING))
    network = create_network(trt, builder)
    network.name = graph.name
    ctx = ConversionContext(trt, network)
    plan = (plan_fp16(graph, samples, keep=options.keep_fp32)
            if options is not None and options.float16 else None)
    ctx.fp16 = plan
    casts: dict[tuple[str, bool], tensorrt.ITensor] = {}
    for v in graph.inputs:
        shape = v.type.shape
        if shape is None:
            raise ConversionError(f"graph input %{v.name} has an unknown rank; give its shape "
                                  "(--input-shape) so TensorRT can declare it")
        dims = [d if isinstance(d, int) else -1 for d in shape]
        ctx.tensors[v.name] = network.add_input(v.name, ctx.dtype(v.type.dtype), ctx.dims(dims))
    for node in graph.nodes:
        if node.op == CONST:
            continue  # made on first use by ctx.tensor
        conv, reasons = select(node)
        if conv is None:
            raise ConversionError(f"{node.label} ({node.op}): {'; '.join(reasons)}")
        if plan is None:
            conv.convert(ctx, node)
        else:
            _convert_typed(ctx, node, conv.convert, not plan.keeps_fp32(node), casts)
        log.debug("converted %s (%s)", node.label, node.op)
    for v in graph.outputs:
        t = ctx.tensor(v)
        if plan is not None and v.type.dtype == DType.F32 and t.dtype == trt.DataType.HALF:
            t.name = f"{v.name}/half"  # the FLOAT output takes the IR name
            t = _cast(ctx, t, v.name, False, casts)
            t.name = v.name
            ctx.tensors[v.name] = t
        if t.is_network_input or t.is_network_output:
            # An input (or an output already marked) cannot be marked again: copy it.
            layer = network.add_identity(t)
            layer.name = f"output/{v.name}"
            t = layer.get_output(0)
            t.name = f"{v.name}_out"
            ctx.tensors[v.name] = t
        network.mark_output(t)
    return network, ctx


def _cast(ctx: ConversionContext, t: tensorrt.ITensor, name: str, half: bool,
          casts: dict[tuple[str, bool], tensorrt.ITensor]) -> tensorrt.ITensor:
    """IR value ``name`` (TensorRT tensor ``t``) cast to HALF or FLOAT, once per type."""
    key = (name, half)
    if key not in casts:
        kind = "half" if half else "float"
        layer = ctx.network.add_cast(t, ctx.trt.DataType.HALF if half else ctx.trt.DataType.FLOAT)
        layer.name = f"cast/{name}/{kind}"
        out = layer.get_output(0)
        out.name = f"{name}/{kind}"
        casts[key] = out
    return casts[key]


def _convert_typed(ctx: ConversionContext, node: Node,
                   convert: Callable[[ConversionContext, Node], None], half: bool,
                   casts: dict[tuple[str, bool], tensorrt.ITensor]) -> None:
    """Convert ``node`` in half (or float) precision: float inputs of the other type are
    read through a cast; weights and constants made for it take its type."""
    other = ctx.trt.DataType.FLOAT if half else ctx.trt.DataType.HALF
    saved: dict[str, tensorrt.ITensor] = {}
    for v in node.inputs:
        if v is None or v.name in saved:
            continue
        t = ctx.tensors.get(v.name)
        if t is not None and t.dtype == other:
            saved[v.name] = t
            ctx.tensors[v.name] = _cast(ctx, t, v.name, half, casts)
    ctx.half = half
    try:
        convert(ctx, node)
    finally:
        ctx.half = False
        ctx.tensors.update(saved)  # other readers see the tensor in its own type
