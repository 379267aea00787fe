"""Progress of long library phases (calibration, the accuracy report, sensitivity trials).

Library code never draws anything itself: a function with a ``progress`` argument passes it
to :func:`open_progress` and calls ``update(n)`` / ``close()`` on what it gets. What the
argument may be:

* ``False`` or ``None``: nothing is shown;
* ``True``: a tqdm bar on stderr (what a Python user at a terminal wants);
* a callable ``(desc, total, unit) -> bar``, where ``bar`` has ``update(n)`` and ``close()``:
  the caller decides (the ``infercc`` command line shows bars only on a terminal, and not
  with ``-q``; a GUI or a test can count).

Only the standard library is imported here; tqdm is imported when a bar is drawn.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, Union


class ProgressBar(Protocol):
    """What :func:`open_progress` returns."""

    def update(self, n: int = 1) -> Any: ...

    def close(self) -> Any: ...


ProgressFactory = Callable[[str, Union[int, None], str], ProgressBar]
Progress = Union[bool, None, ProgressFactory]


class _Silent:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def tqdm_bar(desc: str, total: int | None, unit: str) -> ProgressBar:
    """A transient tqdm bar on stderr."""
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=desc, leave=False)


def open_progress(progress: Progress, desc: str, total: int | None,
                  unit: str = "sample") -> ProgressBar:
    """A bar for one phase of ``total`` steps (None: unknown), as ``progress`` asks (see
    the module doc)."""
    if progress is None or progress is False:
        return _Silent()
    if progress is True:
        return tqdm_bar(desc, total, unit)
    return progress(desc, total, unit)


__all__ = ["Progress", "ProgressBar", "ProgressFactory", "open_progress", "tqdm_bar"]
