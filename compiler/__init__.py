"""infercc: a graph compiler for deep-learning inference.

Heavy dependencies (frameworks, onnx) are imported only when a function needs them, so
``import compiler`` is fast.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import InferccError  # noqa: E402
from .ir import Graph, TensorType, parse_graph, print_graph, verify  # noqa: E402


def __getattr__(name: str):
    # Lazily expose the heavier entry points.
    if name == "load":
        from .frontends import load

        return load
    if name == "Interpreter":
        from .interpreter import Interpreter

        return Interpreter
    if name == "run_graph":
        from .interpreter import run_graph

        return run_graph
    raise AttributeError(f"module 'compiler' has no attribute {name!r}")


__all__ = ["Graph", "InferccError", "TensorType", "parse_graph", "print_graph", "verify", "load"]
