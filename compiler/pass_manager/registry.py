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
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import PipelineError, join_names
from ..plugins import Cached, Entry, Registry, did_you_mean, load_object
from .base import Pass

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "infercc.passes"

# Where the builtin table lives, "module:attribute". Looked up by name: the builtin passes
# sit above the pass manager, which never imports them.
BUILTIN_TABLE = "passes:BUILTIN_PASSES"


@dataclass
class PassInfo(Entry):
    """Where one pass comes from. ``cls`` is filled in on first :meth:`PassRegistry.get`."""

    cls: type[Pass] | None = field(default=None, repr=False)


class PassRegistry(Registry[PassInfo]):
    """Name -> pass class, from builtins, plugin entry points and explicit registrations.

    ``builtins`` defaults to :data:`passes.BUILTIN_PASSES`; ``plugins=False`` skips the entry
    points (tests that want a closed world); ``extra`` registers classes directly.
    """

    noun = "pass"
    group = ENTRY_POINT_GROUP
    error = PipelineError
    entry_type = PassInfo

    def __init__(
        self,
        builtins: Mapping[str, str] | None = None,
        *,
        plugins: bool = True,
        extra: Iterable[type[Pass]] = (),
    ):
        if builtins is None:
            builtins = load_object(BUILTIN_TABLE)
        super().__init__(builtins, plugins=plugins)
        for cls in extra:
            self.register(cls)

    def register(self, cls: type[Pass], *, kind: str = "api", target: str | None = None
                 ) -> None:
        """Add a pass class from code (tests, embedding applications); ``kind`` and
        ``target`` say where it comes from in messages (default: its module and class)."""
        target = target or f"{cls.__module__}:{cls.__qualname__}"
        self._check_pass_class(cls, cls.name, target)
        self.add(PassInfo(cls.name, target, kind, cls=cls))

    # -- lookup ----------------------------------------------------------------------------
    def names(self) -> list[str]:
        return sorted(super().names())

    def infos(self) -> list[PassInfo]:
        return [self.info(n) for n in self.names()]

    def unknown_message(self, name: str) -> str:
        return (
            f"unknown pass '{name}'; {did_you_mean(name, self.names())}known passes: "
            f"{join_names(self.names(), 40)} (run `infercc passes` for details)"
        )

    def get(self, name: str) -> type[Pass]:
        """The pass class called ``name``, importing its module on first use."""
        info = self.info(name)
        if info.cls is None:
            obj = self.load(info)
            self._check_pass_class(obj, info.name, info.origin)
            info.cls = obj
        return info.cls

    def _check_pass_class(self, obj: Any, name: str, origin: str) -> None:
        if not (isinstance(obj, type) and issubclass(obj, Pass)):
            raise PipelineError(
                f"pass '{name}' from {origin} is {obj!r}, not a subclass of "
                "compiler.pass_manager.Pass"
            )
        # The class itself must be decorated: a subclass of a dataclass inherits
        # __dataclass_fields__, and without @dataclass its own option fields would be ignored.
        if not dataclasses.is_dataclass(obj) or "__dataclass_fields__" not in vars(obj):
            raise PipelineError(
                f"pass '{name}' from {origin}: class {obj.__qualname__} must be a @dataclass "
                "(its fields are the pass options)"
            )
        self.check_name_attribute(obj, name, origin)


_DEFAULT: Cached[PassRegistry] = Cached(PassRegistry)


def default_registry() -> PassRegistry:
    """The process-wide registry (builtins + installed plugins), built on first use."""
    return _DEFAULT.get()


def reset_default_registry() -> None:
    """Forget the cached registry (after installing a plugin at run time)."""
    _DEFAULT.reset()
