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

import inspect
import logging
from typing import Any

from ..errors import join_names
from ..plugins import Cached, Entry, Registry, did_you_mean
from .base import Executor, ExecutorError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "infercc.executors"

BUILTIN_EXECUTORS: dict[str, str] = {
    "reference": "compiler.runtime.reference:ReferenceExecutor",
    "onnxruntime": "targets.onnx.runtime:OnnxruntimeExecutor",
    "onnxruntime-model": "targets.onnx.model_runtime:OnnxModelExecutor",
    "litert": "targets.tflite.runtime:LiteRTExecutor",
    "tensorrt": "targets.tensorrt.runtime:TensorRTExecutor",
}


class _ExecutorRegistry(Registry[Entry]):
    """Name -> executor class, from :data:`BUILTIN_EXECUTORS` and the entry points."""

    noun = "executor"
    group = ENTRY_POINT_GROUP
    error = ExecutorError

    def unknown_message(self, name: str) -> str:
        return (f"unknown executor '{name}'; {did_you_mean(name, self.names())}known "
                f"executors: {join_names(sorted(self.names()), 40)}")


# Built on first use: scanning the installed distributions' entry points takes tens of
# milliseconds.
_REGISTRY: Cached[_ExecutorRegistry] = Cached(lambda: _ExecutorRegistry(BUILTIN_EXECUTORS))


def reset_registry() -> None:
    """Forget the cached table (after installing a plugin at run time)."""
    _REGISTRY.reset()


def executor_names() -> list[str]:
    """Every executor name, builtin and plugin, sorted."""
    return sorted(_REGISTRY.get().names())


def executor_class(name: str) -> type:
    """The class registered as ``name``, importing its module now."""
    registry = _REGISTRY.get()
    entry = registry.info(name)
    obj = registry.load(entry)
    if not callable(obj):
        raise ExecutorError(f"executor '{name}' from {entry.origin} is {obj!r}, not a class")
    return obj


def open_executor(name: str, model: Any, **options: Any) -> Executor:
    """Open ``model`` in the executor called ``name``.

    ``model`` is what that executor runs: an IR Graph for ``"reference"`` and
    ``"onnxruntime"``, a ``.tflite`` path or bytes for ``"litert"``, a serialized engine
    (path or bytes) for ``"tensorrt"``. ``options`` go to the
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
