"""Registries of named objects: a builtin table plus plugins from an entry-point group.

infercc finds passes, targets and executors the same way. Each kind has a builtin table
``name -> "module:Attr"`` whose modules are imported only when a name is looked up (so listing
names and starting the CLI stay fast), and plugin distributions add names through an
``importlib.metadata`` entry-point group::

    [project.entry-points."infercc.targets"]
    my-npu = "my_plugin.target:MyNpuTarget"

A name defined twice (a plugin shadowing a builtin, or two plugins) is an error naming both
sources: infercc never picks one silently. This module holds those mechanics;
each registry (:mod:`compiler.pass_manager.registry`, :mod:`targets.registry`,
:mod:`compiler.runtime.registry`) subclasses :class:`Registry` with its own error type,
messages and checks of what it loads.

It sits in the bottom layer: it imports only the standard library and :mod:`compiler.errors`.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, ClassVar, Generic, TypeVar

from .errors import InferccError

T = TypeVar("T")
E = TypeVar("E", bound="Entry")


def entry_points(group: str) -> list[metadata.EntryPoint]:
    """The entry points of ``group`` in every installed distribution (those on ``sys.path``
    now; the scan takes tens of milliseconds, so callers cache what they build from it)."""
    return list(metadata.entry_points(group=group))


def distribution_name(ep: Any) -> str:
    """The name of the distribution that declares entry point ``ep``, as its METADATA spells
    it; the module path of ``ep.value`` when the distribution is unknown or its METADATA is
    malformed (a message must still say where the plugin comes from)."""
    dist = getattr(ep, "dist", None)
    if dist is not None:
        try:
            return dist.metadata["Name"] or dist.name
        except Exception:  # malformed METADATA: fall back to the module path
            pass
    return ep.value.partition(":")[0]


def load_object(target: str) -> Any:
    """The object ``target`` names: ``"pkg.module:Attr.attr"`` imports ``pkg.module`` and
    follows the dotted attributes; ``"pkg.module"`` alone is the module (the entry-point
    object-reference syntax). Import and attribute errors propagate unchanged."""
    module, _, attrs = target.partition(":")
    obj: Any = importlib.import_module(module.strip())
    if attrs.strip():
        for part in attrs.strip().split("."):
            obj = getattr(obj, part)
    return obj


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"did you mean 'a' or 'b'? "`` for up to three of ``known`` close to ``name``, or
    ``""`` when none is close; meant to sit inside an "unknown ..." sentence."""
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
    return f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""


@dataclass
class Entry:
    """Where one registered name comes from; its object is loaded only by :meth:`load`."""

    name: str
    target: str  # "module:Attr"
    kind: str  # "builtin", "plugin" or "api" (registered in code)
    distribution: str | None = None  # the plugin's distribution name (plugins only)
    entry_point: Any = field(default=None, repr=False)  # plugins: loaded through it

    @property
    def origin(self) -> str:
        """A human phrase for messages: ``builtin (passes.cleanup.dce:Dce)``,
        ``plugin distribution 'my-plugin' (my_plugin:CountOps)``."""
        if self.kind == "plugin":
            return f"plugin distribution '{self.distribution}' ({self.target})"
        if self.kind == "api":
            return f"registered in code ({self.target})"
        return f"{self.kind} ({self.target})"

    def load(self) -> Any:
        """Import the object (through the entry point for plugins). Errors propagate."""
        if self.entry_point is not None:
            return self.entry_point.load()
        return load_object(self.target)


class Registry(Generic[E]):
    """Name -> :class:`Entry` from a builtin table and the entry-point group :attr:`group`.

    Subclasses set :attr:`noun` (``"pass"``), :attr:`group`, :attr:`error` (the
    :class:`InferccError` subclass every failure raises), :attr:`entry_type` (an
    :class:`Entry` subclass when they cache more per entry), and write
    :meth:`unknown_message`. Construction scans the group once (``plugins=False`` skips it)
    and raises :attr:`error` for a name defined twice. Names keep the order of definition:
    builtins in table order, then plugins.
    """

    noun: ClassVar[str]
    group: ClassVar[str]
    error: ClassVar[type[InferccError]]
    entry_type: ClassVar[type[Entry]] = Entry

    def __init__(self, builtins: Mapping[str, str], *, plugins: bool = True) -> None:
        self._entries: dict[str, E] = {}
        for name, target in builtins.items():
            self.add(self.entry_type(name, target, "builtin"))  # type: ignore[arg-type]
        if plugins:
            for ep in entry_points(self.group):
                self.add(self.entry_type(ep.name, ep.value, "plugin",  # type: ignore[arg-type]
                                         distribution_name(ep), entry_point=ep))

    def add(self, entry: E) -> None:
        """Register ``entry``; a name already taken is :attr:`error` naming both sources,
        except the same plugin seen twice (its distribution twice on ``sys.path``)."""
        old = self._entries.get(entry.name)
        if old is not None:
            if old.kind == entry.kind == "plugin" and (old.target, old.distribution) == (
                    entry.target, entry.distribution):
                return  # the same distribution seen twice on sys.path
            raise self.error(
                f"{self.noun} name '{entry.name}' is defined twice: by {old.origin} and by "
                f"{entry.origin}. Uninstall one of them or rename its entry point in the "
                f"'{self.group}' group.")
        self._entries[entry.name] = entry

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def info(self, name: str) -> E:
        """The entry called ``name``; :attr:`error` with :meth:`unknown_message` if none."""
        try:
            return self._entries[name]
        except KeyError:
            raise self.error(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        """The message for a name nobody defined (use :func:`did_you_mean`)."""
        raise NotImplementedError

    def load(self, entry: E) -> Any:
        """Import ``entry``'s object; any failure becomes :attr:`error` naming the entry and
        its origin (an import failure in a plugin is the plugin's)."""
        try:
            return entry.load()
        except Exception as e:
            raise self.error(f"{self.noun} '{entry.name}' from {entry.origin} cannot be "
                             f"loaded: {type(e).__name__}: {e}") from e

    def check_name_attribute(self, obj: Any, name: str, origin: str) -> None:
        """Raise :attr:`error` unless class ``obj``'s ``name`` attribute is ``name`` (the
        entry-point name must be the name the class answers to)."""
        if obj.name != name:
            raise self.error(
                f"{self.noun} '{name}' from {origin}: the class' name attribute is "
                f"{obj.name!r}; the entry-point name and `{obj.__qualname__}.name` must be "
                "the same")


class Cached(Generic[T]):
    """One value per process, built by ``build`` on first :meth:`get` (a registry: scanning
    entry points costs time, and only commands that look a name up should pay it)."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None

    def get(self) -> T:
        if self._value is None:
            self._value = self._build()
        return self._value

    def reset(self) -> None:
        """Forget the value: the next :meth:`get` builds it again (after installing a plugin
        at run time)."""
        self._value = None
