"""Errors of the TFLite target: what the user sees, and the one a lowering raises."""

from __future__ import annotations

from collections.abc import Sequence

from compiler.errors import InferccError


class TfliteEmitError(InferccError):
    """The graph cannot be written as TFLite; ``problems`` lists (op, source layer, reason)."""

    def __init__(self, graph_name: str, problems: Sequence[tuple[str, str, str]]):
        self.problems = list(problems)
        lines = [f"cannot emit graph @{graph_name} as TFLite: {len(self.problems)} problem(s):"]
        for op, layer, why in self.problems:
            lines.append(f"  {why}" if op == "model" else f"  {op} (layer {layer}): {why}")
        if any(op != "model" for op, _, _ in self.problems):
            lines.append("Rewrite these nodes into supported ops first (an infercc pass or a "
                         "different pipeline), or use another target such as ONNX.")
        super().__init__("\n".join(lines))


class TfliteWriteError(InferccError):
    """The model was built but the file could not be written."""


class Unsupported(Exception):
    """One node cannot be lowered (the reason is the message); the driver collects these
    into one :class:`TfliteEmitError`."""
