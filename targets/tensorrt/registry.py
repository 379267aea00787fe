"""Which converter turns an IR op into TensorRT layers: ``@converter`` and its lookup.

Modelled on torch_tensorrt's converter registry: an op may have several converters, each
with a capability check (``supports(node) -> None | reason``); they are tried in priority
order (highest first) and the first whose check passes converts the node. A node no
converter accepts is reported by the pre-flight with every converter's reason.

Converter modules (:mod:`targets.tensorrt.converters`) register on import;
:func:`converters_for` imports them on first use, so importing this module is cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from compiler.ir.graph import Node

if TYPE_CHECKING:
    from .context import ConversionContext

Convert = Callable[["ConversionContext", Node], None]
Check = Callable[[Node], "str | None"]

# The converter modules, one per op family.
FAMILIES = ("activation", "cast", "conv", "elementwise", "matmul", "normalization", "pooling",
            "quantize", "recurrent", "reduce", "resize", "shape")


@dataclass(frozen=True)
class Converter:
    """One way to convert ``op``: ``convert(ctx, node)`` sets the node's output tensors;
    ``supports(node)`` is None when it can, else why not (one phrase). ``float32_only``:
    set when the layer it builds takes float32 only (the reason, citing TensorRT's page);
    an fp16 network keeps such nodes in fp32."""

    op: str
    convert: Convert
    priority: int = 0
    supports: Check | None = None
    float32_only: str | None = None

    def reason(self, node: Node) -> str | None:
        return None if self.supports is None else self.supports(node)


_REGISTRY: dict[str, list[Converter]] = {}
_loaded = False


def converter(op: str, *, priority: int = 0, supports: Check | None = None,
              float32_only: str | None = None) -> Callable[[Convert], Convert]:
    """Register the decorated function as a converter of IR op ``op`` (fields as in
    :class:`Converter`)."""

    def register(fn: Convert) -> Convert:
        entries = _REGISTRY.setdefault(op, [])
        entries.append(Converter(op, fn, priority, supports, float32_only))
        entries.sort(key=lambda c: -c.priority)  # stable: equal priorities keep their order
        return fn

    return register


def converters_for(op: str) -> list[Converter]:
    """The converters of ``op``, highest priority first (empty when none exists)."""
    _load()
    return list(_REGISTRY.get(op, ()))


def converted_ops() -> list[str]:
    """Every IR op some converter takes."""
    _load()
    return sorted(_REGISTRY)


def select(node: Node) -> tuple[Converter | None, list[str]]:
    """The first converter of ``node.op`` whose check passes, and the reasons of those that
    refused (in priority order); ``(None, [...])`` when none takes the node."""
    reasons: list[str] = []
    for c in converters_for(node.op):
        why = c.reason(node)
        if why is None:
            return c, reasons
        reasons.append(why)
    if not reasons:
        reasons.append("no TensorRT converter for this op")
    return None, reasons


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for family in FAMILIES:
            importlib.import_module(f"{__package__}.converters.{family}")
