"""Running a model file from the command line: what ``infercc run`` and ``infercc compare``
share.

Which executor runs what, and the names its feeds, outputs and layers go by (``--executor``
picks another where the model can be loaded for it):

* ``.tflite``: ``litert``, the file itself (int8 outputs dequantized); TFLite tensor names;
* ``.onnx``: ``onnxruntime-model``, the file itself, after infercc's ONNX frontend has
  checked it; ONNX value names;
* ``.engine``/``.plan``: ``tensorrt``, the serialized engine in TensorRT's Python runtime
  (needs TensorRT and a CUDA GPU; elsewhere a clear error saying what to run instead); the
  engine's I/O tensor names;
* any other model infercc reads: ``onnxruntime``, infercc's IR exported to ONNX in memory;
  IR value names.

``--executor reference`` runs infercc's IR in the numpy reference interpreter instead (slow;
the semantics every other executor is checked against); ``--executor onnxruntime`` runs a
``.onnx`` or ``.tflite`` through infercc's IR.

Feeds: ``--inputs X.npz`` holds one array per input name; an input the file does not hold
gets seeded random data (float: standard normal; quantized int8 inputs: floats spanning the
representable range; integers: 0..9; booleans: coin flips), and each such choice is
reported as a note. Dims a model leaves open come from ``--input-shape``; an open leading
(batch) dim defaults to 1, any other open dim is an error naming the flag to add.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UnsupportedOpsError
from .common import UsageError, load_model

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

#: executors ``--executor`` may name (what each runs: see the module doc)
EXECUTORS = ("litert", "onnxruntime-model", "onnxruntime", "reference", "tensorrt")
#: engine file suffixes, run by the tensorrt executor
ENGINE_SUFFIXES = (".engine", ".plan")


@dataclass
class InputSpec:
    """One model input: its name, declared shape (``None`` or a symbol for open dims), numpy
    dtype, and ``(scale, zero_point)`` when it is a quantized integer input."""

    name: str
    shape: tuple
    dtype: np.dtype
    quant: tuple[float, int] | None = None


@dataclass
class RunnableModel:
    """A model file ready to be opened in its executor (see :func:`prepare`).

    ``tensor_names``: the intermediate values the executor can capture, in execution order.
    ``open(capture)``: the executor, able to capture those of ``capture`` asked for.
    """

    path: str
    executor_name: str
    inputs: list[InputSpec]
    tensor_names: list[str]
    opener: Callable[[Sequence[str]], Any] = field(repr=False)
    notes: list[str] = field(default_factory=list)

    def open(self, capture: Sequence[str] = ()) -> Any:
        return self.opener(list(capture))


def add_run_flags(p: argparse.ArgumentParser) -> None:
    """The flags ``run`` and ``compare`` share: inputs, executor, threads."""
    p.add_argument("--inputs", metavar="X.npz",
                   help="input data: one array per input name (default: seeded random data)")
    p.add_argument("--executor", choices=EXECUTORS,
                   help="what runs the model (default: litert for .tflite, onnxruntime-model "
                   "for .onnx, tensorrt for .engine/.plan, onnxruntime for other formats)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="executor threads (default: 1 for LiteRT, onnxruntime's own choice)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the random inputs (default: 0)")


def default_executor(path: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in ENGINE_SUFFIXES:
        return "tensorrt"
    return {".tflite": "litert", ".onnx": "onnxruntime-model"}.get(suffix, "onnxruntime")


def prepare(path: str, *, executor: str | None = None,
            input_shapes: dict[str, list[Any]] | None = None, weights: str | None = None,
            threads: int | None = None) -> RunnableModel:
    """Check ``path`` and describe how it runs in ``executor`` (default: by its format)."""
    import numpy as np

    from ..runtime import open_executor

    name = executor or default_executor(path)
    suffix = Path(path).suffix.lower()
    opts: dict[str, Any] = {} if threads is None else {"threads": threads}
    if name == "litert":
        if suffix != ".tflite":
            raise UsageError(f"{path}: the litert executor runs .tflite files; compile the "
                             f"model first (infercc compile {path} -o model.tflite)")
        from ..frontends.tflite.reader import read_model

        read_model(path)  # the flatbuffer is checked before LiteRT sees it
        ex = open_executor("litert", path, dequantize=True, **opts)
        specs = _litert_inputs(ex)
        notes = [f"input {s.name} is {s.dtype} (scale {s.quant[0]:g}, zero point "
                 f"{s.quant[1]}): float data is quantized by the executor"
                 for s in specs if s.quant]
        quantized_out = [n for n, d in zip(ex.output_names, ex.output_details)
                         if np.dtype(d["dtype"]).kind in "iu" and d["quantization"][0]]
        if quantized_out:
            notes.append(f"quantized outputs {', '.join(quantized_out)} are dequantized to "
                         "float32")
        return RunnableModel(path, name, specs, _litert_tensor_names(ex),
                             lambda capture: ex, notes)
    if name == "onnxruntime-model":
        if suffix != ".onnx":
            raise UsageError(f"{path}: the onnxruntime-model executor runs .onnx files")
        notes = []
        try:
            load_model(path, input_shapes)  # infercc's checks (external data, cycles, ...)
        except UnsupportedOpsError as e:
            # the file was read and checked; only lowering it into infercc's IR is refused
            notes.append(f"{path}: onnxruntime runs ops infercc cannot load ("
                         + ", ".join(sorted(e.unsupported)) + ")")
        first = open_executor("onnxruntime-model", path, **opts)
        specs = [InputSpec(n, tuple(s), d) for n, s, d in first.inputs]

        def open_onnx(capture: Sequence[str]) -> Any:
            return open_executor("onnxruntime-model", path, capture=capture, **opts) \
                if capture else first

        return RunnableModel(path, name, specs, list(first.value_names), open_onnx, notes)
    if name == "tensorrt" or suffix in ENGINE_SUFFIXES:
        return _prepare_engine(path, name, opts)
    graph = load_model(path, input_shapes, weights=weights)
    specs = [InputSpec(v.name, tuple(None if d == "?" else d for d in (v.type.shape or ())),
                       v.type.dtype.numpy) for v in graph.inputs]
    names = [o.name for n in graph.nodes if n.op != "const" for o in n.outputs]
    if name == "reference":
        ex = open_executor("reference", graph, **opts)
        return RunnableModel(path, name, specs, names, lambda capture: ex)

    def open_ir(capture: Sequence[str]) -> Any:
        return open_executor("onnxruntime", graph, capture=capture, **opts)

    return RunnableModel(path, name, specs, names, open_ir)


def _prepare_engine(path: str, name: str, opts: dict[str, Any]) -> RunnableModel:
    """A TensorRT engine in the tensorrt executor (the only one that runs engines); its
    ExecutorError says what is missing where TensorRT or a GPU is not there."""
    from ..runtime import open_executor

    if name != "tensorrt":
        raise UsageError(f"{path}: a TensorRT engine runs in the tensorrt executor only "
                         "(drop --executor, or give the model it was compiled from)")
    if Path(path).suffix.lower() not in ENGINE_SUFFIXES:
        from targets.tensorrt.runtime import unavailable_reason

        why = unavailable_reason()
        raise UsageError(f"{path}: the tensorrt executor runs TensorRT engines (.engine, "
                         f".plan); build one with infercc compile {path} --target tensorrt "
                         "-o model.engine" + ("" if why is None else
                                              f" where TensorRT and an NVIDIA GPU are (here "
                                              f"{why}); on this machine drop --executor to "
                                              f"run {path} in onnxruntime"))
    if not Path(path).is_file():
        raise UsageError(f"{path}: no such file")
    ex = open_executor("tensorrt", path, **opts)
    specs = [InputSpec(n, tuple(None if d < 0 else d for d in t.shape), t.numpy_dtype)
             for n, t in zip(ex.input_names, [t for t in ex.io if t.is_input])]
    return RunnableModel(path, name, specs, list(ex.output_names), lambda capture: ex)


def _litert_inputs(ex: Any) -> list[InputSpec]:
    import numpy as np

    specs = []
    for name, d in zip(ex.input_names, ex.inputs):
        sig = d.get("shape_signature")
        sig = d["shape"] if sig is None or len(sig) != len(d["shape"]) else sig
        shape = tuple(None if int(s) < 0 else int(s) for s in sig)
        scale, zp = d.get("quantization", (0.0, 0))
        dtype = np.dtype(d["dtype"])
        quant = (float(scale), int(zp)) if scale and dtype.kind in "iu" else None
        specs.append(InputSpec(name, shape, dtype, quant))
    return specs


def _litert_tensor_names(ex: Any) -> list[str]:
    """Operator outputs in execution order (what a preserving interpreter keeps)."""
    details = {d["index"]: d["name"] for d in ex.interpreter.get_tensor_details()}
    try:
        ops = ex.interpreter._get_ops_details()
    except AttributeError:  # pragma: no cover - every LiteRT we support has it
        return []
    return list(dict.fromkeys(details[i] for op in ops for i in op["outputs"]
                              if i in details))


# -- feeds -----------------------------------------------------------------------------------


def resolve_shape(spec: InputSpec, given: Mapping[str, list[Any]], notes: list[str]) -> tuple:
    """The concrete shape to feed ``spec`` (see the module doc); UsageError when open dims
    remain that only ``--input-shape`` can fix."""
    shape = list(given.get(spec.name, spec.shape))
    if shape and not isinstance(shape[0], int):
        shape[0] = 1
        notes.append(f"input {spec.name}: open batch dim set to 1")
    if all(isinstance(d, int) for d in shape):
        return tuple(shape)
    letters = {2: "H", 3: "W"} if len(shape) == 4 else {}
    example = "x".join(str(d) if isinstance(d, int) else letters.get(k, f"D{k}")
                       for k, d in enumerate(shape))
    raise UsageError(f"input {spec.name} has open dims {_dims(spec.shape)}; give them with "
                     f"--input-shape {spec.name}:{example} (a number for each letter)")


def _dims(shape: Sequence[Any]) -> str:
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def make_feeds(specs: Sequence[InputSpec], npz: str | None,
               given: Mapping[str, list[Any]], seed: int) -> tuple[dict[str, np.ndarray],
                                                                  dict[str, str], list[str]]:
    """``(feeds, source per input ('file' or 'random'), notes)`` for ``specs``."""
    import numpy as np

    notes: list[str] = []
    data: dict[str, np.ndarray] = {}
    if npz:
        if not Path(npz).is_file():
            raise UsageError(f"--inputs {npz}: no such file")
        try:
            with np.load(npz, allow_pickle=False) as f:
                data = {k: f[k] for k in f.files}
        except (OSError, ValueError) as e:
            raise UsageError(f"--inputs {npz}: not a readable .npz of arrays ({e})") from None
        extra = sorted(set(data) - {s.name for s in specs})
        if extra and len(specs) == 1 and len(data) == 1 and specs[0].name not in data:
            notes.append(f"input {specs[0].name}: fed from {npz} array '{extra[0]}' (the "
                         "only one)")
            data = {specs[0].name: data[extra[0]]}
        elif extra:
            notes.append(f"{npz}: arrays {', '.join(extra)} match no input and are ignored")
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray] = {}
    source: dict[str, str] = {}
    for s in specs:
        if s.name in data:
            x = data[s.name]
            if x.dtype != s.dtype and not (s.quant and x.dtype.kind == "f"):
                if x.dtype.kind != s.dtype.kind:
                    notes.append(f"input {s.name}: {x.dtype} data cast to {s.dtype}")
                x = x.astype(s.dtype)
            feeds[s.name], source[s.name] = x, "file"
            continue
        shape = resolve_shape(s, given, notes)
        feeds[s.name], source[s.name] = random_input(s, shape, rng), "random"
    randoms = [n for n, src in source.items() if src == "random"]
    if randoms:
        notes.append(f"seeded random data (seed {seed}) for {', '.join(randoms)}"
                     + ("" if not npz else f", which {npz} does not hold"))
    return feeds, source, notes


def random_input(spec: InputSpec, shape: tuple, rng: np.random.Generator) -> np.ndarray:
    """Seeded random data for one input (see the module doc for the distributions)."""
    import numpy as np

    if spec.quant is not None:  # fed as floats the executor quantizes
        scale, zp = spec.quant
        info = np.iinfo(spec.dtype)
        lo, hi = (info.min - zp) * scale, (info.max - zp) * scale
        return rng.uniform(lo, hi, size=shape).astype(np.float32)
    if spec.dtype.kind == "f":
        return rng.standard_normal(shape).astype(spec.dtype)
    if spec.dtype.kind == "b":
        return rng.random(shape) < 0.5
    return rng.integers(0, 10, size=shape).astype(spec.dtype)


# -- timing ----------------------------------------------------------------------------------


def timed_runs(ex: Any, feeds: Mapping[str, np.ndarray], warmup: int,
               iterations: int) -> tuple[Any, list[float]]:
    """Run ``warmup`` untimed then ``iterations`` timed calls; ``(last result, ms each)``.

    A timed call is one ``executor.run``: feeding, the executor's own work and copying the
    outputs out.
    """
    result = None
    for _ in range(warmup):
        result = ex.run(feeds)
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        result = ex.run(feeds)
        times.append((time.perf_counter() - t0) * 1e3)
    if result is None:
        result = ex.run(feeds)
    return result, times


def latency_summary(ms: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99 (linear interpolation), mean, min and max of ``ms``."""
    import numpy as np

    a = np.asarray(ms, dtype=np.float64)
    if a.size == 0:
        return {}
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "mean": float(a.mean()),
            "min": float(a.min()), "max": float(a.max())}


def describe(arrays: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
    """``[{"name", "shape", "dtype"}]`` of named arrays (the JSON form of tensors)."""
    import numpy as np

    return [{"name": k, "shape": [int(d) for d in np.shape(v)],
             "dtype": str(np.asarray(v).dtype)} for k, v in arrays.items()]
