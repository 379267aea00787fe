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
from compiler.pass_manager.base import Pass, PassContext, PassResult
from compiler.ir.rewrite import bypass, const_array, erase_if_dead, merge_sources, single_use
from compiler.ir.walk import walk_graphs


@dataclass
class FuseMatmulAdd(Pass):
    name: ClassVar[str] = "fuse-matmul-add"
    summary: ClassVar[str] = "Fold a constant bias add after a rank-2 matmul into one gemm"

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        fused = 0
        for g in list(walk_graphs(graph)):
            for add in list(g.nodes):
                if add.graph is g and add.op == "add" and _fuse(g, add):
                    fused += 1
        return PassResult(modified=fused > 0, stats={"fused": fused})


def _fuse(g: Graph, add: Node) -> bool:
    for i in (0, 1):
        mm_out, bias = add.input(i), add.input(1 - i)
        mm = mm_out.producer if mm_out is not None else None
        if mm is None or mm.op != "matmul" or mm.attrs.get("activation", ""):
            continue
        if single_use(mm_out) is not add:
            continue
        x, w = mm.input(0), mm.input(1)
        w_arr, b_arr = const_array(w), const_array(bias)
        if w_arr is None or b_arr is None or w_arr.ndim != 2 or x.type.rank != 2:
            continue
        if not x.type.dtype.is_float or b_arr.dtype != w_arr.dtype:
            continue
        n = w_arr.shape[1]
        if b_arr.shape not in ((n,), (1, n)):
            continue
        b_val = bias if b_arr.ndim == 1 else g.add_const(
            b_arr.reshape(n), g.fresh_name(f"{bias.name}.vec"), source=bias.producer.source,
            before=add)
        gemm = g.add_node("gemm", [x, w, b_val], {"activation": add.attrs.get("activation", "")},
                          source=merge_sources(mm.source, add.source), before=add)
        if not bypass(add, gemm.outputs[0], add.outputs[0]):
            g.erase_node(gemm)  # pragma: no cover - the gemm output is fresh, never an output
            return False
        erase_if_dead(mm)
        erase_if_dead(bias.producer)
        return True
    return False


__all__ = ["FuseMatmulAdd"]
