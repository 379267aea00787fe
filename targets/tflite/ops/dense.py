"""Dense ops of the TFLite target: gemm (constant B, alpha = beta = 1, no transA) and
matmul with a constant 2-D B -> ``FULLY_CONNECTED`` (weights [out, in]; int8 per output
channel under the int8 policy); matmul of two values -> ``BATCH_MATMUL``. Operands are
read in logical order.
"""

from __future__ import annotations

import numpy as np

from compiler.ir.graph import Node, Value

from ..context import EmitContext
from ..errors import Unsupported
from ..registry import lowering
from ..writer import op_version


def fully_connected(ctx: EmitContext, node: Node, x: Value, w_nk: np.ndarray, wname: str,
                    bias: Value | None, act: str,
                    wsrc: tuple[Value, tuple[int, ...]] | None = None) -> None:
    """``FULLY_CONNECTED`` of ``x`` (logical order) with weight ``w_nk`` ([out, in]; ``wsrc``
    = the IR weight and the transpose that gives ``w_nk``, for int8 weights), ``bias``
    and the IR activation ``act``."""
    if x.type.rank is None or x.type.rank < 2:
        raise Unsupported(f"input %{x.name} has rank {x.type.rank}; FULLY_CONNECTED "
                          "needs rank >= 2")
    b_idx = -1
    if bias is not None:
        bv = ctx.weight(bias, "the bias")
        n = w_nk.shape[0]
        if bv.size != n or (bv.ndim == 2 and bv.shape[0] != 1):
            raise Unsupported(f"bias of shape {list(bv.shape)} is not one value per "
                              "output")
        b_idx = ctx.float_const(bias.name, bv.reshape(n))
    src = ctx.logical(x)
    fused, out, post = ctx.act(node.outputs[0], act)
    wv, wperm = wsrc if wsrc is not None else (None, (0, 1))
    w_idx = ctx.weight_const(wv, wname, w_nk, wperm, consumer="FULLY_CONNECTED")
    opts = ctx.w.options("FullyConnected", fusedActivationFunction=fused,
                         keepNumDims=x.type.rank > 2)
    ctx.w.add_operator("FULLY_CONNECTED", [src, w_idx, b_idx], [out], opts,
                       version=op_version("FULLY_CONNECTED",
                                          sparse_weight=ctx.w.tensor(w_idx).sparsity
                                          is not None))
    post()


@lowering("gemm")
def lower_gemm(ctx: EmitContext, node: Node, attrs: dict) -> None:
    if attrs["transA"] or attrs["alpha"] != 1.0 or (node.input(2) is not None
                                                    and attrs["beta"] != 1.0):
        raise Unsupported("only gemm with transA=0, alpha=1, beta=1 is supported")
    b = ctx.weight(node.inputs[1], "B")
    if b.ndim != 2:
        raise Unsupported("B must be 2-D")
    w = b if attrs["transB"] else b.T
    fully_connected(ctx, node, node.inputs[0], np.ascontiguousarray(w), node.inputs[1].name,
                    node.input(2), attrs.get("activation", ""),
                    (node.inputs[1], (0, 1) if attrs["transB"] else (1, 0)))


@lowering("matmul")
def lower_matmul(ctx: EmitContext, node: Node, attrs: dict) -> None:
    a, b = node.inputs[0], node.inputs[1]
    if b.is_const and b.type.rank == 2:
        w = ctx.weight(b, "B (the right operand)")
        fully_connected(ctx, node, a, np.ascontiguousarray(w.T), b.name + "_t", None,
                        attrs.get("activation", ""), (b, (1, 0)))
        return
    if (a.type.rank or 0) < 2 or (b.type.rank or 0) < 2:
        raise Unsupported("BATCH_MATMUL needs operands of rank >= 2")
    ins = [ctx.logical(a), ctx.logical(b)]
    fused, out, post = ctx.act(node.outputs[0], attrs.get("activation", ""),
                               fusable=False)
    ctx.w.add_operator("BATCH_MATMUL", ins, [out], ctx.w.options("BatchMatMul"))
    post()
