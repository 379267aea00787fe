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

from .ir.graph import CONST, Graph, Node, Value, is_sparse
from .ir.types import TensorType
from .ir.walk import walk_nodes

# Ops whose MACs are computed from shapes, with the positions of (data, weight) inputs.
_CONV = {"conv": (0, 1), "conv_integer": (0, 1), "qlinear_conv": (0, 3)}
_CONV_T = {"conv_transpose": (0, 1)}
_MATMUL = {"matmul": (0, 1), "matmul_integer": (0, 1), "qlinear_matmul": (0, 3), "gemm": (0, 1)}
_BIAS = {"conv": 2, "conv_transpose": 2, "gemm": 2, "qlinear_conv": 8}

ELEMENTWISE = frozenset(
    """add sub mul div pow mod neg abs sqrt reciprocal exp log erf sin cos tan asin acos atan
    sinh cosh asinh acosh atanh floor ceil round sign max min mean sum where equal less
    less_or_equal greater greater_or_equal not and or xor bitwise_and bitwise_or bitwise_xor
    bitwise_not bit_shift relu leaky_relu prelu elu selu celu gelu sigmoid hard_sigmoid
    hard_swish swish silu mish tanh softplus softsign thresholded_relu shrink clip
    quantize dequantize is_nan is_inf""".split()
)
NORMALIZATION = frozenset(
    "batch_norm instance_normalization layer_normalization group_normalization "
    "lp_normalization mean_variance_normalization lrn rms_normalization".split()
)
SOFTMAX = frozenset("softmax log_softmax hardmax".split())
POOL = frozenset("max_pool average_pool lp_pool".split())
GLOBAL_POOL = frozenset("global_average_pool global_max_pool global_lp_pool".split())
_ELEMENTWISE_CATEGORIES = frozenset({"elementwise", "activation"})

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


def _shape(v: Value | None) -> tuple[int, ...] | None:
    if v is None or v.type.shape is None or not all(isinstance(d, int) for d in v.type.shape):
        return None
    return tuple(v.type.shape)


def node_flops(node: Node) -> tuple[int, int] | None:
    """``(flops, macs)`` of one node, or None when its shapes are not static."""
    op = node.op
    if op == CONST:
        return 0, 0
    out = _shape(node.outputs[0]) if node.outputs else None
    out_n = math.prod(out) if out is not None else None
    extra = 0
    if out_n is not None:
        if node.attrs.get("activation"):
            extra += out_n
        bias_at = _BIAS.get(op)
        if bias_at is not None and node.input(bias_at) is not None:
            extra += out_n
    if op in _CONV:
        w = _shape(node.input(_CONV[op][1]))
        if out_n is None or w is None:
            return None
        macs = out_n * math.prod(w[1:])
        return 2 * macs + extra, macs
    if op in _CONV_T:
        x = _shape(node.input(0))
        w = _shape(node.input(1))
        if x is None or w is None or out_n is None:
            return None
        macs = math.prod(x) * math.prod(w[1:])
        return 2 * macs + extra, macs
    if op in _MATMUL:
        a_idx = _MATMUL[op][0]
        a = _shape(node.input(a_idx))
        if a is None or out_n is None or not a:
            return None
        if op == "gemm":
            k = a[0] if node.attrs.get("transA", 0) else a[-1]
        else:
            k = a[-1]
        macs = out_n * k
        return 2 * macs + extra, macs
    if out_n is None:
        return None
    if op in ELEMENTWISE or _category(op) in _ELEMENTWISE_CATEGORIES:
        return out_n + extra, 0
    if op in NORMALIZATION:
        return 2 * out_n, 0
    if op in SOFTMAX:
        return 3 * out_n, 0
    if op in POOL:
        k = node.attrs.get("kernel_shape")
        if not k:
            return None
        return out_n * math.prod(k), 0
    if op in GLOBAL_POOL or op.startswith("reduce_"):
        x = _shape(node.input(0))
        return (math.prod(x), 0) if x is not None else None
    return 0, 0


def _category(op: str) -> str:
    from .ops.registry import get_schema

    s = get_schema(op)
    return s.category if s is not None else ""


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
