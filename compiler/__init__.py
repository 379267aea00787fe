"""infercc: a graph compiler for deep-learning inference.

Heavy dependencies (frameworks, onnx) are imported only when a function needs them, so
``import compiler`` is fast.
"""

from __future__ import annotations

from ._version import __version__

from .errors import InferccError  # noqa: E402
from .ir import Graph, TensorType, parse_graph, print_graph, verify  # noqa: E402

# compiler.compile is bound here rather than in __getattr__: importing the submodule
# compiler/compile.py (as the CLI and tests do) would set the package attribute `compile` to
# the module and shadow a lazy attribute. The module imports only the standard library.
from .compile import CompileResult, compile  # noqa: E402,A004


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


__all__ = ["CompileResult", "Graph", "InferccError", "TensorType", "parse_graph", "print_graph", "verify", "load", "compile"]
