"""cancel-transposes: compose and cancel layout ops.

Requires: a verified graph.

Guarantees (each rewrite is exact, no arithmetic changes):

* ``transpose(transpose(x, p1), p2)`` -> ``transpose(x, q)`` with ``q[i] = p1[p2[i]]``
  (the outer node keeps its name; source = union of both); when q is the identity the pair
  disappears and readers read x.
* A ``transpose`` with the identity permutation is removed (an absent ``perm`` means
  reversed axes, so that needs rank <= 1).
* ``reshape(reshape(x, s1), s2)`` -> ``reshape(x, s2)`` when s2 is a constant whose 0s
  cannot refer to the inner result (no 0 in s2, or ``allowzero=1``).
* A ``reshape`` whose static input shape equals its static output shape is removed.
* ``squeeze(unsqueeze(x, a), a)`` and ``unsqueeze(squeeze(x, a), a)`` with the same
  constant axes (after normalizing negatives) are removed.
* An inner node left without readers is erased. A graph output keeps its name; when the
  value it would be forwarded to is a graph input or another graph output, the node
  becomes ``identity(x)`` instead. Subgraphs are handled too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from compiler.ir.graph import Graph, Node, Value
from compiler.ir.pattern import Const, Match, Op, Rule, X, apply_rules
from compiler.ir.rewrite import const_array
from compiler.pass_manager.base import Pass, PassContext, PassResult


def _forward(m: Match) -> Value:
    return m.X


RULES = [
    # transpose(transpose(x, p1), p2) = transpose(x, q), q[i] = p1[p2[i]]
    Rule(Op("transpose", Op("transpose", X, name="inner")), lambda m: _compose_transposes(m), "transposes_composed"),
    # transpose(x, identity) = x
    Rule(Op("transpose", X, where=lambda n: _is_identity(_perm(n))), _forward, "removed"),
    # reshape(reshape(x, s1), s2) = reshape(x, s2) unless a 0 in s2 copies a dim of the inner result
    Rule(Op("reshape", Op("reshape", X, name="inner"), Const(name="shape")), lambda m: _compose_reshapes(m), "reshapes_composed"),
    # reshape(x, s) = x when s is x's own static shape
    Rule(Op("reshape", X, where=lambda n: _same_static_shape(n)), _forward, "removed"),
    # squeeze(unsqueeze(x, a), a) = x
    Rule(Op("squeeze", Op("unsqueeze", X, name="inner")), lambda m: _cancel_pair(m), "removed"),
    # unsqueeze(squeeze(x, a), a) = x
    Rule(Op("unsqueeze", Op("squeeze", X, name="inner")), lambda m: _cancel_pair(m), "removed"),
]


@dataclass
class CancelTransposes(Pass):
    name: ClassVar[str] = "cancel-transposes"
    summary: ClassVar[str] = "Compose/cancel transpose pairs, reshape chains, squeeze/unsqueeze pairs"

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        counts = apply_rules(graph, RULES, on_kept=_keep_as_identity)
        stats = {
            "transposes_composed": counts.fired.get("transposes_composed", 0),
            "reshapes_composed": counts.fired.get("reshapes_composed", 0),
            "removed": counts.fired.get("removed", 0),
            "kept_as_identity": sum(counts.kept.values()),
        }
        changed = any(stats.values())
        return PassResult(modified=changed, stats=stats)


def _keep_as_identity(node: Node, x: Value) -> bool:
    """A graph output that cannot take x's place: keep a plain identity."""
    node.op = "identity"
    node.attrs = {}
    node.inputs = [x]
    return True


def _perm(node: Node) -> list[int] | None:
    rank = node.inputs[0].type.rank
    p = node.attrs.get("perm")
    if not p:
        return None if rank is None else list(range(rank))[::-1]
    if rank is not None and len(p) != rank:
        return None
    n = len(p)
    return [int(a) + n if int(a) < 0 else int(a) for a in p]


def _is_identity(p: list[int] | None) -> bool:
    return p is not None and p == list(range(len(p)))


def _compose_transposes(m: Match) -> Node | None:
    node, inner = m.root, m.inner
    p1, p2 = _perm(inner), _perm(node)
    if p1 is None or p2 is None or len(p1) != len(p2):
        return None
    node.inputs = [m.X]
    node.attrs = {**node.attrs, "perm": [p1[i] for i in p2]}
    node.source = m.source
    return node


def _compose_reshapes(m: Match) -> Node | None:
    node = m.root
    # A 0 in the outer shape copies a dim of the inner result: only safe with allowzero=1.
    if not int(node.attrs.get("allowzero", 0)) and np.any(const_array(m.shape) == 0):
        return None
    node.set_input(0, m.X)
    node.source = m.source
    return node


def _same_static_shape(node: Node) -> bool:
    x, y = node.inputs[0], node.outputs[0]
    return x.type.is_static and y.type.is_static and tuple(x.type.shape) == tuple(y.type.shape)


def _axes(node: Node, rank: int | None) -> list[int] | None:
    """The node's constant axes normalized against ``rank``, sorted; None if unknown."""
    if rank is None:
        return None
    a = const_array(node.input(1))
    if a is None:
        if node.op == "squeeze":  # no axes: every static 1-dim of the input
            shape = node.inputs[0].type.shape
            if node.inputs[0].type.is_static:
                return [i for i, d in enumerate(shape) if d == 1]
        return None
    axes = [int(v) + rank if int(v) < 0 else int(v) for v in np.asarray(a).ravel()]
    return sorted(axes)


def _cancel_pair(m: Match) -> Value | None:
    x, mid = m.X, m.root.inputs[0]
    if x.type.rank is None or mid.type.rank is None:
        return None
    # Both axis lists index the wider of the two ranks (the unsqueezed/squeezed-from tensor).
    wide = max(x.type.rank, mid.type.rank)
    a_outer, a_inner = _axes(m.root, wide), _axes(m.inner, wide)
    if a_outer is None or a_outer != a_inner or not a_outer:
        return None
    return x


__all__ = ["CancelTransposes"]
