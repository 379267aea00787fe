"""Which layers of an fp16 TensorRT network stay in fp32, decided on a reference run.

TensorRT 11 builds only strongly typed networks, so fp16 is a property of the network itself:
half tensors and weights, with explicit casts where the type changes (no builder precision
flags). :func:`plan_fp16` runs the graph in the reference interpreter (float32) on sample
inputs and keeps in fp32 every node whose float inputs or outputs reach beyond
:data:`FP16_SAFE_MAX` in magnitude: such a value would be ``inf`` in half (fp16's largest
finite value is 65504), and everything downstream of it ``inf``/``NaN``; typical cases are
sums over many elements, softmax inputs (logits) and unnormalized activations. Since both the
producer and the consumers of a large value are kept, the value itself stays float32 and the
casts back to half come after it has been brought back into range (by a softmax, a
normalization, a division).

A second check keeps layers whose result half precision spoils although every value is in
range: the graph is run again on the first sample as the fp16 network stores it (every value
a half layer produces or reads rounded through fp16, float32 compute in between, as the
stand-in and TensorRT's accumulating layers do; :func:`_half_storage`). A layer whose output
is more than :data:`FP16_ERROR_BOUND` off float32 (relative to the output's largest value)
and :data:`FP16_AMPLIFY` times further off than the inputs it read turns rounding into a
large error itself (cancellation: ``(x + 1000) - 1000``). It is kept in fp32 with the half
producers of its inputs only when a third run shows that this brings it within the bound;
otherwise it stays half and the log says so. On the model zoo (PP-OCRv4 det, basic-pitch
nmp, open_nsfw, hand landmark, FER, uniform inputs) it keeps nothing: the layers it flags
there (residual adds of det, nmp's log) read values already rounded further upstream.

The margin (a quarter of the fp16 range) covers inputs larger than the samples: sample
inputs are what the caller passes (``infercc compile --float16 --calibration DATA``: the
peak over every sample counts), else a seeded standard normal draw, which under-estimates
activations of models fed 0..255 pixels; the log says which was used (a warning for the
draw). Pass real samples for such models.

Layers TensorRT runs in float32 only (a converter registered with ``float32_only``, such
as LRN) are kept in fp32 with that reason.

The user can keep layers in fp32 by name (``keep``: the ``keep_fp32`` option, ``infercc
compile --float16 --keep-float NAME``) where the checks above do not catch the harm fp16
does (a quantity whose error grows over several half layers, none of which amplifies it
alone: a log-spectrogram). A name matches a node as the quantize pass's ``keep_float``
does: any entry of its source layers or its first output's value name, or a wildcard
pattern over them (:func:`compiler.layer_names.matching`). A name that matches no layer is a :class:`KeepFp32Error`.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from compiler.errors import InferccError
from compiler.interpreter import Interpreter
from compiler.ir.graph import CONST, Graph, Node
from compiler.ir.types import DType
from compiler.layer_names import matching

from .registry import select

log = logging.getLogger(__name__)

FP16_MAX = float(np.finfo(np.float16).max)  # 65504
# A value beyond this on the samples keeps its producer and consumers in fp32.
FP16_SAFE_MAX = FP16_MAX / 4
# fp16's unit roundoff (11 significant bits): the relative error of one rounding.
HALF_EPS = 2.0 ** -11
# A node's output this far from float32 (max |error| / max |value|) when computed from
# half-stored inputs, and FP16_AMPLIFY times further than those inputs, stays fp32.
FP16_ERROR_BOUND = 1e-2
FP16_AMPLIFY = 8.0


class KeepFp32Error(InferccError):
    """A layer name given to keep in fp32 matches no layer of the graph."""


def check_keep(graph: Graph, keep: Collection[str]) -> None:
    """Raise :class:`KeepFp32Error` naming every entry of ``keep`` no layer of ``graph``
    matches (:func:`compiler.layer_names.matching`); run before anything is built or written."""
    unknown = set(keep)
    for node in graph.nodes:
        if node.op != CONST:
            unknown -= matching(node, unknown)
    if unknown:
        raise KeepFp32Error(
            f"--keep-float / keep_fp32: no layer of graph '{graph.name}' has source layer or "
            f"output named {', '.join(repr(n) for n in sorted(unknown))}; list the names with "
            "`infercc opt MODEL --show-ir` (the '// ...' source comments or the %value names "
            "of the optimized graph, which is what is compiled). Nothing was written.")


@dataclass
class Fp16Plan:
    """``fp32``: first output name of each node kept in fp32 -> why; ``rows``: the same as
    ``(op, layer, why)``, in graph order, for reports."""

    fp32: dict[str, str] = field(default_factory=dict)
    rows: list[tuple[str, str, str]] = field(default_factory=list)

    def keeps_fp32(self, node: Node) -> bool:
        return node.outputs[0].name in self.fp32


def sample_feeds(graph: Graph, seed: int = 0,
                 shapes: Mapping[str, Sequence[int]] | None = None) -> dict[str, np.ndarray]:
    """A seeded standard normal draw per graph input (integer inputs 0), of the input's
    shape in ``shapes`` when given (an optimization profile's opt shape), else of its own
    with symbolic dims as 1."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for v in graph.inputs:
        shape = list((shapes or {}).get(v.name)
                     or [d if isinstance(d, int) else 1 for d in (v.type.shape or ())])
        dt = v.type.dtype.numpy
        feeds[v.name] = (rng.standard_normal(shape).astype(dt) if dt.kind == "f"
                         else np.zeros(shape, dt))
    return feeds


def plan_fp16(graph: Graph,
              feeds: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
              limit: float = FP16_SAFE_MAX,
              error_bound: float | None = FP16_ERROR_BOUND,
              keep: Collection[str] = ()) -> Fp16Plan:
    """The nodes of ``graph`` to keep in fp32 when the rest runs in fp16 (see the module doc).

    ``feeds``: sample inputs by graph input name, one feed dict or several (a value's peak
    is its largest over all of them); default :func:`sample_feeds`. ``error_bound``: the
    error check on the first sample (None: the range check alone). ``keep``: layer names
    the user keeps in fp32 (:func:`compiler.layer_names.matching`; an unknown one is a
    :class:`KeepFp32Error`); the automatic checks run with those layers already fp32.
    """
    check_keep(graph, keep)
    if feeds is None:
        samples = [sample_feeds(graph)]
        log.warning("fp16: no sample inputs given; the layers kept in fp32 are decided on a "
                    "seeded standard normal draw (give real inputs: --calibration DATA with "
                    "--float16)")
    else:
        samples = [dict(feeds)] if isinstance(feeds, Mapping) else [dict(f) for f in feeds]
        log.info("fp16: the layers kept in fp32 are decided on %d sample input(s)",
                 len(samples))
    peak: dict[str, float] = {}
    first: dict[str, np.ndarray] = {}  # the first sample's float values, for the error check

    def note(name: str, a: Any) -> None:
        arr = np.asarray(a)
        if arr.dtype.kind != "f" or arr.size == 0:
            return
        if record_first:
            first[name] = arr
        finite = arr[np.isfinite(arr)]
        value = float(np.abs(finite).max()) if finite.size else 0.0
        peak[name] = max(value, peak.get(name, 0.0))

    def observe(node: Node, outs: list[np.ndarray]) -> None:
        for v, a in zip(node.outputs, outs):
            note(v.name, a)

    interpreter = Interpreter(graph)
    for k, sample in enumerate(samples):
        record_first = k == 0 and error_bound is not None
        for v in graph.inputs:
            note(v.name, sample[v.name])
        interpreter.run(sample, observer=observe)
    why: dict[str, str] = {}
    for node in graph.nodes:
        if node.op == CONST:
            continue
        named = matching(node, keep)
        if named:
            why[node.outputs[0].name] = (f"kept in fp32 by the user (--keep-float "
                                         f"{', '.join(sorted(named))})")
            continue
        conv, _ = select(node)
        if conv is not None and conv.float32_only is not None:
            why[node.outputs[0].name] = conv.float32_only
            continue
        # Constants count too: a weight or mask beyond the range would be inf as half weights.
        big = [(v.name, peak[v.name]) for v in [*node.inputs, *node.outputs]
               if v is not None and peak.get(v.name, 0.0) > limit]
        if big:
            name, value = max(big, key=lambda b: b[1])
            why[node.outputs[0].name] = (
                f"%{name} reaches {value:.3g} on the samples, beyond the fp16-safe "
                f"{limit:.3g} (fp16 max {FP16_MAX:.0f})")
    if error_bound is not None:
        for name, lossy in _lossy(graph, set(why), samples[0], first, error_bound).items():
            why.setdefault(name, lossy)
    plan = Fp16Plan()
    for node in graph.nodes:  # rows in graph order
        reason = why.get(node.outputs[0].name) if node.op != CONST else None
        if reason is not None:
            plan.fp32[node.outputs[0].name] = reason
            plan.rows.append((node.op, node.label, reason))
            log.info("fp16: keeping %s (%s) in fp32: %s", node.label, node.op, reason)
    return plan


def _half_storage(graph: Graph, fp32: set[str]) -> tuple[Graph, dict[str, str]]:
    """A copy of ``graph`` computing what the fp16 network stores: every float32 value a
    half node produces, and every one a half node reads, goes through half (a cast to f16
    and back, as the network's half tensors and its FLOAT->HALF casts do); half nodes read
    half-rounded float32 constants. Nodes named in ``fp32`` (first output names) and their
    own outputs stay float32. Also returns rounded value name -> the value it rounds."""
    g = graph.copy()
    half = {id(n) for n in g.nodes if n.op != CONST and n.outputs[0].name not in fp32}
    rounds: dict[str, str] = {}
    first_node = next((n for n in g.nodes if n.op != CONST), None)
    values = [(v, None) for v in g.inputs] + [(v, n) for n in list(g.nodes) for v in n.outputs]
    for v, producer in values:
        if v.type.dtype != DType.F32 or first_node is None:
            continue
        uses = v.uses()
        if producer is not None and producer.op == CONST:
            readers = [(n, i) for n, i in uses if id(n) in half]
            arr = producer.attrs["value"]
            if readers and isinstance(arr, np.ndarray):
                r = g.add_const(arr.astype(np.float16).astype(np.float32), f"{v.name}/half",
                                before=first_node)
                for n, i in readers:
                    n.set_input(i, r)
            continue
        stored_half = producer is not None and id(producer) in half
        readers = [(n, i) for n, i in uses if stored_half or id(n) in half]
        if not readers:
            continue
        h = g.add_node("cast", [v], {"to": "f16"}, names=[f"{v.name}/f16"], after=producer,
                       before=first_node if producer is None else None)
        f = g.add_node("cast", [h.output], {"to": "f32"}, names=[f"{v.name}/rounded"],
                       after=h)
        rounds[f.output.name] = v.name
        for n, i in readers:
            n.set_input(i, f.output)
    return g, rounds


def _relative(a: np.ndarray, ref: np.ndarray) -> float:
    scale = float(np.abs(ref).max()) if ref.size else 0.0
    diff = np.abs(np.asarray(a, np.float64) - ref)
    return float(diff.max()) / scale if scale > 0 and diff.size else 0.0


def _node_errors(graph: Graph, fp32: set[str], feeds: Mapping[str, Any],
                 ref: Mapping[str, np.ndarray]) -> dict[str, tuple[float, float, str]]:
    """For each node of the fp16 network simulated by :func:`_half_storage` (``fp32``: the
    nodes kept float32), keyed by first output name: the relative error of its worst float
    output (max |error| / max |float32 value|) as computed, the worst relative error of the
    inputs it read, and that output's name."""
    sim, rounds = _half_storage(graph, fp32)
    err: dict[str, float] = {}  # value name in ``sim`` -> its relative error
    found: dict[str, tuple[float, float, str]] = {}

    def observe(node: Node, outs: list[np.ndarray]) -> None:
        if node.op == CONST:
            return
        if node.op == "cast" and node.outputs[0].name in rounds:
            err[node.outputs[0].name] = _relative(outs[0], ref[rounds[node.outputs[0].name]])
            return
        e_in = max([err.get(u.name, 0.0) for u in node.inputs if u is not None], default=0.0)
        for v, a in zip(node.outputs, outs):
            if v.name in ref:
                err[v.name] = e = _relative(a, ref[v.name])
                name = node.outputs[0].name
                if e >= found.get(name, (-1.0, 0.0, ""))[0]:
                    found[name] = (e, e_in, v.name)

    Interpreter(sim).run(dict(feeds), observer=observe)
    return found


def _lossy(graph: Graph, fp32: set[str], feeds: Mapping[str, Any],
           ref: Mapping[str, np.ndarray], bound: float) -> dict[str, str]:
    """Nodes whose output, computed from half-stored inputs, is further than ``bound`` from
    float32 and more than :data:`FP16_AMPLIFY` times further than the inputs it read (the
    node itself turns rounding into a large error: cancellation, a logarithm of values half
    flushes to zero). Such a node is kept in fp32 with the half producers of its inputs,
    so that it reads float32 values, when a second simulation shows this brings it within
    ``bound``; otherwise it stays half (logged). Returns first output name -> why."""
    errors = _node_errors(graph, fp32, feeds, ref)
    producers = {v.name: n for n in graph.nodes for v in n.outputs}
    groups: dict[str, list[Node]] = {}
    for node in graph.nodes:
        name = node.outputs[0].name if node.op != CONST else ""
        if name not in errors or name in fp32:
            continue
        e_out, e_in, _ = errors[name]
        if e_out > bound and e_out > FP16_AMPLIFY * max(e_in, HALF_EPS):
            groups[name] = [node] + [
                p for u in node.inputs if u is not None
                for p in [producers.get(u.name)]
                if p is not None and p.op != CONST and p.outputs[0].name not in fp32]
    if not groups:
        return {}
    after = _node_errors(graph, fp32 | {n.outputs[0].name for g in groups.values() for n in g},
                         feeds, ref)
    found: dict[str, str] = {}
    for name, (node, *inputs) in groups.items():
        e_out, e_in, value = errors[name]
        fixed = after[name][0]
        if fixed > bound:
            log.info("fp16: %s (%s) is %.2g off float32 in half; float32 inputs leave it "
                     "%.2g off, so it stays half", node.label, node.op, e_out, fixed)
            continue
        why = (f"%{value} is {e_out:.2g} off float32 (relative to its largest value) when "
               f"computed from half inputs ({e_in:.2g} off), {fixed:.2g} from float32 "
               f"inputs; fp16 error bound {bound:g}")
        found[name] = why
        for p in inputs:
            found.setdefault(p.outputs[0].name, f"read by {node.label}, where {why}")
    return found
