"""Attribute readers shared by the converter families (no TensorRT calls here)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from compiler.ir.graph import Node


def ints(value: Any, default: Sequence[int]) -> list[int]:
    """An ints attribute, or ``default`` when it is absent."""
    return [int(v) for v in value] if value is not None else list(default)


def static_shape(shape: Any) -> list[int] | None:
    """``shape`` as ints when every dim is static, else None."""
    if shape is None or not all(isinstance(d, int) for d in shape):
        return None
    return [int(d) for d in shape]


def shape_with_one_unknown(node: Node, i: int = 0) -> list[int] | None:
    """Output ``i``'s shape with its one symbolic dim as -1 (a reshape infers it); None when
    the rank is unknown or more than one dim is symbolic."""
    shape = node.outputs[i].type.shape
    if shape is None:
        return None
    dims = [d if isinstance(d, int) else -1 for d in shape]
    return dims if dims.count(-1) <= 1 else None


def rank_of(node: Node, i: int = 0) -> int | None:
    v = node.input(i)
    return None if v is None else v.type.rank


def const_input_reason(node: Node, *indices: int) -> str | None:
    """Why not, when one of ``node``'s inputs ``indices`` is present but not a constant."""
    for i in indices:
        v = node.input(i)
        if v is not None and not v.is_const:
            # no value name: the pre-flight groups nodes by reason and names their layers
            return f"input {i} is computed at run time; TensorRT needs it constant here"
    return None


def first(*reasons: str | None) -> str | None:
    """The first reason that is not None."""
    for r in reasons:
        if r is not None:
            return r
    return None
