"""dce: dead-code elimination.

Requires: a verified graph.

Guarantees: every node none of whose outputs reaches a graph output (through any chain of
readers) is removed; liveness is a single reverse walk over the topologically ordered
nodes. Subgraphs (``if`` branches, loop bodies) are cleaned the same way against their own
outputs. Graph inputs and a subgraph's inputs are never removed (they are the interface),
and a live node keeps all its outputs, even unused ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from compiler.ir.graph import Graph
from compiler.pass_manager.base import Pass, PassContext, PassResult

from compiler.ir.walk import walk_graphs


@dataclass
class DeadCodeElimination(Pass):
    name: ClassVar[str] = "dce"
    summary: ClassVar[str] = "Remove nodes whose results never reach a graph output"

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        removed = _dce(graph)
        return PassResult(modified=removed > 0, stats={"removed": removed})


def _dce(graph: Graph) -> int:
    # Lazily walked: a subgraph is reached only if its node survived the enclosing graph.
    return sum(_dce_one(g) for g in walk_graphs(graph))


def _dce_one(g: Graph) -> int:
    live: set[int] = {id(v) for v in g.outputs}
    dead = []
    for node in reversed(g.nodes):
        if any(id(v) in live for v in node.outputs):
            for v in node.inputs:
                if v is not None:
                    live.add(id(v))
        else:
            dead.append(node)
    # Reverse order: every reader of a dead node is itself dead and already gone.
    for node in dead:
        g.erase_node(node)
    removed = len(dead)
    return removed


__all__ = ["DeadCodeElimination"]
