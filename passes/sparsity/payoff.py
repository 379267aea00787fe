"""What sparsity buys, per layer and per target: the ``--report`` of a pruned compile.

:func:`payoff_report` asks every registered sparse rule (:mod:`compiler.sparse_payoff`;
the targets register theirs when they are imported) about every layer of a graph whose
constant conv / conv_transpose / gemm / matmul weight holds zeros, and gathers the answers in
a :class:`PayoffReport`: per layer and target, the storage the target would use and which of
latency, size and load time it changes (with the measured or estimated ratio), or nothing,
each with the rule's evidence. :meth:`PayoffReport.markdown` and :meth:`PayoffReport.json`
are the files ``infercc compile --prune ... --report DIR`` writes (``DIR/sparsity.md``,
``DIR/sparsity.json``); :meth:`PayoffReport.digest` is the summary's one line.

This module asks rules only; it imports no target.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from compiler.ir.graph import Graph, Node
from compiler.sparse_payoff import SparsePayoff, rule_for, rule_names
from compiler.sparsity_axes import weight_axes

log = logging.getLogger(__name__)


@dataclass
class PayoffRow:
    """One layer: ``zeros`` is the fraction of zeros of its weight; ``answers`` the rules'
    answers by target name."""

    layer: str
    op: str
    shape: tuple[int, ...]
    zeros: float
    answers: dict[str, SparsePayoff] = field(default_factory=dict)


@dataclass
class PayoffReport:
    """The rows in graph order; ``targets`` the rules asked; ``notes`` whole-graph findings
    (e.g. XNNPACK's sparse-inference verdict) and ``compiled`` (the target of the written
    file, whose rule got that file's options), both set by the caller."""

    targets: list[str]
    rows: list[PayoffRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    compiled: str | None = None  # the target of the written file, marked in the digest

    def effects(self, target: str) -> dict[str, int]:
        """Effect name -> number of layers where ``target``'s storage changes it."""
        found: dict[str, int] = {}
        for r in self.rows:
            a = r.answers.get(target)
            for e in (a.effects if a is not None else ()):
                found[e] = found.get(e, 0) + 1
        return found

    def digest(self) -> str:
        """One line: per target, what changes on how many layers (or nothing)."""
        parts = []
        for t in self.targets:
            eff = self.effects(t)
            unverified = any(not r.answers[t].verified and r.answers[t].effects
                             for r in self.rows if t in r.answers)
            said = ", ".join(f"{e} on {n}" for e, n in eff.items()) if eff else "nothing"
            mark = " (this file)" if t == self.compiled else ""
            parts.append(f"{t}{mark}: {said}{' (unverified)' if unverified and eff else ''}")
        return (f"sparsity pays ({len(self.rows)} layer(s) with zeros): " + "; ".join(parts)
                if self.rows else "sparsity pays: no layer holds zeros")

    def json(self) -> dict[str, Any]:
        """The report as a JSON-ready dict."""
        def answer(a: SparsePayoff) -> dict[str, Any]:
            return {"storage": a.storage, "effects": list(a.effects),
                    "factors": dict(a.factors or {}), "evidence": a.evidence,
                    "verified": a.verified}

        return {"targets": list(self.targets), "compiled": self.compiled,
                "notes": list(self.notes),
                "layers": [{"layer": r.layer, "op": r.op, "shape": list(r.shape),
                            "zeros": round(r.zeros, 4),
                            "targets": {t: answer(a) for t, a in r.answers.items()}}
                           for r in self.rows]}

    def markdown(self) -> str:
        """A table (layer x target: what changes), then each answer's evidence."""
        lines = ["# What sparsity buys, per layer and target", "",
                 self.digest(), "",
                 "| layer | op | shape | zeros | " + " | ".join(self.targets) + " |",
                 "|---|---|---|---:|" + "---|" * len(self.targets)]
        for r in self.rows:
            cells = [_cell(r.answers.get(t)) for t in self.targets]
            lines.append(f"| {r.layer} | {r.op} | {'x'.join(map(str, r.shape))} | "
                         f"{r.zeros:.1%} | " + " | ".join(cells) + " |")
        lines += ["", "Ratios are sparse / dense (below 1: smaller or faster); `?`: not "
                  "measured on this machine.", ""]
        if self.notes:
            lines += ["## Whole model", ""] + [f"- {n}" for n in self.notes] + [""]
        lines += ["## Evidence", ""]
        for r in self.rows:
            lines.append(f"### {r.layer}")
            lines += [f"- {t}: {r.answers[t].evidence}" for t in self.targets
                      if t in r.answers]
            lines.append("")
        return "\n".join(lines)


def _cell(a: SparsePayoff | None) -> str:
    if a is None:
        return "-"
    if not a.effects:
        return "nothing"
    f = dict(a.factors or {})
    said = ", ".join(f"{e} {f[e]:g}x" if e in f else f"{e} ?" for e in a.effects)
    return f"{said} ({a.storage}{'' if a.verified else ', unverified'})"


def weight_of(node: Node) -> np.ndarray | None:
    """``node``'s constant weight, dense, or None; for a quantized graph, the integer
    constant a ``dequantize`` turns into the weight (its zeros are the weight's: symmetric
    weight quantization has zero point 0)."""
    axes = weight_axes(node)
    v = node.input(axes.index) if axes is not None else None
    if v is not None and v.const_value is None and v.producer is not None \
            and v.producer.op == "dequantize":
        v = v.producer.input(0)
    if v is None or v.const_value is None:
        return None
    w = v.const_value
    return np.asarray(w.toarray() if hasattr(w, "toarray") else w)


def payoff_report(graph: Graph, targets: Sequence[str] | None = None,
                  options: Mapping[str, Mapping[str, Any]] | None = None) -> PayoffReport:
    """Ask each rule of ``targets`` (default: every registered rule, :func:`rule_names`)
    about each layer of ``graph`` whose constant weight holds zeros; ``options[target]`` is
    handed to that target's rule (e.g. ``{"tflite": {"sparse_weights": "densify"}}``)."""
    names = list(targets) if targets is not None else rule_names()
    rules = {t: rule_for(t) for t in names}
    missing = [t for t, r in rules.items() if r is None]
    if missing:
        log.warning("no sparse rule registered for %s; left out of the report",
                    ", ".join(missing))
    rep = PayoffReport([t for t in names if rules[t] is not None])
    options = options or {}
    for node in graph.nodes:
        w = weight_of(node)
        if w is None or not w.size:
            continue
        zeros = float((w == 0).mean())
        if zeros == 0.0:
            continue
        row = PayoffRow(node.label, node.op, tuple(int(d) for d in w.shape), zeros)
        for t in rep.targets:
            row.answers[t] = rules[t](node, w, options.get(t, {}))  # type: ignore[misc]
        rep.rows.append(row)
    return rep


__all__ = ["PayoffReport", "PayoffRow", "payoff_report", "weight_of"]
