"""The reference executor: :class:`compiler.interpreter.Interpreter` behind the runtime
contract (:mod:`compiler.runtime.base`).

It runs any graph the IR can express, subgraphs included, with each op's numpy kernel; it
is the semantics every other executor is checked against. Capture names are IR value
names (graph inputs, constants and any node output).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ..interpreter import Interpreter
from ..ir.graph import Graph, Node
from .base import ExecutorError, RunResult, check_feeds

Observer = Callable[[Node, list[np.ndarray]], None]


class ReferenceExecutor:
    """Runs an IR :class:`~compiler.ir.graph.Graph` with the reference interpreter.

    ``observer(node, outputs)`` (optional) sees every node's outputs as they are produced,
    without keeping them alive: statistics over all activations (calibration) use it
    instead of capturing everything. ``threads`` is accepted for a uniform interface; the
    interpreter runs on the calling thread.
    """

    name = "reference"

    def __init__(self, graph: Graph, *, observer: Observer | None = None,
                 threads: int | None = None) -> None:
        if not isinstance(graph, Graph):
            raise ExecutorError(f"the reference executor runs an IR Graph, not "
                                f"{type(graph).__name__}; load the model first "
                                "(compiler.load)")
        self.graph = graph
        self.observer = observer
        self.input_names = [v.name for v in graph.inputs]
        self.output_names = [v.name for v in graph.outputs]
        self._interp = Interpreter(graph)
        self._values: set[str] | None = None

    def run(self, feeds: Mapping[str, np.ndarray], capture: Sequence[str] = ()) -> RunResult:
        """Run once; ``capture`` names IR values of the graph (see the module doc)."""
        check_feeds(feeds, self.input_names, f"graph @{self.graph.name}")
        capture = list(capture)
        if capture:
            if self._values is None:
                self._values = {v.name for v in self.graph.values()}
            unknown = [n for n in capture if n not in self._values]
            if unknown:
                raise ExecutorError(f"reference executor: graph @{self.graph.name} has no "
                                    f"values named {unknown[:8]}")
        wanted = list(dict.fromkeys(self.output_names + capture))
        got = self._interp.run(feeds, observer=self.observer,
                               outputs=wanted if capture else None)
        return RunResult({n: got[n] for n in self.output_names}, {n: got[n] for n in capture})
