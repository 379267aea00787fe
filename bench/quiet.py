"""Silencing the C++ chatter of TensorFlow's converter and MLIR in bench output."""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def quiet_fds():
    """Send C++-level stdout/stderr (converter and MLIR chatter) to /dev/null."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)
