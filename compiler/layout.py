"""The interface layout of a graph: the axis order of its 4-D inputs and outputs.

A model's *interface layout* is what its users feed and read: ``"NCHW"`` (channels first:
ONNX, PyTorch and Caffe models) or ``"NHWC"`` (channels last: Keras/TensorFlow and TFLite
models). Inside the IR, convolutions are NCHW whatever the interface; a frontend that keeps
an NHWC interface puts a ``transpose`` after each such input (and before each output), and
:func:`set_interface_layout` does the same for any graph, so that the pass pipeline
(``cancel-transposes``, ``sink-transposes``) and the TFLite emitter's layout folding remove
what cancels out.

Only 4-D tensors have a layout here: a 3-D tensor is as often ``[batch, time, features]`` as
``[N, C, W]``, and 5-D models are rare, so other ranks keep the source's order.

Where the fact lives: ``graph.metadata["layout"]`` is the layout of the graph's 4-D inputs,
``graph.metadata["output_layout"]`` that of its 4-D outputs when it differs (the TensorFlow
frontend in NCHW mode keeps TF's NHWC outputs); without them the source format decides
(:data:`SOURCE_LAYOUTS`). :func:`interface_layouts` reads it per input/output.

This module imports only :mod:`compiler.errors` at import time.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .errors import InferccError

if TYPE_CHECKING:
    from .ir import Graph

log = logging.getLogger(__name__)

LAYOUTS = ("NCHW", "NHWC")

#: the interface layout a graph from each source format has when its metadata says nothing
SOURCE_LAYOUTS = {"tensorflow": "NHWC", "tflite": "NHWC"}
DEFAULT_LAYOUT = "NCHW"

#: ``value.transpose(_PERM[(a, b)])`` turns a 4-D value in layout ``a`` into layout ``b``
_PERM = {("NCHW", "NHWC"): (0, 2, 3, 1), ("NHWC", "NCHW"): (0, 3, 1, 2)}


class LayoutError(InferccError):
    """A layout name is not one infercc knows."""


def check_layout(layout: str | None) -> str | None:
    """``layout`` upper-cased when it is one of :data:`LAYOUTS` (None stays None: the
    source's own); raises :class:`LayoutError` otherwise."""
    if layout is None:
        return None
    if not isinstance(layout, str) or layout.upper() not in LAYOUTS:
        raise LayoutError(f"layout {layout!r}: use one of {', '.join(LAYOUTS)} (the axis order "
                          "of the model's 4-D inputs and outputs), or leave it out to keep "
                          "the source's own")
    return layout.upper()


def source_layout(graph: "Graph") -> str:
    """The layout of ``graph``'s 4-D inputs as loaded (see the module doc)."""
    meta = graph.metadata
    return meta.get("layout") or SOURCE_LAYOUTS.get(meta.get("source_format", ""),
                                                    DEFAULT_LAYOUT)


def interface_layouts(graph: "Graph") -> dict[str, str]:
    """Graph input/output name -> its layout, for every 4-D input and output."""
    inp = source_layout(graph)
    out = graph.metadata.get("output_layout") or inp
    found = {v.name: inp for v in graph.inputs if v.type.rank == 4}
    found.update((v.name, out) for v in graph.outputs if v.type.rank == 4)
    return found


def set_interface_layout(graph: "Graph", layout: str | None) -> int:
    """Give every 4-D input and output of ``graph`` the layout ``layout``, in place (None:
    keep the source's own).

    An input in the other layout keeps its name and gets the permuted shape; a ``transpose``
    after it gives its readers the order they had. An output in the other layout is
    transposed, and the transposed value takes the output's name. Returns how many
    transposes were added (0 when the graph already has ``layout``). The metadata then
    says ``layout`` for inputs and outputs alike.
    """
    layout = check_layout(layout)
    if layout is None:
        return 0
    inp = source_layout(graph)
    out = graph.metadata.get("output_layout") or inp
    added = 0
    if inp != layout:
        for v in list(graph.inputs):
            if v.type.rank == 4:
                _relayout_input(graph, v, inp, layout)
                added += 1
    if out != layout:
        for i, v in enumerate(list(graph.outputs)):
            if v.type.rank == 4:
                graph.outputs[i] = _relayout_output(graph, v, out, layout)
                added += 1
    graph.metadata["layout"] = layout
    graph.metadata.pop("output_layout", None)
    if added:
        log.debug("graph @%s: %d transpose(s) added for the %s interface", graph.name, added,
                  layout)
    return added


def _relayout_input(graph: "Graph", v, old_layout: str, layout: str) -> None:
    """Input ``v`` (in ``old_layout``) becomes a ``layout`` input read through a transpose."""
    from .ir import TensorType

    old = v.type
    perm = _PERM[(old_layout, layout)]
    v.type = TensorType(old.dtype, tuple(old.shape[p] for p in perm), old.quant)
    first = graph.nodes[0] if graph.nodes else None
    t = graph.add_node("transpose", [v], {"perm": list(_PERM[(layout, old_layout)])},
                       out_types=[old], names=[f"{v.name}_{old_layout.lower()}"],
                       source=(v.name,), before=first)
    for node, i in v.uses():
        if node is not t:
            node.set_input(i, t.output)
    graph.outputs = [t.output if o is v else o for o in graph.outputs]


def _relayout_output(graph: "Graph", v, old_layout: str, layout: str):
    """The ``layout`` value that replaces graph output ``v`` (in ``old_layout``); it takes
    ``v``'s name."""
    from .ir import TensorType

    name = v.name
    perm = _PERM[(old_layout, layout)]
    graph.rename(v, graph.fresh_name(f"{name}_{old_layout.lower()}"))
    out_type = TensorType(v.type.dtype, tuple(v.type.shape[p] for p in perm), v.type.quant)
    return graph.add_node("transpose", [v], {"perm": list(perm)}, out_types=[out_type],
                          names=[name], source=(name,)).output
