"""The pass manager: runs a pipeline over a graph with verification, instruments and crash
reproducers.

    pm = PassManager("fold-constants,dce", [Timing()], reproducer="crash.ir")
    report = pm.run(graph)

Contracts:

* Artifacts are checked first: a pass whose :meth:`~.base.Pass.required_artifacts` are
  neither in ``ctx.artifacts`` nor in an earlier pass' ``produces`` is a
  :class:`~compiler.errors.PipelineError` naming the pass and the artifact; no pass runs.
* The input graph is verified next (``verify=True``, the default): a graph that is already
  broken is reported as :class:`InvalidGraphError`, never blamed on the first pass.
* After each pass the graph is verified again; a failure is a :class:`PassFailure` naming
  the pass that broke the graph.
* An exception inside a pass becomes a :class:`PassFailure` naming the pass and the original
  exception (kept as ``__cause__`` and ``.original``). When ``reproducer`` is a path, the IR
  as it was *before* the failing pass is written there with its data and a first line
  ``// infercc-reproducer: pipeline=<the failing pass and the rest>``; ``infercc opt FILE``
  replays it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InferccError, PassFailure, PipelineError
from ..ir.graph import Graph
from ..ir.printer import print_graph
from ..ir.verifier import VerificationError, verify
from .base import Pass, PassContext, PassResult
from ..fileio import atomic_write
from .instruments import PassInstrument, PassRecord, count_nodes, timing_table
from .pipeline import Pipeline, format_pass, parse_pipeline
from .registry import PassRegistry

log = logging.getLogger(__name__)

REPRODUCER_TAG = "infercc-reproducer:"


class InvalidGraphError(InferccError):
    """The graph handed to the pass manager fails verification before any pass ran."""


@dataclass
class PipelineReport:
    """The records of one run, in pipeline order."""

    records: list[PassRecord] = field(default_factory=list)

    @property
    def modified(self) -> bool:
        return any(r.modified for r in self.records)

    @property
    def time_ms(self) -> float:
        return sum(r.time_ms for r in self.records)

    def table(self) -> str:
        return timing_table(self.records)


class PassManager:
    """Runs ``passes`` (a :class:`Pipeline`, pass instances or a pipeline string)."""

    def __init__(
        self,
        passes: Pipeline | Sequence[Pass] | str,
        instruments: Iterable[PassInstrument] = (),
        *,
        verify: bool = True,
        reproducer: str | os.PathLike | None = None,
        registry: PassRegistry | None = None,
    ):
        if isinstance(passes, str):
            passes = parse_pipeline(passes, registry)
        self.pipeline = passes if isinstance(passes, Pipeline) else Pipeline(passes)
        for p in self.pipeline:
            if not isinstance(p, Pass):
                raise TypeError(f"PassManager takes Pass instances, got {p!r}")
        self.instruments: list[PassInstrument] = list(instruments)
        self.verify = verify
        self.reproducer = Path(reproducer) if reproducer is not None else None
        self.registry = registry

    def add_instrument(self, instrument: PassInstrument) -> None:
        self.instruments.append(instrument)

    def run(self, graph: Graph, ctx: PassContext | None = None) -> PipelineReport:
        """Run every pass in order on ``graph`` (in place); returns the per-pass records."""
        ctx = ctx if ctx is not None else PassContext()
        self.check_artifacts(ctx)
        if self.verify:
            try:
                verify(graph)
            except VerificationError as e:
                raise InvalidGraphError(
                    f"the input graph fails verification before any pass ran: {e}"
                ) from None
        for inst in self.instruments:
            inst.before_pipeline(graph, list(self.pipeline), ctx)
        report = PipelineReport()
        total = len(self.pipeline)
        for i, p in enumerate(self.pipeline):
            snapshot = graph.copy() if self.reproducer is not None else None
            nodes_before = count_nodes(graph)
            for inst in self.instruments:
                inst.before_pass(p, i + 1, graph)
            t0 = time.perf_counter()
            try:
                result = p.run(graph, ctx)
                if not isinstance(result, PassResult):
                    raise TypeError(
                        f"{type(p).__qualname__}.run returned {result!r}, not a PassResult"
                    )
            except Exception as e:
                for inst in self.instruments:
                    inst.after_pass_failed(p, i + 1, graph, e)
                raise self._failure(i, e, snapshot, f"{type(e).__name__}: {e}") from e
            time_ms = (time.perf_counter() - t0) * 1e3
            verify_ms = 0.0
            if self.verify:
                t1 = time.perf_counter()
                try:
                    verify(graph)
                except VerificationError as e:
                    for inst in self.instruments:
                        inst.after_pass_failed(p, i + 1, graph, e)
                    raise self._failure(i, e, snapshot, f"it left an invalid graph: {e}") from e
                verify_ms = (time.perf_counter() - t1) * 1e3
            record = PassRecord(
                index=i + 1,
                total=total,
                name=p.name,
                spec=format_pass(p),
                time_ms=time_ms,
                nodes_before=nodes_before,
                nodes_after=count_nodes(graph),
                modified=bool(result.modified),
                stats=dict(result.stats),
                verify_ms=verify_ms,
            )
            log.debug(
                "%s: %.2f ms, %d -> %d nodes%s", record.spec, time_ms, nodes_before,
                record.nodes_after, f", {record.stats}" if record.stats else "",
            )
            report.records.append(record)
            for inst in self.instruments:
                inst.after_pass(p, graph, record)
        for inst in self.instruments:
            inst.after_pipeline(graph, report.records)
        return report

    def check_artifacts(self, ctx: PassContext) -> None:
        """Refuse the pipeline when a pass would lack an artifact it requires."""
        available = set(ctx.artifacts)
        for i, p in enumerate(self.pipeline):
            missing = [a for a in p.required_artifacts() if a not in available]
            if missing:
                a = missing[0]
                producers = _producers(a, self.registry)
                put = (f"put {' or '.join(producers)} before it" if producers
                       else "put a pass that produces it before it")
                raise PipelineError(
                    f"pass '{format_pass(p)}' (pass {i + 1} of {len(self.pipeline)}) needs the "
                    f"'{a}' artifact, which no earlier pass produces and the caller did not "
                    f"provide: {put}, or provide it in PassContext.artifacts['{a}']. Nothing "
                    "was run.")
            available.update(p.produces)

    def _failure(
        self, i: int, error: BaseException, snapshot: Graph | None, what: str
    ) -> PassFailure:
        p = self.pipeline[i]
        remaining = str(self.pipeline[i:])
        repro_note = ""
        written: Path | None = None
        if self.reproducer is not None and snapshot is not None:
            try:
                write_reproducer(self.reproducer, snapshot, remaining)
                written = self.reproducer
                repro_note = (
                    f" A reproducer (the IR before this pass, with data) was written to "
                    f"{written}; replay it with `infercc opt {written}`."
                )
            except (OSError, ValueError, TypeError) as e:
                repro_note = f" The reproducer could not be written to {self.reproducer}: {e}."
        err = PassFailure(
            f"pass '{format_pass(p)}' (pass {i + 1} of {len(self.pipeline)}) failed: "
            f"{what}.{repro_note}"
        )
        err.pass_name = p.name  # type: ignore[attr-defined]
        err.original = error  # type: ignore[attr-defined]
        err.reproducer = written  # type: ignore[attr-defined]
        err.pipeline = remaining  # type: ignore[attr-defined]
        return err


def _producers(artifact: str, registry: PassRegistry | None) -> list[str]:
    """Names of the registered passes that declare ``artifact`` in ``produces`` (imports
    every pass module: only for error messages)."""
    from .registry import default_registry

    reg = registry if registry is not None else default_registry()
    found = []
    for name in reg.names():
        try:
            cls = reg.get(name)
        except PipelineError:  # a broken plugin: not a producer we can name
            continue
        if artifact in getattr(cls, "produces", ()):
            found.append(f"'{name}'")
    return found


def write_reproducer(path: str | os.PathLike, graph: Graph, pipeline: str) -> None:
    """Write ``graph`` with its data and a header line naming the ``pipeline`` to replay."""
    text = print_graph(graph, with_data=True, header=f"{REPRODUCER_TAG} pipeline={pipeline}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text)


def read_reproducer_pipeline(text: str) -> str | None:
    """The pipeline recorded in a reproducer's leading comment lines, or None."""
    for line in text.splitlines():
        s = line.strip()
        if not s:
            continue
        if not s.startswith("//"):
            return None
        body = s[2:].strip()
        if body.startswith(REPRODUCER_TAG):
            rest = body[len(REPRODUCER_TAG):].strip()
            if rest.startswith("pipeline="):
                return rest[len("pipeline="):]
    return None


__all__ = [
    "InvalidGraphError",
    "PassManager",
    "PipelineReport",
    "REPRODUCER_TAG",
    "read_reproducer_pipeline",
    "write_reproducer",
]
