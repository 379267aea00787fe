"""The runtime contract: an :class:`Executor` runs one model on numpy feeds.

Every place that runs a model (calibration, evaluation, the CLI's run report, test oracles)
goes through an executor opened by :func:`compiler.runtime.open_executor`, so "run this
model and give me these intermediate values" has one meaning whatever runs it:

* ``run(feeds, capture=())`` takes one array per model input (keyed by input name) and
  returns a :class:`RunResult`: every model output by name, plus the values named in
  ``capture``, keyed by the same names they were asked by (IR value names, or the
  executor's own tensor names where it has no IR; each executor's docstring says which).
* The arrays an executor returns belong to the caller unless the executor's documentation
  says otherwise (an opt-in output reuse for hot loops).
* A model or request the executor cannot serve raises :class:`ExecutorError` naming the
  model, the executor and what to do instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from ..errors import InferccError


class ExecutorError(InferccError):
    """An executor cannot open or run a model; the message names the model and why.

    ``reason`` is the cause alone (without the model and executor names), for callers that
    fold it into a message of their own.
    """

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = message if reason is None else reason


@dataclass
class RunResult:
    """What one :meth:`Executor.run` produced.

    ``outputs``: every model output, by output name, in the model's output order.
    ``captured``: each requested capture name -> its value (same order as requested).
    ``channel_sums``: per-channel sums some executors compute beside the model on request
    (see :class:`targets.onnx.runtime.OnnxruntimeExecutor`); empty otherwise.
    """

    outputs: dict[str, np.ndarray]
    captured: dict[str, np.ndarray] = field(default_factory=dict)
    channel_sums: dict[str, np.ndarray] = field(default_factory=dict)


@runtime_checkable
class Executor(Protocol):
    """Runs one model; see the module docstring for the contract."""

    #: the names :meth:`run` expects in ``feeds``, in the model's input order
    input_names: list[str]
    #: the keys of :attr:`RunResult.outputs`, in the model's output order
    output_names: list[str]

    def run(self, feeds: Mapping[str, np.ndarray], capture: Sequence[str] = ()) -> RunResult:
        """Run the model once on ``feeds``; capture the values named in ``capture``."""
        ...


def check_feeds(feeds: Mapping[str, object], input_names: Sequence[str], model: str) -> None:
    """Raise :class:`ExecutorError` unless ``feeds`` holds exactly ``input_names``."""
    names = set(input_names)
    if feeds.keys() == names:  # the common case, checked once per run: keep it cheap
        return
    missing = [n for n in input_names if n not in feeds]
    extra = [n for n in feeds if n not in names]
    if missing or extra:
        raise ExecutorError(f"{model} inputs are {sorted(names)}; missing {sorted(missing)}, "
                            f"unexpected {sorted(extra)}")
