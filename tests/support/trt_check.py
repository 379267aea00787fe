"""Run an IR graph through the TensorRT converters and the stand-in, beside the reference.

``through_standin(graph, feeds)`` builds the network with :func:`targets.tensorrt.network.
build_network` on the stand-in ``trt`` module and executes it there (numpy, TensorRT's
documented semantics); ``reference(graph, feeds)`` runs the IR reference interpreter. Output
names are the IR output names in both. ``max_abs_diff`` compares them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from compiler.ir import Graph
from compiler.runtime import open_executor
from targets.tensorrt.network import build_network
from targets.tensorrt.preflight import check
from tests.support import trt_standin as trt


def through_standin(graph: Graph, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    check(graph, graph.name)
    network, ctx = build_network(graph, trt)  # type: ignore[arg-type]
    out = trt.execute(network, dict(feeds))
    return {v.name: out[ctx.tensors[v.name].name] for v in graph.outputs}


class ProfiledNetwork:
    """``graph`` built once with dynamic dims and the optimization profile of ``ranges``
    (``NAME:MIN,OPT,MAX`` texts), as the engine path builds it; :meth:`run` executes it in
    the stand-in, which refuses feeds outside the profile."""

    def __init__(self, graph: Graph, ranges: list[str], float16: bool = False) -> None:
        from targets.tensorrt.precision import sample_feeds
        from targets.tensorrt.profile import add_profile, parse_shape_ranges, profile_ranges
        from targets.tensorrt.target import TensorRTOptions

        parsed = parse_shape_ranges(ranges)
        check(graph, graph.name, parsed)
        builder = trt.Builder(trt.Logger())
        self.graph = graph
        profile = profile_ranges(graph, parsed)
        samples = sample_feeds(graph, shapes={r.name: r.opt for r in profile})
        self.network, self.ctx = build_network(  # type: ignore[arg-type]
            graph, trt, TensorRTOptions(float16=float16), builder=builder,  # type: ignore[arg-type]
            samples=samples)
        self.config = builder.create_builder_config()
        assert add_profile(trt, builder, self.config, profile) == 0  # type: ignore[arg-type]
        self.profile = self.config._profiles[0]

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = trt.execute(self.network, dict(feeds), profile=self.profile)
        return {v.name: out[self.ctx.tensors[v.name].name] for v in self.graph.outputs}


def reference(graph: Graph, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return dict(open_executor("reference", graph).run(dict(feeds)).outputs)


def max_abs_diff(graph: Graph, feeds: Mapping[str, np.ndarray]) -> float:
    """The largest |TensorRT stand-in - reference| over every output (shapes must agree)."""
    got, want = through_standin(graph, feeds), reference(graph, feeds)
    worst = 0.0
    for name, w in want.items():
        g = got[name]
        assert g.shape == w.shape, f"{name}: shape {g.shape} != reference {w.shape}"
        assert g.dtype == w.dtype, f"{name}: dtype {g.dtype} != reference {w.dtype}"
        if g.size:
            worst = max(worst, float(np.max(np.abs(g.astype(np.float64) - w))))
    return worst
