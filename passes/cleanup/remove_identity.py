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
from compiler.ir.pattern import Op, Rule, X, apply_rules
from compiler.ir.rewrite import const_array
from compiler.pass_manager.base import Pass, PassContext, PassResult


def _forward(m):
    return m.X


RULES = [
    Rule(Op("identity", X, where=lambda n: len(n.outputs) == 1), _forward, "removed"),  # identity(x) = x
    Rule(Op("dropout", X, where=lambda n: _inference_dropout(n)), _forward, "removed"),  # dropout(x) = x at inference
]


@dataclass
class RemoveIdentity(Pass):
    name: ClassVar[str] = "remove-identity"
    summary: ClassVar[str] = "Remove identity and inference-mode dropout"

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        counts = apply_rules(graph, RULES)
        stats = {"removed": counts.fired.get("removed", 0), "kept_for_output": counts.kept.get("removed", 0)}
        return PassResult(modified=stats["removed"] > 0, stats=stats)


def _inference_dropout(node: Node) -> bool:
    """No mask reader and training_mode absent or a constant false (the ratio is moot)."""
    if any(v.has_uses for v in node.outputs[1:]):
        return False
    training = node.input(2)
    if training is None:
        return True
    t = const_array(training)
    return t is not None and t.size == 1 and not bool(np.asarray(t).ravel()[0])


__all__ = ["RemoveIdentity"]
