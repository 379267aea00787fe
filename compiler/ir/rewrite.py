"""Graph surgery: the public rewriting helpers passes use instead of editing the IR by hand.

Only the IR (``compiler/ir``) assigns a value's ``producer``/``graph``, a node's ``graph``
or a graph's ``nodes``; everything else rewrites through :class:`~compiler.ir.graph.Graph`
methods and the helpers below, so use lists, back-references and name reservations stay
consistent. Insertion is :meth:`Graph.add_node` / :meth:`Graph.add_const` with
``before=``/``after=``; this module adds what those do not cover:

* :func:`bypass` removes a pass-through node (identity, a fused activation, a folded batch
  norm), keeping the name of a graph output it defined.
* :func:`move_output` hands a value over to another producer (put a node *behind* a value).
* :func:`move_before` / :func:`move_after` / :func:`reorder` change the node order.
* :func:`to_const` turns a node into constants holding its computed results.
* :func:`erase_if_dead` / :func:`erase_dead_chain` remove what a rewrite left unread.
* :func:`merge_sources` is the provenance rule: a node that absorbs others gets the union.
* :func:`single_use`, :func:`dense`, :func:`const_array` are the small queries matchers need.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .graph import CONST, Graph, IRError, Node, Value, is_sparse
from .types import TensorType


# -- queries ---------------------------------------------------------------------------------


def merge_sources(*sources: Iterable[str]) -> tuple[str, ...]:
    """Order-preserving union of source-layer names (the provenance of a merged node)."""
    out: dict[str, None] = {}
    for s in sources:
        for name in s:
            out.setdefault(name, None)
    return tuple(out)


def dense(value: Any) -> np.ndarray:
    """A constant attribute as a dense numpy array (scipy.sparse densified)."""
    if is_sparse(value):
        return np.asarray(value.toarray())
    return np.asarray(value)


def const_array(v: Value | None) -> np.ndarray | None:
    """The dense constant behind ``v``, else None (also for a missing input)."""
    if v is None or not v.is_const:
        return None
    return dense(v.const_value)


def single_use(v: Value) -> Node | None:
    """The one node reading ``v`` (through exactly one input), when ``v`` is no graph output."""
    uses = v.uses()
    if len(uses) != 1 or v.is_graph_output:
        return None
    return uses[0][0]


# -- erasing ---------------------------------------------------------------------------------


def erase_if_dead(node: Node | None) -> bool:
    """Erase ``node`` from its graph when none of its outputs is read; True if erased.

    ``None`` and nodes already out of any graph are ignored (False).
    """
    if node is None or node.graph is None or any(v.has_uses for v in node.outputs):
        return False
    node.graph.erase_node(node)
    return True


def erase_dead_chain(node: Node | None) -> int:
    """Erase ``node`` if dead, then, transitively, the producers it alone kept alive.

    Stays inside ``node``'s graph; returns how many nodes were erased.
    """
    graph = node.graph if node is not None else None
    erased = 0
    stack = [node]
    while stack:
        n = stack.pop()
        if n is None or n.graph is not graph or graph is None or any(v.has_uses for v in n.outputs):
            continue
        producers = [v.producer for v in n.inputs if v is not None]
        graph.erase_node(n)
        erased += 1
        stack.extend(producers)
    return erased


# -- rewiring --------------------------------------------------------------------------------


def bypass(node: Node, replacement: Value | None = None, out: Value | None = None) -> bool:
    """Remove ``node``; readers of its output ``out`` read ``replacement`` instead.

    Defaults: ``out`` is the node's single output, ``replacement`` its first input (the
    pass-through case). Requires ``node``'s other outputs to be unused and ``replacement``
    to be computed before every reader of ``out``.

    When ``out`` is a graph output its name is kept: the producer of ``replacement`` takes
    ``out`` over as its own output, so the graph still returns ``%out``, and readers of
    ``replacement`` read ``out``. That is impossible when ``replacement`` is a graph input
    or already a graph output (two outputs would share one value); then nothing changes and
    False is returned, and the caller keeps ``node``. True when ``node`` was removed.
    """
    graph = node.graph
    if graph is None:
        raise IRError(f"cannot bypass {node!r}: it is in no graph")
    if out is None:
        out = node.output
    if replacement is None:
        replacement = node.inputs[0]
    if replacement is None:
        raise IRError(f"cannot bypass {node!r}: it has no input to route to")
    if any(v.has_uses for v in node.outputs if v is not out):
        return False
    if not out.is_graph_output:
        out.replace_all_uses_with(replacement)
        graph.erase_node(node)
        return True
    producer = replacement.producer
    if producer is None or producer.graph is not graph or replacement.is_graph_output:
        return False
    # Readers of `out` other than the graph outputs stay on `out`; readers of
    # `replacement` move to `out`, which `producer` now defines in its place.
    node.inputs = []
    for user, i in replacement.uses():
        user.set_input(i, out)
    move_output(out, producer, replacement.index)
    names = [v.name for v in node.outputs]
    graph.erase_node(node)
    # `replacement` (and any unused output) is gone with `node`; the names stay reserved,
    # which is harmless: fresh names simply avoid them.
    graph._names.update(names)
    return True


def move_output(value: Value, node: Node, index: int = 0) -> Value:
    """Make ``value`` output ``index`` of ``node``; return the value it displaces there.

    The two values swap producers: the displaced value (``node.outputs[index]``) takes
    ``value``'s place at ``value``'s former producer. Readers keep reading the same values,
    so the typical use puts a new node *behind* an existing value while keeping its name::

        t = graph.add_node("transpose", [], {"perm": p}, out_types=[new_type],
                           names=[x.name + "_nchw"], after=x.producer)
        inner = move_output(x, t)   # x's old producer now defines `inner`, t defines x
        t.inputs = [inner]

    Requires ``value`` to be a node output and both nodes in the same graph; keeping the
    order topological (``node`` after its inputs, before ``value``'s readers) is the
    caller's job (:func:`move_after`, :meth:`Graph.sort`).
    """
    old = value.producer
    if old is None:
        raise IRError(f"cannot move %{value.name}: it is a graph input")
    if old.graph is not node.graph or node.graph is None:
        raise IRError(f"cannot move %{value.name} to {node!r}: not in the same graph")
    displaced = node.outputs[index]
    if displaced is value:
        return value
    j = value.index
    old.outputs[j], node.outputs[index] = displaced, value
    displaced.producer, displaced.index = old, j
    value.producer, value.index = node, index
    return displaced


def move_before(node: Node, anchor: Node) -> None:
    """Move ``node`` (already in ``anchor``'s graph) to just before ``anchor``."""
    _check_same_graph(node, anchor)
    if node is anchor:
        return
    g = node.graph
    g.nodes.remove(node)
    g.nodes.insert(g._index(anchor), node)


def move_after(node: Node, anchor: Node) -> None:
    """Move ``node`` (already in ``anchor``'s graph) to just after ``anchor``."""
    _check_same_graph(node, anchor)
    if node is anchor:
        return
    g = node.graph
    g.nodes.remove(node)
    g.nodes.insert(g._index(anchor) + 1, node)


def reorder(graph: Graph, order: Sequence[Node]) -> None:
    """Give ``graph`` the node order ``order``: a permutation of ``graph.nodes``.

    Raises :class:`IRError` when ``order`` adds, drops or repeats a node. Whether the new
    order is topological is the caller's contract (the verifier checks it).
    """
    if len(order) != len(graph.nodes) or {id(n) for n in order} != {id(n) for n in graph.nodes}:
        raise IRError(f"reorder of graph @{graph.name}: the order is not a permutation of its nodes")
    graph.nodes = list(order)


def _check_same_graph(node: Node, anchor: Node) -> None:
    if node.graph is None or node.graph is not anchor.graph:
        raise IRError(f"cannot move {node!r} next to {anchor!r}: not in the same graph")


# -- constants -------------------------------------------------------------------------------


def to_const(node: Node, arrays: Sequence[Any], source: Sequence[str] | None = None) -> None:
    """Turn ``node`` into ``const`` nodes holding ``arrays`` (one per output), in place.

    Output values keep their names, readers and graph-output positions; only their types
    are refreshed from the arrays (quantization parameters kept). The node itself becomes
    the const of its first output; further outputs get new const nodes right after it.
    ``source`` is the provenance of the constants (default: the node's own); callers
    folding several nodes pass :func:`merge_sources` of them.
    """
    graph = node.graph
    if graph is None:
        raise IRError(f"cannot turn {node!r} into a constant: it is in no graph")
    if len(arrays) != len(node.outputs):
        raise IRError(f"{node!r} has {len(node.outputs)} outputs but {len(arrays)} arrays were given")
    source = tuple(node.source if source is None else source)
    outputs = list(node.outputs)
    node.inputs = []
    node.annotations = {}
    for v, a in zip(outputs, arrays):
        t = TensorType.of(a)
        v.type = TensorType(t.dtype, t.shape, v.type.quant)
    node.op = CONST
    node.attrs = {"value": arrays[0]}
    node.outputs = [outputs[0]]
    node.source = source
    pos = graph._index(node)
    for k, (v, a) in enumerate(zip(outputs[1:], arrays[1:]), start=1):
        extra = Node(CONST, [], [v], {"value": a}, source)
        extra.graph = graph
        graph.nodes.insert(pos + k, extra)


__all__ = [
    "bypass",
    "const_array",
    "dense",
    "erase_dead_chain",
    "erase_if_dead",
    "merge_sources",
    "move_after",
    "move_before",
    "move_output",
    "reorder",
    "single_use",
    "to_const",
]
