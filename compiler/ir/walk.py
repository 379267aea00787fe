"""Traversal of a graph and the subgraphs nested in its nodes' attributes.

A subgraph is a :class:`~compiler.ir.graph.Graph` held in a node attribute (an ``if``'s
``then_branch``/``else_branch``, a ``loop``'s ``body``) or in a list/tuple attribute. This
module is the one place that knows where subgraphs live; passes, printers and targets walk
with it instead of looking into attributes themselves.

Order contract: depth first, pre-order. A graph is yielded before its subgraphs; the
subgraphs of a node come in attribute order (and list order within an attribute); nodes
come in ``graph.nodes`` order. Each graph object is visited once even if it is held twice.
The walks take a snapshot of each node list as they reach it, so a caller may rewrite the
graph it is given while walking it.
"""

from __future__ import annotations

from collections.abc import Iterator

from .graph import Graph, Node


def subgraphs(node: Node) -> list[Graph]:
    """The graphs held in ``node``'s attributes, in attribute order."""
    out: list[Graph] = []
    for v in node.attrs.values():
        if isinstance(v, Graph):
            out.append(v)
        elif isinstance(v, (list, tuple)):
            out.extend(x for x in v if isinstance(x, Graph))
    return out


def walk_graphs(graph: Graph) -> Iterator[Graph]:
    """``graph`` and every nested subgraph at any depth, pre-order, each once."""
    seen: set[int] = set()
    stack = [graph]
    while stack:
        g = stack.pop()
        if id(g) in seen:
            continue
        seen.add(id(g))
        yield g
        nested = [sub for n in list(g.nodes) for sub in subgraphs(n)]
        stack.extend(reversed(nested))


def walk_nodes(graph: Graph) -> Iterator[tuple[Node, Graph]]:
    """Every node of ``graph`` and of its subgraphs as ``(node, owning graph)``.

    Pre-order: a node comes before the nodes of its own subgraphs, which come before the
    node's successors in its graph.
    """
    seen: set[int] = set()

    def visit(g: Graph) -> Iterator[tuple[Node, Graph]]:
        if id(g) in seen:
            return
        seen.add(id(g))
        for n in list(g.nodes):
            yield n, g
            for sub in subgraphs(n):
                yield from visit(sub)

    yield from visit(graph)


def count_nodes(graph: Graph) -> int:
    """Nodes in ``graph`` and every nested subgraph."""
    return sum(1 for _ in walk_nodes(graph))


__all__ = ["count_nodes", "subgraphs", "walk_graphs", "walk_nodes"]
