"""Fixing the input shapes of a graph that carries its own (``.ir``, ``.pt2``, an IR ``Graph``).

Frontends that read a framework model take ``input_shapes`` while importing; a graph that is
already IR gets its inputs' shapes replaced here and every node's output types re-inferred.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

from .errors import ModelLoadError

if TYPE_CHECKING:
    from .ir import Graph


def override_input_shapes(graph: "Graph", shapes: Mapping[str, Sequence[Any]], path: str) -> None:
    """Set graph input shapes of an IR model and re-infer every node's output types."""
    from .ir import TensorType
    from .ops.registry import SchemaError, infer_types

    by_name = {v.name: v for v in graph.inputs}
    unknown = [n for n in shapes if n not in by_name]
    if unknown:
        raise ModelLoadError(
            f"{path}: input shapes are given for {', '.join(unknown)}, but the inputs are "
            f"{', '.join(by_name) or 'none'}"
        )
    for name, dims in shapes.items():
        v = by_name[name]
        v.type = TensorType(v.type.dtype, tuple(dims), v.type.quant)
    for node in graph.nodes:
        if node.op == "const":
            continue
        try:
            types = infer_types(node.op, list(node.inputs), node.attrs,
                                num_outputs=len(node.outputs))
        except (SchemaError, ValueError) as e:
            raise ModelLoadError(
                f"{path}: with the given input shapes, node {node.op} -> "
                f"%{node.outputs[0].name}: {e}"
            ) from None
        for v, t in zip(node.outputs, types):
            v.type = TensorType(t.dtype, t.shape, v.type.quant or t.quant)
