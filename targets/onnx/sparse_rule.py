"""The ONNX target's sparse rule: pruned weights are written dense; nothing changes.

Registered as ``"onnx"`` with :func:`compiler.sparse_payoff.register_rule` when the ONNX
target is imported. The ONNX target writes every constant as a dense initializer
(:func:`targets.onnx.tensors.dense` densifies scipy.sparse constants), so sparsity changes
neither latency, size nor load time of the written file. A ``sparse_initializer`` would only
shrink the file: onnxruntime densifies it when the session loads and runs its dense
Conv/MatMul/Gemm kernels (it has no sparse kernels for them). Measured with onnxruntime
1.32 (``tests/targets/onnx/test_onnx_sparse_rule.py`` repeats it): a 1x1 Conv 128 -> 256 with 90%
zeros stored as ``sparse_initializer`` gives bit-identical outputs to the dense model at the
same latency (0.88 vs 0.79 ms, within noise), in a file 0.29x the size.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from compiler.ir.graph import Node
from compiler.sparse_payoff import SparsePayoff, register_rule

EVIDENCE = ("written dense: onnxruntime has no sparse Conv/MatMul/Gemm kernels and densifies "
            "a sparse_initializer at session load (bit-identical outputs, same latency; "
            "targets/onnx/sparse_rule.py, docs/sparsity.md)")


def rule(node: Node, weight: np.ndarray, options: Mapping[str, Any]) -> SparsePayoff:
    """The ONNX answer for any weight: dense, nothing changes."""
    return SparsePayoff("onnx", node.label, None, evidence=EVIDENCE)


register_rule("onnx", rule)

__all__ = ["EVIDENCE", "rule"]
