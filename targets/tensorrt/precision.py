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

The margin (a quarter of the fp16 range) covers inputs larger than the samples: sample
inputs are what the caller passes, else a seeded standard normal draw, which under-estimates
activations of models fed 0..255 pixels. Pass real samples for such models.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from compiler.interpreter import Interpreter
from compiler.ir.graph import CONST, Graph, Node

log = logging.getLogger(__name__)

FP16_MAX = float(np.finfo(np.float16).max)  # 65504
# A value beyond this on the samples keeps its producer and consumers in fp32.
FP16_SAFE_MAX = FP16_MAX / 4


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


def plan_fp16(graph: Graph, feeds: Mapping[str, Any] | None = None,
              limit: float = FP16_SAFE_MAX) -> Fp16Plan:
    """The nodes of ``graph`` to keep in fp32 when the rest runs in fp16 (see the module doc).

    ``feeds``: sample inputs by graph input name (default :func:`sample_feeds`).
    """
    feeds = dict(feeds) if feeds is not None else sample_feeds(graph)
    peak: dict[str, float] = {}

    def note(name: str, a: Any) -> None:
        arr = np.asarray(a)
        if arr.dtype.kind != "f" or arr.size == 0:
            return
        finite = arr[np.isfinite(arr)]
        peak[name] = float(np.abs(finite).max()) if finite.size else 0.0

    for v in graph.inputs:
        note(v.name, feeds[v.name])

    def observe(node: Node, outs: list[np.ndarray]) -> None:
        for v, a in zip(node.outputs, outs):
            note(v.name, a)

    Interpreter(graph).run(feeds, observer=observe)
    plan = Fp16Plan()
    for node in graph.nodes:
        if node.op == CONST:
            continue
        # Constants count too: a weight or mask beyond the range would be inf as half weights.
        big = [(v.name, peak[v.name]) for v in [*node.inputs, *node.outputs]
               if v is not None and peak.get(v.name, 0.0) > limit]
        if not big:
            continue
        name, value = max(big, key=lambda b: b[1])
        why = (f"%{name} reaches {value:.3g} on the samples, beyond the fp16-safe "
               f"{limit:.3g} (fp16 max {FP16_MAX:.0f})")
        plan.fp32[node.outputs[0].name] = why
        plan.rows.append((node.op, node.label, why))
        log.info("fp16: keeping %s (%s) in fp32: %s", node.label, node.op, why)
    return plan
