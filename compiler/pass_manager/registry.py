"""Which passes exist: the builtin table plus plugins from the ``infercc.passes`` entry points.

Builtin passes are listed in :data:`passes.BUILTIN_PASSES` as ``name -> "module:Class"`` and
imported only when a pass is looked up, so starting the CLI stays fast. Plugins are
distributions that declare

    [project.entry-points."infercc.passes"]
    count-ops = "my_plugin:CountOps"

The entry-point name is the pass name and must equal the class' ``name``. A name defined
twice (a plugin shadowing a builtin, or two plugins) is an error naming both sources: infercc
never picks one silently.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from ..errors import PipelineError, join_names
from .base import Pass

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "infercc.passes"

# Where the builtin table lives, "module:attribute". Looked up by name: the builtin passes
# sit above the pass manager, which never imports them.
BUILTIN_TABLE = "passes:BUILTIN_PASSES"


@dataclass
class PassInfo:
    """Where one pass comes from. ``cls`` is filled in on first :meth:`PassRegistry.get`."""

    name: str
    target: str  # "module:Class"
    kind: str  # "builtin", "plugin" or "api"
    distribution: str | None = None  # the plugin's distribution name (plugins only)
    cls: type[Pass] | None = field(default=None, repr=False)
    # entry point object for plugins (loaded lazily)
    _entry_point: Any = field(default=None, repr=False)

    @property
    def origin(self) -> str:
        """A human phrase for error messages: ``builtin (passes.cleanup.dce:Dce)``."""
        if self.kind == "plugin":
            return f"plugin distribution '{self.distribution}' ({self.target})"
        if self.kind == "builtin":
            return f"builtin ({self.target})"
        return f"registered in code ({self.target})"


class PassRegistry:
    """Name -> pass class, from builtins, plugin entry points and explicit registrations.

    ``builtins`` defaults to :data:`passes.BUILTIN_PASSES`; ``plugins=False`` skips the entry
    points (tests that want a closed world); ``extra`` registers classes directly.
    """

    def __init__(
        self,
        builtins: Mapping[str, str] | None = None,
        *,
        plugins: bool = True,
        extra: Iterable[type[Pass]] = (),
    ):
        if builtins is None:
            module, _, attr = BUILTIN_TABLE.partition(":")
            builtins = getattr(importlib.import_module(module), attr)
        self._infos: dict[str, PassInfo] = {}
        for name, target in builtins.items():
            self._add(PassInfo(name, target, "builtin"))
        if plugins:
            for ep in _entry_points():
                dist = _dist_name(ep)
                self._add(PassInfo(ep.name, ep.value, "plugin", dist, _entry_point=ep))
        for cls in extra:
            self.register(cls)

    # -- registration ----------------------------------------------------------------------
    def _add(self, info: PassInfo) -> None:
        old = self._infos.get(info.name)
        if old is not None:
            if old.kind == info.kind == "plugin" and old.target == info.target and (
                old.distribution == info.distribution
            ):
                return  # the same distribution seen twice on sys.path
            raise PipelineError(
                f"pass name '{info.name}' is defined twice: by {old.origin} and by "
                f"{info.origin}. Uninstall one of them or rename its entry point in the "
                f"'{ENTRY_POINT_GROUP}' group."
            )
        self._infos[info.name] = info

    def register(self, cls: type[Pass]) -> None:
        """Add a pass class from code (tests, embedding applications)."""
        _check_pass_class(cls, cls.name, f"{cls.__module__}:{cls.__qualname__}")
        self._add(PassInfo(cls.name, f"{cls.__module__}:{cls.__qualname__}", "api", cls=cls))

    # -- lookup ----------------------------------------------------------------------------
    def names(self) -> list[str]:
        return sorted(self._infos)

    def __contains__(self, name: str) -> bool:
        return name in self._infos

    def info(self, name: str) -> PassInfo:
        try:
            return self._infos[name]
        except KeyError:
            raise PipelineError(self.unknown_message(name)) from None

    def infos(self) -> list[PassInfo]:
        return [self._infos[n] for n in self.names()]

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
        return (
            f"unknown pass '{name}'; {hint}known passes: {join_names(self.names(), 40)} "
            "(run `infercc passes` for details)"
        )

    def get(self, name: str) -> type[Pass]:
        """The pass class called ``name``, importing its module on first use."""
        info = self.info(name)
        if info.cls is None:
            info.cls = self._load(info)
        return info.cls

    def _load(self, info: PassInfo) -> type[Pass]:
        try:
            if info._entry_point is not None:
                obj = info._entry_point.load()
            else:
                module, _, attr = info.target.partition(":")
                obj = importlib.import_module(module)
                for part in attr.split("."):
                    obj = getattr(obj, part)
        except Exception as e:  # an import failure in a plugin is the plugin's, name it
            raise PipelineError(
                f"pass '{info.name}' from {info.origin} cannot be loaded: "
                f"{type(e).__name__}: {e}"
            ) from e
        _check_pass_class(obj, info.name, info.origin)
        return obj


def _check_pass_class(obj: Any, name: str, origin: str) -> None:
    if not (isinstance(obj, type) and issubclass(obj, Pass)):
        raise PipelineError(
            f"pass '{name}' from {origin} is {obj!r}, not a subclass of "
            "compiler.pass_manager.Pass"
        )
    if not dataclasses.is_dataclass(obj):
        raise PipelineError(
            f"pass '{name}' from {origin}: class {obj.__qualname__} must be a @dataclass "
            "(its fields are the pass options)"
        )
    if obj.name != name:
        raise PipelineError(
            f"pass '{name}' from {origin}: the class' name attribute is {obj.name!r}; the "
            f"entry-point name and `{obj.__qualname__}.name` must be the same"
        )


def _entry_points() -> list[Any]:
    return list(metadata.entry_points(group=ENTRY_POINT_GROUP))


def _dist_name(ep: Any) -> str:
    dist = getattr(ep, "dist", None)
    if dist is not None:
        try:
            return dist.metadata["Name"] or dist.name
        except Exception:  # malformed METADATA: fall back to the module path
            pass
    return ep.value.partition(":")[0]


_DEFAULT: PassRegistry | None = None


def default_registry() -> PassRegistry:
    """The process-wide registry (builtins + installed plugins), built on first use."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = PassRegistry()
    return _DEFAULT


def reset_default_registry() -> None:
    """Forget the cached registry (after installing a plugin at run time)."""
    global _DEFAULT
    _DEFAULT = None
