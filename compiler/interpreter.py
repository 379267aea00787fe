"""The reference interpreter: runs an IR graph with each op's numpy kernel.

It is the semantics every target is checked against. Quantize/dequantize nodes run as
fake-quant, so a quantized graph's accuracy is measurable before any target exists.
Intermediate arrays are released after their last use, so peak memory stays near the
largest live set rather than the whole graph.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .errors import InferccError
from .ir.graph import Graph, Node, Value
from .ops.registry import schema_or_raise

log = logging.getLogger(__name__)


class InterpreterError(InferccError):
    """A node failed at run time; names the node and its source layer."""


class Interpreter:
    """Runs ``graph`` on numpy inputs.

    ``observer(node, outputs)`` (optional) sees every node's outputs as they are produced;
    calibration uses it to collect statistics without keeping all activations alive.
    """

    def __init__(self, graph: Graph):
        self.graph = graph
        self._plan = self._compile(graph)

    @staticmethod
    def _compile(graph: Graph):
        last_use: dict[int, int] = {}
        for i, node in enumerate(graph.nodes):
            for v in node.inputs:
                if v is not None:
                    last_use[id(v)] = i
        keep = {id(v) for v in graph.outputs}
        plan = []
        for i, node in enumerate(graph.nodes):
            schema = schema_or_raise(node.op)
            attrs = schema.resolve_attrs(node.attrs)
            free = [
                id(v)
                for v in {id(v): v for v in node.inputs if v is not None}.values()
                if last_use.get(id(v)) == i and id(v) not in keep
            ]
            plan.append((node, schema, attrs, free))
        return plan

    def run(
        self,
        feeds: Mapping[str, Any],
        observer: Callable[[Node, list[np.ndarray]], None] | None = None,
        outputs: list[str] | None = None,
    ) -> dict[str, np.ndarray]:
        env: dict[int, Any] = {}
        names = {v.name for v in self.graph.inputs}
        missing = [n for n in names if n not in feeds]
        extra = [n for n in feeds if n not in names]
        if missing or extra:
            raise InterpreterError(
                f"graph @{self.graph.name} inputs are {sorted(names)}; "
                f"missing {sorted(missing)}, unexpected {sorted(extra)}"
            )
        for v in self.graph.inputs:
            env[id(v)] = _coerce(feeds[v.name], v)
        wanted: dict[int, Value] = {id(v): v for v in self.graph.outputs}
        if outputs:
            by_name = {v.name: v for v in self.graph.values()}
            wanted = {id(by_name[n]): by_name[n] for n in outputs}
        for node, schema, attrs, free in self._plan:
            args = [None if v is None else env[id(v)] for v in node.inputs]
            try:
                result = schema.kernel(args, attrs)
            except InferccError:
                raise
            except Exception as e:
                src = f" (source layer {', '.join(node.source)})" if node.source else ""
                shapes = ", ".join("_" if a is None else str(np.shape(a)) for a in args)
                raise InterpreterError(
                    f"{node.op} -> %{node.outputs[0].name}{src} failed on inputs of shape "
                    f"({shapes}): {type(e).__name__}: {e}"
                ) from e
            if not isinstance(result, (list, tuple)):
                result = [result]
            outs = []
            for v, r in zip(node.outputs, result):
                r = np.asarray(r) if not isinstance(r, np.ndarray) and not isinstance(r, list) else r
                env[id(v)] = r
                outs.append(r)
            if observer is not None:
                observer(node, outs)
            for k in free:
                if k not in wanted:
                    env.pop(k, None)
        return {v.name: env[k] for k, v in wanted.items()}


def _coerce(x: Any, v: Value) -> np.ndarray:
    a = np.asarray(x)
    want = v.type.dtype.numpy
    if a.dtype != want and v.type.dtype.value != "str":
        a = a.astype(want)
    return a


def run_graph(graph: Graph, feeds: Mapping[str, Any], **kw: Any) -> dict[str, np.ndarray]:
    """One-shot convenience: ``Interpreter(graph).run(feeds)``."""
    return Interpreter(graph).run(feeds, **kw)
