"""fuse-batchnorm: fold inference-mode batch_norm into the preceding linear op.

Math. ``batch_norm`` (ONNX BatchNormalization, inference mode) computes, per channel c
(axis 1 of its input)::

    y = gamma[c] * (x - mean[c]) / sqrt(var[c] + eps) + beta[c]
      = s[c] * x + (beta[c] - s[c] * mean[c]),    s = gamma / sqrt(var + eps)

When ``x = W * a + b`` is linear in a with output channel c scaled by row c of W, then::

    W' = W * s          (per output channel)
    b' = (b - mean) * s + beta

and ``y = W' * a + b'`` exactly (up to rounding; the new parameters are computed in float64
and stored in W's dtype). Output channels are: dim 0 of a ``conv`` weight [M, C/g, k...];
for ``conv_transpose`` (weight [C, M/g, k...]) channel ``g*(M/g) + m`` is column m of group g;
for ``gemm`` (output [M, N]) column n of ``op(B)``, i.e. row n of B when ``transB=1``, column n
otherwise, and its bias ``beta_g * C`` becomes ``beta_g * s * C + (beta - s * mean)`` stored
with ``beta=1``; for ``matmul`` with a constant 2-D right operand (output [M, N]) column n of
B, and the bias goes into a new ``add``.

Requires: a verified graph.

Guarantees:

* A ``batch_norm`` is folded only when: training_mode is 0 and its extra outputs (running
  statistics) are unused; gamma, beta, mean and var are constants of one element per
  channel; its input is the single-use output (not a graph output) of a conv /
  conv_transpose / gemm / matmul whose weight (and bias, if any) are dense float constants
  and which has no fused ``activation``.
* The producer keeps its node and gets the new weight/bias constants (a constant read only
  there is updated in place and keeps its name); its source becomes the union of its and
  the batch norm's sources, as do the sources of the rewritten constants.
* The batch norm's output value is forwarded; a graph output keeps its name.
* The same folding applies to a batch norm already decomposed into ``mul`` / ``add`` by a
  per-channel constant (as frontends lower TensorFlow's FusedBatchNorm or Caffe's Scale):
  ``mul(x, s)`` is ``s * x + 0`` and ``add(x, t)`` is ``1 * x + t``, folded under the same
  conditions when x is the mul/add's first input, the constant varies along the channel
  axis only (axis 1) and the op has no fused activation.
* With ``standalone=true`` a remaining batch_norm with constant parameters and known input
  rank becomes ``mul(x, s) -> add(., beta - s*mean)`` (s shaped [C,1,...]).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from compiler.ir.graph import Graph, Node, Value
from compiler.ir.types import TensorType
from compiler.ops import get_schema
from compiler.pass_manager.base import Pass, PassContext, PassResult
from compiler.ir.rewrite import bypass, const_array, erase_if_dead, merge_sources, single_use
from compiler.ir.walk import walk_graphs

log = logging.getLogger(__name__)



def _weight(node: Node) -> tuple[int, int, int | None] | None:
    """``(weight input, output-channel axis, bias input)`` of an op with one weight (its
    ``weights`` and ``bias`` traits: conv, conv_transpose, gemm, matmul), else None."""
    s = get_schema(node.op)
    axes = s.weight_axes(node.attrs) if s is not None else {}
    if len(axes) != 1:
        return None
    (wi, axis), = axes.items()
    return wi, axis, s.bias


@dataclass
class FuseBatchNorm(Pass):
    name: ClassVar[str] = "fuse-batchnorm"
    summary: ClassVar[str] = "Fold inference batch_norm into the preceding conv/conv_transpose/gemm/matmul"

    standalone: bool = False

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        stats = {"fused": 0, "fused_mul_add": 0, "standalone": 0}
        for g in list(walk_graphs(graph)):
            for bn in list(g.nodes):
                if bn.graph is not g:
                    continue
                if bn.op in ("mul", "add"):
                    params = _affine_params(bn)
                    if params is not None and _fuse(g, bn, *params):
                        stats["fused_mul_add"] += 1
                    continue
                if bn.op != "batch_norm":
                    continue
                params = _bn_params(bn)
                if params is None:
                    continue
                if _fuse(g, bn, *params):
                    stats["fused"] += 1
                elif self.standalone and _to_mul_add(g, bn, *params):
                    stats["standalone"] += 1
        return PassResult(modified=any(stats.values()), stats=stats)


def _bn_params(bn: Node) -> tuple[np.ndarray, np.ndarray] | None:
    """(s, shift) with y = s*x + shift per channel, in float64; None when not foldable."""
    if int(bn.attrs.get("training_mode", 0)):
        return None
    if any(v.has_uses for v in bn.outputs[1:]):
        return None
    arrays = [const_array(bn.input(i)) for i in range(1, 5)]
    if any(a is None for a in arrays):
        return None
    gamma, beta, mean, var = (a.astype(np.float64).ravel() for a in arrays)
    if not (gamma.size == beta.size == mean.size == var.size):
        return None
    eps = float(bn.attrs.get("epsilon", 1e-5))
    s = gamma / np.sqrt(var + eps)
    return s, beta - s * mean


def _affine_params(node: Node) -> tuple[np.ndarray, np.ndarray] | None:
    """(s, shift) for ``mul(x, c)`` / ``add(x, c)`` with c constant per channel of a conv,
    conv_transpose, gemm or matmul output x; None when the node is not of that form."""
    if node.attrs.get("activation", ""):
        return None
    x, c = node.input(0), node.input(1)
    if x is None or x.producer is None or _weight(x.producer) is None:
        return None
    a = _float_const(c)
    rank, shape = x.type.rank, x.type.shape
    if a is None or rank is None or rank < 2 or a.ndim > rank or not isinstance(shape[1], int):
        return None
    if node.outputs[0].type.shape != shape or node.outputs[0].type.dtype != x.type.dtype:
        return None  # the constant broadcasts x itself: not a per-channel affine map
    padded = (1,) * (rank - a.ndim) + a.shape
    if any(d != 1 for i, d in enumerate(padded) if i != 1) or a.size not in (1, shape[1]):
        return None
    vals = np.broadcast_to(a.astype(np.float64).ravel(), (shape[1],))
    if node.op == "mul":
        return vals.copy(), np.zeros(shape[1])
    return np.ones(shape[1]), vals.copy()


def _float_const(v: Value | None) -> np.ndarray | None:
    a = const_array(v)
    if a is None or not np.issubdtype(a.dtype, np.floating):
        return None
    return a


def _fuse(g: Graph, bn: Node, s: np.ndarray, shift: np.ndarray) -> bool:
    x = bn.input(0)
    prod = x.producer if x is not None else None
    weight = _weight(prod) if prod is not None else None
    if weight is None or len(prod.outputs) != 1:
        return False
    if single_use(x) is not bn or prod.attrs.get("activation", ""):
        return False
    C = s.size
    wi, axis, bias_in = weight
    w = _float_const(prod.input(wi))
    if w is None or w.ndim < 2:
        return False
    axis %= w.ndim
    if prod.op in ("gemm", "matmul") and (w.ndim != 2 or x.type.rank != 2):
        return False  # the weight's output channels are the batch norm's axis 1 only in 2-D
    # channel c of group g is output channel g * per + c (one group but for conv_transpose)
    group = int(prod.attrs.get("group", 1)) if prod.op == "conv_transpose" else 1
    per = w.shape[axis]
    if group * per != C or (axis == 1 and w.shape[0] % group):
        return False
    if group == 1:
        shape = [1] * w.ndim
        shape[axis] = C
        w_new = w * s.reshape(shape)
    else:  # conv_transpose [C_in, C_out / group, k...], axis 1
        ws = w.reshape((group, w.shape[0] // group, per) + w.shape[2:])
        w_new = (ws * s.reshape((group, 1, per) + (1,) * (w.ndim - 2))).reshape(w.shape)

    b_val = prod.input(bias_in) if bias_in is not None else None
    if b_val is not None:
        b = _float_const(b_val)
        if b is None:
            return False
    else:
        b = None

    src = merge_sources(prod.source, bn.source)
    w_dtype = w.dtype
    if prod.op == "gemm":
        beta_g = float(prod.attrs.get("beta", 1.0))
        bias = shift if b is None else beta_g * b.astype(np.float64) * s + shift
        if bias.ndim > 2:
            return False
    elif b is None:
        bias = shift
    else:
        if b.size != C:
            return False
        bias = b.astype(np.float64).ravel() * s + shift

    _set_const_input(g, prod, wi, w_new.astype(w_dtype), bn.source)
    if bias_in is None:  # matmul: no bias input, the shift becomes an add
        bias_v = g.add_const(bias.astype(w_dtype), x.name + "_bias", source=src, before=bn)
        add = g.add_node(
            "add", [x, bias_v], {}, out_types=[bn.outputs[0].type], names=[x.name + "_add"],
            source=src, after=bn,
        )
        prod.source = src
        return _finish(g, bn, add.output)
    if prod.op == "gemm":
        prod.attrs = {**prod.attrs, "beta": 1.0}
    inputs = list(prod.inputs) + [None] * (bias_in + 1 - len(prod.inputs))
    prod.inputs = inputs
    _set_const_input(g, prod, bias_in, bias.astype(w_dtype), bn.source, hint=x.name + "_bias")
    prod.source = src
    return _finish(g, bn, x)


def _finish(g: Graph, bn: Node, replacement: Value) -> bool:
    y = bn.outputs[0]
    params = [v.producer for v in bn.inputs[1:] if v is not None]
    if not bypass(bn, replacement, y):  # pragma: no cover - replacement is a node output
        raise AssertionError("fuse-batchnorm: could not forward the batch_norm output")
    for p in params:  # gamma/beta/mean/var constants read by nothing else
        erase_if_dead(p)
    return True


def _set_const_input(g: Graph, node: Node, i: int, array: np.ndarray, extra_source, hint: str | None = None) -> None:
    """Give ``node`` input ``i`` = ``array``: updates a const read only here, else adds one."""
    old = node.input(i)
    if old is not None and old.is_const and len(old.uses()) == 1 and not old.is_graph_output:
        c = old.producer
        c.attrs = {**c.attrs, "value": array}
        old.type = TensorType(TensorType.of(array).dtype, TensorType.of(array).shape, old.type.quant)
        c.source = merge_sources(c.source, extra_source)
        return
    src = merge_sources(old.producer.source if old is not None else node.source, extra_source)
    name = old.name + "_fused" if old is not None else (hint or "bias")  # add_const uniquifies
    v = g.add_const(array, name, source=src, before=node)
    if old is not None and "param" in old.producer.annotations:  # same layout: the folded
        v.producer.annotations["param"] = old.producer.annotations["param"]  # weight's source
    node.set_input(i, v)
    erase_if_dead(old.producer if old is not None else None)


def _to_mul_add(g: Graph, bn: Node, s: np.ndarray, shift: np.ndarray) -> bool:
    x = bn.input(0)
    y = bn.outputs[0]
    rank = x.type.rank
    if rank is None or rank < 2 or not x.type.dtype.is_float:
        return False
    if isinstance(x.type.shape[1], int) and x.type.shape[1] != s.size and s.size != 1:
        return False
    dt = x.type.dtype.numpy
    shape = (s.size,) + (1,) * (rank - 2)
    src = bn.source
    scale_v = g.add_const(s.reshape(shape).astype(dt), y.name + "_scale", source=src, before=bn)
    shift_v = g.add_const(shift.reshape(shape).astype(dt), y.name + "_shift", source=src, before=bn)
    t = TensorType(y.type.dtype, y.type.shape)
    mul = g.add_node("mul", [x, scale_v], {}, out_types=[t], names=[y.name + "_mul"], source=src, before=bn)
    add = g.add_node("add", [mul.output, shift_v], {}, out_types=[t], names=[y.name + "_add"], source=src, before=bn)
    return _finish(g, bn, add.output)


__all__ = ["FuseBatchNorm"]
