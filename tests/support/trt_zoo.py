"""The model zoo through the TensorRT target and the stand-in, fp32, fp16 and int8.

One home for the procedure that ``tests/targets/tensorrt/test_zoo.py`` asserts on and
``bench/tensorrt_zoo.py`` prints as a table. The cases are those of
:func:`tests.support.onnx_zoo.cases` (model, load options, source oracle). For each case and
precision:

1. load the model (``compiler.load`` with the case's options, plus :data:`INPUT_SHAPES`
   where the case leaves a dim open, which TensorRT needs fixed here);
2. compile it with ``compiler.compile(graph, target="tensorrt", float16=..., int8=...)``:
   the target's own pipeline, pre-flight and ``build_engine``, with ``import tensorrt``
   answered by the stand-in (``tests/support/trt_standin``) whose builder hands back the
   network instead of refusing to build an engine (:func:`standin_engine_build`);
3. execute the network in the stand-in on the seeded inputs
   (:func:`tests.support.onnx_zoo.seeded_inputs`) and compare:

   * fp32: with the reference interpreter on the compiled graph, and with the source
     framework's oracle (onnxruntime, LiteRT, torch, Keras, OpenCV) where the case has one;
   * fp16: with the float reference (the reference interpreter on the same float graph), and
     how many layers the network keeps in fp32;
   * int8 (calibrated on :data:`CALIBRATION_SAMPLES` seeded draws from the input
     distribution, seeds 1..8; the compared input, seed 0, is not among them): with the
     fake-quant reference (the reference interpreter on the quantized graph), layer by layer
     (:func:`layerwise`: each node's kernel on the stand-in's own inputs, so one int8
     rounding that a float32 sum in another order tips the other way does not propagate),
     and, as output SQNR in dB, with the float model (the reference interpreter on the
     loaded graph).

Errors are max |a - b| over all outputs divided by max(max |b|, the case's floor). A model
infercc refuses to load, or the pre-flight refuses, is a refused row with the reason (the
pre-flight's ``op: reason`` list), never a pass. Nothing here runs real TensorRT.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tests.support.onnx_zoo import (  # noqa: F401 - cases: re-exported, the cases run here
    Case, _refusal, _rel, cases, seeded_inputs)

PRECISIONS = ("fp32", "fp16", "int8")
CALIBRATION_SAMPLES = 8

#: Fixed shapes for cases whose inputs have open dims: the source's own sizes, batch 1 (the
#: table is about fixed-shape networks; tests/targets/tensorrt/test_dynamic.py covers
#: optimization profiles).
INPUT_SHAPES: dict[str, dict[str, tuple[int, ...]]] = {
    "examples/tiny_cnn.onnx": {"input": (1, 3, 32, 32)},
    "hello_world_float": {"dense_input": (1, 1)},
    "examples/digits_cnn.keras": {"digits": (1, 8, 8, 1)},
    "keras_fer": {"input_1": (1, 64, 64, 1)},
    "basic_pitch_nmp.onnx": {"serving_default_input_2:0": (1, 43844, 1)},
    "basic_pitch_nmp.tflite": {"input_2": (1, 43844, 1)},
    "basic_pitch_savedmodel": {"input_2": (1, 43844, 1)},
}


@dataclasses.dataclass
class Row:
    """One line of the table. ``refused``: why infercc or the pre-flight refused the model
    (None when it was built); the error fields are None where they do not apply."""

    model: str
    source_format: str
    precision: str
    layers: int | None = None
    err_ref: float | None = None  # vs reference / float reference / fake-quant
    err_layer: float | None = None  # int8: worst node vs its kernel on the same inputs
    err_source: float | None = None  # fp32: vs the source framework
    sqnr_db: float | None = None  # int8: vs the float model
    fp32_kept: int | None = None  # fp16: layers kept in fp32
    refused: str | None = None
    note: str = ""
    seconds: float = 0.0


# -- the engine build, answered by the stand-in ------------------------------------------------


class _Recorded:
    """What the stand-in builder was asked to build: the network, the builder config and
    the builder's logger."""

    network: Any = None
    config: Any = None
    logger: Any = None  # the logger the builder was created with


