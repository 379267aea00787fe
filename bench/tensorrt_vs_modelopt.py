#!/usr/bin/env python3
"""infercc's TensorRT-profile int8 ONNX against NVIDIA ModelOpt's ONNX int8 quantizer.

For each model (``--models``; ``bench/tensorrt_modelopt/data.py`` has the models, the data
and its preprocessing) the bench writes one float ONNX file and gives it, with the same
calibration samples, to both quantizers:

* infercc: ``compiler.compile(F, "tensorrt", int8=True, calibration=..., method=M,
  output="X.trt.onnx")``, the Python form of ``infercc compile F.onnx --target tensorrt
  --int8 --calibration cal.npz -o X.trt.onnx`` (the TensorRT-profile ONNX);
* ModelOpt: ``modelopt.onnx.quantization.quantize(onnx_path=copy of F,
  quantize_mode="int8", calibration_data=..., calibration_method=M',
  calibration_eps=["cpu"], high_precision_dtype="fp32")`` in the bench's own venv
  (``bench/tensorrt_modelopt/modelopt_env.py``; created on first use, several minutes);

with the method pairs of ``--methods``: ``max`` = infercc ``minmax`` and ModelOpt ``max``
(both: the largest absolute value seen), ``entropy`` = infercc ``entropy`` and ModelOpt
``entropy`` (ModelOpt's default). The float model and both int8 models run in onnxruntime
(this environment's) on the held-out samples, one at a time.

Table 1 (accuracy): per model, method and tool, the quantizers (activation Q/DQ pairs,
weight DQs), top-1 agreement with the float model (classifiers) or, for the detector, the
IoU of the text masks (probability > 0.3, DBNet's binarization threshold in PaddleOCR)
over all held-out images, and the SQNR (dB) of the output against the float output over
all held-out samples. Table 2 (placement, from the first method): per op type, how many
activation inputs, weight inputs and outputs carry Q/DQ in each model, then the
differences node by node (``bench/tensorrt_modelopt/placement.py``: nodes are matched to
the float model by structure, named by the float model's node and tensor names).

    python3 bench/tensorrt_vs_modelopt.py                    # all three models, max
    python3 bench/tensorrt_vs_modelopt.py --quick --models cls
    python3 bench/tensorrt_vs_modelopt.py --methods max,entropy --details

Writes nothing into the repository (a temporary folder; ``--keep DIR`` keeps the ONNX
files there). No timing is asserted; ModelOpt's seconds are printed for information.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np

METHODS = {"max": ("minmax", "max"), "entropy": ("entropy", "entropy")}
DET_THRESHOLD = 0.3
SIZES = {  # (calibration, held-out) per model; --quick uses the second pair
    "effnet": ((64, 96), (16, 24)),
    "cls": ((128, 256), (32, 64)),
    "det": ((32, 32), (8, 8)),
}


def _ort_outputs(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: x[i:i + 1]})[0] for i in range(len(x))])


def _iou(ref: np.ndarray, got: np.ndarray) -> float:
    a, b = ref > DET_THRESHOLD, got > DET_THRESHOLD
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def _infercc(case, method: str, out: Path) -> str:
    """'' on success, else the error's first line."""
    import compiler

    cal = [case.calibration[i:i + 1] for i in range(len(case.calibration))]
    try:
        compiler.compile(str(case.float_onnx), "tensorrt", output=str(out), int8=True,
                         calibration=cal, method=method)
    except Exception as e:  # noqa: BLE001 - a failing row is reported, not fatal
        return f"{type(e).__name__}: {e}".splitlines()[0]
    return ""


def _modelopt(case, method: str, work: Path) -> tuple[Path, dict]:
    from bench.tensorrt_modelopt import modelopt_env

    own = work / f"modelopt-{method}"
    own.mkdir(exist_ok=True)
    src = own / case.float_onnx.name
    shutil.copy(case.float_onnx, src)  # ModelOpt may write beside its input
    cal = own / "calibration.npz"
    import onnx

    name = onnx.load(str(case.float_onnx), load_external_data=False).graph.input[0].name
    np.savez(cal, **{name: case.calibration})
    out = own / f"{case.float_onnx.stem}.modelopt-{method}.onnx"  # it writes beside this too
    return out, modelopt_env.quantize(src, cal, method, out)


def _metrics(case, ref: np.ndarray, got: np.ndarray) -> tuple[str, float]:
    from compiler.debug.metrics import sqnr_db, top1_agreement

    if case.kind == "classifier":
        score = f"{top1_agreement(ref, got) * 100:.1f} %"
    else:
        score = f"{np.mean([_iou(r, g) for r, g in zip(ref, got)]):.3f}"
    return score, sqnr_db(ref, got)


