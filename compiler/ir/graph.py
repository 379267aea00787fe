"""Values, nodes and graphs: the in-memory IR.

Contracts every pass may rely on (and the verifier checks):

* Each :class:`Value` is defined once: by one node output or as a graph input.
* ``graph.nodes`` is in topological order; a node's inputs are defined before it.
* Use lists are maintained by the IR itself: assigning ``node.inputs``, calling
  :meth:`Node.set_input`, :meth:`Value.replace_all_uses_with` or :meth:`Graph.erase_node`
  updates them. Passes never edit ``_uses`` directly.
* :meth:`Value.uses` returns a snapshot, so a pass may rewrite while iterating it.
* Constants are ``const`` nodes whose ``value`` attribute holds a numpy array or a
  ``scipy.sparse`` matrix (CSC/COO); every pass and target sees that one representation.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from .types import DType, TensorType

CONST = "const"


class IRError(Exception):
    """Misuse of the IR API (erasing a used node, defining a name twice, ...)."""


class Value:
    """An SSA value: a graph input or one output of a node."""

    __slots__ = ("name", "type", "producer", "index", "graph", "_uses")

    def __init__(self, name: str, type: TensorType, producer: "Node | None" = None, index: int = 0):
        self.name = name
        self.type = type
        self.producer = producer
        self.index = index
        self.graph: Graph | None = None
        self._uses: list[tuple[Node, int]] = []

    def uses(self) -> list[tuple["Node", int]]:
        """A snapshot of (node, input index) pairs that read this value."""
        return list(self._uses)

    @property
    def users(self) -> list["Node"]:
        seen: dict[int, Node] = {}
        for n, _ in self._uses:
            seen.setdefault(id(n), n)
        return list(seen.values())

    @property
    def is_graph_output(self) -> bool:
        return self.graph is not None and any(v is self for v in self.graph.outputs)

    @property
    def has_uses(self) -> bool:
        return bool(self._uses) or self.is_graph_output

    @property
    def const_value(self) -> Any:
        """The array held by the producing ``const`` node, else None."""
        p = self.producer
        if p is not None and p.op == CONST:
            return p.attrs["value"]
        return None

    @property
    def is_const(self) -> bool:
        return self.producer is not None and self.producer.op == CONST

    def replace_all_uses_with(self, other: "Value") -> None:
        """Point every reader of this value (nodes and graph outputs) at ``other``."""
        if other is self:
            return
        for node, i in self.uses():
            node.set_input(i, other)
        g = self.graph
        if g is not None:
            g.outputs = [other if v is self else v for v in g.outputs]

    def __repr__(self) -> str:
        return f"Value(%{self.name}: {self.type})"


class Node:
    """One operation. ``source`` lists the source-model layer names it came from."""

    __slots__ = ("op", "_inputs", "outputs", "attrs", "source", "annotations", "graph")

    def __init__(
        self,
        op: str,
        inputs: Sequence[Value | None],
        outputs: Sequence[Value],
        attrs: dict[str, Any] | None = None,
        source: Sequence[str] = (),
        annotations: dict[str, Any] | None = None,
    ):
        self.op = op
        self._inputs: list[Value | None] = []
        self.outputs: list[Value] = list(outputs)
        for i, v in enumerate(self.outputs):
            v.producer, v.index = self, i
        self.attrs: dict[str, Any] = dict(attrs or {})
        self.source: tuple[str, ...] = tuple(source)
        # Free-form placement hints for later passes (partition id, stream, ...).
        self.annotations: dict[str, Any] = dict(annotations or {})
        self.graph: Graph | None = None
        self.inputs = list(inputs)

    # -- inputs keep use lists consistent -------------------------------------------------
    @property
    def inputs(self) -> tuple[Value | None, ...]:
        return tuple(self._inputs)

    @inputs.setter
    def inputs(self, values: Sequence[Value | None]) -> None:
        for i, v in enumerate(self._inputs):
            if v is not None:
                v._uses.remove((self, i))
        self._inputs = list(values)
        for i, v in enumerate(self._inputs):
            if v is not None:
                v._uses.append((self, i))

    def set_input(self, i: int, value: Value | None) -> None:
        old = self._inputs[i]
        if old is not None:
            old._uses.remove((self, i))
        self._inputs[i] = value
        if value is not None:
            value._uses.append((self, i))

    def input(self, i: int) -> Value | None:
        return self._inputs[i] if i < len(self._inputs) else None

    @property
    def output(self) -> Value:
        """The single output (most ops have one)."""
        if len(self.outputs) != 1:
            raise IRError(f"{self.op} has {len(self.outputs)} outputs; use .outputs")
        return self.outputs[0]

    @property
    def label(self) -> str:
        """A short human name: the first source layer, else the first output name."""
        if self.source:
            return self.source[0]
        return self.outputs[0].name if self.outputs else self.op

    def __repr__(self) -> str:
        outs = ", ".join(f"%{v.name}" for v in self.outputs)
        ins = ", ".join("%" + v.name if v is not None else "_" for v in self._inputs)
        return f"Node({outs} = {self.op}({ins}))"


_NAME_RE = re.compile(r"[^A-Za-z0-9_.]+")


class Graph:
    """A dataflow graph with inputs, outputs and nodes in topological order."""

    def __init__(self, name: str = "main"):
        self.name = name
        self.inputs: list[Value] = []
        self._outputs: list[Value] = []
        self.nodes: list[Node] = []
        self.metadata: dict[str, str] = {}
        self._names: set[str] = set()
        self._counter = itertools.count()

    # -- naming ------------------------------------------------------------------------
    def unique_name(self, hint: str = "v") -> str:
        """``hint`` itself if free, else ``hint_1``, ``hint_2``, ..."""
        base = hint or "v"
        if base not in self._names:
            self._names.add(base)
            return base
        while True:
            cand = f"{base}_{next(self._counter)}"
            if cand not in self._names:
                self._names.add(cand)
                return cand

    def fresh_name(self, hint: str = "v") -> str:
        """Like :meth:`unique_name` but reserves nothing: for a name about to be given to
        :meth:`add_node`, :meth:`add_const` or :meth:`add_input`, which claim it themselves."""
        name = self.unique_name(hint)
        self._names.discard(name)
        return name

    def has_name(self, name: str) -> bool:
        """Whether a value of this graph (or a reservation) already uses ``name``."""
        return name in self._names

    def rename(self, v: Value, name: str) -> None:
        """Give ``v`` the free name ``name`` (raises :class:`IRError` when it is taken)."""
        if v.name == name:
            return
        if name in self._names:
            raise IRError(f"cannot rename %{v.name} to %{name}: the name is taken in graph @{self.name}")
        self._names.discard(v.name)
        self._names.add(name)
        v.name = name

    def _claim(self, v: Value) -> None:
        if v.name in self._names:
            raise IRError(f"value name %{v.name} is already defined in graph @{self.name}")
        self._names.add(v.name)
        v.graph = self

    # -- outputs -------------------------------------------------------------------------
    @property
    def outputs(self) -> list[Value]:
        return self._outputs

    @outputs.setter
    def outputs(self, values: Iterable[Value]) -> None:
        self._outputs = list(values)

    # -- construction --------------------------------------------------------------------
    def add_input(self, name: str, type: TensorType) -> Value:
        v = Value(name, type)
        self._claim(v)
        self.inputs.append(v)
        return v

    def add_node(
        self,
        op: str,
        inputs: Sequence[Value | None],
        attrs: dict[str, Any] | None = None,
        *,
        out_types: Sequence[TensorType] | None = None,
        names: Sequence[str] | None = None,
        num_outputs: int | None = None,
        source: Sequence[str] = (),
        annotations: dict[str, Any] | None = None,
        before: Node | None = None,
        after: Node | None = None,
    ) -> Node:
        """Create a node, infer its output types unless given, and insert it.

        The node is appended, or placed ``before``/``after`` an existing node. Output names
        default to a fresh name derived from the op; pass ``names`` to keep source names.
        """
        attrs = dict(attrs or {})
        if out_types is None:
            from ..ops.registry import infer_types

            out_types = infer_types(op, list(inputs), attrs, num_outputs=num_outputs)
        if names is None:
            names = [self.unique_name(op) for _ in out_types]
        else:
            names = [self.unique_name(n) for n in names]  # one at a time: repeats differ too
        outputs = [Value(n, t) for n, t in zip(names, out_types)]
        for v in outputs:
            v.graph = self
        node = Node(op, inputs, outputs, attrs, source, annotations)
        node.graph = self
        if before is not None:
            self.nodes.insert(self._index(before), node)
        elif after is not None:
            self.nodes.insert(self._index(after) + 1, node)
        else:
            self.nodes.append(node)
        return node

    def add_const(
        self,
        value: Any,
        name: str = "const",
        *,
        source: Sequence[str] = (),
        before: Node | None = None,
        type: TensorType | None = None,
    ) -> Value:
        """A ``const`` node holding ``value`` (numpy array, scalar or scipy.sparse)."""
        if not _is_sparse(value):
            value = np.asarray(value)
        t = type or TensorType.of(value)
        node = self.add_node(
            CONST, [], {"value": value}, out_types=[t], names=[name], source=source, before=before
        )
        return node.output

    def erase_node(self, node: Node) -> None:
        """Remove a node whose outputs are unused (raises otherwise)."""
        for v in node.outputs:
            if v.has_uses:
                users = ", ".join(repr(n) for n in v.users) or "graph outputs"
                raise IRError(f"cannot erase {node!r}: %{v.name} is still used by {users}")
        node.inputs = []
        self.nodes.remove(node)
        for v in node.outputs:
            self._names.discard(v.name)
            v.graph = None
        node.graph = None

    def replace_node(self, old: Node, new_outputs: Sequence[Value]) -> None:
        """Redirect ``old``'s outputs to ``new_outputs`` and erase ``old``."""
        for a, b in zip(old.outputs, new_outputs):
            a.replace_all_uses_with(b)
        self.erase_node(old)

    def _index(self, node: Node) -> int:
        for i, n in enumerate(self.nodes):
            if n is node:
                return i
        raise IRError(f"{node!r} is not in graph @{self.name}")

    # -- queries -------------------------------------------------------------------------
    def values(self) -> Iterator[Value]:
        yield from self.inputs
        for n in self.nodes:
            yield from n.outputs

    def value(self, name: str) -> Value:
        for v in self.values():
            if v.name == name:
                return v
        raise KeyError(f"no value %{name} in graph @{self.name}")

    def find(self, op: str) -> list[Node]:
        return [n for n in self.nodes if n.op == op]

    def constants(self) -> list[Node]:
        return self.find(CONST)

    # -- ordering ------------------------------------------------------------------------
    def sort(self) -> None:
        """Stable topological sort: keeps the current order wherever it is already valid."""
        import heapq

        index = {id(n): i for i, n in enumerate(self.nodes)}
        indeg = {}
        consumers: dict[int, list[Node]] = {}
        for n in self.nodes:
            preds = {id(v.producer) for v in n.inputs if v is not None and v.producer is not None}
            preds &= index.keys()
            indeg[id(n)] = len(preds)
            for p in preds:
                consumers.setdefault(p, []).append(n)
        heap = [(index[id(n)], n) for n in self.nodes if indeg[id(n)] == 0]
        heapq.heapify(heap)
        order: list[Node] = []
        while heap:
            _, n = heapq.heappop(heap)
            order.append(n)
            for c in consumers.get(id(n), ()):
                indeg[id(c)] -= 1
                if indeg[id(c)] == 0:
                    heapq.heappush(heap, (index[id(c)], c))
        if len(order) != len(self.nodes):
            stuck = [n for n in self.nodes if indeg[id(n)] > 0]
            raise IRError(f"graph @{self.name} has a cycle through {stuck[0]!r}")
        self.nodes = order

    def to_networkx(self):
        """A ``networkx.DiGraph`` view: one vertex per node, edges labelled by value name.

        It is a snapshot for analyses (partitioning, dominators); edit the IR, not the view.
        """
        import networkx as nx

        g = nx.DiGraph()
        for n in self.nodes:
            g.add_node(n, op=n.op)
        for n in self.nodes:
            for v in n.inputs:
                if v is not None and v.producer is not None:
                    g.add_edge(v.producer, n, value=v.name)
        return g

    def copy(self) -> "Graph":
        """A deep copy: new values, nodes and graphs all the way down.

        Subgraphs held in attributes (``if`` branches, ``loop`` bodies, lists of graphs) are
        copied recursively; a subgraph node that reads a value of an enclosing graph reads
        that value's copy. Names, types, sources, annotations and metadata are kept.
        Constant arrays (and other non-graph attribute values) are shared, not copied:
        passes replace a constant's array, they never mutate it in place.
        """
        return self._copy({})

    def _copy(self, vmap: dict[int, Value]) -> "Graph":
        # ``vmap`` maps id(original value) -> copy for this graph and every enclosing one,
        # so values captured from an outer scope resolve to the outer copy.
        g = Graph(self.name)
        g.metadata = dict(self.metadata)
        for v in self.inputs:
            vmap[id(v)] = g.add_input(v.name, v.type)
        for n in self.nodes:
            node = g.add_node(
                n.op,
                [_mapped(vmap, v, self) for v in n.inputs],
                {k: _copy_attr(a, vmap) for k, a in n.attrs.items()},
                out_types=[v.type for v in n.outputs],
                names=[v.name for v in n.outputs],
                source=n.source,
                annotations=n.annotations,
            )
            for a, b in zip(n.outputs, node.outputs):
                vmap[id(a)] = b
        g.outputs = [_mapped(vmap, v, self) for v in self.outputs]
        return g

    def __str__(self) -> str:
        from .printer import print_graph

        return print_graph(self)

    def __repr__(self) -> str:
        return f"Graph(@{self.name}, {len(self.inputs)} inputs, {len(self.nodes)} nodes)"


