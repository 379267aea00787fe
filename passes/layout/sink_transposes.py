"""sink-transposes: push transposes toward the outputs through layout-agnostic ops.

Requires: a verified graph.

A frontend for a channels-last framework lowers every NHWC conv/pool as
``transpose(NHWC->NCHW) -> op -> transpose(NCHW->NHWC)``. This pass moves each transpose
``t = transpose(x, p)`` past the ops reading ``t`` that do not care about the layout, so
that it meets the next inverse transpose and both disappear. Rewrites (all exact: the
arithmetic is unchanged, only axes are renamed):

* ``transpose(transpose(x, p1), p2)`` -> ``transpose(x, p1[p2])``; identity -> removed.
* Unary elementwise ops / activations (extra inputs must be scalars or size-1 tensors):
  ``f(transpose(x, p))`` -> ``transpose(f(x), p)``.
* Broadcasting elementwise ops (add, mul, where, max, ...): every other input must be a
  transpose with the same ``p``, a constant (it is broadcast to full rank and permuted by
  the inverse of ``p``), or a size-1 tensor; the output rank must equal the input rank.
* ``concat``: same conditions for all inputs; ``axis`` -> ``p[axis]``.
* ``pad`` with constant ``pads`` and no ``axes`` input: pads are permuted.
* ``reduce_*`` with constant (or absent) ``axes``: axes are remapped; with keepdims=0 the
  transpose after it acts on the remaining axes only (and vanishes when they keep their
  order, e.g. NHWC global average pooling).
* ``resize`` with constant ``scales``/``sizes`` (no roi, no ``axes``): they are permuted.
* ``softmax`` / ``log_softmax`` / ``hardmax``: ``axis`` -> ``p[axis]``.
* ``transpose(reshape(x, s), p)`` where ``p`` moves only size-1 dims -> ``reshape(x, s')``,
  and ``reshape(reshape(x, s1), s2)`` with a constant ``s2`` free of 0s -> ``reshape(x, s2)``.

A transpose left without readers is erased; graph-output names are kept (the moved
transpose takes over the consumer's output value). Ops with several outputs and
subgraphs are left alone. The pass repeats until nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from compiler.ir.graph import Graph, Node, Value
from compiler.ops.registry import infer_types
from compiler.pass_manager.base import Pass, PassContext, PassResult
from compiler.ir.rewrite import bypass, const_array, erase_dead_chain, merge_sources, move_output

UNARY = frozenset(
    ["relu", "sigmoid", "tanh", "elu", "selu", "celu", "leaky_relu", "hard_sigmoid", "hard_swish", "swish", "mish", "gelu", "softplus", "softsign", "thresholded_relu", "shrink", "exp", "log", "neg", "sqrt", "abs", "reciprocal", "cast", "identity", "erf", "floor", "ceil", "round", "sign", "not", "isnan", "isinf", "sin", "cos", "clip", "dropout"]
)
BROADCAST = frozenset(
    ["add", "sub", "mul", "div", "pow", "max", "min", "sum", "mean", "equal", "less", "greater", "less_or_equal", "greater_or_equal", "where", "and", "or", "xor", "mod", "prelu"]
)
REDUCE = frozenset(
    ["reduce_mean", "reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "reduce_l1", "reduce_l2", "reduce_log_sum", "reduce_log_sum_exp", "reduce_sum_square"]
)
AXIS_OPS = frozenset({"softmax", "log_softmax", "hardmax"})


@dataclass
class SinkTransposes(Pass):
    name: ClassVar[str] = "sink-transposes"
    summary: ClassVar[str] = "Push transposes through layout-agnostic ops and cancel inverse pairs"
    max_rounds: int = 1000

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        stats = {"pushed": 0, "cancelled": 0, "composed": 0, "to_reshape": 0}
        before = sum(1 for n in graph.nodes if n.op == "transpose")
        for _ in range(self.max_rounds):
            if not _round(graph, stats):
                break
        after = sum(1 for n in graph.nodes if n.op == "transpose")
        stats["transposes_before"], stats["transposes_after"] = before, after
        changed = any(stats[k] for k in ("pushed", "cancelled", "composed", "to_reshape"))
        return PassResult(modified=changed, stats=stats)


# -- helpers -------------------------------------------------------------------------------


def perm_of(node: Node) -> list[int] | None:
    """The normalized permutation of a transpose node (None when the rank is unknown)."""
    rank = node.inputs[0].type.rank
    p = node.attrs.get("perm")
    if not p:
        return None if rank is None else list(range(rank))[::-1]
    n = len(p)
    if rank is not None and n != rank:
        return None
    return [int(a) + n if int(a) < 0 else int(a) for a in p]


def _inverse(p: list[int]) -> list[int]:
    inv = [0] * len(p)
    for i, a in enumerate(p):
        inv[a] = i
    return inv


def _is_identity(p: list[int]) -> bool:
    return p == list(range(len(p)))


def _transposed_source(v: Value | None, p: list[int]) -> Value | None:
    """``x`` when ``v = transpose(x, p)``, else None."""
    if v is None or v.producer is None or v.producer.op != "transpose":
        return None
    return v.producer.inputs[0] if perm_of(v.producer) == p else None


def _is_size1(v: Value) -> bool:
    t = v.type
    return t.shape is not None and all(d == 1 for d in t.shape)


def _adapt_operand(g: Graph, v: Value | None, p: list[int], rank: int, before: Node) -> Value | None | bool:
    """The operand rewritten for the pre-transpose layout, or False when impossible."""
    if v is None:
        return None
    x = _transposed_source(v, p)
    if x is not None:
        return x
    if v.type.rank == 0 or (_is_size1(v) and v.type.rank <= rank):
        return v  # all-ones shapes broadcast the same way under any permutation
    arr = const_array(v)
    if arr is None or arr.ndim > rank:
        return False
    full = arr.reshape((1,) * (rank - arr.ndim) + arr.shape)
    new = np.ascontiguousarray(np.transpose(full, _inverse(p)))
    return g.add_const(new, g.unique_name(v.name + "_perm"), source=v.producer.source, before=before)


def _retarget(g: Graph, c: Node, inputs: list, attrs: dict, out_perm: list[int] | None) -> None:
    """Make ``c`` compute on the pre-transpose layout; ``transpose(., out_perm)`` restores it."""
    old = c.outputs[0]
    c.inputs = inputs
    c.attrs = attrs
    t = infer_types(c.op, list(c.inputs), c.attrs)[0]
    if out_perm is None or _is_identity(out_perm):
        old.type = t
        return
    # `old` keeps its name and readers but is now computed by a transpose of c's new output.
    tn = g.add_node("transpose", [], {"perm": list(out_perm)}, out_types=[t],
                    names=[old.name + "_nchw"], source=c.source, after=c)
    nv = move_output(old, tn)
    tn.inputs = [nv]


# -- one round -----------------------------------------------------------------------------


def _round(g: Graph, stats: dict[str, int]) -> bool:
    changed = False
    for node in list(g.nodes):
        if node.graph is not g:
            continue
        if node.op == "reshape":
            changed |= _compose_reshape(g, node, stats)
            continue
        if node.op != "transpose":
            continue
        p = perm_of(node)
        if p is None:
            continue
        if _is_identity(p):
            if bypass(node, node.inputs[0], node.outputs[0]):
                stats["cancelled"] += 1
                changed = True
            continue
        if _transpose_to_reshape(g, node, p, stats):
            changed = True
            continue
        out = node.outputs[0]
        for c, _ in out.uses():
            if c.graph is not g or len(c.outputs) != 1:
                continue
            if _push(g, c, p, stats):
                changed = True
        if node.graph is g and not out.has_uses:
            erase_dead_chain(node)
    return changed


def _push(g: Graph, c: Node, p: list[int], stats: dict[str, int]) -> bool:
    rank = len(p)
    op = c.op
    if op == "transpose":
        p2 = perm_of(c)
        x = c.inputs[0].producer.inputs[0]
        if p2 is None or len(p2) != rank:
            return False
        q = [p[i] for i in p2]
        c.inputs = [x]
        c.attrs = {**c.attrs, "perm": q}
        stats["composed"] += 1
        if _is_identity(q) and bypass(c, x, c.outputs[0]):
            stats["cancelled"] += 1
        return True
    if op in UNARY:
        x = _transposed_source(c.inputs[0], p)
        if x is None:
            return False
        rest = list(c.inputs[1:])
        if any(v is not None and not (v.type.rank == 0 or (_is_size1(v) and v.type.rank <= rank)) for v in rest):
            return False
        _retarget(g, c, [x, *rest], dict(c.attrs), p)
        stats["pushed"] += 1
        return True
    if op in BROADCAST or op == "concat":
        if c.outputs[0].type.rank != rank:
            return False
        if not any(_transposed_source(v, p) is not None for v in c.inputs):
            return False
        new = []
        for v in c.inputs:
            a = _adapt_operand(g, v, p, rank, c)
            if a is False:
                return False
            new.append(a)
        attrs = dict(c.attrs)
        if op == "concat":
            axis = int(attrs.get("axis", 0))
            attrs["axis"] = p[axis + rank if axis < 0 else axis]
        _retarget(g, c, new, attrs, p)
        stats["pushed"] += 1
        return True
    x = _transposed_source(c.inputs[0], p)
    if x is None:
        return False
    if op == "pad":
        pads = const_array(c.input(1))
        if pads is None or c.input(3) is not None or pads.size != 2 * rank:
            return False
        new_pads = np.zeros_like(pads)
        for i in range(rank):
            new_pads[p[i]] = pads[i]
            new_pads[rank + p[i]] = pads[rank + i]
        pv = g.add_const(new_pads, g.unique_name(c.inputs[1].name + "_perm"), before=c)
        _retarget(g, c, [x, pv, *c.inputs[2:]], dict(c.attrs), p)
        stats["pushed"] += 1
        return True
    if op in REDUCE:
        axes_v = c.input(1)
        keep = int(c.attrs.get("keepdims", 1))
        if axes_v is None:
            if int(c.attrs.get("noop_with_empty_axes", 0)):
                return False
            _retarget(g, c, [x], dict(c.attrs), p if keep else None)
            stats["pushed"] += 1
            return True
        axes = const_array(axes_v)
        if axes is None:
            return False
        axes = [int(a) + rank if int(a) < 0 else int(a) for a in axes.ravel()]
        new_axes = sorted(p[a] for a in axes)
        av = g.add_const(np.asarray(new_axes, np.int64), g.unique_name(axes_v.name + "_perm"), before=c)
        if keep:
            out_perm = p
        else:
            remaining = [j for j in range(rank) if j not in new_axes]
            out_perm = [remaining.index(p[i]) for i in range(rank) if i not in axes]
        _retarget(g, c, [x, av], dict(c.attrs), out_perm)
        stats["pushed"] += 1
        return True
    if op == "resize":
        if c.input(1) is not None or c.attrs.get("axes"):
            return False
        new_in: list = [x, None]
        for k in (2, 3):
            v = c.input(k)
            if v is None:
                new_in.append(None)
                continue
            arr = const_array(v)
            if arr is None or arr.size != rank:
                return False
            new_in.append(g.add_const(np.ascontiguousarray(arr[_inverse(p)]),
                                      g.unique_name(v.name + "_perm"), before=c))
        _retarget(g, c, new_in, dict(c.attrs), p)
        stats["pushed"] += 1
        return True
    if op in AXIS_OPS:
        axis = int(c.attrs.get("axis", -1))
        attrs = {**c.attrs, "axis": p[axis + rank if axis < 0 else axis]}
        _retarget(g, c, [x], attrs, p)
        stats["pushed"] += 1
        return True
    return False


def _transpose_to_reshape(g: Graph, node: Node, p: list[int], stats: dict[str, int]) -> bool:
    """``transpose(reshape(x, s), p)`` moving only size-1 dims -> ``reshape(x, s')``.

    The output may have one dim that is not static (a dynamic batch): the new target reads
    ``-1`` there, which the element count determines (no static dim may be 0 then)."""
    inner = node.inputs[0].producer
    shape = node.inputs[0].type.shape
    dims = node.outputs[0].type.shape
    if inner is None or inner.op != "reshape" or dims is None or shape is None:
        return False
    open_dims = [d for d in dims if not isinstance(d, int)]
    if len(open_dims) > 1 or (open_dims and 0 in dims):
        return False
    big = [a for a in p if shape[a] != 1]
    if big != sorted(big):
        return False
    node.op = "reshape"
    node.attrs = {}
    target = [d if isinstance(d, int) else -1 for d in dims]
    sv = g.add_const(np.asarray(target, np.int64), g.unique_name(node.outputs[0].name + "_shape"), before=node)
    node.inputs = [node.inputs[0], sv]
    stats["to_reshape"] += 1
    return True


def _compose_reshape(g: Graph, node: Node, stats: dict[str, int]) -> bool:
    inner = node.inputs[0].producer
    shape = const_array(node.input(1))
    if inner is None or inner.op != "reshape" or inner.graph is not g or shape is None:
        return False
    if np.any(shape == 0) and not int(node.attrs.get("allowzero", 0)):
        return False
    node.set_input(0, inner.inputs[0])
    node.source = merge_sources(inner.source, node.source)
    erase_dead_chain(inner)
    stats["to_reshape"] += 1
    return True


__all__ = ["SinkTransposes", "perm_of"]
