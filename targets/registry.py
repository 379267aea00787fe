"""Which targets exist: the builtin table plus plugins from the ``infercc.targets`` entry points.

Builtin targets are listed in :data:`BUILTIN_TARGETS` as ``name -> "module:Class"`` and
imported only when a target is looked up, so listing names and starting the CLI stay fast.
Plugin distributions declare

    [project.entry-points."infercc.targets"]
    my-npu = "my_plugin.target:MyNpuTarget"

The entry-point name is the target name and must equal the class' ``name``. A name defined
twice (a plugin shadowing a builtin, or two plugins) is an error naming both sources.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from compiler.errors import join_names
from compiler.plugins import Cached, Entry, Registry, did_you_mean

from .base import Target, TargetMismatchError, UnknownTargetError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "infercc.targets"

BUILTIN_TARGETS: dict[str, str] = {
    "tflite": "targets.tflite.target:TFLiteTarget",
    "onnx": "targets.onnx.target:OnnxTarget",
    "tensorrt": "targets.tensorrt.target:TensorRTTarget",
}

# What compile() emits when neither a target nor an output file names one.
DEFAULT_TARGET = "tflite"


@dataclass
class TargetInfo(Entry):
    """Where one target comes from; ``instance`` is filled in on first
    :meth:`TargetRegistry.get`."""

    instance: Target | None = field(default=None, repr=False)

    @property
    def source(self) -> str:
        """The ``"module:Class"`` the target is loaded from."""
        return self.target


class TargetRegistry(Registry[TargetInfo]):
    """Name -> target, from builtins and plugin entry points (``plugins=False`` skips them)."""

    noun = "target"
    group = ENTRY_POINT_GROUP
    error = UnknownTargetError
    entry_type = TargetInfo

    def __init__(self, builtins: Mapping[str, str] | None = None, *, plugins: bool = True):
        super().__init__(BUILTIN_TARGETS if builtins is None else builtins, plugins=plugins)

    def unknown_message(self, name: str) -> str:
        return (f"unknown target '{name}'; {did_you_mean(name, self.names())}the targets are: "
                f"{join_names(self.names())} (run `infercc targets` for details)")

    def get(self, name: str) -> Target:
        """The target called ``name``, importing its module on first use."""
        info = self.info(name)
        if info.instance is None:
            info.instance = self._instantiate(info)
        return info.instance

    def _instantiate(self, info: TargetInfo) -> Target:
        obj = self.load(info)
        if not (isinstance(obj, type) and issubclass(obj, Target)):
            raise UnknownTargetError(f"target '{info.name}' from {info.origin} is {obj!r}, "
                                     "not a subclass of targets.Target")
        self.check_name_attribute(obj, info.name, info.origin)
        return obj()

    def for_path(self, path: str | os.PathLike) -> str | None:
        """The name of the target whose ``extensions`` include ``path``'s suffix, or None
        (targets that cannot be loaded are skipped with a warning)."""
        suffix = Path(path).suffix.lower()
        if not suffix:
            return None
        owners = []
        for n in self.names():
            try:
                target = self.get(n)
            except UnknownTargetError as e:  # a broken plugin must not block the others
                log.warning("%s", e)
                continue
            if suffix in target.extensions:
                owners.append(n)
        if len(owners) > 1:
            raise TargetMismatchError(f"{os.fspath(path)}: the extension '{suffix}' belongs to "
                                      f"several targets ({', '.join(owners)}); name one")
        return owners[0] if owners else None


_DEFAULT: Cached[TargetRegistry] = Cached(TargetRegistry)


def default_registry() -> TargetRegistry:
    """The process-wide registry (builtins + installed plugins), built on first use."""
    return _DEFAULT.get()


def reset_default_registry() -> None:
    """Forget the cached registry (after installing a plugin at run time)."""
    _DEFAULT.reset()


def get_target(name: str) -> Target:
    """The target called ``name`` (case-insensitive); :class:`UnknownTargetError` lists the
    known ones with a did-you-mean."""
    return default_registry().get(str(name).strip().lower())


def target_names() -> list[str]:
    return default_registry().names()


def target_for_path(path: str | os.PathLike) -> str | None:
    """The target an output file's extension selects (``x.onnx`` -> ``"onnx"``), or None."""
    return default_registry().for_path(path)


def resolve_target(target: str | None, output: str | os.PathLike | None) -> tuple[Target, str]:
    """The target to compile for, and its option string.

    ``target`` is a name with optional options (``"tflite{float16=true}"``) or None. Without
    it the target follows ``output``'s extension (an extension no target owns is a
    :class:`TargetMismatchError`), or is :data:`DEFAULT_TARGET` when there is no output. An
    output whose extension belongs to another target than the one named is a
    :class:`TargetMismatchError` (unless the named target ``also_writes`` it); one no
    target owns is written as asked.
    """
    spec = None if target is None else str(target).strip()
    suffix = Path(output).suffix.lower() if output is not None else ""
    owner = target_for_path(output) if suffix else None
    if spec:
        name = spec.partition("{")[0].strip().lower()
        chosen = get_target(name)
        spec = name + spec[len(spec.partition("{")[0]):]
    elif owner is not None or output is None:
        chosen = get_target(owner or DEFAULT_TARGET)
        spec = chosen.name
    else:
        known = sorted({e for n in target_names() for e in get_target(n).extensions})
        raise TargetMismatchError(
            f"cannot tell the target from the output {os.fspath(output)}: "
            f"'{suffix or '(no extension)'}' is none of {', '.join(known)}. Name the target "
            "(--target / target=) or use one of those extensions.")
    if owner is not None and owner != chosen.name and suffix not in chosen.also_writes:
        rename = (Path(output).with_suffix(chosen.extensions[0]).name if chosen.extensions
                  else "differently")
        raise TargetMismatchError(
            f"target '{chosen.name}' writes {', '.join(chosen.extensions) or 'its own'} files, "
            f"but the output {os.fspath(output)} has target '{owner}''s extension "
            f"'{suffix}'. Name the output {rename}, or leave the target out to follow the "
            "extension.")
    return chosen, spec