def _standin_module(recorded: _Recorded) -> Any:
    """The stand-in ``trt`` module, except that its builder records the network it is asked
    to build (after the stand-in's own config checks) and returns an empty plan."""
    import types

    from tests.support import trt_standin

    class Builder(trt_standin.Builder):
        def build_serialized_network(self, network: Any, config: Any) -> bytes:
            config._check(network)  # what the stand-in checks before it refuses to build
            recorded.network, recorded.config = network, config
            recorded.logger = self.logger
            return b""

    module = types.ModuleType("tensorrt_standin_recording")
    module.__dict__.update({k: getattr(trt_standin, k) for k in dir(trt_standin)
                            if not k.startswith("__")})
    module.Builder = Builder  # type: ignore[attr-defined]
    return module


@contextlib.contextmanager
def standin_engine_build() -> Iterator[_Recorded]:
    """Within it, the tensorrt target's ``import_tensorrt`` returns the recording stand-in:
    ``compiler.compile(..., target="tensorrt")`` runs unchanged up to the engine build,
    whose network lands in the yielded record."""
    import targets.tensorrt.target as target_mod

    recorded = _Recorded()
    module = _standin_module(recorded)
    saved = target_mod.import_tensorrt
    target_mod.import_tensorrt = lambda: module  # type: ignore[assignment]
    try:
        yield recorded
    finally:
        target_mod.import_tensorrt = saved  # type: ignore[assignment]


# -- one case ----------------------------------------------------------------------------------


def calibration_feeds(graph: Any, values: dict[str, np.ndarray],
                      n: int = CALIBRATION_SAMPLES) -> list[dict[str, np.ndarray]]:
    """``n`` feed dicts drawn like :func:`seeded_inputs`, seeds 1..n."""
    return [{v.name: x for v, x in zip(graph.inputs, seeded_inputs(graph, values, seed=s))}
            for s in range(1, n + 1)]


def preflight_refusal(error: Any) -> str:
    """The pre-flight's problems as ``op: reason`` (each once), or the error's first line."""
    found = getattr(error, "problems", None)
    if not found:
        return str(error).splitlines()[0][:200]
    seen: dict[str, None] = {}
    for p in found:
        seen.setdefault(f"{p.op}: {p.reason}", None)
    return "; ".join(seen)


def _sqnr(ref: Sequence[np.ndarray], got: Sequence[np.ndarray]) -> float:
    from compiler.debug.metrics import sqnr_db

    return float(sqnr_db(np.concatenate([np.asarray(a, np.float64).ravel() for a in ref]),
                         np.concatenate([np.asarray(a, np.float64).ravel() for a in got])))


def layerwise(graph: Any, network: Any, tensor_map: Any, feeds: dict[str, np.ndarray],
              floor: float = 1e-6) -> tuple[float, str]:
    """The worst node of ``graph`` when each node's reference kernel runs on the stand-in's
    own values of its inputs: max |stand-in - kernel| / max(max |kernel|, floor) over the
    nodes whose inputs and outputs the network computes, and that node's label. An int8
    code is compared as its value (one step of 127 is 7.9e-3 relative)."""
    from compiler.ops.registry import schema_or_raise
    from compiler.ir.graph import CONST
    from tests.support import trt_standin as trt

    values = trt.execute(network, {v.name: feeds[v.name] for v in graph.inputs}, keep=True)

    def value(v: Any) -> np.ndarray | None:
        if v.is_const:
            return np.asarray(v.const_value)
        t = tensor_map.get(v.name)
        got = values.get(t.name) if t is not None else None
        shape = v.type.shape
        if got is not None and shape is not None and all(isinstance(d, int) for d in shape) \
                and got.shape != tuple(shape) and got.size == int(np.prod(shape)):
            # A converter may keep a value with an appended unit axis (a 1-D convolution's
            # int8 kernel dequantizes straight to the 2-D kernel): the same data.
            got = got.reshape(shape)
        return got

    worst, where = 0.0, "-"
    for node in graph.nodes:
        if node.op == CONST:
            continue
        args = [None if v is None else value(v) for v in node.inputs]
        outs = [value(v) for v in node.outputs if v.has_uses or v.is_graph_output]
        if any(a is None for v, a in zip(node.inputs, args) if v is not None) or \
                any(o is None for o in outs) or not outs:
            continue
        schema = schema_or_raise(node.op)
        want = schema.kernel(args, schema.resolve_attrs(node.attrs))
        want = want if isinstance(want, (list, tuple)) else [want]
        live = [w for v, w in zip(node.outputs, want) if v.has_uses or v.is_graph_output]
        err = _worst(outs, [np.asarray(w) for w in live], floor)
        if err > worst:
            worst, where = err, node.label
    return worst, where


