"""The ``prune`` pass: zero constant weights of conv, conv_transpose, gemm and matmul nodes.

``prune{sparsity=0.5,pattern=2:4,scope=layer,exclude=a;b*,min_size=1024,bias_correction=true}``

* ``method``: how elements are scored (:data:`METHODS`); ``magnitude`` (``|w|``) is the one
  built. Calibration-aware methods that also update the kept weights register here.
* ``sparsity``: the fraction of each layer's weights to zero (``scope=layer``) or of all
  prunable weights together (``scope=global``). N:M patterns fix it at ``1 - N/M`` and
  ignore it.
* ``pattern``: ``unstructured``, ``N:M`` along the reduction axis, ``1x4`` / ``4x1`` blocks
  (:mod:`.masks`; axes from :mod:`compiler.sparsity_axes`).
* ``scope=global``: one threshold over every prunable layer's scores, each layer's scores
  divided by the root mean square of its weights first. Raw magnitudes are not comparable
  across layers (a layer with batch norm folded in can be 10x another's scale) and one
  threshold over them empties small-scale layers; after normalization a layer loses what is
  small *relative to its own weights*. Not defined for N:M (the pattern is per group).
* ``exclude``: layer names or wildcard patterns (``;``-separated), matched as
  :func:`compiler.layer_names.matching` does (source names or output value name).
* ``min_size`` (default 1024): layers whose weight has fewer elements are skipped. Such
  layers (a stem conv on 3 input channels, a depthwise conv's 9 taps per channel, a small
  classifier head) hold a small share of the MACs and are the most sensitive to pruning: a
  depthwise or stem weight has no redundancy across input channels to lose.
* ``bias_correction``: after pruning, shift each conv's/gemm's bias by the mean change of
  its output (:func:`.report.correct_biases`), measured on the pipeline's calibration data
  (``ctx.options["calibration"]``).
* ``export_masks=FILE.pt``: write the keep masks of the pruned weights, keyed by the source
  PyTorch parameter names, for fine-tuning (:mod:`.masks_export`).

Pruned weights stay dense constants holding zeros. Grouped convolutions: unstructured and
blocks along the per-group reduction are fine; N:M needs the per-group reduction length to be
a multiple of M, else the layer is skipped with that reason. The pass leaves a
:class:`~.report.PruneTable` in ``ctx.artifacts["pruning"]``; with calibration data in the
pipeline options it also carries each layer's output SQNR and the model-output SQNR
(:func:`~.report.prune_report`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from compiler.errors import InferccError
from compiler.ir.graph import Graph, Node
from compiler.layer_names import matching
from compiler.ops.registry import schema_or_raise
from compiler.pass_manager.base import Pass, PassContext, PassResult
from compiler.sparsity_axes import WeightAxes, weight_axes

from . import masks
from .masks_export import export_masks, save_torch_masks
from .report import PruneRow, PruneTable, correct_biases, input_channel_means, prune_report

log = logging.getLogger(__name__)


class PruneError(InferccError):
    """A ``prune`` option is invalid or the pipeline lacks what an option needs."""


def magnitude(w: np.ndarray) -> np.ndarray:
    """Magnitude pruning's score: ``|w|``."""
    return np.abs(np.asarray(w, np.float64))


#: method name -> score function of a weight (higher: more important)
METHODS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"magnitude": magnitude}

SCOPES = ("layer", "global")


@dataclass
class _Layer:
    node: Node
    axes: WeightAxes
    wname: str
    w: np.ndarray
    scores: np.ndarray
    row: PruneRow


def _why_not(node: Node, ax: WeightAxes, w: np.ndarray, pattern: masks.Pattern) -> str:
    """Why ``pattern`` cannot apply to ``node``'s weight ``w``, or ""."""
    group = int(node.attrs.get("group") or 1) if node.op in ("conv", "conv_transpose") else 1
    red = w.shape[ax.reduction]
    per_group = red // group if node.op == "conv_transpose" else red
    if pattern.kind == "nm" and per_group % pattern.m:
        what = "per group " if group > 1 else ""
        return (f"reduction {what}{per_group} (axis {ax.reduction}) is no multiple of "
                f"{pattern.m} for {pattern.text}")
    if pattern.kind == "block":
        bo, br = pattern.block
        if w.shape[ax.output] % bo or per_group % br:
            return (f"weight {list(w.shape)} does not tile into {pattern.text} blocks "
                    f"(output axis {ax.output}, reduction axis {ax.reduction})")
    return ""


