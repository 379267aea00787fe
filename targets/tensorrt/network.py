"""IR graph -> TensorRT network definition, through an injected ``trt`` module.

:func:`build_network` creates a STRONGLY_TYPED network (the only kind TensorRT 11 builds;
TensorRT 10.x builds it too), adds the graph inputs (symbolic dims as -1, to be bounded by
an optimization profile), converts every node with the first converter that accepts it
(:mod:`targets.tensorrt.registry`) and marks the graph outputs. Layers carry their node's
source layer name. Run :func:`targets.tensorrt.preflight.check` first: this module assumes
every node has a converter.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from compiler.ir.graph import CONST, Graph

from .api import TrtModule
from .context import ConversionContext, ConversionError
from .registry import select

if TYPE_CHECKING:
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
                  ) -> tuple[tensorrt.INetworkDefinition, ConversionContext]:
    """The network for ``graph`` and the conversion context holding its tensor map
    (``ctx.tensors``: IR value name -> TensorRT tensor; ``ctx.keep`` holds the weight arrays,
    which must outlive the engine build).

    ``builder`` defaults to a new ``trt.Builder(trt.Logger(WARNING))``; pass the builder
    that will build the engine (a network belongs to the builder that made it).
    """
    if builder is None:
        builder = trt.Builder(trt.Logger(trt.Logger.WARNING))
    network = create_network(trt, builder)
    network.name = graph.name
    ctx = ConversionContext(trt, network)
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
        conv.convert(ctx, node)
        log.debug("converted %s (%s)", node.label, node.op)
    for v in graph.outputs:
        t = ctx.tensor(v)
        if t.is_network_input or t.is_network_output:
            # An input (or an output already marked) cannot be marked again: copy it.
            layer = network.add_identity(t)
            layer.name = f"output/{v.name}"
            t = layer.get_output(0)
            t.name = f"{v.name}_out"
            ctx.tensors[v.name] = t
        network.mark_output(t)
    return network, ctx
