"""The ``ir-archive`` executor: runs an ``.irz`` file in infercc's reference interpreter.

It satisfies :class:`compiler.runtime.Executor`: ``input_names``/``output_names`` and
``run(feeds, capture=()) -> RunResult``, with capture names being IR value names of the
archived graph. The interpreter is reached by its registry name (``"reference"``), not by
importing it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from compiler.runtime import ExecutorError, RunResult, open_executor

from .format import ArchiveError, read_archive


class IrArchiveExecutor:
    """Opens ``model`` (an ``.irz`` path or its bytes). ``threads`` is accepted for the
    uniform executor interface; the interpreter runs on the calling thread."""

    name = "ir-archive"

    def __init__(self, model: bytes | str | os.PathLike, *, threads: int | None = None) -> None:
        try:
            self.graph, self.signature = read_archive(model)
        except ArchiveError as e:
            raise ExecutorError(f"the ir-archive executor cannot open it: {e}", str(e)) from None
        self._inner = open_executor("reference", self.graph, threads=threads)
        self.input_names = list(self._inner.input_names)
        self.output_names = list(self._inner.output_names)

    def run(self, feeds: Mapping[str, np.ndarray], capture: Sequence[str] = ()) -> RunResult:
        """Run once on ``feeds`` (keyed by input name); capture IR values by name."""
        return self._inner.run(feeds, capture)
