"""The ``prune`` pass' per-layer table, its accuracy figures, and bias correction.

* :class:`PruneRow` / :class:`PruneTable`: one row per candidate layer (pruned or skipped,
  with the reason), MACs removed counted with the op's cost trait
  (:meth:`~compiler.ops.registry.OpSchema.flops`; ``None`` without static shapes).
* :func:`prune_report`: runs the float and the pruned graph in the reference executor on the
  same samples and fills in each pruned layer's output SQNR (the layer's output in the
  pruned graph vs the float graph, so upstream pruning counts too) and the model-output SQNR.
  The figures are :class:`compiler.debug.metrics.ErrorStats` (energies over all samples and
  elements), as the quantization report's.
* :func:`correct_biases`: after pruning, shift each conv's/gemm's bias by the mean change of
  its output, the rule of :func:`compiler.quantization.bias_correction.output_shift` applied
  to the float weight change, with input-channel means measured on samples of the unpruned
  graph.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from compiler.debug import render
from compiler.debug.metrics import ErrorStats
from compiler.ir.graph import Graph, Node
from compiler.quantization.bias_correction import corrects, output_shift
from compiler.quantization.calibration import iter_feeds
from compiler.quantization.report import ReportError

log = logging.getLogger(__name__)


@dataclass
class PruneRow:
    """One candidate layer. ``value``: its first output's name (how rows pair across graph
    copies); ``sparsity``: the fraction of zeros in the weight after pruning; ``macs``: dense
    MACs of the layer (None without static shapes); ``macs_removed``: ``macs`` times the
    fraction of weight elements zeroed by pruning (each weight element takes part in the same
    number of MACs); ``skipped``: why the layer was left alone ("" when pruned)."""

    layer: str
    value: str
    op: str
    shape: tuple[int, ...]
    pattern: str
    sparsity: float
    macs: int | None
    macs_removed: int | None
    skipped: str = ""
    sqnr_db: float = math.nan
    bias_corrected: bool = False


@dataclass
class PruneTable:
    """The rows in graph order, and the model-output SQNR once :func:`prune_report` ran."""

    rows: list[PruneRow] = field(default_factory=list)
    output_sqnr_db: float = math.nan
    num_samples: int = 0

    @property
    def pruned(self) -> list[PruneRow]:
        return [r for r in self.rows if not r.skipped]

    def row(self, name: str) -> PruneRow:
        """The row of a layer (source) name or output value name."""
        for r in self.rows:
            if name in (r.layer, r.value):
                return r
        raise KeyError(f"no prune row for {name!r}")

    @property
    def sparsity(self) -> float:
        """Zeros over all weights of the pruned layers."""
        n = sum(math.prod(r.shape) for r in self.pruned)
        return sum(r.sparsity * math.prod(r.shape) for r in self.pruned) / n if n else 0.0

    def counts(self) -> dict[str, Any]:
        removed = [r.macs_removed for r in self.pruned if r.macs_removed is not None]
        return {"pruned": len(self.pruned), "skipped": len(self.rows) - len(self.pruned),
                "sparsity": round(self.sparsity, 4), "macs_removed": sum(removed)}

    def table(self) -> str:
        """A fixed-width text table."""
        lines = [f"{'layer':<28} {'op':<14} {'shape':<18} {'pattern':<12} {'sparsity':>8} "
                 f"{'MACs removed':>14} {'SQNR dB':>8}  note"]
        for r in self.rows:
            mr = "-" if r.macs_removed is None else f"{r.macs_removed}"
            lines.append(f"{r.layer[:28]:<28} {r.op:<14} {str(list(r.shape)):<18} "
                         f"{r.pattern:<12} {r.sparsity:>8.3f} {mr:>14} "
                         f"{render.fmt_db(r.sqnr_db):>8}  {r.skipped}")
        lines.append(f"model output SQNR {render.fmt_db(self.output_sqnr_db)} dB over "
                     f"{self.num_samples} samples; {self.counts()}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _capture(graph: Graph, samples: Any, max_samples: int | None,
             wanted: set[str], fold: Any) -> int:
    """Run ``graph`` in the reference executor on each sample; ``fold(values)`` gets the
    ``wanted`` node outputs and graph outputs of a sample. Returns the sample count."""
    from compiler.runtime import open_executor

    seen: dict[str, np.ndarray] = {}

    def obs(node: Node, outs: list[np.ndarray]) -> None:
        for v, a in zip(node.outputs, outs):
            if v.name in wanted:
                seen[v.name] = a

    ex = open_executor("reference", graph, observer=obs)
    n = 0
    for feed in iter_feeds(graph, samples, max_samples):
        seen.clear()
        res = ex.run(feed).outputs
        fold({**seen, **res}, feed)
        n += 1
    return n


def prune_report(float_graph: Graph, pruned_graph: Graph, samples: Any,
                 table: PruneTable | None = None, *, max_samples: int | None = 32
                 ) -> PruneTable:
    """Fill ``table``'s SQNR figures (a table of the layers whose weights differ, when None)
    by running both graphs on ``samples`` (anything
    :func:`~compiler.quantization.calibration.calibrate` takes; the first ``max_samples``).
    Raises :class:`~compiler.quantization.report.ReportError` when the inputs differ or
    there are no samples."""
    fin = [v.name for v in float_graph.inputs]
    pin = [v.name for v in pruned_graph.inputs]
    if fin != pin:
        raise ReportError(f"prune_report: float graph inputs {fin} and pruned graph inputs "
                          f"{pin} differ; prune a copy of the float graph")
    if table is None:
        table = _diff_table(float_graph, pruned_graph)
    names = {r.value for r in table.pruned}
    outs = [v.name for v in float_graph.outputs if v.type.dtype.is_float]
    stats = {n: ErrorStats() for n in names}
    out_stats = {n: ErrorStats() for n in outs}
    refs: list[dict[str, np.ndarray]] = []
    nf = _capture(float_graph, samples, max_samples, names, lambda vals, _: refs.append(vals))

    ref_iter = iter(refs)

    def fold(vals: dict[str, np.ndarray], _: Any) -> None:
        ref = next(ref_iter)
        for n, st in {**stats, **out_stats}.items():
            if n in ref and n in vals:
                st.update(ref[n], vals[n])

    n = _capture(pruned_graph, samples, max_samples, names, fold)
    if n == 0 or nf != n:
        raise ReportError("prune_report: the samples yielded nothing to compare on")
    for r in table.pruned:
        r.sqnr_db = stats[r.value].sqnr_db
    table.output_sqnr_db = out_stats[outs[0]].sqnr_db if outs else math.nan
    table.num_samples = n
    return table


def _diff_table(float_graph: Graph, pruned_graph: Graph) -> PruneTable:
    from compiler.sparsity_axes import weight_axes

    def weight(node: Node) -> Any:
        ax = weight_axes(node)
        v = node.input(ax.index) if ax is not None and node.outputs else None
        return None if v is None else v.const_value

    fw = {n.outputs[0].name: np.asarray(w) for n in float_graph.nodes
          if (w := weight(n)) is not None}
    t = PruneTable()
    for node in pruned_graph.nodes:
        w = weight(node)
        if w is None or node.outputs[0].name not in fw:
            continue
        if np.array_equal(np.asarray(w), fw[node.outputs[0].name]):
            continue
        w = np.asarray(w)
        t.rows.append(PruneRow(node.label, node.outputs[0].name, node.op, w.shape, "?",
                               float((w == 0).mean()), None, None))
    return t


def input_channel_means(graph: Graph, nodes: list[Node], samples: Any,
                        max_samples: int | None = 32) -> dict[str, np.ndarray]:
    """Mean of each channel (axis 1) of each node's data input over ``samples``, keyed by the
    node's first output name."""
    want = {x.name: n.outputs[0].name for n in nodes if (x := n.input(0)) is not None}
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}

    def fold(vals: dict[str, np.ndarray], feed: dict[str, Any]) -> None:
        for vname, key in want.items():
            a = vals.get(vname, feed.get(vname))
            if a is None:
                continue
            a = np.asarray(a, np.float64)
            flat = np.moveaxis(a, 1, 0).reshape(a.shape[1], -1)
            sums[key] = sums.get(key, 0) + flat.sum(axis=1)
            counts[key] = counts.get(key, 0) + flat.shape[1]

    if _capture(graph, samples, max_samples, set(want), fold) == 0:
        raise ReportError("bias correction: the samples yielded nothing to measure on")
    return {k: sums[k] / counts[k] for k in sums}


