"""Pass instruments: hooks the pass manager calls around each pass.

In the spirit of MLIR's ``PassInstrumentation`` and TVM's ``PassContext`` instruments, an
instrument observes a pipeline run without the passes knowing: printing IR, dumping it to a
directory, reporting timings. The manager itself measures time and node counts and verifies
the graph; instruments only see the :class:`PassRecord` it fills in.

Hook order for a pipeline of passes ``p1, p2``::

    before_pipeline
      before_pass(p1)  after_pass(p1, record)      # or after_pass_failed(p1, error)
      before_pass(p2)  after_pass(p2, record)
    after_pipeline(records)
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ..fileio import atomic_write
from ..ir.graph import Graph
from ..ir.printer import print_graph
from ..ir.walk import count_nodes as _count_nodes
from ..ir.walk import walk_nodes
from .base import Pass, PassContext

log = logging.getLogger(__name__)


@dataclass
class PassRecord:
    """What happened in one pass: filled in by the manager, read by instruments."""

    index: int  # 1-based position in the pipeline
    total: int  # number of passes in the pipeline
    name: str
    spec: str  # the pass as a pipeline string, with its non-default options
    time_ms: float
    nodes_before: int
    nodes_after: int
    modified: bool
    stats: dict[str, Any] = field(default_factory=dict)
    verify_ms: float = 0.0


class PassInstrument:
    """Base class: override the hooks you need; every hook defaults to doing nothing."""

    def before_pipeline(self, graph: Graph, passes: Sequence[Pass], ctx: PassContext) -> None:
        pass

    def before_pass(self, p: Pass, index: int, graph: Graph) -> None:
        pass

    def after_pass(self, p: Pass, graph: Graph, record: PassRecord) -> None:
        pass

    def after_pass_failed(self, p: Pass, index: int, graph: Graph, error: BaseException) -> None:
        pass

    def after_pipeline(self, graph: Graph, records: list[PassRecord]) -> None:
        pass


# -- helpers -------------------------------------------------------------------------------


def count_nodes(graph: Graph) -> int:
    """Nodes in ``graph`` and every nested subgraph."""
    return _count_nodes(graph)


def fingerprint(graph: Graph) -> str:
    """A digest that changes whenever the graph does.

    The text form covers structure, types and small constants; large constants are keyed
    by array identity (passes replace constant arrays, they never mutate them in place).
    """
    h = hashlib.sha1(print_graph(graph).encode("utf-8"))
    for node, _ in walk_nodes(graph):
        for k, v in node.attrs.items():
            if hasattr(v, "shape") or hasattr(v, "nnz"):
                h.update(f"{k}:{id(v)};".encode())
    return h.hexdigest()


def _fmt_ms(ms: float) -> str:
    """Milliseconds for a header: whole numbers from 10 ms, two significant digits below."""
    return f"{ms:.0f}" if ms >= 10 else f"{ms:.2g}"


def _emit(text: str, stream: TextIO | None, logger: logging.Logger | None) -> None:
    if logger is not None:
        logger.info("%s", text.rstrip("\n"))
    else:
        s = stream if stream is not None else sys.stderr
        s.write(text if text.endswith("\n") else text + "\n")
        s.flush()


# -- instruments ---------------------------------------------------------------------------


class PrintIR(PassInstrument):
    """Print the IR after passes.

    ``after`` is ``"all"`` or pass names; ``only_on_change`` skips passes that left the graph
    unchanged (compared by :func:`fingerprint`, not by what the pass claims). Output goes to
    ``logger`` at INFO when given, else to ``stream`` (default stderr).
    """

    def __init__(
        self,
        after: str | Iterable[str] = "all",
        *,
        only_on_change: bool = False,
        stream: TextIO | None = None,
        logger: logging.Logger | None = None,
        with_data: bool = False,
    ):
        self.after_all = after == "all"
        self.names = set() if self.after_all else ({after} if isinstance(after, str) else set(after))
        self.only_on_change = only_on_change
        self.stream = stream
        self.logger = logger
        self.with_data = with_data
        self._before: str | None = None

    def wants(self, name: str) -> bool:
        return self.after_all or name in self.names

    def before_pass(self, p: Pass, index: int, graph: Graph) -> None:
        if self.only_on_change and self.wants(p.name):
            self._before = fingerprint(graph)

    def after_pass(self, p: Pass, graph: Graph, record: PassRecord) -> None:
        if not self.wants(p.name):
            return
        if self.only_on_change and fingerprint(graph) == self._before:
            return
        header = (
            f"----- IR after {record.spec} (pass {record.index}/{record.total}, "
            f"{_fmt_ms(record.time_ms)} ms, {record.nodes_before} -> {record.nodes_after} nodes) -----"
        )
        _emit(print_graph(graph, with_data=self.with_data, header=header), self.stream,
              self.logger)


_DUMP_FILE = re.compile(r"^\d{3}_.*\.ir$")


class DumpIR(PassInstrument):
    """Write the IR before the pipeline and after every pass into ``directory``.

    Files are numbered ``000_input.ir``, ``001_<pass>.ir``, ...; each starts with a comment
    line saying which pass produced it. Numbered dumps left from an earlier run are removed
    first so a directory never mixes two runs. ``with_data=True`` adds the tensor data,
    making each file loadable with ``infercc opt``.
    """

    def __init__(self, directory: str | os.PathLike, *, with_data: bool = False):
        self.directory = Path(directory)
        self.with_data = with_data
        self.files: list[Path] = []

    def _write(self, number: int, label: str, graph: Graph, header: str) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.\-]+", "_", label)
        path = self.directory / f"{number:03d}_{safe}.ir"
        atomic_write(path, print_graph(graph, with_data=self.with_data, header=header))
        self.files.append(path)

    def before_pipeline(self, graph: Graph, passes: Sequence[Pass], ctx: PassContext) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for old in self.directory.iterdir():
            if old.is_file() and _DUMP_FILE.match(old.name):
                old.unlink()
        self.files = []
        self._write(0, "input", graph, "infercc dump 000: input IR")

    def after_pass(self, p: Pass, graph: Graph, record: PassRecord) -> None:
        changed = "modified" if record.modified else "unchanged"
        header = (
            f"infercc dump {record.index:03d}: IR after {record.spec} "
            f"(pass {record.index}/{record.total}, {record.time_ms:.2f} ms, {changed})"
        )
        self._write(record.index, p.name, graph, header)


class Timing(PassInstrument):
    """Print a table of per-pass time, node counts and the passes' statistics at the end."""

    def __init__(self, stream: TextIO | None = None, logger: logging.Logger | None = None):
        self.stream = stream
        self.logger = logger
        self.records: list[PassRecord] = []

    def after_pipeline(self, graph: Graph, records: list[PassRecord]) -> None:
        self.records = list(records)
        _emit(timing_table(records), self.stream, self.logger)


