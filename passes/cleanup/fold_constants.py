"""fold-constants: evaluate nodes whose inputs are all constants.

Requires: a verified graph; ops folded must have a reference kernel.

Guarantees:

* A node whose (present) inputs are all ``const`` is replaced by ``const`` node(s) holding
  the result of the op's reference kernel (``compiler.ops.run_kernel``), in place: output
  names, readers and graph-output positions stay; output types come from the results
  (quantization parameters kept). Chains fold in one run (topological order).
* ``shape`` of a value whose type is static (in the requested ``start:end`` range) and
  ``size`` of a static value fold even when the value itself is not constant.
* Folding never grows the model past ``max_elements`` per output: an output with more
  elements than that *and* more than all of the node's constant inputs together is not
  materialized (a ``constant_of_shape`` of 1e8 stays a node, while the transpose of a
  large weight still folds, as it only replaces one tensor by another); impure ops (``pure``
  trait False, such as random sampling) and the ops
  in ``keep_ops`` (default ``dequantize``: quantized weights stay quantized for targets
  that pattern-match dequantize -> conv) are never folded.
* Provenance: the new const's source is the union of the folded node's source and the
  sources of the constants it consumed, so a chain's result names every layer it came from.
* A kernel that fails or yields a non-tensor (sequence) result leaves the node unchanged
  (logged at debug level). Subgraphs are folded too.

Inputs that fed only folded nodes become dead; ``dce`` removes them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from compiler.ir.graph import Graph, Node
from compiler.ops import get_schema, infer_types, run_kernel
from compiler.ops.registry import is_pure
from compiler.pass_manager.base import Pass, PassContext, PassResult
from compiler.ir.rewrite import dense, merge_sources, to_const
from compiler.ir.walk import walk_graphs


log = logging.getLogger(__name__)


@dataclass
class FoldConstants(Pass):
    name: ClassVar[str] = "fold-constants"
    summary: ClassVar[str] = "Evaluate nodes whose inputs are all constants (and shapes of static tensors)"

    max_elements: int = 1 << 20
    keep_ops: list[str] = field(default_factory=lambda: ["dequantize"])

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        stats = {"folded": 0, "shape_folded": 0, "skipped_large": 0, "failed": 0}
        for g in list(walk_graphs(graph)):
            for node in list(g.nodes):
                if node.graph is not g or node.op == "const":
                    continue
                if node.op in ("shape", "size") and self._fold_static_shape(g, node):
                    stats["shape_folded"] += 1
                    continue
                outcome = self._fold(g, node)
                if outcome:
                    stats[outcome] += 1
        return PassResult(modified=bool(stats["folded"] or stats["shape_folded"]), stats=stats)

    # -- general folding ---------------------------------------------------------------------
    def _foldable(self, node: Node) -> bool:
        if not is_pure(node.op) or node.op in self.keep_ops:
            return False
        if any(v is not None and not v.is_const for v in node.inputs):
            return False
        schema = get_schema(node.op)
        return schema is not None and schema.kernel is not None

    def _fold(self, g: Graph, node: Node) -> str | None:
        if not self._foldable(node):
            return None
        budget = max(self.max_elements, sum(_numel(v.const_value) for v in node.inputs if v is not None))
        if self._too_large(node, budget):
            log.debug("fold-constants: %r is over max_elements=%d", node, self.max_elements)
            return "skipped_large"
        arrays = [None if v is None else dense(v.const_value) for v in node.inputs]
        try:
            results = run_kernel(node.op, arrays, node.attrs)
        except Exception as e:  # noqa: BLE001 - any kernel failure just means "not folded"
            log.debug("fold-constants: %r not folded: %s: %s", node, type(e).__name__, e)
            return "failed"
        results = results[: len(node.outputs)]
        out: list[np.ndarray] = []
        for v, r in zip(node.outputs, results):
            if r is None or isinstance(r, (list, tuple)):
                return "failed"  # sequences and absent optional outputs have no const form
            a = np.asarray(r)
            if a.size > budget:
                return "skipped_large"
            want = v.type.dtype.numpy
            if a.dtype != want and v.type.dtype.value != "str":
                log.debug("fold-constants: %r gave %s, declared %s; cast", node, a.dtype, want)
                a = a.astype(want)
            if v.type.is_static and tuple(a.shape) != tuple(v.type.shape):
                log.debug("fold-constants: %r gave shape %s, declared %s", node, a.shape, v.type)
                return "failed"
            out.append(a)
        if len(out) != len(node.outputs):
            return "failed"
        source = merge_sources(
            node.source, *(v.producer.source for v in node.inputs if v is not None)
        )
        to_const(node, out, source)
        return "folded"

    def _too_large(self, node: Node, budget: int) -> bool:
        """Whether some output is known (before running anything) to exceed ``budget``."""
        types = [v.type for v in node.outputs]
        if not all(t.is_static for t in types):
            try:  # with constant inputs, re-inference usually knows the exact shape
                types = infer_types(node.op, list(node.inputs), node.attrs, len(node.outputs))
            except Exception:  # noqa: BLE001 - no better bound; checked after running
                return False
        return any(t.is_static and (t.numel() or 0) > budget for t in types)

    # -- shape of a static tensor ------------------------------------------------------------
    def _fold_static_shape(self, g: Graph, node: Node) -> bool:
        x = node.input(0)
        if x is None or x.type.shape is None:
            return False
        shape = x.type.shape
        if node.op == "size":
            if not x.type.is_static:
                return False
            value = np.array(int(np.prod(shape, dtype=np.int64)), dtype=np.int64)
        else:
            dims = shape[_shape_slice(node.attrs, len(shape))]
            if not all(isinstance(d, int) for d in dims):
                return False
            value = np.array(dims, dtype=np.int64)
        source = merge_sources(node.source)
        to_const(node, [value], source)
        return True


def _numel(value: Any) -> int:
    """Element count of a dense or sparse constant (sparse counted as its dense shape)."""
    return int(np.prod(np.shape(value) if not hasattr(value, "nnz") else value.shape, dtype=np.int64))


def _shape_slice(attrs: dict[str, Any], rank: int) -> slice:
    """ONNX Shape-15 ``start``/``end``: negatives count from the end, then clamp to [0, rank]."""
    start = attrs.get("start", 0) or 0
    end = attrs.get("end", None)
    if end is None:
        end = rank

    def clamp(i: int) -> int:
        if i < 0:
            i += rank
        return min(max(i, 0), rank)

    return slice(clamp(int(start)), clamp(int(end)))


__all__ = ["FoldConstants"]
