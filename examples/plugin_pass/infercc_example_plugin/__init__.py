"""Example infercc plugin passes.

* ``count-ops``: counts nodes per op (subgraphs included) without changing the graph; the
  counts become the pass statistics (``infercc opt --timing`` shows them) and are left in
  ``ctx.artifacts["op_counts"]`` for the caller.
* ``strip-provenance{keep_first=false,ops=[]}``: clears the source-layer names nodes carry
  (all of them, or all but the first), e.g. before publishing an IR dump.

infercc finds these through the ``infercc.passes`` entry points declared in pyproject.toml:
the entry-point name must equal the class' ``name``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import ClassVar

from compiler.ir import Graph
from compiler.pass_manager import Pass, PassContext, PassResult

__all__ = ["CountOps", "StripProvenance"]


def _walk(graph: Graph):
    for node in graph.nodes:
        yield node
        for v in node.attrs.values():
            if isinstance(v, Graph):
                yield from _walk(v)


@dataclass
class CountOps(Pass):
    name: ClassVar[str] = "count-ops"
    summary: ClassVar[str] = "Count nodes per op (an analysis: the graph is left unchanged)"

    include_const: bool = True

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        counts = Counter(n.op for n in _walk(graph) if self.include_const or n.op != "const")
        ctx.artifacts["op_counts"] = dict(counts)
        ctx.logger.info("count-ops: %s", dict(sorted(counts.items())))
        return PassResult(modified=False, stats=dict(sorted(counts.items())))


@dataclass
class StripProvenance(Pass):
    name: ClassVar[str] = "strip-provenance"
    summary: ClassVar[str] = "Remove source-layer names from nodes (all, or all but the first)"

    keep_first: bool = False
    ops: list[str] = field(default_factory=list)  # only these ops; empty means every op

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        changed = 0
        for node in _walk(graph):
            if self.ops and node.op not in self.ops:
                continue
            new = node.source[:1] if self.keep_first else ()
            if new != node.source:
                node.source = new
                changed += 1
        return PassResult(modified=changed > 0, stats={"stripped": changed})
