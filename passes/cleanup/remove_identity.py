"""remove-identity: drop ``identity`` nodes and inference-mode ``dropout``.

Requires: a verified graph.

Guarantees:

* ``identity(x)`` is removed and its readers read ``x``.
* ``dropout(x, ratio, training_mode)`` is removed the same way when training_mode is absent
  or a constant false and its ``mask`` output is absent or unused (the ratio is irrelevant
  at inference).
* Graph-output names are stable: when the removed node's output is a graph output, the
  producer of ``x`` takes that name over. When ``x`` is a graph input (or itself a graph
  output) that is impossible and the node is kept.
* Subgraphs are handled too (their outputs count as graph outputs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from compiler.ir.graph import Graph, Node
from compiler.pass_manager.base import Pass, PassContext, PassResult
from compiler.ir.rewrite import bypass, const_array, erase_if_dead
from compiler.ir.walk import walk_graphs


@dataclass
class RemoveIdentity(Pass):
    name: ClassVar[str] = "remove-identity"
    summary: ClassVar[str] = "Remove identity and inference-mode dropout"

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        stats = {"removed": 0, "kept_for_output": 0}
        for g in list(walk_graphs(graph)):
            for node in list(g.nodes):
                if node.graph is not g or not _removable(node):
                    continue
                extra = [v.producer for v in node.inputs[1:] if v is not None]
                if bypass(node, node.inputs[0], node.outputs[0]):
                    stats["removed"] += 1
                    for p in extra:  # dropout's ratio/training_mode constants
                        erase_if_dead(p)
                else:
                    stats["kept_for_output"] += 1
        return PassResult(modified=stats["removed"] > 0, stats=stats)


def _removable(node: Node) -> bool:
    if not node.inputs or node.inputs[0] is None:
        return False
    if node.op == "identity":
        return len(node.outputs) == 1
    if node.op != "dropout":
        return False
    if any(v.has_uses for v in node.outputs[1:]):
        return False
    training = node.input(2)
    if training is None:
        return True
    t = const_array(training)
    return t is not None and t.size == 1 and not bool(np.asarray(t).ravel()[0])


__all__ = ["RemoveIdentity"]
