"""The runtime layer: run a model through a named :class:`Executor`.

``open_executor(name, model, **options).run(feeds, capture=())`` is the one way infercc runs
models (see :mod:`compiler.runtime.base` for the contract and
:mod:`compiler.runtime.registry` for the names).
"""

from .base import Executor, ExecutorError, RunResult
from .registry import (
    BUILTIN_EXECUTORS,
    ENTRY_POINT_GROUP,
    executor_names,
    open_executor,
    reset_registry,
)

__all__ = ["BUILTIN_EXECUTORS", "ENTRY_POINT_GROUP", "Executor", "ExecutorError",
           "RunResult", "executor_names", "open_executor", "reset_registry"]