def correct_biases(graph: Graph, changes: list[tuple[Node, np.ndarray]],
                   means: dict[str, np.ndarray]) -> list[Node]:
    """Subtract from each node's bias the mean output change its weight change ``dw`` causes
    (a zero bias is added where there is none); returns the nodes corrected. Nodes without a
    shift rule (matmul, conv_transpose) or whose shapes do not fit are left alone."""
    from compiler.ops.registry import schema_or_raise

    done = []
    for node, dw in changes:
        mean = means.get(node.outputs[0].name)
        if mean is None or not corrects(node):
            continue
        shift = output_shift(node, dw, mean)
        if shift is None:
            continue
        bi = schema_or_raise(node.op).bias
        if bi is None:
            continue
        b = node.input(bi)
        old = (np.zeros(shift.size, np.float32) if b is None
               else np.asarray(b.const_value, np.float32) if b.is_const else None)
        if old is None:
            continue
        new = graph.add_const((old - shift).astype(np.float32), f"{node.outputs[0].name}.bias",
                              source=node.source, before=node)
        if bi < len(node.inputs):
            node.set_input(bi, new)  # a new constant: the old one may be shared
            if b is not None and b.producer is not None and not b.has_uses:
                graph.erase_node(b.producer)
        else:
            node.inputs = [*node.inputs, *[None] * (bi - len(node.inputs)), new]
        done.append(node)
    return done
