"""resolve-shapes: settle the shape arithmetic that known (or user-fixed) shapes decide.

Requires: a verified graph whose ops have inference functions (the builtin ops do).

Repeats, until nothing changes (at most ``max_rounds`` times):

* ``fold-constants`` (which also folds ``shape``/``size`` of tensors whose dims are known);
* **type refinement**: every node's output types are re-inferred from its (possibly now
  constant or better known) inputs and merged into the declared ones. Merging only adds
  knowledge: an unknown (``"?"``) or symbolic dim becomes a static one, an unknown rank
  becomes known; a known dim, the dtype and quantization parameters never change, and a
  contradiction (two different static dims, two ranks) keeps the declared type;
* **constant ``if``**: an ``if`` whose condition is a constant is replaced by the nodes of
  the branch it takes (the branch's inputs are the captured values by the IR convention);
  an ``if`` some of whose outputs are graph outputs is left alone (their names would
  change);
* **reshape targets**: a ``reshape`` whose shape input is computed at run time but whose
  entries are all known from static dims and constants except at most one (typically
  ``concat(shape(x)[0:1], [172], [88])`` under a dynamic batch) reads a constant target
  instead, with ``-1`` for the unknown entry. The entry is determined by the element count
  (the other entries multiply to a non-zero number), so the result is the same; the run-time
  shape arithmetic becomes dead and ``dce`` removes it.

So input shapes fixed by the user (``input_shapes=`` / ``--input-shape``) propagate through
shape-dependent control flow and reshapes computed from ``shape`` ops, and a dynamic batch
dim no longer hides the static dims behind it. Nodes are only ever replaced by equivalent
ones; values keep their names.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from compiler.ir.graph import CONST, Graph, Value
from compiler.ir.types import TensorType
from compiler.ops import infer_types
from compiler.pass_manager.base import Pass, PassContext, PassResult
from compiler.ir.rewrite import const_array
from compiler.ir.walk import walk_graphs
from .fold_constants import FoldConstants

log = logging.getLogger(__name__)

# entries of a small integer tensor: an int where known, None where only known at run time
Known = list


@dataclass
class ResolveShapes(Pass):
    name: ClassVar[str] = "resolve-shapes"
    summary: ClassVar[str] = ("Fold shape arithmetic decided by known shapes: refine types, "
                              "inline constant ifs, constant reshape targets")

    max_rounds: int = 16

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        stats = {"rounds": 0, "refined": 0, "inlined_ifs": 0, "reshape_targets": 0, "folded": 0}
        fold = FoldConstants()
        for _ in range(self.max_rounds):
            stats["rounds"] += 1
            r = fold.run(graph, ctx)
            folded = r.stats.get("folded", 0) + r.stats.get("shape_folded", 0)
            inlined = sum(_inline_constant_ifs(g) for g in list(walk_graphs(graph)))
            targets = sum(_constant_reshape_targets(g) for g in list(walk_graphs(graph)))
            refined = sum(_refine_types(g) for g in list(walk_graphs(graph)))
            stats["folded"] += folded
            stats["inlined_ifs"] += inlined
            stats["reshape_targets"] += targets
            stats["refined"] += refined
            if not (folded or inlined or targets or refined):
                break
        modified = any(stats[k] for k in ("refined", "inlined_ifs", "reshape_targets", "folded"))
        return PassResult(modified=modified, stats=stats)


# -- type refinement -------------------------------------------------------------------------


def _merge(old: TensorType, new: TensorType) -> TensorType:
    """``old`` with the dims ``new`` knows and ``old`` does not (see the module doc)."""
    if new.shape is None:
        return old
    if old.shape is None:
        return TensorType(old.dtype, new.shape, old.quant)
    if len(old.shape) != len(new.shape):
        return old
    dims = []
    for a, b in zip(old.shape, new.shape):
        if isinstance(a, int):
            if isinstance(b, int) and b != a:
                return old  # a contradiction: trust the declaration, change nothing
            dims.append(a)
        elif isinstance(b, int) or (a == "?" and b != "?"):
            dims.append(b)
        else:
            dims.append(a)
    return TensorType(old.dtype, tuple(dims), old.quant)


def _refine_types(g: Graph) -> int:
    changed = 0
    for node in g.nodes:
        if node.op == CONST:
            continue
        try:
            types = infer_types(node.op, list(node.inputs), node.attrs,
                                num_outputs=len(node.outputs))
        except Exception as e:  # noqa: BLE001 - no better knowledge; keep the declaration
            log.debug("resolve-shapes: %r not re-inferred: %s", node, e)
            continue
        for v, t in zip(node.outputs, types):
            merged = _merge(v.type, t)
            if merged != v.type:
                v.type = merged
                changed += 1
    return changed


# -- constant if -----------------------------------------------------------------------------


def _inline_constant_ifs(g: Graph) -> int:
    count = 0
    for node in list(g.nodes):
        if node.op != "if" or node.graph is not g:
            continue
        cond = const_array(node.input(0))
        if cond is None or cond.size != 1 or any(v.is_graph_output for v in node.outputs):
            continue
        branch = node.attrs["then_branch" if bool(cond.reshape(())) else "else_branch"]
        if len(branch.inputs) != len(node.inputs) - 1 or len(branch.outputs) != len(node.outputs):
            continue
        vmap: dict[int, Value] = {id(b): v for b, v in zip(branch.inputs, node.inputs[1:])}
        for n in branch.nodes:
            new = g.add_node(n.op, [None if v is None else vmap[id(v)] for v in n.inputs],
                             dict(n.attrs), out_types=[v.type for v in n.outputs],
                             names=[v.name for v in n.outputs], source=n.source or node.source,
                             annotations=n.annotations, before=node)
            for a, b in zip(n.outputs, new.outputs):
                vmap[id(a)] = b
        for out, bv in zip(node.outputs, branch.outputs):
            out.replace_all_uses_with(vmap[id(bv)])
        g.erase_node(node)
        count += 1
    return count


# -- reshape targets known up to one entry ---------------------------------------------------


_MAX_ENTRIES = 16  # shape vectors only; larger integer tensors are data


def _known(v: Value | None, memo: dict[int, Known | None]) -> Known | None:
    """The entries of a rank <= 1 integer value (None where unknown), or None if untracked."""
    if v is None or v.type.shape is None or len(v.type.shape) > 1 or not v.type.dtype.is_int:
        return None
    if id(v) in memo:
        return memo[id(v)]
    memo[id(v)] = None  # cycles cannot happen in SSA; this guards the recursion anyway
    memo[id(v)] = out = _known_uncached(v, memo)
    return out


def _ints(v: Value | None) -> list[int] | None:
    c = const_array(v)
    return None if c is None else [int(x) for x in c.reshape(-1)]


def _known_uncached(v: Value, memo: dict[int, Known | None]) -> Known | None:
    c = const_array(v)
    if c is not None:
        return [int(x) for x in c.reshape(-1)] if c.size <= _MAX_ENTRIES else None
    n = v.producer
    if n is None or n.graph is None:
        return None
    op = n.op
    if op == "shape":
        x = n.input(0)
        if x is None or x.type.shape is None:
            return None
        from .fold_constants import _shape_slice

        dims = x.type.shape[_shape_slice(n.attrs, len(x.type.shape))]
        return [d if isinstance(d, int) else None for d in dims]
    if op in ("cast", "identity", "squeeze", "unsqueeze", "reshape", "flatten"):
        return _known(n.input(0), memo)
    if op == "concat":
        parts = [_known(u, memo) for u in n.inputs]
        if any(p is None for p in parts):
            return None
        return [e for p in parts for e in p]
    if op == "gather":
        data, idx = _known(n.input(0), memo), _ints(n.input(1))
        if data is None or idx is None or int(n.attrs.get("axis", 0) or 0) != 0:
            return None
        try:
            return [data[i] for i in idx]
        except IndexError:
            return None
    if op == "slice":
        data = _known(n.input(0), memo)
        starts, ends = _ints(n.input(1)), _ints(n.input(2))
        axes = _ints(n.input(3)) if n.input(3) is not None else [0]
        steps = _ints(n.input(4)) if n.input(4) is not None else [1]
        if data is None or None in (starts, ends, axes, steps) or len(starts) != 1 or \
                axes not in ([0], [-1]) or steps[0] == 0:
            return None
        return data[slice(*slice(starts[0], ends[0], steps[0]).indices(len(data)))]
    return None


def _constant_reshape_targets(g: Graph) -> int:
    count = 0
    memo: dict[int, Known | None] = {}
    for node in list(g.nodes):
        if node.op != "reshape" or node.input(1) is None or node.input(1).is_const:
            continue
        entries = _known(node.input(1), memo)
        if entries is None:
            continue
        unknown = sum(1 for e in entries if e is None or e == -1)
        if unknown > 1:
            continue
        allowzero = int(node.attrs.get("allowzero", 0) or 0)
        if allowzero and 0 in entries:
            continue
        known_prod = int(np.prod([e for e in entries if e is not None and e not in (-1, 0)],
                                 dtype=np.int64))
        if known_prod == 0:
            continue
        target = np.asarray([-1 if e is None else e for e in entries], np.int64)
        c = g.add_const(target, node.input(1).name + "_resolved",
                        source=node.source, before=node)
        node.set_input(1, c)
        count += 1
    return count


__all__ = ["ResolveShapes"]