def _worst(got: Sequence[np.ndarray], want: Sequence[np.ndarray], floor: float) -> float:
    errs = [_rel(a, b, floor) for a, b in zip(got, want)]
    return max(errs) if errs else 0.0


def run_case(case: Case, precision: str, tmp: Path | None = None,
             keep_float: Sequence[str] = (), seed: int = 0) -> Row:
    """Load, compile through the stand-in, execute and compare one case at one precision.
    ``keep_float``: fp16 only, layers kept in fp32 by name (``compile(keep_float=...)``);
    ``seed``: of the compared input (:func:`seeded_inputs`)."""
    import compiler
    from compiler.errors import InferccError
    from compiler.interpreter import run_graph
    from tests.support import trt_standin as trt

    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    t0 = time.perf_counter()
    owned = tmp is None
    work = Path(tempfile.mkdtemp(prefix="trt_zoo_")) if owned else tmp
    row = Row(case.id, case.source_format, precision)
    try:
        model, opts, oracle = case.model(work)
        shapes = INPUT_SHAPES.get(case.id)
        if shapes:
            opts = {**opts, "input_shapes": {**opts.get("input_shapes", {}), **shapes}}
        try:
            source = compiler.load(model, **opts)
        except InferccError as e:
            row.refused = "infercc: " + _refusal(str(e))
            return row
        xs = seeded_inputs(source, case.values, seed)
        feeds = {v.name: x for v, x in zip(source.inputs, xs)}
        kw: dict[str, Any] = {}
        if precision == "fp16":
            kw.update(float16=True, keep_float=list(keep_float))
        elif precision == "int8":
            kw.update(int8=True, calibration=calibration_feeds(source, case.values))
        with standin_engine_build() as built:
            try:
                result = compiler.compile(source.copy(), target="tensorrt", **kw)
            except InferccError as e:
                row.refused = preflight_refusal(e)
                return row
        graph, network = result.graph, built.network
        row.layers = network.num_layers
        out = trt.execute(network, {v.name: feeds[v.name] for v in graph.inputs})
        names = result.emitted.tensor_map
        got = [out[names[v.name].name] for v in graph.outputs]
        ref = run_graph(graph, {v.name: feeds[v.name] for v in graph.inputs})
        want = [ref[v.name] for v in graph.outputs]
        row.err_ref = _worst(got, want, case.floor)
        if precision == "fp32" and oracle is not None:
            row.err_source = _worst(got, oracle(xs), case.floor)
            row.note = "source: " + case.source_format.split(" ")[0]
        elif precision == "fp16":
            notes = result.emitted.layer_notes or []
            kept = [layer for kind, layer, _ in notes if kind == "fp32"]
            row.fp32_kept = len(kept)
            if kept:
                row.note = "kept fp32: " + ", ".join(kept[:4]) + (" ..." if len(kept) > 4 else "")
        elif precision == "int8":
            row.err_layer, where = layerwise(graph, network, names, feeds, case.floor)
            flt = run_graph(source, feeds)
            row.sqnr_db = _sqnr([flt[v.name] for v in source.outputs], got)
            q = result.quantization
            row.note = f"{q.num_quantized if q is not None else 0} ops int8"
            if row.err_layer:
                row.note += f"; worst layer {where[:60]}"
        return row
    finally:
        row.seconds = time.perf_counter() - t0
        if owned:
            shutil.rmtree(work, ignore_errors=True)


def _fmt(x: float | None, spec: str = ".2g") -> str:
    return "-" if x is None else format(x, spec)


def table(found: Sequence[Row]) -> str:
    """The rows as a Markdown table."""
    lines = ["| model | source format | precision | layers | max err vs reference "
             "| vs source (fp32) | layer by layer (int8) | SQNR dB (int8) "
             "| fp32-kept layers (fp16) | note |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in found:
        if r.refused is not None:
            lines.append(f"| {r.model} | {r.source_format} | {r.precision} | - | **refused** "
                         f"| - | - | - | - | {r.refused} |")
            continue
        lines.append(f"| {r.model} | {r.source_format} | {r.precision} | {_fmt(r.layers, 'd')} "
                     f"| {_fmt(r.err_ref)} | {_fmt(r.err_source)} | {_fmt(r.err_layer)} "
                     f"| {_fmt(r.sqnr_db, '.1f')} "
                     f"| {_fmt(r.fp32_kept, 'd')} | {r.note} |")
    return "\n".join(lines)
