"""Atomic file writes: a reader never sees a half-written model, IR dump or reproducer.

Contract of :func:`atomic_write`: the bytes go to a temporary file in the target's own
directory (so the final rename never crosses file systems), are flushed to disk, and the
temporary file is renamed over the target with ``os.replace``. On any error the temporary
file is removed, the target is left as it was, and the error propagates.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def temp_beside(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A fresh temporary path next to ``path``; removed on exit unless it was renamed away."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def atomic_write(path: str | os.PathLike, data: str | bytes | Callable[[Path], None]) -> None:
    """Write ``data`` (text, bytes, or a function that writes a given path) to ``path``.

    The parent directory must exist (callers that own an output folder create it).
    """
    target = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with temp_beside(target) as tmp:
        if callable(data):
            data(tmp)
        else:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        # mkstemp creates the file 0600; give the model the permissions a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