def _keep(layer: _Layer, pattern: masks.Pattern, sparsity: float) -> np.ndarray:
    ax = layer.axes
    if pattern.kind == "nm":
        return masks.nm_keep(layer.scores, pattern.n, pattern.m, ax.reduction)
    if pattern.kind == "block":
        return masks.block_keep(layer.scores, pattern.block, sparsity, ax.output, ax.reduction)
    return masks.unstructured_keep(layer.scores, sparsity)


def _global_keeps(layers: list[_Layer], pattern: masks.Pattern, sparsity: float
                  ) -> list[np.ndarray]:
    """Keep masks from one threshold over all layers' RMS-normalized scores (elements, or
    blocks for a block pattern: every block has the same element count)."""
    units = []
    for la in layers:
        rms = float(np.sqrt(np.mean(np.square(la.w, dtype=np.float64)))) or 1.0
        s = la.scores / rms
        if pattern.kind == "block":
            s = masks.block_scores(s, pattern.block, la.axes.output, la.axes.reduction)
        units.append(s)
    flat = np.concatenate([u.ravel() for u in units])
    drop = ~masks.unstructured_keep(flat, sparsity)
    keeps, at = [], 0
    for la, u in zip(layers, units):
        k = ~drop[at:at + u.size].reshape(u.shape)
        at += u.size
        if pattern.kind == "block":
            k = masks.expand_blocks(k, pattern.block, la.w.shape, la.axes.output,
                                    la.axes.reduction)
        keeps.append(k)
    return keeps


def prune_graph(graph: Graph, *, sparsity: float = 0.5, pattern: str = "unstructured",
                scope: str = "layer", exclude: list[str] | tuple[str, ...] = (),
                min_size: int = 1024, method: str = "magnitude",
                samples: Any = None, bias_correction: bool = False,
                max_samples: int | None = 32,
                sparsities: Mapping[str, float] | None = None) -> PruneTable:
    """Prune ``graph``'s constant conv/conv_transpose/gemm/matmul weights in place (options
    as the module docstring says) and return the table. With ``samples`` the table carries
    SQNR figures and ``bias_correction`` can run. ``sparsities`` maps a layer's label or
    output value name to its own sparsity (``scope=layer`` only; other layers take
    ``sparsity``; 0 leaves a layer alone): how a schedule sets per-layer targets. Raises
    :class:`PruneError` for a bad option."""
    pat = _check(sparsity, pattern, scope, method, min_size)
    sparsities = dict(sparsities or {})
    for key, s in sparsities.items():
        _check(s, pattern, scope, method, min_size)
    if sparsities and scope != "layer":
        raise PruneError("prune: per-layer sparsities need scope=layer")
    if bias_correction and samples is None:
        raise PruneError("prune: bias_correction=true needs sample data: run the pipeline "
                         "with calibration data (`infercc compile --calibration DATA` or "
                         "compile(..., calibration=DATA)) or pass samples=")
    before = graph.copy() if samples is not None else None
    table = PruneTable()
    layers: list[_Layer] = []
    for node in graph.nodes:
        ax = weight_axes(node)
        if ax is None or not node.outputs:
            continue
        wv = node.input(ax.index)
        if wv is None or not wv.is_const:
            continue
        w = np.asarray(wv.const_value.toarray() if hasattr(wv.const_value, "toarray")
                       else wv.const_value)
        label = node.label
        row = PruneRow(label, node.outputs[0].name, node.op, tuple(w.shape), pat.text,
                       float((w == 0).mean()), _macs(node), None)
        table.rows.append(row)
        why = ""
        if w.dtype.kind != "f":
            why = f"{w.dtype} weight (prune float weights, before quantizing)"
        elif exclude and matching(node, exclude):
            why = f"excluded ({', '.join(sorted(matching(node, exclude)))})"
        elif w.size < min_size:
            why = f"{w.size} weights < min_size {min_size}"
        else:
            why = _why_not(node, ax, w, pat)
        if why:
            row.skipped = why
            log.info("prune: %s skipped: %s", label, why)
            continue
        layers.append(_Layer(node, ax, wv.name, w, METHODS[method](w), row))
    if scope == "global" and layers:
        keeps = _global_keeps(layers, pat, sparsity)
    else:
        keeps = [np.ones(la.w.shape, bool) if _layer_sparsity(la, sparsity, sparsities) == 0
                 else _keep(la, pat, _layer_sparsity(la, sparsity, sparsities))
                 for la in layers]
    changes = []
    for la, keep in zip(layers, keeps):
        new = np.where(keep, la.w, 0).astype(la.w.dtype)
        zeros_before = int((la.w == 0).sum())
        la.row.sparsity = float((new == 0).mean())
        if la.row.macs is not None:
            added = int((new == 0).sum()) - zeros_before
            la.row.macs_removed = la.row.macs * added // new.size
        c = graph.add_const(new, f"{la.wname}.pruned", source=la.node.source, before=la.node)
        old = la.node.input(la.axes.index)
        src_param = old.producer.annotations.get("param") \
            if old is not None and old.producer is not None else None
        if src_param and c.producer is not None:
            c.producer.annotations["param"] = src_param  # provenance for masks_export
        la.node.set_input(la.axes.index, c)  # a new constant: the old one may be shared
        if old is not None and old.producer is not None and not old.has_uses:
            graph.erase_node(old.producer)
        changes.append((la.node, new.astype(np.float64) - la.w))
    if bias_correction and changes and before is not None:
        means = input_channel_means(before, [n for n, _ in changes], samples, max_samples)
        for node in correct_biases(graph, changes, means):
            table.row(node.outputs[0].name).bias_corrected = True
    if before is not None and layers:
        prune_report(before, graph, samples, table, max_samples=max_samples)
    log.info("prune @%s: %s", graph.name, table.counts())
    return table


