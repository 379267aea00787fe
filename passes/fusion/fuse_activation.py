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

from compiler.ir.graph import Graph, Node, Value
from compiler.ir.pattern import Const, Match, Op, Rule, apply_rules
from compiler.ir.rewrite import merge_sources
from compiler.ops import all_schemas
from compiler.pass_manager.base import Pass, PassContext, PassResult

ACTIVATIONS = ("relu", "relu6", "relu_n1_to_1", "tanh", "sigmoid")
TFLITE_FUSED = ["relu", "relu6", "relu_n1_to_1", "tanh"]


def _bare_float(node: Node) -> bool:
    """A producer that can take the activation: one float output, no activation yet."""
    return (len(node.outputs) == 1 and node.outputs[0].type.dtype.is_float
            and not node.attrs.get("activation", ""))


# p: an op whose schema declares the fused ``activation`` attribute, read by the activation
# alone (so its unfused output is needed nowhere else).
P = Op(tuple(op for op, s in all_schemas().items() if s.fused_activation), name="p",
       one_use=True, where=_bare_float)


def _fuse(kind: str):
    def rewrite(m: Match) -> Value:
        p = m.p
        p.attrs = {**p.attrs, "activation": kind}
        p.source = merge_sources(p.source, m.root.source)
        return p.outputs[0]

    return rewrite


def _no_upper_bound(clip: Node) -> bool:
    return clip.input(2) is None


RULES = [
    Rule(Op("relu", P), _fuse("relu"), "relu"),                                   # relu(p) = p{relu}
    Rule(Op("clip", P, Const(0), Const(6)), _fuse("relu6"), "relu6"),             # clip(p, 0, 6) = p{relu6}
    Rule(Op("clip", P, Const(-1), Const(1)), _fuse("relu_n1_to_1"), "relu_n1_to_1"),  # clip(p, -1, 1) = p{relu_n1_to_1}
    Rule(Op("clip", P, Const(0), Const(np.inf)), _fuse("relu"), "relu"),          # clip(p, 0, +inf) = p{relu}
    Rule(Op("clip", P, Const(0), where=_no_upper_bound), _fuse("relu"), "relu"),  # clip(p, 0) = p{relu}
    Rule(Op("tanh", P), _fuse("tanh"), "tanh"),                                   # tanh(p) = p{tanh}
    Rule(Op("sigmoid", P), _fuse("sigmoid"), "sigmoid"),                          # sigmoid(p) = p{sigmoid}
]


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
        counts = apply_rules(graph, [r for r in RULES if r.name in self.allowed])
        stats = {"fused": sum(counts.fired.values()), **{k: n for k, n in counts.fired.items() if n}}
        return PassResult(modified=stats["fused"] > 0, stats=stats)


__all__ = ["FuseActivation", "RULES"]
