"""Elementwise binary and unary ops (IElementWiseLayer, IUnaryLayer).

ONNX broadcasting aligns shapes from the right; TensorRT broadcasts size-1 dims but only
between tensors of equal rank, so the lower-rank operand gets leading size-1 dims
(:meth:`ConversionContext.equal_ranks`). Variadic max/min/sum fold left; mean divides the
sum. >= and <= are OR of two comparisons (TensorRT has no such operation); where is a
select layer.
"""

from __future__ import annotations

from compiler.ir.graph import Node

from ..context import ConversionContext, fused_activation_reason
from ..registry import converter
from ._util import first

# IR op -> ElementWiseOperation member.
BINARY = {"add": "SUM", "sub": "SUB", "mul": "PROD", "div": "DIV", "pow": "POW",
          "max": "MAX", "min": "MIN", "sum": "SUM", "and": "AND", "or": "OR", "xor": "XOR",
          "equal": "EQUAL", "greater": "GREATER", "less": "LESS"}

# IR op -> UnaryOperation member.
UNARY = {"abs": "ABS", "exp": "EXP", "log": "LOG", "sqrt": "SQRT", "reciprocal": "RECIP",
         "neg": "NEG", "sin": "SIN", "cos": "COS", "tan": "TAN", "sinh": "SINH",
         "cosh": "COSH", "asin": "ASIN", "acos": "ACOS", "atan": "ATAN", "asinh": "ASINH",
         "acosh": "ACOSH", "atanh": "ATANH", "ceil": "CEIL", "floor": "FLOOR", "erf": "ERF",
         "not": "NOT", "sign": "SIGN", "round": "ROUND"}


def _check_binary(node: Node) -> str | None:
    ins = [v for v in node.inputs if v is not None]
    if not ins:
        return "no inputs"
    if any(v.type.rank is None for v in ins):
        return "operand of unknown rank"
    if node.op == "div" and ins[0].type.dtype.is_int:
        return "integer division (truncates toward zero; TensorRT's DIV does not say so)"
    return first(fused_activation_reason(node))


def _binary(ctx: ConversionContext, node: Node) -> None:
    op = getattr(ctx.trt.ElementWiseOperation, BINARY[node.op])
    ins = [ctx.tensor(v) for v in node.inputs if v is not None]
    y = ins[0]
    for i, t in enumerate(ins[1:]):
        y = ctx.elementwise(y, t, op, node, "" if len(ins) == 2 else f"{i}")
    ctx.set_output(node, ctx.fused_activation(y, node))


for _op in BINARY:
    converter(_op, supports=_check_binary)(_binary)


@converter("mean", supports=_check_binary)
def convert_mean(ctx: ConversionContext, node: Node) -> None:
    E = ctx.trt.ElementWiseOperation
    ins = [ctx.tensor(v) for v in node.inputs if v is not None]
    y = ins[0]
    for i, t in enumerate(ins[1:]):
        y = ctx.elementwise(y, t, E.SUM, node, f"{i}")
    if len(ins) > 1:
        n = ctx.scalar(float(len(ins)), ctx.rank(y), name=f"{node.outputs[0].name}/count")
        y = ctx.elementwise(y, n, E.DIV, node, "mean")
    ctx.set_output(node, y)


def _or_equal(ctx: ConversionContext, node: Node, strict: str) -> None:
    E = ctx.trt.ElementWiseOperation
    a, b = ctx.tensor(node.input(0)), ctx.tensor(node.input(1))
    cmp = ctx.elementwise(a, b, getattr(E, strict), node, strict.lower())
    eq = ctx.elementwise(a, b, E.EQUAL, node, "equal")
    ctx.set_output(node, ctx.elementwise(cmp, eq, E.OR, node))


@converter("greater_or_equal", supports=_check_binary)
def convert_greater_or_equal(ctx: ConversionContext, node: Node) -> None:
    _or_equal(ctx, node, "GREATER")


@converter("less_or_equal", supports=_check_binary)
def convert_less_or_equal(ctx: ConversionContext, node: Node) -> None:
    _or_equal(ctx, node, "LESS")


def _unary(ctx: ConversionContext, node: Node) -> None:
    layer = ctx.network.add_unary(ctx.tensor(node.input(0)),
                                  getattr(ctx.trt.UnaryOperation, UNARY[node.op]))
    ctx.name(layer, node)
    ctx.set_output(node, layer.get_output(0))


for _op in UNARY:
    converter(_op)(_unary)


@converter("where", supports=_check_binary)
def convert_where(ctx: ConversionContext, node: Node) -> None:
    """ISelectLayer; condition and both branches broadcast to equal ranks."""
    cond, a, b = ctx.equal_ranks([ctx.tensor(v) for v in node.inputs], node)
    layer = ctx.network.add_select(cond, a, b)
    ctx.name(layer, node)
    ctx.set_output(node, layer.get_output(0))


@converter("identity")
def convert_identity(ctx: ConversionContext, node: Node) -> None:
    layer = ctx.network.add_identity(ctx.tensor(node.input(0)))
    ctx.name(layer, node)
    ctx.set_output(node, layer.get_output(0))


def _check_dropout(node: Node) -> str | None:
    return None if not any(v.has_uses for v in node.outputs[1:]) else "dropout mask used"


converter("dropout", supports=_check_dropout)(convert_identity)