def bench_model(key: str, quick: bool, methods: list[str], work: Path,
                details: bool) -> tuple[list[dict], list[str], dict]:
    import onnx

    from bench.tensorrt_modelopt import data, placement as pl

    n_cal, n_held = SIZES[key][1 if quick else 0]
    case = data.CASES[key](work, n_cal, n_held)
    print(f"# {case.name}: {case.note}; {len(case.calibration)} calibration samples, "
          f"{len(case.held_out)} held-out", flush=True)
    ref = _ort_outputs(case.float_onnx, case.held_out)
    rows: list[dict] = []
    models: dict[str, Path] = {}
    versions: dict = {}
    for m in methods:
        ours_m, theirs_m = METHODS[m]
        ours = work / f"{case.float_onnx.stem}.infercc-{m}.trt.onnx"
        err = _infercc(case, ours_m, ours)
        theirs, answer = _modelopt(case, theirs_m, work)
        versions.update({k: answer[k] for k in ("modelopt", "onnxruntime") if k in answer})
        for tool, path, error, secs in (
                ("infercc", ours, err, None),
                ("ModelOpt", theirs, "" if answer.get("ok") else answer.get("error", "?"),
                 answer.get("seconds"))):
            row = {"model": case.name, "method": m, "tool": tool, "error": error,
                   "secs": secs, "kind": case.kind}
            if not error:
                q = onnx.load(str(path))
                row.update(pl.qdq_counts(q))
                try:
                    row["score"], row["sqnr"] = _metrics(case, ref, _ort_outputs(path, case.held_out))
                except Exception as e:  # noqa: BLE001 - onnxruntime refusing a model is a result
                    row["error"] = f"onnxruntime: {type(e).__name__}: {e}".splitlines()[0]
                models.setdefault(tool, path)
            rows.append(row)
    lines: list[str] = []
    if len(models) == 2:
        lines = _placement_report(case, models, details)
    return rows, lines, versions


def _placement_report(case, models: dict[str, Path], details: bool) -> list[str]:
    import onnx

    from bench.tensorrt_modelopt import placement as pl

    f = onnx.load(str(case.float_onnx))
    qa, qb = onnx.load(str(models["infercc"])), onnx.load(str(models["ModelOpt"]))
    ra, rb = pl.float_names(f, qa), pl.float_names(f, qb)
    pa, pb = pl.placement(qa, ra), pl.placement(qb, rb)
    computed = sum(1 for n in f.graph.node if n.op_type not in pl.SKIP_OPS)
    out = [f"### {case.name}: Q/DQ placement (infercc / ModelOpt)", "",
           f"Nodes matched to the float model's {computed}: infercc "
           f"{len(set(ra.values()) & {n.output[0] for n in f.graph.node})}, ModelOpt "
           f"{len(set(rb.values()) & {n.output[0] for n in f.graph.node})}.", "",
           "| op type | nodes | activation inputs with Q/DQ | weights with Q/DQ | "
           "outputs into a Q |", "|---|---|---|---|---|"]
    for op, a, b in pl.op_type_table(pa, pb):
        if not (a.act_q or b.act_q or a.weight_q or b.weight_q or a.out_q or b.out_q):
            continue
        out.append(f"| {op} | {a.nodes} / {b.nodes} | {a.act_q}/{a.act} / {b.act_q}/{b.act} | "
                   f"{a.weight_q}/{a.weight} / {b.weight_q}/{b.weight} | "
                   f"{a.out_q} / {b.out_q} |")
    diffs = pl.differences(pa, pb, pl.float_node_names(f))
    side = {"a": "infercc only", "b": "ModelOpt only"}
    out += ["", f"{len(diffs)} differences, by kind:", "", "| op type | what | where | count |",
            "|---|---|---|---|"]
    out += [f"| {op} | {what} | {side[s]} | {n} |" for op, what, s, n in pl.summarize(diffs)]
    shown = diffs if details else diffs[:25]
    out += ["", "By node (float node name, tensor):" if shown else ""]
    out += [f"- {d.op_type} `{d.float_node or d.key}`: {d.what} `{d.tensor}`: {side[d.only_in]}"
            for d in shown]
    if len(shown) < len(diffs):
        out.append(f"- ... {len(diffs) - len(shown)} more (--details lists them all)")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="effnet,cls,det", help="comma list of effnet, cls, det")
    ap.add_argument("--methods", default="max", help="comma list of max, entropy")
    ap.add_argument("--quick", action="store_true", help="fewer calibration/held-out samples")
    ap.add_argument("--details", action="store_true", help="list every placement difference")
    ap.add_argument("--keep", metavar="DIR", help="keep the ONNX files in DIR")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    methods = [m for m in args.methods.split(",") if m]
    keys = [k for k in args.models.split(",") if k]
    for bad in [m for m in methods if m not in METHODS] + [k for k in keys if k not in SIZES]:
        ap.error(f"unknown model or method: {bad}")

    import onnxruntime

    from bench.tensorrt_modelopt import modelopt_env

    modelopt_env.ensure_venv()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="trt-vs-modelopt-"))
    work.mkdir(parents=True, exist_ok=True)
    rows, reports, versions = [], [], {}
    t0 = time.perf_counter()
    try:
        for k in keys:
            sub = work / k
            sub.mkdir(exist_ok=True)
            r, lines, v = bench_model(k, args.quick, methods, sub, args.details)
            rows += r
            reports.append(lines)
            versions.update(v)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"ModelOpt {versions.get('modelopt', '?')} (onnxruntime "
          f"{versions.get('onnxruntime', '?')} in its venv, CPU calibration); evaluation in "
          f"onnxruntime {onnxruntime.__version__}; {time.perf_counter() - t0:.0f} s in all")
    print()
    print("| model | method | tool | act. Q/DQ | weight DQ | top-1 agreement / mask IoU | "
          "SQNR vs float (dB) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        if r["error"]:
            print(f"| {r['model']} | {r['method']} | {r['tool']} | - | - | failed: "
                  f"{r['error'][:160]} | - |")
            continue
        print(f"| {r['model']} | {r['method']} | {r['tool']} | {r['activation']} | "
              f"{r['weight']} | {r['score']} | {r['sqnr']:.1f} |")
    for lines in reports:
        print()
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
