"""Structural ops: constants and identity-like forwarding."""

from __future__ import annotations

import numpy as np

from ..ir.types import TensorType
from .registry import InferContext, SchemaError, defop, same_as_input


def _infer_const(ctx: InferContext) -> list[TensorType]:
    v = ctx.attr("value")
    if v is None:
        raise SchemaError("const: 'value' is missing")
    return [TensorType.of(v)]


@defop("const", inputs=(), attrs={"value": ("tensor",)}, infer=_infer_const, category="core")
def const(inputs, attrs):
    """A constant tensor (dense numpy array or scipy.sparse CSC/COO matrix)."""
    v = attrs["value"]
    return v.toarray() if hasattr(v, "toarray") else v


@defop("identity", inputs=("x",), infer=same_as_input(0), category="core")
def identity(inputs, attrs):
    """Forwards its input unchanged."""
    return inputs[0]


@defop(
    "dropout",
    inputs=("x", "ratio?", "training_mode?"),
    outputs=("y", "mask?"),
    attrs={"seed": ("int", 0)},
    infer=lambda ctx: [TensorType(ctx.dtype(0), ctx.shape(0))]
    + ([TensorType("bool", ctx.shape(0))] if (ctx.num_outputs or 1) > 1 else []),
    category="core",
)
def dropout(inputs, attrs):
    """Inference-mode dropout: the identity (training mode is not supported)."""
    x = inputs[0]
    training = inputs[2] if len(inputs) > 2 else None
    if training is not None and bool(np.asarray(training)):
        raise SchemaError("dropout: training_mode=true is not supported for inference")
    return [x, np.ones(x.shape, dtype=bool)]
