"""The ATen lowering table: ATen op name -> handler, usage check and documentation note.

This table is the one fact of what the PyTorch frontend lowers: the lowering dispatches on
it, the pre-flight support check reads its checks, and :data:`SUPPORTED_OPS` (and from it
docs/frontends.md) is derived from its notes. Handlers register themselves in
:mod:`.handlers`; keys are ``OpOverloadPacket`` names without the ``aten.`` prefix
(``convolution``, ``_softmax``), as :func:`.lowering.op_key` spells them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

# handler(cx, fx_node) -> the IR value(s) of the FX node; cx is a lowering._Lowering
Handler = Callable[[Any, Any], Any]
# check(fx_node) -> why this usage of the op cannot be lowered, or None when it can
Check = Callable[[Any], "str | None"]


@dataclass(frozen=True)
class Entry:
    """One ATen op's lowering: ``note`` says in a few words what it lowers to."""

    handler: Handler
    note: str
    check: Check | None = None


TABLE: dict[str, Entry] = {}


def register(names: str | Iterable[str], handler: Handler, note: str, check: Check | None = None) -> None:
    """Make ``handler`` the lowering of each ATen op in ``names``; a name is registered once."""
    if not note:
        raise ValueError(f"the lowering of {names} needs a note for the documentation")
    for name in [names] if isinstance(names, str) else names:
        if name in TABLE:
            raise ValueError(f"aten.{name} has two lowerings")
        TABLE[name] = Entry(handler, note, check)


def handles(*names: str, note: str, check: Check | None = None) -> Callable[[Handler], Handler]:
    """Decorator form of :func:`register`."""

    def wrap(fn: Handler) -> Handler:
        register(names, fn, note, check)
        return fn

    return wrap


__all__ = ["TABLE", "Check", "Entry", "Handler", "handles", "register"]