def _layer_sparsity(layer: _Layer, default: float, sparsities: Mapping[str, float]) -> float:
    for key in (layer.row.layer, layer.row.value):
        if key in sparsities:
            return float(sparsities[key])
    return default


def _macs(node: Node) -> int | None:
    f = schema_or_raise(node.op).flops(node)
    return None if f is None else int(f[1])


def _check(sparsity: Any, pattern: str, scope: str, method: str, min_size: Any
           ) -> masks.Pattern:
    pat = masks.parse_pattern(pattern)
    if pat is None:
        raise PruneError(f"prune: pattern={pattern!r}; use unstructured, N:M with N < M "
                         "(e.g. 2:4), 1x4 or 4x1")
    if not isinstance(sparsity, (int, float)) or not 0.0 <= float(sparsity) < 1.0 \
            or math.isnan(float(sparsity)):
        raise PruneError(f"prune: sparsity={sparsity!r}; give the fraction of weights to "
                         "zero, at least 0 and below 1 (e.g. 0.5)")
    if scope not in SCOPES:
        raise PruneError(f"prune: scope={scope!r}; use {' or '.join(SCOPES)}")
    if scope == "global" and pat.kind == "nm":
        raise PruneError(f"prune: scope=global with pattern={pat.text}: an N:M pattern "
                         "prunes each group of M on its own; use scope=layer")
    if method not in METHODS:
        raise PruneError(f"prune: method={method!r}; choose one of {', '.join(METHODS)}")
    if not isinstance(min_size, int) or min_size < 0:
        raise PruneError(f"prune: min_size={min_size!r}; give a weight count >= 0")
    return pat


@dataclass
class Prune(Pass):
    """Run :func:`prune_graph` with the pass' options; leaves the ``pruning`` artifact."""

    name: ClassVar[str] = "prune"
    summary: ClassVar[str] = ("Zero conv/gemm/matmul weights by magnitude (sparsity=, "
                              "pattern=unstructured|N:M|1x4|4x1, scope=layer|global, "
                              "exclude=, min_size=, bias_correction=, export_masks=FILE.pt)")
    produces: ClassVar[tuple[str, ...]] = ("pruning",)

    sparsity: float = 0.5
    pattern: str = "unstructured"
    scope: str = "layer"
    exclude: list[str] = field(default_factory=list)
    min_size: int = 1024
    method: str = "magnitude"
    bias_correction: bool = False
    export_masks: str = ""

    def __post_init__(self) -> None:
        names: list[str] = []
        for k in self.exclude:
            names.extend(s.strip() for s in str(k).split(";") if s.strip())
        self.exclude = names
        _check(self.sparsity, self.pattern, self.scope, self.method, self.min_size)

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        from compiler.quantization.statistics import CalibrationStats

        samples = ctx.options.get("calibration")
        if isinstance(samples, CalibrationStats):  # saved statistics: no samples to run
            samples = None
        table = prune_graph(graph, sparsity=self.sparsity, pattern=self.pattern,
                            scope=self.scope, exclude=self.exclude, min_size=self.min_size,
                            method=self.method, samples=samples,
                            bias_correction=self.bias_correction)
        ctx.artifacts["pruning"] = table
        if self.export_masks:
            found = export_masks(graph, table)
            save_torch_masks(found, self.export_masks)
            log.info("prune: %d masks written to %s", len(found), self.export_masks)
        return PassResult(modified=bool(table.pruned), stats=table.counts())
