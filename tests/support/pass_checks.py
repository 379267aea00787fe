"""Checks for pass tests: run one pass on IR text, compare printed IR, compare numerics.

``apply`` parses the text twice so the graph before and the graph after share nothing;
``assert_same_numerics`` runs both on the reference interpreter with the same seeded
normal inputs (symbolic dims set to 2) and compares every output, dtype included.
"""

from __future__ import annotations

import numpy as np

from compiler.interpreter import Interpreter
from compiler.ir import Graph, parse_graph, print_graph, verify
from compiler.pass_manager.base import PassContext


def apply(p, text: str):
    """Parse ``text``, run pass ``p``; returns (graph before, graph after, PassResult)."""
    before = parse_graph(text)
    verify(before)
    after = parse_graph(text)  # parsed twice: subgraphs and attrs are never shared
    result = p.run(after, PassContext())
    verify(after)
    return before, after, result


def assert_ir(graph: Graph, expected: str) -> None:
    want = print_graph(parse_graph(expected))
    got = print_graph(graph)
    assert got == want, f"got:\n{got}\nwanted:\n{want}"


def feeds_for(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for v in graph.inputs:
        shape = tuple(d if isinstance(d, int) else 2 for d in v.type.shape)
        out[v.name] = rng.standard_normal(shape).astype(v.type.dtype.numpy)
    return out


def assert_same_numerics(before: Graph, after: Graph, rtol: float = 0.0, atol: float = 0.0, seed: int = 0):
    feeds = feeds_for(before, seed)
    ref = Interpreter(before).run(feeds)
    got = Interpreter(after).run(feeds)
    assert [v.name for v in before.outputs] == [v.name for v in after.outputs]
    for name in ref:
        np.testing.assert_allclose(got[name], ref[name], rtol=rtol, atol=atol, err_msg=name)
        assert got[name].dtype == ref[name].dtype
