"""Pattern rules: rewrites written one per line, matched over a graph's nodes.

In the spirit of tinygrad's ``PatternMatcher``: a rule pairs a pattern with a function of the
match, and a rule-like pass is a list of rules with the algebra in a comment::

    RULES = [
        Rule(Op("add", X, Const(0), commutative=True), same_as_root(X)),  # x + 0 = x
        Rule(Op("mul", X, Const(1), commutative=True), same_as_root(X)),  # x * 1 = x
    ]
    counts = apply_rules(graph, RULES)

Patterns:

* :class:`Var` matches any value and binds it by name (``X``, ``Y``, ``W``, ``B`` are ready).
* :class:`Const` matches a value computed by a ``const`` node; ``Const(0)`` only when every
  element equals 0. ``Const(name="b")`` binds it.
* :class:`Op` matches a node by op name(s) and its inputs position by position (extra inputs
  are not constrained), optionally both orders of two inputs (``commutative``), a guard on the
  node (``where``) and a single reader (``one_use``). As an input pattern it matches the value
  the node computes; ``name=`` binds the node.

A rewrite takes the :class:`Match` (bindings as attributes: ``m.X``, ``m.root``, ``m.graph``,
``m.source``) and returns:

* ``None``: the rule does not apply after all (nothing may have been changed);
* a :class:`Value`: the root's output is replaced by it (:func:`~compiler.ir.rewrite.bypass`:
  readers move, a graph-output name is kept) and the root is erased;
* a :class:`Node`: a new node (placed before the root, e.g. ``add_node(..., before=m.root)``)
  takes the root's place the same way, or the root itself edited in place.

After a rewrite :func:`apply_rules` erases the matched nodes nothing reads any more (and what
only they kept alive), then tries the rules on the same root again until none fires, so
rewrites compose (compose two transposes, then drop the identity). Provenance is the
rewrite's to set on nodes it creates; ``m.source`` is the union of the matched nodes' sources
(inputs first, root last).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from .graph import CONST, Graph, Node, Value
from .rewrite import bypass, const_array, erase_dead_chain, merge_sources, single_use
from .walk import walk_graphs

Pattern = Union["Op", "Var", "Const"]


@dataclass(frozen=True)
class Var:
    """Any value (not a missing optional input), bound as ``name``."""

    name: str


@dataclass(frozen=True)
class Const:
    """A value computed by a ``const`` node; with ``value``, only when all elements equal it."""

    value: float | None = None
    name: str | None = None


@dataclass(frozen=True)
class Op:
    """A node with op ``op`` (or one of a tuple of ops) whose inputs match ``inputs``."""

    op: str | tuple[str, ...]
    inputs: tuple[Pattern, ...] = ()
    name: str | None = None
    where: Callable[[Node], bool] | None = None
    commutative: bool = False
    one_use: bool = False

    def __init__(self, op: str | tuple[str, ...], *inputs: Pattern, name: str | None = None,
                 where: Callable[[Node], bool] | None = None, commutative: bool = False,
                 one_use: bool = False):
        object.__setattr__(self, "op", op)
        object.__setattr__(self, "inputs", tuple(inputs))
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "where", where)
        object.__setattr__(self, "commutative", commutative)
        object.__setattr__(self, "one_use", one_use)


X, Y, W, B = Var("X"), Var("Y"), Var("W"), Var("B")


class Match:
    """The bindings of one match: ``m.root`` (the matched node), ``m.graph``, named parts."""

    def __init__(self, root: Node, graph: Graph, bindings: dict[str, Any], nodes: list[Node]):
        self.root = root
        self.graph = graph
        self.nodes = nodes  # every matched node, inputs first, root last
        self._bindings = bindings

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_bindings"][name]
        except KeyError:
            raise AttributeError(f"the pattern binds no '{name}'") from None

    def __getitem__(self, name: str) -> Any:
        return self._bindings[name]

    @property
    def source(self) -> tuple[str, ...]:
        """Union of the matched nodes' sources, inputs first, root last."""
        return merge_sources(*(n.source for n in self.nodes))


Rewrite = Callable[[Match], Union[Value, Node, None]]


@dataclass(frozen=True)
class Rule:
    """``pattern`` rooted at a node, and what to replace it by. ``name`` keys the counts."""

    pattern: Op
    rewrite: Rewrite
    name: str = ""


def match(pattern: Op, node: Node) -> Match | None:
    """Match ``pattern`` at ``node``; None when it does not match."""
    bindings: dict[str, Any] = {}
    nodes: list[Node] = []
    if not _match_node(pattern, node, bindings, nodes):
        return None
    assert node.graph is not None
    return Match(node, node.graph, bindings, nodes)


