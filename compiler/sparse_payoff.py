"""What storing one weight sparse buys on one target: the contract between the targets'
sparse rules, the ``sparsify`` pass and the sparsity report.

Each runtime or target that can run or store sparse weights registers one rule with
:func:`register_rule`, next to its own code (the rule is a fact about that target, and cites
the measurement it rests on). A rule looks at one weight-carrying node and its dense weight
and answers with a :class:`SparsePayoff`: how the target would store the weight, which of
latency, file size and load time that storage changes, and the evidence.

This module sits low in the layer stack (it imports only the standard library and the IR
node type for annotations) so that passes can ask a rule without importing targets; the
targets fill the registry when they are imported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from compiler.ir.graph import Node

#: the effects a storage can have; an empty tuple means "nothing changes"
EFFECTS = ("latency", "size", "load")


@dataclass(frozen=True)
class SparsePayoff:
    """One rule's answer for one weight.

    ``target``: the rule's name (``"reference"``, ``"tflite"``, ``"tensorrt"``, ``"onnx"``);
    ``layer``: the node's label; ``storage``: how the target would store the weight
    (``"csc"``, ``"coo"``, ``"tflite-csr"``, ``"tflite-1x4"``, ``"2:4"``), or None when it
    stays dense; ``effects``: a subset of :data:`EFFECTS` with their direction in
    ``factors`` (measured or estimated ratio sparse/dense, e.g. ``{"latency": 0.3,
    "size": 0.15, "load": 2.5}``); ``evidence``: one sentence saying why, naming the
    measurement (docs page and bench command) it rests on; ``verified``: False when the
    effect was not measured on this kind of machine (e.g. XNNPACK's ARM sparse path)."""

    target: str
    layer: str
    storage: str | None
    effects: tuple[str, ...] = ()
    factors: Mapping[str, float] | None = None
    evidence: str = ""
    verified: bool = True


#: rule(node, dense_weight, options) -> SparsePayoff
Rule = Callable[["Node", "np.ndarray", Mapping[str, Any]], SparsePayoff]

_RULES: dict[str, Rule] = {}


def register_rule(target: str, rule: Rule) -> Rule:
    """Register ``rule`` as ``target``'s sparse rule (a later registration replaces an
    earlier one of the same name)."""
    _RULES[target] = rule
    return rule


def rule_for(target: str) -> Rule | None:
    """The registered rule of ``target``, or None."""
    return _RULES.get(target)


def rule_names() -> list[str]:
    """The names of the registered rules, sorted."""
    return sorted(_RULES)
