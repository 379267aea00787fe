"""Which executors exist: the builtin table plus plugins from ``infercc.executors``.

Builtin executors are listed as ``name -> "module:Class"`` and imported only when opened,
so this module imports neither onnxruntime nor LiteRT nor the targets that wrap them (the
targets layer sits above the runtime; naming a class here is the sanctioned crossing).
Plugins are distributions that declare

    [project.entry-points."infercc.executors"]
    my-npu = "my_plugin:NpuExecutor"

An executor class is called as ``cls(model, **options)`` and must satisfy
:class:`compiler.runtime.base.Executor`. A name defined twice (a plugin shadowing a
builtin, or two plugins) is an error naming both sources.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import logging
from importlib import metadata
from typing import Any

from ..errors import join_names
from .base import Executor, ExecutorError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "infercc.executors"

BUILTIN_EXECUTORS: dict[str, str] = {
    "reference": "compiler.runtime.reference:ReferenceExecutor",
    "onnxruntime": "targets.onnx.runtime:OnnxruntimeExecutor",
    "litert": "targets.tflite.runtime:LiteRTExecutor",
}


_TABLE: dict[str, tuple[str, Any]] | None = None


def reset_registry() -> None:
    """Forget the cached table (after installing a plugin at run time)."""
    global _TABLE
    _TABLE = None


def _table() -> dict[str, tuple[str, Any]]:
    """name -> (origin phrase, "module:Class" or an entry point), built on first use:
    scanning the installed distributions' entry points takes tens of milliseconds."""
    global _TABLE
    if _TABLE is None:
        _TABLE = _scan()
    return _TABLE


def _scan() -> dict[str, tuple[str, Any]]:
    table: dict[str, tuple[str, Any]] = {n: (f"builtin ({t})", t)
                                         for n, t in BUILTIN_EXECUTORS.items()}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(getattr(ep, "dist", None), "name", None) or ep.value
        origin = f"plugin distribution '{dist}' ({ep.value})"
        old = table.get(ep.name)
        if old is not None:
            if old[0] == origin:
                continue  # the same distribution seen twice on sys.path
            raise ExecutorError(f"executor name '{ep.name}' is defined twice: by {old[0]} "
                                f"and by {origin}. Uninstall one of them or rename its "
                                f"entry point in the '{ENTRY_POINT_GROUP}' group.")
        table[ep.name] = (origin, ep)
    return table


def executor_names() -> list[str]:
    """Every executor name, builtin and plugin, sorted."""
    return sorted(_table())


def executor_class(name: str) -> type:
    """The class registered as ``name``, importing its module now."""
    table = _table()
    if name not in table:
        close = difflib.get_close_matches(name, list(table), n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
        raise ExecutorError(f"unknown executor '{name}'; {hint}known executors: "
                            f"{join_names(sorted(table), 40)}")
    origin, target = table[name]
    try:
        if isinstance(target, str):
            module, _, attr = target.partition(":")
            obj: Any = importlib.import_module(module)
            for part in attr.split("."):
                obj = getattr(obj, part)
        else:
            obj = target.load()
    except ExecutorError:
        raise
    except Exception as e:  # an import failure in a plugin is the plugin's: name it
        raise ExecutorError(f"executor '{name}' from {origin} cannot be loaded: "
                            f"{type(e).__name__}: {e}") from e
    if not callable(obj):
        raise ExecutorError(f"executor '{name}' from {origin} is {obj!r}, not a class")
    return obj


def open_executor(name: str, model: Any, **options: Any) -> Executor:
    """Open ``model`` in the executor called ``name``.

    ``model`` is what that executor runs: an IR Graph for ``"reference"`` and
    ``"onnxruntime"``, a ``.tflite`` path or bytes for ``"litert"``. ``options`` go to the
    executor's constructor (each executor documents its own; ``threads`` is common to all).
    Raises :class:`ExecutorError` for an unknown name, an executor that cannot be loaded
    (e.g. its runtime is not installed) or a model it cannot run.
    """
    cls = executor_class(name)
    try:  # an unknown option is the caller's mistake; name the executor's options
        inspect.signature(cls).bind(model, **options)
    except TypeError as e:
        raise ExecutorError(f"executor '{name}' ({cls.__qualname__}): {e}") from None
    except ValueError:  # no signature to check (a builtin or C callable)
        pass
    ex = cls(model, **options)
    log.debug("opened executor %s (%s)", name, type(ex).__name__)
    return ex