def _match_node(p: Op, node: Node, bindings: dict[str, Any], nodes: list[Node]) -> bool:
    ops = (p.op,) if isinstance(p.op, str) else p.op
    if node.op not in ops or len(node.inputs) < len(p.inputs):
        return False
    orders = [list(range(len(p.inputs)))]
    if p.commutative and len(p.inputs) == 2:
        orders.append([1, 0])
    for order in orders:
        b, ns = dict(bindings), list(nodes)
        if all(_match_value(p.inputs[k], node.inputs[i], node, b, ns) for k, i in enumerate(order)):
            if p.where is not None and not p.where(node):
                continue
            if p.name is not None:
                b[p.name] = node
            ns.append(node)
            bindings.clear()
            bindings.update(b)
            nodes[:] = ns
            return True
    return False


def _match_value(p: Pattern, v: Value | None, reader: Node, bindings: dict[str, Any],
                 nodes: list[Node]) -> bool:
    if v is None:
        return False
    if isinstance(p, Var):
        if p.name in bindings:  # a variable used twice must be the same value
            return bindings[p.name] is v
        bindings[p.name] = v
        return True
    if isinstance(p, Const):
        if v.producer is None or v.producer.op != CONST:
            return False
        if p.value is not None:
            a = const_array(v)
            if a is None or a.size == 0 or not np.all(a == p.value):
                return False
        if p.name is not None:
            bindings[p.name] = v
        return True
    producer = v.producer
    if producer is None or len(producer.outputs) != 1:
        return False
    if p.one_use and single_use(v) is not reader:
        return False
    return _match_node(p, producer, bindings, nodes)


def same_as_root(var: Var, *, same_type: bool = True) -> Rewrite:
    """A rewrite replacing the root's output by the value bound to ``var``.

    With ``same_type`` (the default) only when that value has the root output's exact type,
    so broadcasting or a dtype change can never be rewritten away.
    """

    def rewrite(m: Match) -> Value | None:
        v = m[var.name]
        if same_type and v.type != m.root.outputs[0].type:
            return None
        return v

    return rewrite


@dataclass
class RuleStats:
    """Counts of one :func:`apply_rules` run: ``fired[rule name]``, ``kept[rule name]``."""

    fired: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return any(self.fired.values())


def apply_rules(
    graph: Graph,
    rules: Sequence[Rule],
    *,
    on_kept: Callable[[Node, Value], bool] | None = None,
    max_per_node: int = 64,
) -> RuleStats:
    """Rewrite every node of ``graph`` and its subgraphs with the first rule that fires.

    Nodes are visited in order; at each, the rules are tried in order and the first whose
    pattern matches and whose rewrite returns a value or node fires. Then the rules are tried
    again at the same node (if it is still there), at most ``max_per_node`` times.

    When a rule's replacement cannot take a graph output's place (``bypass`` refuses: the
    value is a graph input or already a graph output) the root stays; ``on_kept(root,
    value)`` may then edit it (returning True when it did) and the rule counts as kept.
    """
    stats = RuleStats()
    for g in walk_graphs(graph):
        for node in list(g.nodes):
            for _ in range(max_per_node):
                if node.graph is not g or not _apply_once(node, rules, stats, on_kept):
                    break
    return stats


def _apply_once(node: Node, rules: Sequence[Rule], stats: RuleStats,
                on_kept: Callable[[Node, Value], bool] | None) -> bool:
    """Fire the first applicable rule at ``node``; True when the graph changed at ``node``."""
    for rule in rules:
        m = match(rule.pattern, node)
        if m is None:
            continue
        result = rule.rewrite(m)
        if result is None:
            continue
        inner = [v.producer for n in m.nodes for v in n.inputs if v is not None and v.producer is not None]
        if isinstance(result, Node) and result is node:
            changed = True
        else:
            value = result.outputs[0] if isinstance(result, Node) else result
            changed = bypass(node, value, node.outputs[0])
            if not changed:
                if isinstance(result, Node) and result.graph is not None:
                    erase_dead_chain(result)
                edited = on_kept is not None and on_kept(node, value)
                stats.kept[rule.name] = stats.kept.get(rule.name, 0) + 1
                if not edited:
                    return False
        if changed:
            stats.fired[rule.name] = stats.fired.get(rule.name, 0) + 1
        for n in reversed(m.nodes):
            if n is not node:
                erase_dead_chain(n)
        for p in inner:
            erase_dead_chain(p)
        return True
    return False


__all__ = [
    "B",
    "Const",
    "Match",
    "Op",
    "Rule",
    "RuleStats",
    "Var",
    "W",
    "X",
    "Y",
    "apply_rules",
    "match",
    "same_as_root",
]
