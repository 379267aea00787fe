"""Model statistics for ``infercc inspect``: op histogram, parameters, FLOPs.

What is counted (one multiply-accumulate = 2 FLOPs):

* ``conv``, ``conv_transpose``, ``gemm``, ``matmul`` and their integer/qlinear forms:
  2 x MACs, where MACs = output elements x (input channels per group x kernel elements) for
  conv, input elements x (output channels per group x kernel elements) for conv_transpose,
  and output elements x K for gemm/matmul. A bias adds 1 per output element, a fused
  ``activation`` attribute 1 more.
* elementwise arithmetic and activations: 1 per output element;
* ``batch_norm`` and other normalizations: 2 per element (scale and shift, as inference
  runs them); softmax-like ops: 3 per element (exp, sum, divide);
* pooling: output elements x window size (global pooling: input elements); reductions:
  input elements;
* data movement (reshape, transpose, concat, gather, slice, cast, const, ...): 0.

Nodes whose shapes are not static (symbolic or unknown dims) are not counted; the result
lists them so the caller can fix input shapes (``--input-shape``) and ask again.
Parameters are the elements of every ``const`` node (subgraphs included); bytes are their
storage size (for sparse constants: values plus indices).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .ir.graph import CONST, Graph, Node, is_sparse
from .ir.types import TensorType
from .ir.walk import walk_nodes

FLOPS_NOTE = (
    "FLOPs: conv/conv_transpose/gemm/matmul count 2 per multiply-accumulate; elementwise and "
    "activation ops 1 per output element; normalizations 2, softmax 3 per element; pooling "
    "the window per output element; reductions 1 per input element; data movement 0"
)


@dataclass
class ModelStats:
    """Counts over a graph and its subgraphs."""

    nodes: int = 0
    op_histogram: Counter = field(default_factory=Counter)
    params: int = 0
    param_bytes: int = 0
    flops: int = 0
    macs: int = 0
    flops_by_op: Counter = field(default_factory=Counter)
    uncounted: list[str] = field(default_factory=list)  # "op -> %value: reason"


def static_numel(t: TensorType | None) -> int | None:
    """Element count of a fully static shape, else None."""
    if t is None or t.shape is None or not all(isinstance(d, int) for d in t.shape):
        return None
    return math.prod(t.shape)


def node_flops(node: Node) -> tuple[int, int] | None:
    """``(flops, macs)`` of one node, or None when its shapes are not static.

    The counting rule is the op's ``cost`` trait (:meth:`compiler.ops.OpSchema.flops`); an op
    without a schema counts as data movement."""
    if node.op == CONST:
        return 0, 0
    from .ops.registry import get_schema
    from .ops.traits import node_flops as count

    s = get_schema(node.op)
    return s.flops(node) if s is not None else count(node, "none", {}, None)


def _const_size(value: Any) -> tuple[int, int]:
    if value is None:
        return 0, 0
    if is_sparse(value):
        coo_bytes = value.data.nbytes
        for part in ("indices", "indptr", "row", "col"):
            a = getattr(value, part, None)
            if a is not None:
                coo_bytes += a.nbytes
        return int(math.prod(value.shape)), int(coo_bytes)
    size = int(getattr(value, "size", 1))
    nbytes = int(getattr(value, "nbytes", 0))
    return size, nbytes


def model_stats(graph: Graph) -> ModelStats:
    """Histogram, parameters and FLOPs of ``graph`` (subgraphs included)."""
    st = ModelStats()
    _walk(graph, st)
    return st


def _walk(graph: Graph, st: ModelStats) -> None:
    for node, _ in walk_nodes(graph):
        st.nodes += 1
        st.op_histogram[node.op] += 1
        if node.op == CONST:
            n, b = _const_size(node.attrs.get("value"))
            st.params += n
            st.param_bytes += b
        else:
            r = node_flops(node)
            if r is None:
                name = node.outputs[0].name if node.outputs else "?"
                st.uncounted.append(f"{node.op} -> %{name}")
            else:
                st.flops += r[0]
                st.macs += r[1]
                st.flops_by_op[node.op] += r[0]


def human(n: float, unit: str = "") -> str:
    """``1234567 -> '1.23 M'`` (decimal prefixes); bytes use binary prefixes with unit 'B'."""
    if unit == "B":
        for p in ("B", "KiB", "MiB", "GiB", "TiB"):
            if abs(n) < 1024 or p == "TiB":
                return f"{n:.0f} {p}" if p == "B" else f"{n:.2f} {p}"
            n /= 1024
    for p in ("", "K", "M", "G", "T", "P"):
        if abs(n) < 1000 or p == "P":
            return f"{n:.0f}{unit}" if p == "" else f"{n:.2f} {p}{unit}"
        n /= 1000
    return str(n)  # pragma: no cover


__all__ = ["FLOPS_NOTE", "ModelStats", "human", "model_stats", "node_flops"]
