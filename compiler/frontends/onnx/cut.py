"""Cutting the nodes infercc cannot lower out of an ONNX model, so that the rest imports.

``infercc inspect`` wants the statistics of a model even when a few of its nodes use ops
infercc does not support. :func:`cut_nodes` returns a copy of the model without those nodes:
each output of a removed node becomes a graph input (typed from the model's value_info or
ONNX shape inference; an output whose element type is unknown is declared float32 of unknown
shape) and each input of a removed node that something else computes becomes a graph output,
so the nodes feeding the cut stay in the graph. Such a model no longer computes the original
one; it is for counting.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from ...errors import UnsupportedOpsError


def cut_nodes(model: Any, label: str, unsupported: dict[str, list[str]],
              labels: Collection[str]) -> tuple[Any, list[str], list[str]]:
    """``(model without its main-graph nodes whose labels are in labels, the new graph
    inputs, the new graph outputs)`` (see the module doc). Raises
    :class:`UnsupportedOpsError` (with ``unsupported``) when such a node sits in a subgraph,
    where cutting would change the subgraph's interface."""
    import onnx
    from onnx import TensorProto, helper, shape_inference

    from .importer import node_label

    main = model.graph
    cut = [n for n in main.node if node_label(n) in labels]
    if len(cut) < sum(len(v) for v in unsupported.values()):
        raise UnsupportedOpsError(label, unsupported, "Ops inside subgraphs cannot be cut "
                                  "out for statistics.")
    out = onnx.ModelProto()
    out.CopyFrom(model)
    try:
        typed = shape_inference.infer_shapes(out)
    except Exception:  # noqa: BLE001 - inference is a help here, not a requirement
        typed = out
    infos = {v.name: v for v in list(typed.graph.value_info) + list(typed.graph.output)
             + list(typed.graph.input)}
    cut_ids = {id(n) for n in cut}
    kept = [n for n in main.node if id(n) not in cut_ids]
    made = {o for n in kept for o in n.output} | {i.name for i in main.input} | {
        t.name for t in main.initializer}
    del out.graph.node[:]
    out.graph.node.extend(kept)
    inputs = {i.name for i in out.graph.input}
    outputs = {o.name for o in out.graph.output}
    new_in: list[str] = []
    new_out: list[str] = []
    for n in cut:
        for name in n.output:
            if name and name not in inputs:
                info = infos.get(name)
                if info is None or not info.type.tensor_type.elem_type:
                    info = helper.make_tensor_value_info(name, TensorProto.FLOAT, None)
                out.graph.input.append(info)
                inputs.add(name)
                new_in.append(name)
        for name in n.input:
            if name and name in made and name not in outputs and name not in inputs:
                info = infos.get(name)
                if info is None or not info.type.tensor_type.elem_type:
                    info = helper.make_tensor_value_info(name, TensorProto.FLOAT, None)
                out.graph.output.append(info)
                outputs.add(name)
                new_out.append(name)
    # a removed node's output that was a graph output is now an input as well: drop the
    # output (the graph would only pass it through)
    keep = [o for o in out.graph.output if o.name not in {x for n in cut for x in n.output}]
    del out.graph.output[:]
    out.graph.output.extend(keep)
    return out, new_in, new_out


__all__ = ["cut_nodes"]
