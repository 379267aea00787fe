"""Before anything is written: every node TensorRT cannot express, all at once.

A node is refused when no converter of its op accepts it (each converter's reason is
kept) or when one of its values has an element type TensorRT has no counterpart for. A
graph input is refused when TensorRT has no type for it, or when its shape range (the
optimization profile, :mod:`.profile`) is missing for a dynamic input or does not fit its
static dims; a range naming no input is refused too. Converters that cannot handle a dynamic
dim refuse in their capability check, naming it. :func:`check` raises
:class:`TensorRTUnsupportedError` (exit 2) listing each problem as
``op (dtype): reason`` with the source layer names that have it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from compiler.errors import UnsupportedOpsError
from compiler.ir.graph import CONST, Graph, Node, Value

from .context import trt_dtype_name
from .profile import ShapeRange, input_reason, unknown_names
from .registry import select


class TensorRTUnsupportedError(UnsupportedOpsError):
    """Nodes the TensorRT target cannot express; ``problems`` lists each one."""

    def __init__(self, source: str, problems: list[Problem]):
        self.problems = problems
        grouped: dict[str, list[str]] = {}
        for p in problems:
            grouped.setdefault(f"{p.op} ({p.dtype}): {p.reason}", []).append(p.layer)
        shapes_only = all(p.op in _INTERFACE for p in problems)
        hint = ("TensorRT cannot build these; replace them in the source model or run them "
                "outside the engine. Nothing was written.")
        if shapes_only:
            hint = "Give the shape ranges or input shapes named above. Nothing was written."
        elif any(_asymmetric(p) for p in problems):
            hint = PREQUANTIZED_HINT
        super().__init__(source, grouped, hint)


#: What to do with a model that arrives quantized with zero points (a TFLite int8 model).
PREQUANTIZED_HINT = (
    "The model comes quantized with non-zero zero points (asymmetric int8, as TFLite writes "
    "it); TensorRT's Q/DQ layers take zero point 0 only, and infercc does not re-quantize an "
    "integer model. Compile the float model instead with --int8 --calibration DATA, which "
    "quantizes it symmetrically for TensorRT (or without --int8 for fp32/fp16). Nothing was "
    "written.")


def _asymmetric(p: Problem) -> bool:
    """A quantize/dequantize refused for its zero point (both pre-flights say so)."""
    return p.op in ("quantize", "dequantize") and "non-zero zero point" in p.reason


#: pseudo-ops of the problems with the graph's inputs and their shape ranges
_INTERFACE = ("input", "shape-range")


@dataclass(frozen=True)
class Problem:
    """One node TensorRT cannot express: its op, element type, source layer and why."""

    op: str
    dtype: str
    layer: str
    reason: str


def node_reason(node: Node) -> str | None:
    """None when some converter takes ``node`` and TensorRT has its types; else why not."""
    for v in list(node.inputs) + list(node.outputs):
        if v is not None and not v.is_const and trt_dtype_name(v.type.dtype) is None:
            return f"%{v.name} is {v.type.dtype}, which TensorRT has no type for"
    conv, reasons = select(node)
    return None if conv is not None else "; ".join(reasons)


def problems(graph: Graph, ranges: Mapping[str, ShapeRange] | None = None) -> list[Problem]:
    """Every refused node of ``graph``, in graph order. Graph inputs are reported as
    ``input`` pseudo-nodes (a type TensorRT lacks; a dynamic input without a shape range in
    ``ranges``, or a range that does not fit), ranges naming no input as ``shape-range``."""
    given = dict(ranges or {})
    found = [Problem("shape-range", "-", name,
                     f"no graph input is named '{name}'; the inputs are "
                     f"{', '.join(v.name for v in graph.inputs) or 'none'}")
             for name in unknown_names(graph, given)]
    found += [Problem("input", str(v.type.dtype), v.name, why)
              for v in graph.inputs for why in [_input_reason(v, given)] if why is not None]
    for node in graph.nodes:
        if node.op == CONST:
            continue
        why = node_reason(node)
        if why is not None:
            dtype = str(node.outputs[0].type.dtype) if node.outputs else "-"
            found.append(Problem(node.op, dtype, node.label, why))
    return found


def _input_reason(v: Value, ranges: dict[str, ShapeRange]) -> str | None:
    if trt_dtype_name(v.type.dtype) is None:
        return f"{v.type.dtype} input, which TensorRT has no type for"
    if v.type.shape is None:
        return f"unknown rank; give its shape with --input-shape {v.name}:DIMS"
    return input_reason(v, ranges)


def check(graph: Graph, source: str = "model",
          ranges: Mapping[str, ShapeRange] | None = None) -> None:
    """Raise :class:`TensorRTUnsupportedError` when :func:`problems` finds any."""
    found = problems(graph, ranges)
    if found:
        raise TensorRTUnsupportedError(source, found)