def timing_table(records: Sequence[PassRecord]) -> str:
    """The per-pass report: ``#, pass, time ms, verify ms, nodes before -> after, stats``."""
    head = ("#", "pass", "time ms", "verify ms", "nodes", "stats")
    rows = []
    for r in records:
        stats = ", ".join(f"{k}={_fmt_stat(v)}" for k, v in r.stats.items())
        rows.append((
            str(r.index),
            r.spec,
            f"{r.time_ms:.2f}",
            f"{r.verify_ms:.2f}",
            f"{r.nodes_before} -> {r.nodes_after}",
            stats,
        ))
    if records:
        rows.append((
            "",
            "total",
            f"{sum(r.time_ms for r in records):.2f}",
            f"{sum(r.verify_ms for r in records):.2f}",
            f"{records[0].nodes_before} -> {records[-1].nodes_after}",
            "",
        ))
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    right = {0, 2, 3}

    def line(cells: Sequence[str]) -> str:
        out = []
        for i, (c, w) in enumerate(zip(cells, widths)):
            out.append(c.rjust(w) if i in right else c.ljust(w))
        return "  ".join(out).rstrip()

    lines = ["===== pass timing and statistics =====", line(head)]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(line(r) for r in rows)
    return "\n".join(lines) + "\n"


def _fmt_stat(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


__all__ = [
    "DumpIR",
    "PassInstrument",
    "PassRecord",
    "PrintIR",
    "Timing",
    "count_nodes",
    "fingerprint",
    "timing_table",
]
