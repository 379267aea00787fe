"""Which layers lose the most accuracy to INT8, and a mixed-precision model that keeps them float.

* :func:`sensitivity` ranks the quantizable layers: for each layer it quantizes ONLY that
  layer (every other layer stays float) and measures the model output against the float
  model on a few samples: output SQNR (dB), cosine, and top-1 agreement for classifier-like
  outputs. Ranked worst first.

  Why "only this layer" rather than "all but this layer": errors of different layers are
  roughly independent, so the output noise of the fully quantized model is close to the SUM
  of the one-layer noise powers. Measured: on the digits CNN of
  ``tests/compiler/quantization/test_quant_report.py``
  the summed one-layer noise predicts 35.99 dB against 36.49 dB fully quantized; on the
  25-layer mini-Xception of ``keras/fer/emotion_model.hdf5`` (8 image crops) 19.5 dB against
  about 21.3 dB (errors partly cancel there). The one-layer noise of layer L is then what
  keeping L float removes, so ranking by it ranks layers by what keeping them float buys.
  "All but L" measures that gain as a small difference of two large noises, which on a few
  samples is dominated by sampling noise (on the mini-Xception five layers tie to 0.01 dB);
  ``mode="all_but"`` is available for comparison and ranks the highest output SQNR first.
  Neither ranking guarantees that keeping more layers float always helps (errors interact);
  :func:`mixed_precision`'s budget mode therefore measures every candidate it returns.

  Speed: the float model runs once per sample; its activations are cached (up to
  ``cache_bytes``) and each trial re-runs only the nodes whose inputs differ from the float
  model (those downstream of the quantized layer); the prefix is read from the cache. Beyond
  the cache budget every trial runs the whole quantized graph. Measured on the mini-Xception
  (25 layers, 8 samples, 2 shared cores): 5.4 s with the cache, 22.8 s without.

* :func:`mixed_precision` keeps the ``keep`` most sensitive layers float, or adds layers in
  ranking order until the output SQNR reaches ``budget`` dB (and top-1 agreement reaches
  ``min_top1`` when given), stopping at all-float. It always returns a model (the best one
  found) plus its :class:`~compiler.quantization.report.LayerReport`.

A "layer" is a key ``keep_float`` understands: a node's first source layer name, or its first
output value's name when it has no source; all quantizable nodes sharing that key form one
layer (a conv with a fused batch norm and ReLU is one layer).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from compiler.errors import InferccError
from compiler.ir.graph import CONST, Graph, Node, Value

from compiler.debug.metrics import ErrorStats, top1_matches

from .report import LayerReport, collect_feeds, layer_report
from .rewrite import quantize_graph, resolve_spec

log = logging.getLogger(__name__)

class SensitivityError(InferccError):
    """A sensitivity or mixed-precision request cannot be met; the message says why."""


# -- layers ----------------------------------------------------------------------------------
@dataclass
class Layer:
    """One ``keep_float`` key and the quantizable nodes it covers."""

    name: str
    ops: tuple[str, ...]
    values: tuple[str, ...]


def layer_key(node: Node) -> str:
    return node.source[0] if node.source else node.outputs[0].name


def quantizable_layers(graph: Graph, stats: Any = None, *,
                       quantizer: Callable[..., Any] | None = None,
                       **qopts: Any) -> list[Layer]:
    """The layers of ``graph`` the quantize pass quantizes, in graph order.

    With ``stats`` the answer is exact: a copy is quantized (``qopts``: method, scheme, ...)
    and a node counts when its op is quantizable and its output is quantized (every
    quantized op's outputs get a Q/DQ pair), or, for a spec with Q/DQ on inputs only
    (``output_qdq=False``), when it reads a dequantized value. Without ``stats`` every node of an op the
    quantization spec (``qopts``' ``spec``, else target ``scheme``'s) quantizes with a
    float operand counts.
    """
    spec = qopts.get("spec") or resolve_spec(qopts.get("scheme", "tflite"))
    ops = spec.ops
    quantized: set[str] | None = None
    if stats is not None:
        q = _quantized_copy(graph, stats, quantizer or quantize_graph, (), **qopts)
        quantized = set()
        for n in q.nodes:
            if not spec.output_qdq:  # Q/DQ on inputs only: a quantized op reads dq values
                if n.op in ops and any(v is not None and v.producer is not None
                                       and v.producer.op == "dequantize" for v in n.inputs):
                    quantized.update(v.name for v in n.outputs)
                continue
            if n.op != "quantize" or n.inputs[0] is None or n.inputs[0].is_const:
                continue
            x = n.inputs[0]
            if x.producer is not None and x.producer.op == "dequantize":
                continue  # a requantize
            quantized.add(x.name)
            for dn in n.outputs[0].users:  # a graph output keeps its name on the dq value
                if dn.op == "dequantize":
                    quantized.update(v.name for v in dn.outputs if v.is_graph_output)
    groups: dict[str, list[Node]] = {}
    for node in graph.nodes:
        if node.op == CONST or node.op not in ops:
            continue
        if quantized is not None:
            if not any(v.name in quantized for v in node.outputs):
                continue
        elif not any(v is not None and v.type.dtype.is_float for v in node.inputs):
            continue
        groups.setdefault(layer_key(node), []).append(node)
    return [Layer(k, tuple(n.op for n in ns), tuple(n.outputs[0].name for n in ns))
            for k, ns in groups.items()]


# -- evaluation of trial graphs ----------------------------------------------------------------
def _is_classifier(v: Value) -> bool:
    """[N, C] logits/probabilities: one non-batch dim > 1, all dims static."""
    shape = v.type.shape
    if shape is None or len(shape) < 2 or not all(isinstance(d, int) for d in shape[1:]):
        return False
    big = [d for d in shape[1:] if d > 1]
    return len(big) == 1


@dataclass
class TrialResult:
    """Output figures of one trial graph against the float model."""

    sqnr_db: float
    cosine: float
    top1: float | None  # fraction of rows whose argmax agrees with float; None: not a classifier


class _Evaluator:
    """Runs trial graphs against cached float results on fixed samples (see module doc)."""

    def __init__(self, float_graph: Graph, feeds: list[dict[str, Any]], cache_bytes: int):
        from compiler.runtime import open_executor

        self.float_graph = float_graph
        self.feeds = feeds
        outs = [v for v in float_graph.outputs if v.type.dtype.is_float]
        if not outs:
            raise SensitivityError(f"graph @{float_graph.name} has no float output to compare")
        self.output = outs[0].name
        self.classifier = _is_classifier(outs[0])
        self.fnodes = {v.name: v.producer for v in float_graph.values()}
        self.caches: list[dict[str, np.ndarray]] | None = []
        self.refs: list[np.ndarray] = []
        used = 0
        cache: dict[str, np.ndarray] = {}  # the current sample's activations

        def obs(node: Node, arrs: list[np.ndarray]) -> None:
            if self.caches is not None and node.op != CONST:
                for v, a in zip(node.outputs, arrs):
                    cache[v.name] = a

        reference = open_executor("reference", float_graph, observer=obs)
        t0 = time.perf_counter()
        for feed in feeds:
            cache = {}
            keep = self.caches is not None
            res = reference.run(feed).outputs
            self.refs.append(np.asarray(res[self.output]))
            if keep:
                for v in float_graph.inputs:
                    cache[v.name] = np.asarray(feed[v.name], dtype=v.type.dtype.numpy)
                used += sum(a.nbytes for a in cache.values() if isinstance(a, np.ndarray))
                if used > cache_bytes:
                    log.info("sensitivity: float activations exceed %d MiB; trials re-run the "
                             "whole graph", cache_bytes >> 20)
                    self.caches = None
                else:
                    self.caches.append(cache)
        self.float_seconds = time.perf_counter() - t0

    # A node of the trial graph is "clean" when it computes exactly what the float graph's
    # node of the same output name computes: same op, same input names, all inputs clean.
    def _plan(self, g: Graph):
        from compiler.ops.registry import schema_or_raise

        clean: set[int] = set()
        if self.caches is not None:
            for v in g.inputs:
                if v.name in self.fnodes and self.fnodes[v.name] is None:
                    clean.add(id(v))
        consts: dict[int, Any] = {}
        steps = []
        for node in g.nodes:
            schema = schema_or_raise(node.op)
            attrs = schema.resolve_attrs(node.attrs)
            if node.op == CONST:
                r = schema.kernel([], attrs)
                consts[id(node.outputs[0])] = r[0] if isinstance(r, (list, tuple)) else r
                continue
            if self.caches is not None and self._same_as_float(node, clean):
                clean.update(id(v) for v in node.outputs)
                continue
            steps.append((node, schema, attrs))
        return clean, consts, steps

    def _same_as_float(self, node: Node, clean: set[int]) -> bool:
        if node.op in ("quantize", "dequantize"):
            return False
        fn = self.fnodes.get(node.outputs[0].name)
        if fn is None or fn.op != node.op or len(fn.outputs) != len(node.outputs):
            return False
        if any(a.name != b.name for a, b in zip(fn.outputs, node.outputs)):
            return False
        if len(fn.inputs) != len(node.inputs):
            return False
        for qv, fv in zip(node.inputs, fn.inputs):
            if (qv is None) != (fv is None):
                return False
            if qv is None:
                continue
            if qv.name != fv.name or not (id(qv) in clean or (qv.is_const and fv.is_const)):
                return False
        return True

    def run(self, g: Graph) -> TrialResult:
        """Output SQNR/cosine/top-1 of trial graph ``g`` vs float, over all samples."""
        out_v = next((v for v in g.outputs if v.name == self.output), None)
        if out_v is None:
            raise SensitivityError(f"trial graph lost output %{self.output}")
        st = ErrorStats()
        agree = rows = 0
        if self.caches is None:
            from compiler.runtime import open_executor

            trial = open_executor("reference", g)
            got_all = [np.asarray(trial.run(f, capture=[self.output]).captured[self.output])
                       for f in self.feeds]
        else:
            clean, consts, steps = self._plan(g)
            got_all = []
            for cache in self.caches:
                env: dict[int, Any] = dict(consts)

                def get(v: Value | None, cache=cache, env=env) -> Any:
                    if v is None:
                        return None
                    if id(v) in clean:
                        return cache[v.name]
                    return env[id(v)]

                for node, schema, attrs in steps:
                    r = schema.kernel([get(v) for v in node.inputs], attrs)
                    if not isinstance(r, (list, tuple)):
                        r = [r]
                    for v, a in zip(node.outputs, r):
                        env[id(v)] = a
                got_all.append(np.asarray(get(out_v)))
        for ref, got in zip(self.refs, got_all):
            st.update(ref, got)
            if self.classifier:
                same, n = top1_matches(ref, got)
                agree += same
                rows += n
        return TrialResult(st.sqnr_db, st.cosine, agree / rows if self.classifier and rows else None)


def _quantized_copy(float_graph: Graph, stats: Any, quantizer: Callable[..., Any],
                    keep_float: Sequence[str], **qopts: Any) -> Graph:
    g = float_graph.copy()
    quantizer(g, stats, keep_float=tuple(keep_float), **qopts)
    return g


# -- sensitivity -------------------------------------------------------------------------------
@dataclass
class LayerSensitivity:
    """How much one layer costs when quantized.

    ``sqnr_db``/``cosine``/``top1``: the first float output of the trial model against the
    float model (``mode="only"``: only this layer quantized; ``"all_but"``: every layer but
    this one quantized). ``top1`` is None for outputs that are not classifier-like.
    ``rank`` 0 is the most sensitive layer.
    """

    layer: str
    ops: tuple[str, ...]
    values: tuple[str, ...]
    sqnr_db: float
    cosine: float
    top1: float | None
    mode: str
    rank: int = 0
    seconds: float = 0.0


def sensitivity(
    float_graph: Graph,
    stats: Any,
    data: Any,
    *,
    method: str = "minmax",
    scheme: str = "tflite",
    percentile: float = 99.99,
    max_samples: int | None = 8,
    mode: str = "only",
    layers: Sequence[str] | None = None,
    progress: Any = True,
    cache_bytes: int = 512 << 20,
    quantizer: Callable[..., Any] | None = None,
) -> list[LayerSensitivity]:
    """Rank the quantizable layers of ``float_graph`` by sensitivity, worst first.

    ``stats``: the CalibrationStats of ``float_graph``; ``data``: samples as
    :func:`~compiler.quantization.calibration.calibrate` takes them (first ``max_samples``
    used). ``mode``: ``"only"`` (default; see the module docstring for why) or ``"all_but"``.
    ``layers`` restricts the candidates (keys as in :func:`quantizable_layers`).
    ``quantizer``: a callable with ``quantize_graph``'s signature (default:
    :func:`~compiler.quantization.rewrite.quantize_graph`).
    A layer whose trial fails to quantize or run is logged and ranked last with ``nan``.
    """
    if mode not in ("only", "all_but"):
        raise SensitivityError(f"sensitivity: mode={mode!r}; use 'only' or 'all_but'")
    quantizer = quantizer or quantize_graph
    qopts = dict(method=method, scheme=scheme, percentile=percentile)
    all_layers = quantizable_layers(float_graph, stats, quantizer=quantizer, **qopts)
    cands = all_layers
    if layers is not None:
        known = {c.name for c in cands}
        unknown = [n for n in layers if n not in known]
        if unknown:
            raise SensitivityError(f"sensitivity: {unknown} are not quantizable layers of "
                                   f"@{float_graph.name}; they are {sorted(known)}")
        cands = [c for c in cands if c.name in set(layers)]
    all_names = [c.name for c in all_layers]
    feeds = collect_feeds(float_graph, data, max_samples)
    ev = _Evaluator(float_graph, feeds, cache_bytes)
    from compiler.progress import open_progress

    bar = open_progress(progress, f"sensitivity @{float_graph.name}", len(cands), "layer")
    out: list[LayerSensitivity] = []
    try:
        for c in cands:
            t0 = time.perf_counter()
            keep = [n for n in all_names if n != c.name] if mode == "only" else [c.name]
            try:
                res = ev.run(_quantized_copy(float_graph, stats, quantizer, keep, **qopts))
            except InferccError as e:
                log.warning("sensitivity: layer %s could not be evaluated: %s", c.name, e)
                res = TrialResult(math.nan, math.nan, None)
            out.append(LayerSensitivity(c.name, c.ops, c.values, res.sqnr_db, res.cosine,
                                        res.top1, mode, seconds=time.perf_counter() - t0))
            bar.update(1)
    finally:
        bar.close()
    sign = 1.0 if mode == "only" else -1.0

    def key(s: LayerSensitivity) -> tuple:
        if math.isnan(s.sqnr_db):
            return (1, 0.0, 0.0)
        top = s.top1 if s.top1 is not None else 1.0
        return (0, sign * s.sqnr_db, sign * top)

    out.sort(key=key)
    for i, s in enumerate(out):
        s.rank = i
    return out


def sensitivity_table(ranking: Sequence[LayerSensitivity]) -> str:
    """A text table of a ranking (rank, layer, ops, output SQNR, cosine, top-1)."""
    head = ("rank", "layer", "ops", "output SQNR dB", "cosine", "top-1")
    body = [(str(s.rank), s.layer, ",".join(dict.fromkeys(s.ops)),
             "nan" if math.isnan(s.sqnr_db) else ("inf" if math.isinf(s.sqnr_db)
                                                  else f"{s.sqnr_db:.2f}"),
             f"{s.cosine:.6f}", "-" if s.top1 is None else f"{100 * s.top1:.1f}%")
            for s in ranking]
    widths = [max([len(h)] + [len(b[i]) for b in body]) for i, h in enumerate(head)]
    fmt = lambda r: "  ".join(c.rjust(w) if i in (0, 3, 4, 5) else c.ljust(w)  # noqa: E731
                              for i, (c, w) in enumerate(zip(r, widths))).rstrip()
    mode = ranking[0].mode if ranking else "only"
    what = "only this layer quantized" if mode == "only" else "all layers but this one quantized"
    return "\n".join([f"sensitivity ({what}), worst first", fmt(head),
                      fmt(["-" * w for w in widths])] + [fmt(b) for b in body])


# -- mixed precision ---------------------------------------------------------------------------
@dataclass
class MixedPrecisionResult:
    """The chosen model and how it was chosen.

    ``graph``: the quantized model (QDQ form) with ``kept`` layers float; ``report``: its
    per-layer report; ``output_sqnr``/``top1``: its first output vs float on the search
    samples; ``met``: whether the budget was reached (True without a budget); ``trials``:
    ``(number kept, output SQNR dB, top-1 or None)`` for each model tried, in order.
    """

    graph: Graph
    kept: list[str]
    report: LayerReport
    output_sqnr: float
    ranking: list[LayerSensitivity]
    top1: float | None = None
    met: bool = True
    trials: list[tuple[int, float, float | None]] = field(default_factory=list)


def mixed_precision(
    float_graph: Graph,
    stats: Any,
    data: Any,
    *,
    keep: int | None = None,
    budget: float | None = None,
    min_top1: float | None = None,
    ranking: Sequence[LayerSensitivity] | None = None,
    method: str = "minmax",
    scheme: str = "tflite",
    percentile: float = 99.99,
    max_samples: int | None = 16,
    sensitivity_samples: int | None = 8,
    progress: Any = True,
    cache_bytes: int = 512 << 20,
    quantizer: Callable[..., Any] | None = None,
) -> MixedPrecisionResult:
    """Quantize ``float_graph`` (a copy) keeping its most sensitive layers float.

    ``keep=N``: the N first layers of ``ranking`` stay float. ``budget=dB`` (and/or
    ``min_top1``, a fraction in [0, 1]): layers are kept float one at a time in ranking order
    until the first output's SQNR against float reaches ``budget`` (and top-1 agreement
    reaches ``min_top1``) on the first ``max_samples`` samples; if no prefix meets it, every
    quantizable layer stays float (which meets it trivially) and a warning says so. With
    neither, nothing is kept float. ``ranking`` defaults to :func:`sensitivity` on
    ``sensitivity_samples`` samples. A trial whose quantization or run fails is skipped; the
    result is always the best model found, with its :class:`LayerReport` on the same
    ``max_samples`` samples.
    """
    if keep is not None and (budget is not None or min_top1 is not None):
        raise SensitivityError("mixed_precision: give either keep=N or a budget, not both")
    if keep is not None and keep < 0:
        raise SensitivityError(f"mixed_precision: keep={keep}; use a count >= 0")
    if min_top1 is not None and not 0.0 <= min_top1 <= 1.0:
        raise SensitivityError(f"mixed_precision: min_top1={min_top1}; use a fraction in [0, 1]")
    quantizer = quantizer or quantize_graph
    qopts = dict(method=method, scheme=scheme, percentile=percentile)
    if ranking is None:
        ranking = sensitivity(float_graph, stats, data, max_samples=sensitivity_samples,
                              progress=progress, cache_bytes=cache_bytes, quantizer=quantizer,
                              **qopts)
    names = [s.layer for s in ranking]
    feeds = collect_feeds(float_graph, data, max_samples)
    ev = _Evaluator(float_graph, feeds, cache_bytes)
    trials: list[tuple[int, float, float | None]] = []

    def attempt(k: int) -> tuple[Graph, TrialResult] | None:
        try:
            g = _quantized_copy(float_graph, stats, quantizer, names[:k], **qopts)
            res = ev.run(g)
        except InferccError as e:
            log.warning("mixed precision: keeping %d layer(s) float failed: %s", k, e)
            return None
        trials.append((k, res.sqnr_db, res.top1))
        log.info("mixed precision: %d layer(s) float -> output SQNR %.2f dB%s", k, res.sqnr_db,
                 "" if res.top1 is None else f", top-1 {100 * res.top1:.1f}%")
        return g, res

    def meets(res: TrialResult) -> bool:
        ok = budget is None or res.sqnr_db >= budget
        if min_top1 is not None:
            ok = ok and (res.top1 is None or res.top1 >= min_top1)
        return ok

    chosen: tuple[int, Graph, TrialResult] | None = None
    met = True
    if budget is None and min_top1 is None:
        k = min(keep or 0, len(names))
        got = attempt(k)
        if got is not None:
            chosen = (k, *got)
    else:
        best: tuple[int, Graph, TrialResult] | None = None
        for k in range(len(names) + 1):
            got = attempt(k)
            if got is None:
                continue
            if best is None or got[1].sqnr_db > best[2].sqnr_db:
                best = (k, *got)
            if meets(got[1]):
                chosen = (k, *got)
                break
        if chosen is None:
            met = False
            chosen = best
            log.warning("mixed precision: no model met the budget; returning the best found")
        elif chosen[0] == len(names) and names:
            log.warning("mixed precision: the budget needed every layer float")
    if chosen is None:  # every trial failed: the float model is the best effort
        log.warning("mixed precision: no quantized model could be built; returning float")
        g = float_graph.copy()
        chosen = (len(names), g, ev.run(g))
        met = False
    k, g, res = chosen
    # the reference executor, as the trials: the figures agree with theirs to the last bit
    report = layer_report(float_graph, g, feeds, max_samples=None, progress=False,
                          executor="reference")
    return MixedPrecisionResult(g, names[:k], report, res.sqnr_db, list(ranking), res.top1,
                                met, trials)


__all__ = ["Layer", "LayerSensitivity", "MixedPrecisionResult", "SensitivityError",
           "mixed_precision", "quantizable_layers", "sensitivity", "sensitivity_table"]
