"""The TensorRT target's sparse rule: 2:4 weights run on sparse tensor cores.

Registered as ``"tensorrt"`` with :func:`compiler.sparse_payoff.register_rule` when the
TensorRT target is imported. Whether a weight qualifies is :func:`targets.tensorrt.sparsity.
verdict`'s (pattern along the reduction axis, shape multiples, no groups); a qualifying
weight is built with ``BuilderFlag.SPARSE_WEIGHTS`` (set by the target whenever one layer
qualifies, so a model pruned with ``pattern=2:4`` gets it with no option) and may run on
the sparse tensor cores of Ampere and newer GPUs, where TensorRT picks a sparse tactic only
when it times faster (TensorRT developer guide, "Structured Sparsity":
https://docs.nvidia.com/deeplearning/tensorrt/latest/inference-library/work-with-sparsity.html).
No TensorRT runs on this machine, so the effect is marked unverified and carries no factor;
the engine's build log says which layers took a sparse tactic (:mod:`.build_log`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from compiler.ir.graph import Node
from compiler.sparse_payoff import SparsePayoff, register_rule

from .sparsity import verdict

DOCS = ("TensorRT developer guide, Structured Sparsity (docs.nvidia.com/deeplearning/"
        "tensorrt/latest/inference-library/work-with-sparsity.html)")


def rule(node: Node, weight: np.ndarray, options: Mapping[str, Any]) -> SparsePayoff:
    """The TensorRT answer for ``node`` (its weight is read from the node, as the target
    reads it; ``weight`` and ``options`` are not needed)."""
    v = verdict(node)
    if v is None and np.asarray(weight).dtype.kind in "iu":
        return SparsePayoff("tensorrt", node.label, None,
                            evidence=f"{np.asarray(weight).dtype} weight behind a dequantize: "
                                     "the 2:4 check (targets/tensorrt/sparsity.py) takes "
                                     "constant float weights, so no sparse tactic is asked for")
    if v is None:
        return SparsePayoff("tensorrt", node.label, None,
                            evidence=f"{node.op}: no constant conv/matmul/gemm weight; "
                                     "TensorRT's 2:4 tactics do not apply")
    if not v.ok:
        return SparsePayoff("tensorrt", node.label, None,
                            evidence=f"stays dense: {v.why} (2:4 tactics need 2 zeros in "
                                     "every 4 along the reduction axis, outputs % 8, "
                                     f"reduction % 16; {DOCS})")
    return SparsePayoff("tensorrt", node.label, "2:4", ("latency",), None,
                        f"{v.why}: built with SPARSE_WEIGHTS, sparse tensor cores on Ampere "
                        f"and newer when TensorRT times the sparse tactic faster (unverified "
                        f"here: no TensorRT on this machine; {DOCS})", verified=False)


register_rule("tensorrt", rule)

__all__ = ["DOCS", "rule"]
