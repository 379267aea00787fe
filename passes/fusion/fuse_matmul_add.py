"""fuse-matmul-add: ``add(matmul(x, W), b)`` with constant W and b becomes ``gemm(x, W, b)``.

TensorFlow's Dense/MatMul+BiasAdd and PyTorch's decomposed linear reach the IR as a matmul
and a separate add; targets want one fully connected op with a bias (TFLite's
FULLY_CONNECTED takes the bias itself, and int8 quantization gives it the int32 scale of
input x weight instead of an int8 ADD of its own).

Requires: a verified graph.

Guarantees:

* Fused only when ``x`` is a rank-2 float tensor, ``W`` a rank-2 constant ``[K, N]``, ``b`` a
  constant of shape ``[N]`` or ``[1, N]`` (either add operand), the matmul output is read by
  the add alone (not a graph output) and the matmul has no fused activation. The add's
  ``activation`` moves to the gemm.
* The gemm takes the add's output value (name, readers, graph-output position) and the union
  of both nodes' sources; the matmul and constants nothing else reads are erased.
* Outputs are unchanged up to float rounding (gemm adds the bias after the same product).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from compiler.ir.graph import Graph, Node
from compiler.ir.pattern import Const, Match, Op, Rule, X, apply_rules
from compiler.ir.rewrite import const_array
from compiler.pass_manager.base import Pass, PassContext, PassResult


def _no_activation(node: Node) -> bool:
    return not node.attrs.get("activation", "")


RULES = [
    # x @ W + b = gemm(x, W, b)   (x: rank-2 float, W: constant [K, N], b: constant [N] or [1, N])
    Rule(Op("add", Op("matmul", X, Const(name="W"), name="mm", one_use=True, where=_no_activation),
            Const(name="b"), commutative=True), lambda m: _gemm(m), "fused"),
]


@dataclass
class FuseMatmulAdd(Pass):
    name: ClassVar[str] = "fuse-matmul-add"
    summary: ClassVar[str] = "Fold a constant bias add after a rank-2 matmul into one gemm"

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        fused = apply_rules(graph, RULES).fired.get("fused", 0)
        return PassResult(modified=fused > 0, stats={"fused": fused})


def _gemm(m: Match) -> Node | None:
    """The gemm replacing ``m.root`` (the add), placed before it; None when a guard fails."""
    g, add, x, bias = m.graph, m.root, m.X, m.b
    w_arr, b_arr = const_array(m.W), const_array(bias)
    if w_arr.ndim != 2 or x.type.rank != 2:
        return None
    if not x.type.dtype.is_float or b_arr.dtype != w_arr.dtype:
        return None
    n = w_arr.shape[1]
    if b_arr.shape not in ((n,), (1, n)):
        return None
    b_val = bias if b_arr.ndim == 1 else g.add_const(
        b_arr.reshape(n), g.fresh_name(f"{bias.name}.vec"), source=bias.producer.source,
        before=add)
    return g.add_node("gemm", [x, m.W, b_val], {"activation": add.attrs.get("activation", "")},
                      source=m.source, before=add)


__all__ = ["FuseMatmulAdd"]
