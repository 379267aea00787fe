"""cse: common-subexpression elimination.

Requires: a verified graph.

Guarantees:

* Two nodes with the same op, the same input values (by identity), the same attributes
  (defaults filled in from the schema; arrays compared by dtype, shape and bytes; lists
  element-wise; ints and floats kept apart) , the same annotations and the same output types
  compute the same thing: the later one is removed and its readers read the earlier one.
  Chains collapse in one run (topological order).
* ``const`` nodes holding identical data (same type incl. quantization, same bytes; sparse
  ones by their canonical CSR arrays) are merged the same way; the data is hashed, and
  bytes are compared on a hash match.
* The kept node's source is the union of both sources.
* Never merged: impure ops (``pure`` trait False, such as random sampling; ops without a
  schema), nodes carrying subgraphs, and a duplicate whose output is a graph output (that
  would rename or duplicate a graph output).
* Each subgraph is handled on its own.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from compiler.ir.graph import CONST, Graph, Node, is_sparse
from compiler.ops import get_schema
from compiler.ops.registry import is_pure
from compiler.pass_manager.base import Pass, PassContext, PassResult
from compiler.ir.rewrite import merge_sources
from compiler.ir.walk import subgraphs, walk_graphs


class _Unhashable(Exception):
    pass


@dataclass
class CommonSubexpressionElimination(Pass):
    name: ClassVar[str] = "cse"
    summary: ClassVar[str] = "Merge nodes computing the same value, and identical constants"

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        stats = {"merged_nodes": 0, "merged_consts": 0}
        for g in list(walk_graphs(graph)):
            _cse(g, stats)
        return PassResult(modified=bool(stats["merged_nodes"] or stats["merged_consts"]), stats=stats)


def _cse(g: Graph, stats: dict[str, int]) -> None:
    seen: dict[Any, list[Node]] = {}
    for node in list(g.nodes):
        if not is_pure(node.op) or subgraphs(node):
            continue
        if any(v.is_graph_output for v in node.outputs):
            # It may still serve as the kept copy for later duplicates.
            dup_allowed = False
        else:
            dup_allowed = True
        try:
            key = _const_key(node) if node.op == CONST else _node_key(node)
        except _Unhashable:
            continue
        bucket = seen.setdefault(key, [])
        match = None
        if dup_allowed:
            for cand in bucket:
                if node.op != CONST or _same_data(cand.attrs["value"], node.attrs["value"]):
                    match = cand
                    break
        if match is None:
            bucket.append(node)
            continue
        for a, b in zip(node.outputs, match.outputs):
            a.replace_all_uses_with(b)
        match.source = merge_sources(match.source, node.source)
        g.erase_node(node)
        stats["merged_consts" if node.op == CONST else "merged_nodes"] += 1


def _node_key(node: Node) -> Any:
    schema = get_schema(node.op)
    attrs = schema.resolve_attrs(node.attrs) if schema is not None else dict(node.attrs)
    return (
        node.op,
        tuple(None if v is None else id(v) for v in node.inputs),
        _canon(attrs),
        _canon(node.annotations),
        tuple(v.type for v in node.outputs),
    )


def _const_key(node: Node) -> Any:
    value = node.attrs["value"]
    return (CONST, node.output.type, _canon(node.annotations), _data_digest(value))


def _canon(x: Any) -> Any:
    """A hashable, type-preserving form of an attribute value."""
    if isinstance(x, dict):
        return tuple(sorted((k, _canon(v)) for k, v in x.items()))
    if isinstance(x, (list, tuple)):
        return ("list", tuple(_canon(v) for v in x))
    if isinstance(x, np.ndarray) or is_sparse(x):
        return ("array", _data_digest(x))
    if isinstance(x, (bool, np.bool_)):
        return ("bool", bool(x))
    if isinstance(x, (int, np.integer)):
        return ("int", int(x))
    if isinstance(x, (float, np.floating)):
        return ("float", float(x))
    if isinstance(x, str) or x is None:
        return x
    raise _Unhashable(type(x).__name__)


def _data_parts(value: Any) -> tuple:
    """The arrays that define a constant, canonicalized (sparse -> sorted CSR)."""
    if is_sparse(value):
        m = value.tocsr()
        m.sum_duplicates()
        m.sort_indices()
        return ("sparse", m.shape, m.dtype.str, m.data, m.indices, m.indptr)
    a = np.asarray(value)
    if a.dtype == object:
        return ("strs", a.shape, tuple(str(s) for s in a.ravel().tolist()))
    return ("dense", a.shape, a.dtype.str, a)


def _bytes(parts: tuple) -> bytes:
    out = []
    for p in parts:
        if isinstance(p, np.ndarray):
            out.append(np.ascontiguousarray(p).tobytes())
        else:
            out.append(repr(p).encode())
    return b"\0".join(out)


def _data_digest(value: Any) -> tuple:
    parts = _data_parts(value)
    return (parts[0], parts[1], hashlib.blake2b(_bytes(parts), digest_size=16).digest())


def _same_data(a: Any, b: Any) -> bool:
    if a is b:
        return True
    return _bytes(_data_parts(a)) == _bytes(_data_parts(b))


__all__ = ["CommonSubexpressionElimination"]
