"""User-facing errors. Each carries a message that names what was wrong, where, and what to do.

The CLI prints ``str(error)`` and exits with code 2 for any :class:`InferccError`; other
exceptions are bugs and show a traceback only with ``--debug``.
"""

from __future__ import annotations

from collections.abc import Iterable


class InferccError(Exception):
    """Base of all errors caused by the user's input rather than by infercc."""

    exit_code = 2


class ModelLoadError(InferccError):
    """A model file is missing, unreadable or malformed."""


class UnsupportedOpsError(InferccError):
    """The model uses ops infercc cannot take; lists every one with its source layers."""

    def __init__(self, source: str, unsupported: dict[str, list[str]], hint: str = ""):
        self.source = source
        self.unsupported = unsupported
        lines = [f"{source}: {len(unsupported)} unsupported op type(s):"]
        for op, layers in sorted(unsupported.items()):
            shown = ", ".join(layers[:8]) + (f", ... ({len(layers)} in all)" if len(layers) > 8 else "")
            lines.append(f"  {op}: {shown}")
        if hint:
            lines.append(hint)
        super().__init__("\n".join(lines))


class PipelineError(InferccError):
    """A pipeline string, pass name or pass option is wrong."""


class PassFailure(InferccError):
    """A pass raised; a reproducer was written if possible."""


def join_names(names: Iterable[str], limit: int = 8) -> str:
    names = list(names)
    s = ", ".join(names[:limit])
    return s + (f", ... ({len(names)} in all)" if len(names) > limit else "")


#: a framework message longer than this is cut in the middle (its head and its tail are
#: where TensorFlow, Keras and torch put the cause)
_FRAMEWORK_MESSAGE_MAX = 1600


def framework_message(error: BaseException) -> str:
    """A framework exception (TensorFlow, Keras, torch) as one paragraph for a user error:
    ``Type: message`` with its lines joined, blank lines, stack-frame lines
    (``File "...", line N``, their source lines, ``Traceback``) and repeats dropped; a message
    longer than 1600 characters keeps its head and tail around an elision mark."""
    kept: list[str] = []
    skip_source = False
    for raw in str(error).splitlines():
        line = raw.strip()
        if skip_source:  # the source line printed under a stack frame
            skip_source = False
            if raw.startswith("    "):
                continue
        if not line or line.startswith("Traceback (most recent call last)"):
            continue
        if line.startswith('File "'):
            skip_source = True
            continue
        if not kept or kept[-1] != line:
            kept.append(line)
    text = " ".join(kept) or "(no message)"
    if len(text) > _FRAMEWORK_MESSAGE_MAX:
        half = _FRAMEWORK_MESSAGE_MAX // 2
        text = f"{text[:half]} [... {len(text) - 2 * half} characters ...] {text[-half:]}"
    return f"{type(error).__name__}: {text}"
