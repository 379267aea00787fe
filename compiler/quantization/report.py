"""Per-layer accuracy report: float activations vs their quantized (QDQ) counterparts.

Contract of :func:`layer_report`:

* ``float_graph`` is the float model (after the default pipeline, as calibrated) and
  ``quant_graph`` the same model in QDQ form (``quantize_graph`` applied to a copy). Both run
  on the same samples, through onnxruntime (each graph exported in memory with every
  compared value captured) when it accepts both exports, else through the reference
  executor (:mod:`compiler.runtime`); ``executor`` of :func:`layer_report` chooses. The two
  agree to float32 rounding (onnxruntime's kernels sum in another order).
* One :class:`LayerRow` per quantized activation: a ``dequantize`` node fed by a ``quantize``
  node whose input is a float value of the quant graph. The row compares that ``dequantize``
  output (``%x.dq``, what every consumer of ``%x`` reads) with the value ``%x`` of the float
  graph, so its figures include all error accumulated upstream plus ``%x``'s own rounding and
  clipping. ``local_sqnr_db`` isolates the latter: ``%x`` vs ``%x.dq`` *within* the quant graph.
  Rows are in quant-graph order; weight and bias dequantizes (const inputs) are not rows.
* ``outputs``: one row per float graph output, float vs quantized graph output of that name.
* Figures are aggregated over all samples and elements (energies, not per-sample means):
  ``SQNR = 10 log10(sum f^2 / sum (f - q)^2)`` dB, ``cosine = sum f q / sqrt(sum f^2 sum q^2)``,
  ``max_abs_err = max |f - q|``; sums are float64. SQNR is ``inf`` when the two agree exactly.
* Memory: the arrays of one sample are released after that sample; nothing is stored
  across samples.

:class:`LayerReport` renders as a text table, Markdown, CSV, and an SVG chart
(:meth:`LayerReport.save_svg`); the rendering is :mod:`compiler.debug.render` and the
figures' formulas are :mod:`compiler.debug.metrics`.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from compiler.debug import render
from compiler.debug.metrics import ErrorStats, update_many
from compiler.errors import InferccError
from compiler.ir.graph import Graph, Node, Value
from compiler.progress import open_progress

from .calibration import iter_feeds

log = logging.getLogger(__name__)


class ReportError(InferccError):
    """The two graphs or the data cannot be compared; the message says why."""


# -- rows ----------------------------------------------------------------------------------
@dataclass
class LayerRow:
    """One compared tensor.

    ``value``: its name in the float graph; ``qvalue``: the quantized graph's value compared
    with it (``%x.dq``, or the output name for ``kind == "output"``); ``source``: the source
    layer names of the float producer (``("(input)",)`` for a graph input); ``op``: the float
    producer's op. ``scale``/``zero_point``: the activation's quantization parameters.
    """

    index: int
    value: str
    qvalue: str
    op: str
    source: tuple[str, ...]
    sqnr_db: float
    cosine: float
    max_abs_err: float
    local_sqnr_db: float = math.nan
    scale: float = math.nan
    zero_point: int = 0
    kind: str = "activation"
    elements: int = 0

    @property
    def layer(self) -> str:
        """The source layer name(s), else the value name: how a user finds the layer."""
        return ", ".join(self.source) if self.source else self.value


@dataclass
class LayerReport:
    """Rows (graph order) plus graph outputs; see the module docstring for the figures."""

    rows: list[LayerRow]
    outputs: list[LayerRow]
    num_samples: int
    graph_name: str = ""
    title: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __iter__(self) -> Iterator[LayerRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def output_sqnr_db(self) -> float:
        """SQNR of the first graph output (``nan`` when there is none)."""
        return self.outputs[0].sqnr_db if self.outputs else math.nan

    def worst(self, n: int = 5) -> list[LayerRow]:
        """The ``n`` rows with the lowest SQNR (ties in graph order)."""
        return sorted(self.rows, key=lambda r: (r.sqnr_db, r.index))[:n]

    def row(self, name: str) -> LayerRow:
        """The row of a float value name or a source layer name."""
        for r in self.rows + self.outputs:
            if r.value == name or name in r.source:
                return r
        raise KeyError(f"no report row for {name!r}")

    # -- rendering (compiler.debug.render) --------------------------------------------------
    def _all(self) -> list[LayerRow]:
        return self.rows + self.outputs

    def table(self) -> str:
        """A fixed-width text table (activations, then graph outputs)."""
        head = (f"quantization report @{self.graph_name}: {len(self.rows)} quantized tensors, "
                f"{self.num_samples} samples")
        return render.text_table(self.rows, self.outputs, head)

    def __str__(self) -> str:
        return self.table()

    def to_markdown(self) -> str:
        """A GitHub-flavoured Markdown table (activations, then graph outputs)."""
        return render.markdown_table(self._all())

    def to_csv(self, path: str | os.PathLike | None = None) -> str:
        """CSV with full-precision numbers (one header line); written to ``path`` if given."""
        text = render.csv_text(self._all())
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        return text

    def save_svg(self, path: str | os.PathLike | None = None, *, title: str | None = None,
                 limit: int | None = 40, full_table: str = "the CSV table") -> str:
        """A horizontal bar chart of SQNR per row, as SVG text.

        One ``<rect class="bar">`` per drawn row: the ``limit`` activations with the lowest
        SQNR (None: all), worst first, labelled ``#index layer``, then the graph outputs;
        when rows are left out a note under the title says how many and that the full
        table is in ``full_table``. Bars are coloured by SQNR (red < 10 dB, amber < 20 dB,
        green otherwise), the local SQNR is a dot on the same row, and a dashed line marks
        the first output's SQNR. Written to ``path`` when given.
        """
        svg = render.layer_chart(
            self._all(), output_sqnr_db=self.output_sqnr_db, limit=limit,
            full_table=full_table,
            title=title or self.title or f"SQNR per layer, @{self.graph_name} "
                                         f"({self.num_samples} samples)")
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(svg)
        return svg


# -- pairing float and quantized tensors -----------------------------------------------------
@dataclass
class _Pair:
    fvalue: Value       # in the float graph
    qx: Value           # the quant graph's float value that is quantized
    dq: Value           # its dequantized value
    scale: float
    zero_point: int


def _scalar(v: Value | None, default: float) -> float:
    if v is None:
        return default
    a = v.const_value
    if a is None:
        return math.nan
    a = np.asarray(a)
    return float(a.ravel()[0]) if a.size == 1 else math.nan


def quantized_pairs(float_graph: Graph, quant_graph: Graph) -> list[_Pair]:
    """The quantized activations of ``quant_graph`` paired with float-graph values (graph order).

    A pair is ``dequantize(quantize(X))`` with X a non-const float value. The float value is
    found by name: the dq value's own name when it is a graph output that kept its original
    name, else X's name, else the dq name without its ``.dq`` suffix. A requantize (X itself a
    dequantize output) pairs with the value the first quantization started from.
    """
    fvals = {v.name: v for v in float_graph.values()}
    pairs: list[_Pair] = []
    for node in quant_graph.nodes:
        if node.op != "dequantize" or not node.inputs or node.inputs[0] is None:
            continue
        qn = node.inputs[0].producer
        if qn is None or qn.op != "quantize" or qn.inputs[0] is None:
            continue
        x = qn.inputs[0]
        if x.is_const:
            continue
        origin = x
        while origin.producer is not None and origin.producer.op == "dequantize":
            q2 = origin.producer.inputs[0].producer if origin.producer.inputs[0] else None
            if q2 is None or q2.op != "quantize" or q2.inputs[0] is None:
                break
            origin = q2.inputs[0]
        dq = node.outputs[0]
        names = []
        if dq.is_graph_output:
            names.append(dq.name)
        names += [origin.name, x.name]
        if dq.name.endswith(".dq"):
            names.append(dq.name[:-3])
        fv = next((fvals[n] for n in names if n in fvals), None)
        if fv is None:
            log.debug("report: %%%s has no float counterpart; skipped", dq.name)
            continue
        scale = _scalar(qn.input(1), math.nan)
        zp = _scalar(qn.input(2), 0.0)
        pairs.append(_Pair(fv, x, dq, scale, 0 if math.isnan(zp) else int(zp)))
    return pairs


def _source_of(v: Value) -> tuple[tuple[str, ...], str]:
    p = v.producer
    if p is None:
        return ("(input)",), "input"
    return tuple(p.source), p.op


# -- data ------------------------------------------------------------------------------------
def collect_feeds(graph: Graph, data: Any, max_samples: int | None,
                  preprocess: Any = None) -> list[dict[str, Any]]:
    """:func:`~compiler.quantization.calibration.iter_feeds` as a list; no samples is a
    :class:`ReportError`."""
    feeds = list(iter_feeds(graph, data, max_samples, preprocess))
    if not feeds:
        raise ReportError("the data yielded no samples to compare on")
    return feeds


def _open_onnxruntime(float_graph: Graph, quant_graph: Graph, pairs: list[_Pair],
                      required: bool) -> tuple[Any, Any] | None:
    """onnxruntime executors of both graphs capturing what the report compares, or None
    (logged) when onnxruntime cannot take them and ``required`` is false."""
    from compiler.runtime import ExecutorError, open_executor

    from .calibration import _cores

    finputs = {v.name for v in float_graph.inputs}
    qinputs = {v.name for v in quant_graph.inputs}
    fcap = [n for n in dict.fromkeys(p.fvalue.name for p in pairs) if n not in finputs]
    qcap = [n for n in dict.fromkeys(name for p in pairs for name in (p.qx.name, p.dq.name))
            if n not in qinputs]
    # one core is left to folding the previous sample in (as calibration does)
    threads = max(1, _cores() - 1)
    try:
        return (open_executor("onnxruntime", float_graph, capture=fcap, threads=threads),
                open_executor("onnxruntime", quant_graph, capture=qcap, threads=threads))
    except ExecutorError as e:
        if required:
            raise ReportError(f"layer_report: executor='onnxruntime': {e}; use "
                              "executor='reference'") from None
        log.info("report @%s runs in the reference executor: %s", float_graph.name, e.reason)
        return None


def _run_onnxruntime(fx: Any, qx: Any, float_graph: Graph, quant_graph: Graph, data: Any,
                     max_samples: int | None, pairs: list[_Pair], acc: list[ErrorStats],
                     local: list[ErrorStats], out_acc: dict[str, ErrorStats], bar: Any) -> int:
    """Run both graphs on each sample in onnxruntime and fold the pairs in; the count.

    onnxruntime releases the GIL while it runs, so sample k+1 runs while sample k's arrays
    are folded into the statistics (one sample in flight).
    """
    from concurrent.futures import ThreadPoolExecutor

    fcap, qcap = list(fx.capture_names), list(qx.capture_names)

    def run(feed: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        fr, qr = fx.run(feed, fcap), qx.run(feed, qcap)
        fvals = {v.name: np.asarray(feed[v.name], dtype=v.type.dtype.numpy)
                 for v in float_graph.inputs}
        qvals = {v.name: np.asarray(feed[v.name], dtype=v.type.dtype.numpy)
                 for v in quant_graph.inputs}
        for vals, r in ((fvals, fr), (qvals, qr)):
            vals.update(r.outputs)
            vals.update(r.captured)
        return fvals, qvals

    def fold(fvals: dict[str, np.ndarray], qvals: dict[str, np.ndarray]) -> None:
        for k, p in enumerate(pairs):
            ref, got = fvals[p.fvalue.name], qvals[p.dq.name]
            refs = [(local[k], qvals[p.qx.name])]
            if np.shape(ref) == np.shape(got):
                refs.append((acc[k], ref))
            update_many(refs, got)
        for name, st in out_acc.items():
            st.update(fvals[name], qvals[name])
        bar.update(1)

    n = 0
    pending = None
    with ThreadPoolExecutor(1, thread_name_prefix="infercc-report") as pool:
        try:
            for feed in iter_feeds(float_graph, data, max_samples):
                future = pool.submit(run, feed)
                if pending is not None:
                    fold(*pending.result())
                pending = future
                n += 1
            if pending is not None:
                fold(*pending.result())
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return n


# -- the report ------------------------------------------------------------------------------
def layer_report(
    float_graph: Graph,
    quant_graph: Graph,
    data: Any,
    *,
    max_samples: int | None = 32,
    progress: Any = False,
    title: str = "",
    executor: str = "auto",
) -> LayerReport:
    """Compare every quantized activation of ``quant_graph`` with ``float_graph`` on ``data``.

    ``data``: feed dicts, bare arrays (single-input graphs), an ``.npz`` path, or an iterable
    of those (as :func:`~compiler.quantization.calibration.calibrate` takes); the first
    ``max_samples`` (None: all) are used. See the module docstring for what a row measures.
    ``progress``: see :func:`compiler.progress.open_progress`. ``executor``: ``"auto"``
    (onnxruntime when it takes both graphs, else the reference executor), ``"onnxruntime"``
    or ``"reference"``.
    Raises :class:`ReportError` when the graphs' inputs differ or there are no samples.
    """
    from compiler.runtime import open_executor

    if executor not in ("auto", "onnxruntime", "reference"):
        raise ReportError(f"layer_report: executor={executor!r}; use 'auto', 'onnxruntime' "
                          "or 'reference'")

    fin = [v.name for v in float_graph.inputs]
    qin = [v.name for v in quant_graph.inputs]
    if fin != qin:
        raise ReportError(f"float graph inputs {fin} and quantized graph inputs {qin} differ; "
                          "quantize a copy of the float graph (quantize_graph(g.copy(), ...))")
    pairs = quantized_pairs(float_graph, quant_graph)
    acc = [ErrorStats() for _ in pairs]
    local = [ErrorStats() for _ in pairs]
    f_wanted = {id(p.fvalue): p.fvalue.name for p in pairs}
    qx_ids = {id(p.qx) for p in pairs}
    by_dq = {id(p.dq): k for k, p in enumerate(pairs)}
    fouts = [v for v in float_graph.outputs if v.type.dtype.is_float]
    qout_names = {v.name for v in quant_graph.outputs}
    out_acc = {v.name: ErrorStats() for v in fouts if v.name in qout_names}
    missing = [v.name for v in fouts if v.name not in qout_names]
    if missing:
        log.warning("report: float outputs %s are not outputs of the quantized graph", missing)

    fcache: dict[str, np.ndarray] = {}
    qcache: dict[int, np.ndarray] = {}

    def f_obs(node: Node, outs: list[np.ndarray]) -> None:
        for v, a in zip(node.outputs, outs):
            name = f_wanted.get(id(v))
            if name is not None:
                fcache[name] = a

    def q_obs(node: Node, outs: list[np.ndarray]) -> None:
        for v, a in zip(node.outputs, outs):
            if id(v) in qx_ids:
                qcache[id(v)] = a
            k = by_dq.get(id(v))
            if k is None:
                continue
            p = pairs[k]
            ref = fcache.get(p.fvalue.name)
            if ref is not None and np.shape(ref) == np.shape(a):
                acc[k].update(ref, a)
            x = qcache.get(id(p.qx))
            if x is not None:
                local[k].update(x, a)

    bar = open_progress(progress, f"report @{float_graph.name}", max_samples)
    try:
        ort = None if executor == "reference" else _open_onnxruntime(
            float_graph, quant_graph, pairs, executor == "onnxruntime")
        if ort is not None:
            n = _run_onnxruntime(*ort, float_graph, quant_graph, data, max_samples, pairs,
                                 acc, local, out_acc, bar)
        else:
            n = 0
            fi = open_executor("reference", float_graph, observer=f_obs)
            qi = open_executor("reference", quant_graph, observer=q_obs)
            for feed in iter_feeds(float_graph, data, max_samples):
                fcache.clear()
                qcache.clear()
                for v in float_graph.inputs:
                    if id(v) in f_wanted:
                        fcache[v.name] = np.asarray(feed[v.name], dtype=v.type.dtype.numpy)
                for v in quant_graph.inputs:
                    if id(v) in qx_ids:
                        qcache[id(v)] = np.asarray(feed[v.name], dtype=v.type.dtype.numpy)
                fres = fi.run(feed).outputs
                # graph-input pairs: their dq comes from the quant run, the float value is
                # the feed
                qres = qi.run(feed).outputs
                for name, st in out_acc.items():
                    st.update(fres[name], qres[name])
                n += 1
                bar.update(1)
    finally:
        bar.close()
        fcache.clear()
        qcache.clear()
    if n == 0:
        raise ReportError("the data yielded no samples to compare on")

    rows = []
    for k, p in enumerate(pairs):
        src, op = _source_of(p.fvalue)
        a = acc[k]
        rows.append(LayerRow(k, p.fvalue.name, p.dq.name, op, src, a.sqnr_db, a.cosine,
                             a.max_abs_err, local[k].sqnr_db, p.scale, p.zero_point,
                             "activation", a.count))
    outputs = []
    for v in fouts:
        if v.name not in out_acc:
            continue
        src, op = _source_of(v)
        a = out_acc[v.name]
        outputs.append(LayerRow(len(outputs), v.name, v.name, op, src, a.sqnr_db, a.cosine,
                                a.max_abs_err, kind="output", elements=a.count))
    log.info("report @%s: %d quantized tensors on %d samples, output SQNR %s dB",
             float_graph.name, len(rows), n, render.fmt_db(outputs[0].sqnr_db) if outputs else "-")
    return LayerReport(rows, outputs, n, float_graph.name, title)


__all__ = ["LayerReport", "LayerRow", "ReportError", "collect_feeds", "layer_report",
           "quantized_pairs"]
