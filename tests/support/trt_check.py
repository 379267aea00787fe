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
    """``graph`` built with dynamic dims through the engine path itself: the tensorrt
    target's ``emit`` and ``build_engine`` (pre-flight, the fp16 plan's samples at the
    profile's opt shape, the optimization profile from ``ranges``, ``NAME:MIN,OPT,MAX``
    texts), with the stand-in builder recording the network and its config instead of
    building an engine (:func:`tests.support.trt_zoo.standin_engine_build`). :meth:`run`
    executes the network in the stand-in under that profile, refusing feeds outside it.
    ``layer_notes`` are the build's notes (``("fp32", layer, why)`` for each layer fp16
    keeps in fp32, ...)."""

    def __init__(self, graph: Graph, ranges: list[str], float16: bool = False) -> None:
        from targets import get_target
        from tests.support.trt_zoo import standin_engine_build

        target = get_target("tensorrt")
        opts = target.options({"float16": float16, "shape_ranges": tuple(ranges)})
        with standin_engine_build() as built:
            result = target.emit(graph, opts)
        self.graph = graph
        self.network = built.network
        self.tensors = result.tensor_map
        self.layer_notes = result.layer_notes
        (self.profile,) = built.config._profiles  # build_engine adds exactly one

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = trt.execute(self.network, dict(feeds), profile=self.profile)
        return {v.name: out[self.tensors[v.name].name] for v in self.graph.outputs}


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
