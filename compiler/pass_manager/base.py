"""What a pass is.

A pass is a small class: a kebab-case ``name``, a one-line ``summary``, options declared as
dataclass fields (so ``my-pass{threshold=0.5}`` parses into them), and
``run(graph, ctx) -> PassResult``. Passes mutate the graph in place through the IR API and
must leave it valid (the verifier runs after each pass by default).

    @dataclass
    class FoldConstants(Pass):
        name: ClassVar[str] = "fold-constants"
        summary: ClassVar[str] = "Evaluate nodes whose inputs are all constants"
        max_elements: int = 1 << 20

        def run(self, graph, ctx):
            ...
            return PassResult(modified=True, stats={"folded": n})

A pass that reads an artifact another pass leaves in ``ctx.artifacts`` declares it in
``requires`` (and the producer in ``produces``); the pass manager refuses a pipeline in
which a required artifact is neither given by the caller nor produced by an earlier pass,
before any pass runs.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..ir.graph import Graph


@dataclass
class PassResult:
    """``modified`` says whether the graph changed; ``stats`` are counters for reports."""

    modified: bool
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class PassContext:
    """State shared by the passes of one pipeline run.

    ``options`` holds pipeline-wide settings (target name, calibration data, ...);
    ``artifacts`` is where a pass leaves results for later passes or the caller
    (calibration statistics, reports).
    """

    target: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("infercc.passes"))


@dataclass
class Pass:
    """Base class of every pass. Subclasses are dataclasses; fields are the options."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    # names of ctx.artifacts entries the pass reads / leaves for later passes
    requires: ClassVar[tuple[str, ...]] = ()
    produces: ClassVar[tuple[str, ...]] = ()

    def required_artifacts(self) -> tuple[str, ...]:
        """The artifacts this configured pass needs before it runs (default: ``requires``;
        a pass whose options can stand in for an artifact narrows it)."""
        return tuple(self.requires)

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def options(cls) -> list[dataclasses.Field]:
        return [f for f in dataclasses.fields(cls) if f.init]

    def option_string(self) -> str:
        """``name{a=1,b=x}`` with only non-default options, as the pipeline parser reads it."""
        parts = []
        for f in self.options():
            v = getattr(self, f.name)
            default = f.default if f.default is not dataclasses.MISSING else None
            if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                default = f.default_factory()  # type: ignore[misc]
            if v != default:
                parts.append(f"{f.name}={_fmt_opt(v)}")
        return self.name + ("{" + ",".join(parts) + "}" if parts else "")


def _fmt_opt(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_fmt_opt(x) for x in v) + "]"
    return str(v)
