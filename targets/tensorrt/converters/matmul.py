"""Matrix products (IMatrixMultiplyLayer): matmul with batch broadcasting, and gemm.

TensorRT broadcasts batch dims but needs equal ranks, so the lower-rank operand gets
leading size-1 dims; a rank-1 operand is a VECTOR operation, as numpy treats it, padded to
one dim less than the other operand (TensorRT's rule for VECTOR operands). gemm's
transA/transB are TRANSPOSE operations; alpha and beta are constant products; C broadcasts
(equal ranks again) onto the product.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from compiler.ir.graph import Node

from ..context import ConversionContext, fused_activation_reason
from ..registry import converter
from ._util import first, rank_of

if TYPE_CHECKING:
    import tensorrt


def _check_matmul(node: Node) -> str | None:
    ranks = (rank_of(node, 0), rank_of(node, 1))
    if None in ranks:
        return "operand of unknown rank"
    return fused_activation_reason(node)


def _check_gemm(node: Node) -> str | None:
    if (rank_of(node, 0), rank_of(node, 1)) != (2, 2):
        return "gemm operands that are not 2-D"
    return first(fused_activation_reason(node))


def _op(ctx: ConversionContext, t: tensorrt.ITensor,
        transpose: bool) -> tensorrt.MatrixOperation:
    M = ctx.trt.MatrixOperation
    if ctx.rank(t) == 1:
        return M.VECTOR
    return M.TRANSPOSE if transpose else M.NONE


@converter("matmul", supports=_check_matmul)
def convert_matmul(ctx: ConversionContext, node: Node) -> None:
    a, b = ctx.tensor(node.input(0)), ctx.tensor(node.input(1))
    op_a, op_b = _op(ctx, a, False), _op(ctx, b, False)
    ra, rb = ctx.rank(a), ctx.rank(b)
    if ra > 1 and rb > 1:
        a, b = ctx.equal_ranks([a, b], node)
    elif ra == 1 and rb > 2:  # a VECTOR operand has one dim less than the other operand
        a = ctx.to_rank(a, rb - 1, node, "broadcast0")
    elif rb == 1 and ra > 2:
        b = ctx.to_rank(b, ra - 1, node, "broadcast1")
    layer = ctx.network.add_matrix_multiply(a, op_a, b, op_b)
    ctx.name(layer, node)
    ctx.set_output(node, ctx.fused_activation(layer.get_output(0), node))


@converter("gemm", supports=_check_gemm)
def convert_gemm(ctx: ConversionContext, node: Node) -> None:
    a, b = ctx.tensor(node.input(0)), ctx.tensor(node.input(1))
    layer = ctx.network.add_matrix_multiply(
        a, _op(ctx, a, bool(node.attrs.get("transA"))),
        b, _op(ctx, b, bool(node.attrs.get("transB"))))
    ctx.name(layer, node)
    y = layer.get_output(0)
    E = ctx.trt.ElementWiseOperation
    alpha = float(node.attrs.get("alpha", 1.0))
    if alpha != 1.0:
        y = ctx.elementwise(y, ctx.scalar(alpha, 2, name=f"{node.outputs[0].name}/alpha"),
                            E.PROD, node, "alpha")
    c_value = node.input(2)
    if c_value is not None:
        beta = float(node.attrs.get("beta", 1.0))
        c_arr = ctx.const_array(node, 2)
        if c_arr is not None:
            c = ctx.constant(np.asarray(c_arr, np.float32) * np.float32(beta),
                             f"{node.outputs[0].name}/C")
        else:
            c = ctx.tensor(c_value)
            if beta != 1.0:
                c = ctx.elementwise(c, ctx.scalar(beta, ctx.rank(c),
                                                  name=f"{node.outputs[0].name}/beta"),
                                    E.PROD, node, "beta")
        y = ctx.elementwise(y, c, E.SUM, node, "C")
    ctx.set_output(node, ctx.fused_activation(y, node))
