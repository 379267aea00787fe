"""fuse-activation: fold a following activation into the op that produces its input.

Requires: a verified graph. The producers are the ops whose schema accepts the IR-only
``activation`` attribute (their ``fused_activation`` trait: conv, conv_transpose, gemm,
matmul, add, sub, mul, div).

Guarantees:

* ``relu(p)`` -> ``activation="relu"``, ``clip(p, 0, 6)`` -> ``"relu6"``,
  ``clip(p, -1, 1)`` -> ``"relu_n1_to_1"``, ``clip(p, 0, _)`` (no upper bound or +inf) ->
  ``"relu"``, ``tanh(p)`` -> ``"tanh"``, ``sigmoid(p)`` -> ``"sigmoid"``, where p is the
  output of one of the ops above and clip bounds are constant scalars.
* Only when p is a float tensor read by the activation alone (no other reader, not a graph
  output), the producer has no activation yet, and the activation is in ``allowed``
  (default: what TFLite fuses: relu, relu6, relu_n1_to_1, tanh).
* The producer keeps its node (source = union of both), the activation node is removed and
  its output forwarded; a graph output keeps its name. Subgraphs are handled too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from compiler.ir.graph import Graph, Node
from compiler.ops import get_schema
from compiler.pass_manager.base import Pass, PassContext, PassResult
from compiler.ir.rewrite import bypass, const_array, erase_if_dead, merge_sources, single_use
from compiler.ir.walk import walk_graphs

ACTIVATIONS = ("relu", "relu6", "relu_n1_to_1", "tanh", "sigmoid")
TFLITE_FUSED = ["relu", "relu6", "relu_n1_to_1", "tanh"]


@dataclass
class FuseActivation(Pass):
    name: ClassVar[str] = "fuse-activation"
    summary: ClassVar[str] = "Fold relu/relu6/relu_n1_to_1/tanh/sigmoid into the producing conv/gemm/matmul/binary op"

    allowed: list[str] = field(default_factory=lambda: list(TFLITE_FUSED))

    def __post_init__(self) -> None:
        bad = [a for a in self.allowed if a not in ACTIVATIONS]
        if bad:
            from compiler.errors import PipelineError

            raise PipelineError(
                f"fuse-activation: unknown activation(s) {', '.join(bad)} in 'allowed' "
                f"(choose from {', '.join(ACTIVATIONS)})"
            )

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        stats: dict[str, int] = {"fused": 0}
        for g in list(walk_graphs(graph)):
            for act in list(g.nodes):
                if act.graph is not g:
                    continue
                kind = activation_kind(act)
                if kind is None or kind not in self.allowed:
                    continue
                x = act.input(0)
                prod = x.producer
                if prod is None or not _takes_activation(prod) or len(prod.outputs) != 1:
                    continue
                if single_use(x) is not act or prod.attrs.get("activation", ""):
                    continue
                if not x.type.dtype.is_float:
                    continue
                bounds = [v.producer for v in act.inputs[1:] if v is not None]
                prod.attrs = {**prod.attrs, "activation": kind}
                prod.source = merge_sources(prod.source, act.source)
                if not bypass(act, x, act.outputs[0]):  # pragma: no cover
                    raise AssertionError("fuse-activation: could not forward the activation output")
                for b in bounds:  # clip's bound constants, when nothing else reads them
                    erase_if_dead(b)
                stats["fused"] += 1
                stats[kind] = stats.get(kind, 0) + 1
        return PassResult(modified=stats["fused"] > 0, stats=stats)


def activation_kind(node: Node) -> str | None:
    """The ``activation`` value ``node`` amounts to, or None."""
    if node.op in ("relu", "tanh", "sigmoid"):
        return node.op if len(node.inputs) == 1 else None
    if node.op != "clip" or len(node.outputs) != 1:
        return None
    lo = _scalar(node, 1)
    hi = _scalar(node, 2)
    if lo is False or hi is False:
        return None
    if lo == 0.0 and hi == 6.0:
        return "relu6"
    if lo == -1.0 and hi == 1.0:
        return "relu_n1_to_1"
    if lo == 0.0 and (hi is None or hi == np.inf):
        return "relu"
    return None


def _scalar(node: Node, i: int) -> float | None | bool:
    """Clip bound i: None when absent, its float value when a 1-element constant, else False."""
    v = node.input(i)
    if v is None:
        return None
    a = const_array(v)
    if a is None or a.size != 1:
        return False
    return float(a.ravel()[0])


def _takes_activation(node: Node) -> bool:
    s = get_schema(node.op)
    return s is not None and s.fused_activation


__all__ = ["FuseActivation", "activation_kind"]
