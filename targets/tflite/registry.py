"""The registry of per-op TFLite lowerings.

A lowering is ``fn(ctx, node, attrs) -> None``: it reads the tensors of ``node``'s inputs from
the :class:`~targets.tflite.context.EmitContext` ``ctx``, adds operators through ``ctx.w``
and binds every output value it produces (``ctx.out`` / ``ctx.alias``); ``attrs`` are the
node's attributes with the op schema's defaults resolved. It raises
:class:`~targets.tflite.errors.Unsupported` for a node it cannot express.

Several lowerings may serve one op; each carries a capability predicate
``when(node, ctx) -> bool`` and they are tried by descending ``priority`` (then registration
order): the first whose predicate holds is used. A lowering registered without ``when``
handles nodes whose results are all float32 (:func:`float_result`), the IR's common case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from compiler.ir.graph import Node
from compiler.ir.types import DType

if TYPE_CHECKING:
    from .context import EmitContext

LowerFn = Callable[["EmitContext", Node, dict], None]
Predicate = Callable[[Node, "EmitContext"], bool]


def float_result(node: Node, ctx: Any = None) -> bool:
    """Every output of ``node`` is float32."""
    return all(v.type.dtype == DType.F32 for v in node.outputs)


def nonfloat_result(node: Node, ctx: Any = None) -> bool:
    """Some output of ``node`` is int32 / int64 / bool (or another non-float32 type)."""
    return not float_result(node)


def any_result(node: Node, ctx: Any = None) -> bool:
    """Every node (for a lowering that checks types itself)."""
    return True


@dataclass(frozen=True)
class Lowering:
    """One registered lowering: ``fn`` serves ``op`` when ``when(node, ctx)`` holds."""

    op: str
    fn: LowerFn
    when: Predicate
    priority: int = 0


_REGISTRY: dict[str, list[Lowering]] = {}


def lowering(*ops: str, when: Predicate = float_result,
             priority: int = 0) -> Callable[[LowerFn], LowerFn]:
    """Register the decorated function as the lowering of each IR op in ``ops``."""

    def deco(fn: LowerFn) -> LowerFn:
        for op in ops:
            register(op, fn, when=when, priority=priority)
        return fn

    return deco


def register(op: str, fn: LowerFn, *, when: Predicate = float_result,
             priority: int = 0) -> None:
    entries = _REGISTRY.setdefault(op, [])
    entries.append(Lowering(op, fn, when, priority))
    entries.sort(key=lambda e: -e.priority)  # stable: registration order within a priority


def lowerings(op: str | None = None) -> list[Lowering]:
    """The registered lowerings of ``op`` in the order they are tried (all ops if None)."""
    _load()
    if op is not None:
        return list(_REGISTRY.get(op, []))
    return [e for entries in _REGISTRY.values() for e in entries]


def supported_ops() -> frozenset[str]:
    """IR ops with at least one registered lowering (a node of one may still be refused
    for its attributes, types or shapes: see ``targets.tflite.unsupported_reason``)."""
    _load()
    return frozenset(op for op, entries in _REGISTRY.items() if entries)


def select(node: Node, ctx: EmitContext) -> Lowering | None:
    """The first registered lowering of ``node.op`` whose predicate holds, else None."""
    _load()
    for entry in _REGISTRY.get(node.op, ()):
        if entry.when(node, ctx):
            return entry
    return None


def _load() -> None:
    from . import ops  # noqa: F401  (importing the package registers every lowering)
