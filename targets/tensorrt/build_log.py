"""What TensorRT chose when it built an engine: the layers that took a 2:4 sparse tactic and
the layers that run int8 kernels, read from the builder's log and from the engine inspector.

Both sources and their formats are those of TensorRT's developer guide:

* "Structured Sparsity": with ``BuilderFlag.SPARSE_WEIGHTS`` set, the builder logs at INFO
  ``(Sparsity) Layers eligible for sparse math: conv1, conv2, conv3`` and
  ``(Sparsity) TRT inference plan picked sparse implementation for layers: conv2, conv3``
  (TensorRT keeps a dense tactic where the sparse one is slower).
* "Engine Inspector": an engine built with ``ProfilingVerbosity.DETAILED`` describes every
  engine layer, ``get_engine_information(LayerInformationFormat.JSON)`` giving
  ``{"Layers": [{"Name": ..., "LayerType": ..., "Inputs": [{"Name": ..., "Dimensions": ...,
  "Format/Datatype": "Thirty-two wide channel vectorized row major Int8 format."}],
  "Outputs": [...], ...}], "Bindings": [...]}``. An engine layer is often several network
  layers fused (``"conv1 + relu1"``); its name lists them.

:func:`recording_logger` is the ``trt.ILogger`` the engine build hands the builder: it keeps
the messages up to INFO for these parsers and passes errors and warnings to Python logging.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import tensorrt

    from .api import TrtModule

log = logging.getLogger(__name__)

_SPARSE_PICKED = re.compile(r"\(Sparsity\) TRT inference plan picked sparse implementation "
                            r"for layers:\s*(.*)$")
_SPARSE_ELIGIBLE = re.compile(r"\(Sparsity\) Layers eligible for sparse math:\s*(.*)$")
#: engine layers that only move or relabel data, whatever their formats
_BOOKKEEPING = frozenset({"Reformat", "NoOp", "Constant", "Shuffle"})


@dataclass
class BuildLog:
    """The builder's messages, ``(severity name, message)``, in order."""

    lines: list[tuple[str, str]] = field(default_factory=list)

    def errors(self) -> list[str]:
        return [msg for sev, msg in self.lines if sev in ("ERROR", "INTERNAL_ERROR")]


def recording_logger(trt: TrtModule) -> tuple[tensorrt.ILogger, BuildLog]:
    """A ``trt.ILogger`` for the builder and the :class:`BuildLog` it fills: every message
    up to INFO is kept (VERBOSE is dropped: it runs to megabytes); errors and warnings also
    go to this module's logger, INFO to debug."""
    record = BuildLog()
    info = int(trt.ILogger.Severity.INFO)
    warning = int(trt.ILogger.Severity.WARNING)

    class Recorder(trt.ILogger):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            trt.ILogger.__init__(self)  # the binding requires the explicit base init

        def log(self, severity: Any, msg: str) -> None:
            level = int(severity)
            if level > info:
                return
            record.lines.append((getattr(severity, "name", str(severity)), msg))
            if level < warning:
                log.error("TensorRT: %s", msg)
            elif level == warning:
                log.warning("TensorRT: %s", msg)
            else:
                log.debug("TensorRT: %s", msg)

    return Recorder(), record


def sparse_layers(record: BuildLog) -> tuple[list[str], list[str]]:
    """The layers TensorRT found eligible for sparse math and those it picked a sparse
    implementation for, from the builder's "(Sparsity)" INFO lines."""
    eligible: list[str] = []
    picked: list[str] = []
    for _, msg in record.lines:
        for pattern, into in ((_SPARSE_ELIGIBLE, eligible), (_SPARSE_PICKED, picked)):
            m = pattern.search(msg)
            if m:
                into.extend(s.strip() for s in m.group(1).split(",") if s.strip())
    return eligible, picked


def int8_layers(engine_information: str) -> list[tuple[str, str]]:
    """``(engine layer name, format)`` of every computing engine layer that reads or writes
    an int8 tensor, from the engine inspector's JSON (DETAILED verbosity). Reformat and
    no-op layers are left out: converting to or from int8 is not running in int8."""
    try:
        info = json.loads(engine_information)
    except json.JSONDecodeError:
        log.warning("the engine inspector's answer is not JSON; int8 layers not listed")
        return []
    found = []
    for layer in info.get("Layers", []) if isinstance(info, dict) else []:
        if not isinstance(layer, dict) or layer.get("LayerType") in _BOOKKEEPING:
            continue
        formats = [str(t.get("Format/Datatype", "")) for t in
                   [*layer.get("Inputs", []), *layer.get("Outputs", [])] if isinstance(t, dict)]
        int8 = [f for f in formats if re.search(r"\bint8\b", f, re.IGNORECASE)]
        if int8:
            found.append((str(layer.get("Name", "?")), int8[0]))
    return found


def engine_information(trt: TrtModule, blob: bytes, logger: tensorrt.ILogger) -> str | None:
    """The engine inspector's JSON for the serialized engine ``blob``, or None when the
    runtime cannot read it back (TensorRT returns no engine and logs why)."""
    engine = trt.Runtime(logger).deserialize_cuda_engine(blob)
    if engine is None:
        return None
    inspector = engine.create_engine_inspector()
    return inspector.get_engine_information(trt.LayerInformationFormat.JSON)
