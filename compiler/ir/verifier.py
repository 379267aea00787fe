"""The IR verifier.

Checks, for a graph and every nested subgraph:

* single definition: every value name is defined once;
* define-before-use: nodes are in topological order, inputs are graph inputs or outputs of
  earlier nodes of the same graph;
* use lists agree with node inputs and point at nodes of this graph;
* each node fits its op's schema: known op, arity, attribute names and types, and the output
  types written on the node agree with the schema's inference.

All problems are collected; the error names each node and shows the printed lines around it.
"""

from __future__ import annotations

from .graph import Graph, Node
from .printer import print_graph
from .types import types_compatible

CONTEXT_LINES = 5


class VerificationError(Exception):
    """The graph breaks an IR invariant; ``problems`` lists (node, message)."""

    def __init__(self, message: str, problems: list[tuple[Node | None, str]],
                 graph: Graph | None = None):
        super().__init__(message)
        self.problems = problems
        self.graph = graph

    def summary(self, context: int = 1) -> str:
        """The first problem with ``context`` IR lines either side, and how many more there
        are: a model with a broken input type can fail on hundreds of nodes, and the first one
        names what to fix. Without the graph (an error built by hand) the message is whole."""
        if self.graph is None or not self.problems:
            return str(self)
        text, line_of = _located(self.graph)
        lines = [_header(self.graph, self.problems),
                 *_problem_lines(text, line_of, *self.problems[0], context)]
        if len(self.problems) > 1:
            lines.append(f"... and {len(self.problems) - 1} more problem(s)")
        return "\n".join(lines)


def verify(graph: Graph, *, check_types: bool = True) -> None:
    """Raise :class:`VerificationError` unless ``graph`` satisfies every invariant."""
    problems: list[tuple[Node | None, str]] = []
    _verify_graph(graph, problems, check_types)
    if problems:
        raise VerificationError(_render(graph, problems), problems, graph)


def _verify_graph(g: Graph, problems: list, check_types: bool) -> None:
    from ..ops.registry import (
        InferContext,
        SchemaError,
        check_arity,
        get_schema,
    )

    defined: dict[int, str] = {}
    names: set[str] = set()

    def define(v, node):
        if v.name in names:
            problems.append((node, f"value %{v.name} is defined more than once"))
        names.add(v.name)
        defined[id(v)] = v.name

    for v in g.inputs:
        define(v, None)
    for node in g.nodes:
        if node.graph is not g:
            problems.append((node, "node's graph back-reference points elsewhere"))
        for i, v in enumerate(node.inputs):
            if v is None:
                continue
            if id(v) not in defined:
                where = "later in the graph" if v.graph is g else "outside this graph"
                problems.append((node, f"input {i} %{v.name} is used before it is defined ({where})"))
            if (node, i) not in v._uses:
                problems.append((node, f"input {i} %{v.name} is missing this use in its use list"))
        for j, v in enumerate(node.outputs):
            if v.producer is not node or v.index != j:
                problems.append((node, f"output %{v.name} does not point back at its producer"))
            define(v, node)
        schema = get_schema(node.op)
        if schema is None:
            problems.append((node, f"unknown op '{node.op}'"))
            continue
        for msg in check_arity(schema, len(node.inputs), len(node.outputs)):
            problems.append((node, msg))
        try:
            attrs = schema.resolve_attrs(node.attrs)
        except SchemaError as e:
            problems.append((node, str(e)))
            continue
        for msg in schema.check_attr_types(node.attrs):
            problems.append((node, msg))
        for k, spec in schema.attrs.items():
            if spec.type == "graph" and k in node.attrs and isinstance(node.attrs[k], Graph):
                _verify_graph(node.attrs[k], problems, check_types)
        if not check_types:
            continue
        try:
            ctx = InferContext(
                node.op,
                [None if v is None else v.type for v in node.inputs],
                attrs,
                [None if v is None else v.const_value for v in node.inputs],
                len(node.outputs),
            )
            inferred = schema.infer(ctx)
        except Exception as e:  # an inference failure is a finding, not a crash
            problems.append((node, f"type inference failed: {e}"))
            continue
        for v, t in zip(node.outputs, inferred):
            if not types_compatible(v.type, t):
                problems.append((node, f"output %{v.name} is declared {v.type}, inferred {t}"))
    # use lists must not hold stale entries
    for v in g.values():
        for user, i in v._uses:
            if user.graph is not g or i >= len(user.inputs) or user.inputs[i] is not v:
                problems.append((user, f"use list of %{v.name} holds a stale entry (input {i})"))
    for v in g.outputs:
        if id(v) not in defined:
            problems.append((None, f"graph output %{v.name} is not defined in @{g.name}"))


def _located(graph: Graph) -> tuple[list[str], dict[int, int]]:
    """The printed graph's lines and the line of each node."""
    text = print_graph(graph).splitlines()
    line_of: dict[int, int] = {}
    li = 0
    for node in graph.nodes:
        # node lines are printed in order after the header (and metadata lines)
        while li < len(text) and not text[li].lstrip().startswith("%"):
            li += 1
        line_of[id(node)] = li
        li += 1
    return text, line_of


def _header(graph: Graph, problems: list) -> str:
    return f"graph @{graph.name} failed verification ({len(problems)} problem(s)):"


def _problem_lines(text: list[str], line_of: dict[int, int], node: Node | None, msg: str,
                   context: int) -> list[str]:
    """One problem: the node and its message, then ``context`` lines either side of it."""
    if node is None or id(node) not in line_of:
        label = f"in a subgraph node {node!r}" if node is not None else "graph"
        return [f"{label}: {msg}"]
    at = line_of[id(node)]
    src = f" (from {', '.join(node.source)})" if node.source else ""
    out = [f"node {node.op} -> %{node.outputs[0].name if node.outputs else '?'}{src}: {msg}"]
    lo, hi = max(0, at - context), min(len(text), at + context + 1)
    for k in range(lo, hi):
        marker = ">>" if k == at else "  "
        out.append(f"  {marker} {k + 1:4d} | {text[k][:200]}")
    return out


def _render(graph: Graph, problems: list[tuple[Node | None, str]]) -> str:
    text, line_of = _located(graph)
    parts = [_header(graph, problems)]
    for node, msg in problems[:20]:
        first, *rest = _problem_lines(text, line_of, node, msg, CONTEXT_LINES)
        parts += ["\n" + first, *rest]
    if len(problems) > 20:
        parts.append(f"\n... and {len(problems) - 20} more")
    return "\n".join(parts)