def _mapped(vmap: dict[int, Value], v: Value | None, g: Graph) -> Value | None:
    if v is None:
        return None
    try:
        return vmap[id(v)]
    except KeyError:
        raise IRError(f"cannot copy graph @{g.name}: %{v.name} is defined outside it") from None


def _copy_attr(a: Any, vmap: dict[int, Value]) -> Any:
    """An attribute value for a copied node: graphs (also inside lists) are copied."""
    if isinstance(a, Graph):
        return a._copy(vmap)
    if isinstance(a, (list, tuple)) and any(isinstance(x, Graph) for x in a):
        return type(a)(x._copy(vmap) if isinstance(x, Graph) else x for x in a)
    if isinstance(a, list):
        return list(a)
    return a


def _is_sparse(x: Any) -> bool:
    return hasattr(x, "tocoo") and hasattr(x, "nnz")


def is_sparse(x: Any) -> bool:
    """Whether ``x`` is a scipy.sparse matrix/array (without importing scipy)."""
    return _is_sparse(x)


def sanitize_name(name: str) -> str:
    """A readable identifier from an arbitrary source name (used for fresh names)."""
    s = _NAME_RE.sub("_", name).strip("_")
    return s or "v"


__all__ = ["Value", "Node", "Graph", "IRError", "CONST", "DType", "TensorType", "is_sparse"]
