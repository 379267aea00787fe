"""Small rewriting helpers shared by the clean-up passes.

* :func:`walk_graphs` visits a graph and every subgraph held in node attributes.
* :func:`bypass_node` removes a node whose output equals one of its inputs (identity, a
  fused activation, a folded batch norm) while keeping graph-output names stable.
* :func:`merge_sources` is the provenance rule: a node that absorbs another gets the union.
* :func:`dense` / :func:`const_array` read constants (sparse ones densified).

Nothing here bypasses the IR's use-list bookkeeping: inputs change through
``Node.inputs`` / ``Node.set_input`` only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from compiler.ir.graph import CONST, Graph, Node, Value, is_sparse



def subgraphs(node: Node) -> list[Graph]:
    """Graphs held in ``node``'s attributes (``if`` branches, ``loop`` bodies, ...)."""
    out: list[Graph] = []
    for v in node.attrs.values():
        if isinstance(v, Graph):
            out.append(v)
        elif isinstance(v, (list, tuple)):
            out.extend(x for x in v if isinstance(x, Graph))
    return out


def walk_graphs(graph: Graph) -> Iterator[Graph]:
    """``graph`` and, depth first, every nested subgraph (each once)."""
    seen: set[int] = set()
    stack = [graph]
    while stack:
        g = stack.pop()
        if id(g) in seen:
            continue
        seen.add(id(g))
        yield g
        for n in g.nodes:
            stack.extend(reversed(subgraphs(n)))


def merge_sources(*sources: Iterable[str]) -> tuple[str, ...]:
    """Order-preserving union of source-layer names."""
    out: dict[str, None] = {}
    for s in sources:
        for name in s:
            out.setdefault(name, None)
    return tuple(out)


def dense(value: Any) -> np.ndarray:
    """A constant attribute as a dense numpy array."""
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


def erase_if_dead(graph: Graph, node: Node | None) -> bool:
    """Erase ``node`` when none of its outputs is read; True if it was erased."""
    if node is None or node.graph is not graph:
        return False
    if any(v.has_uses for v in node.outputs):
        return False
    graph.erase_node(node)
    return True


def erase_dead_chain(graph: Graph, node: Node | None) -> int:
    """Erase ``node`` if dead, then, transitively, producers it alone kept alive."""
    erased = 0
    stack = [node]
    while stack:
        n = stack.pop()
        if n is None or n.graph is not graph or any(v.has_uses for v in n.outputs):
            continue
        producers = [v.producer for v in n.inputs if v is not None]
        graph.erase_node(n)
        erased += 1
        stack.extend(producers)
    return erased


def bypass_node(graph: Graph, node: Node, out: Value, replacement: Value) -> bool:
    """Remove ``node``; readers of its output ``out`` read ``replacement`` instead.

    ``node``'s other outputs must be unused. When ``out`` is a graph output its name is
    kept: the producer of ``replacement`` takes ``out`` over as its own output (so the
    printed graph still returns ``%out``). That is impossible when ``replacement`` is a
    graph input or already a graph output (two outputs would share one value); then
    nothing changes and False is returned, and the caller keeps ``node``.
    """
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
    graph.nodes.remove(node)
    node.graph = None
    for user, i in replacement.uses():
        user.set_input(i, out)
    idx = replacement.index
    outs = list(producer.outputs)
    outs[idx] = out
    producer.outputs = outs
    out.producer, out.index = producer, idx
    node.outputs = [v for v in node.outputs if v is not out]
    # `replacement` is now an orphan: no producer, no uses. Its name stays reserved in the
    # graph, which is harmless (fresh names simply avoid it).
    replacement.producer = None
    replacement.graph = None
    return True


def make_const_node(graph: Graph, node: Node, arrays: list[np.ndarray], source: tuple[str, ...]) -> None:
    """Turn ``node`` into ``const`` nodes holding ``arrays`` (one per output), in place.

    Output values (names, readers, graph-output positions) are kept; only their types are
    refreshed from the arrays (keeping quantization parameters).
    """
    from compiler.ir.types import TensorType

    outputs = list(node.outputs)
    node.inputs = []
    node.annotations = {}
    for v, a in zip(outputs, arrays):
        v.type = TensorType(TensorType.of(a).dtype, TensorType.of(a).shape, v.type.quant)
    # The node itself becomes the const of its first output; others get fresh nodes.
    node.op = CONST
    node.attrs = {"value": arrays[0]}
    node.outputs = [outputs[0]]
    node.source = source
    if len(outputs) == 1:
        return
    pos = graph.nodes.index(node)
    for k, (v, a) in enumerate(zip(outputs[1:], arrays[1:]), start=1):
        extra = Node(CONST, [], [v], {"value": a}, source)
        extra.graph = graph
        graph.nodes.insert(pos + k, extra)
