"""The public entry of the TFLite target (kept for its import path): :func:`emit_tflite`,
its errors, and :func:`unsupported_reason` / :func:`supported_ops`, which answer from the
same lowering registry the emitter uses. See :mod:`targets.tflite.emit` for the contract."""

from __future__ import annotations

from .emit import DeployedTensor, Emitted, emit, emit_tflite, unsupported_reason
from .errors import TfliteEmitError, TfliteWriteError
from .registry import supported_ops

__all__ = ["DeployedTensor", "Emitted", "TfliteEmitError", "TfliteWriteError", "emit",
           "emit_tflite", "supported_ops", "unsupported_reason"]
