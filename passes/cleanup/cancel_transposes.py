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
from compiler.pass_manager.base import Pass, PassContext, PassResult
from compiler.ir.rewrite import bypass, const_array, erase_dead_chain, merge_sources
from compiler.ir.walk import walk_graphs


@dataclass
class CancelTransposes(Pass):
    name: ClassVar[str] = "cancel-transposes"
    summary: ClassVar[str] = "Compose/cancel transpose pairs, reshape chains, squeeze/unsqueeze pairs"

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        stats = {
            "transposes_composed": 0,
            "reshapes_composed": 0,
            "removed": 0,
            "kept_as_identity": 0,
        }
        for g in list(walk_graphs(graph)):
            for node in list(g.nodes):
                if node.graph is not g:
                    continue
                if node.op == "transpose":
                    _transpose(g, node, stats)
                elif node.op == "reshape":
                    _reshape(g, node, stats)
                elif node.op in ("squeeze", "unsqueeze"):
                    _squeeze_pair(g, node, stats)
        changed = any(stats.values())
        return PassResult(modified=changed, stats=stats)


def _perm(node: Node) -> list[int] | None:
    rank = node.inputs[0].type.rank
    p = node.attrs.get("perm")
    if not p:
        return None if rank is None else list(range(rank))[::-1]
    if rank is not None and len(p) != rank:
        return None
    n = len(p)
    return [int(a) + n if int(a) < 0 else int(a) for a in p]


def _forward(g: Graph, node: Node, x: Value, stats: dict[str, int]) -> None:
    """Remove ``node`` (whose output equals ``x``) and erase what became dead."""
    inner = [v.producer for v in node.inputs if v is not None]
    if bypass(node, x, node.outputs[0]):
        stats["removed"] += 1
    else:  # a graph output that cannot take x's place: keep a plain identity
        node.op = "identity"
        node.attrs = {}
        node.inputs = [x]
        stats["kept_as_identity"] += 1
    for p in inner:
        erase_dead_chain(p)


def _transpose(g: Graph, node: Node, stats: dict[str, int]) -> None:
    p2 = _perm(node)
    if p2 is None:
        return
    inner = node.inputs[0].producer
    if inner is not None and inner.op == "transpose" and inner.graph is g:
        p1 = _perm(inner)
        if p1 is not None and len(p1) == len(p2):
            q = [p1[i] for i in p2]
            node.inputs = [inner.inputs[0]]
            node.attrs = {**node.attrs, "perm": q}
            node.source = merge_sources(inner.source, node.source)
            erase_dead_chain(inner)
            stats["transposes_composed"] += 1
            p2 = q
    if p2 == list(range(len(p2))):
        _forward(g, node, node.inputs[0], stats)


def _reshape(g: Graph, node: Node, stats: dict[str, int]) -> None:
    inner = node.inputs[0].producer
    shape = const_array(node.input(1))
    composable = inner is not None and inner.op == "reshape" and inner.graph is g
    # A 0 in the outer shape copies a dim of the inner result: only safe with allowzero=1.
    if composable and shape is not None and (int(node.attrs.get("allowzero", 0)) or not np.any(shape == 0)):
        node.set_input(0, inner.inputs[0])
        node.source = merge_sources(inner.source, node.source)
        erase_dead_chain(inner)
        stats["reshapes_composed"] += 1
    x, y = node.inputs[0], node.outputs[0]
    if x.type.is_static and y.type.is_static and tuple(x.type.shape) == tuple(y.type.shape):
        _forward(g, node, x, stats)


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


def _squeeze_pair(g: Graph, node: Node, stats: dict[str, int]) -> None:
    inner = node.inputs[0].producer
    want = "unsqueeze" if node.op == "squeeze" else "squeeze"
    if inner is None or inner.op != want or inner.graph is not g:
        return
    x = inner.inputs[0]
    mid = node.inputs[0]
    if x.type.rank is None or mid.type.rank is None:
        return
    # Both axis lists index the wider of the two ranks (the unsqueezed/squeezed-from tensor).
    wide = max(x.type.rank, mid.type.rank)
    a_outer, a_inner = _axes(node, wide), _axes(inner, wide)
    if a_outer is None or a_outer != a_inner or not a_outer:
        return
    _forward(g, node, x, stats)


__all__ = ["CancelTransposes"]
