#!/usr/bin/env python3
"""infercc INT8 against the peers' post-training quantizers, on real models and real data.

For each model (``--models``; see ``bench/int8/data.py`` for the data and preprocessing) and
each calibration size (``--samples``, the first N samples of the same real calibration pool
for every tool):

* ours: ``compiler.compile(model, "tflite", int8=True, calibration=samples, method=M)`` for
  each ``--methods`` M (float I/O, int8 inside);
* ``tflite-conv``: ``tf.lite.TFLiteConverter`` full integer (``Optimize.DEFAULT`` +
  ``representative_dataset`` + ``TFLITE_BUILTINS_INT8``, float I/O);
* ``ort-qdq``: ``onnxruntime.quantization.quantize_static`` (QDQ, QInt8 activations and
  weights, per-channel, MinMax) on the ONNX model infercc exports from the same Keras model
  (NCHW); its time covers ``quantize_static`` (calibration + quantization) only, not the
  export; it runs in onnxruntime, not LiteRT, so its latency is not comparable and is shown
  in parentheses (onnxruntime, 1 thread) without a ratio.

Timing: wall clock of the whole call, from the in-memory Keras model to the quantized bytes
(tracing, calibration, quantization, serialisation), after one untimed float conversion and
one untimed int8 conversion (two calibration samples) of each tool, so that one-time
initialisation (imports, first use of the calibration machinery) is not counted; with
``--repeat K`` each conversion is timed K times and the median reported. Latency: every .tflite of a model
and calibration size runs in LiteRT (``--threads``, default 1) on every held-out sample,
alternating models per sample, ``--runs`` passes; median per sample. Ratios are against the
converter's INT8 model (goals: time <= 0.33, latency <= 1.00). Accuracy figures: top-1
agreement with the float Keras model and the SQNR of the logits (dB, over all held-out
samples) against it; label accuracy where the data has labels (digits).

    python3 bench/int8_vs_peers.py --models digits,fer --samples 32,256 --runs 3
    python3 bench/int8_vs_peers.py --models effnet --samples 32,256 --runs 2   # ImageNet
    python3 bench/int8_vs_peers.py --models digits,fer,effnet --repeat 3    # docs' table

Writes nothing into the repository (temporary files go to a temporary directory).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

METHODS = ("minmax", "entropy", "percentile", "mse")


PHASES: list[str] = []  # per-phase seconds of our compiles, printed under the table


def _ours_int8(name: str, model, calib: np.ndarray,
               method: str) -> tuple[bytes | None, float, str]:
    import compiler
    from bench.quiet import quiet_fds

    samples = [calib[i:i + 1] for i in range(len(calib))]
    t0 = time.perf_counter()
    try:
        with quiet_fds():
            r = compiler.compile(model, "tflite", int8=True, calibration=samples,
                                 method=method)
    except Exception as e:  # noqa: BLE001 - a failing method is reported, not fatal
        return None, time.perf_counter() - t0, f"{type(e).__name__}: {e}"
    secs = time.perf_counter() - t0
    PHASES.append(f"{name} {len(calib)} {method}: " + ", ".join(
        f"{k} {v:.2f}" for k, v in r.timings.items()))
    return r.data, secs, ""


def _timed(repeat: int, call):
    """``call()`` -> (result, seconds, ...) run ``repeat`` times: the first result, the
    median seconds (the machine is shared: one run can land on someone else's burst)."""
    runs = [call() for _ in range(max(1, repeat))]
    first = runs[0]
    return (first[0], float(np.median([r[1] for r in runs])), *first[2:])


def bench_case(name: str, sizes: list[int], methods: list[str], runs: int, threads: int,
               tmpdir: str, repeat: int = 1) -> list[dict]:
    import compiler
    from bench.int8.data import CASES
    from bench.int8.peers import (
        converter_float,
        converter_int8,
        ort_qdq,
        ort_run,
    )
    from bench.quiet import quiet_fds
    from compiler.debug.evaluate import evaluate_many
    from compiler.debug.metrics import sqnr_db, top1_agreement

    case = CASES[name]()
    model = case.model
    ref = np.asarray(model.predict(case.eval_x, batch_size=64, verbose=0), np.float32)
    ref = ref.reshape(len(ref), -1)
    labels = case.eval_labels
    data = {"x": case.eval_x, **({"labels": labels} if labels is not None else {})}
    print(f"# {name}: {case.note}; calibration pool {len(case.calibration)}", flush=True)

    # untimed warm-up of both tools (first-call initialisation: imports, the calibration
    # machinery), each with one int8 conversion on two samples, plus the float references
    converter_float(model)
    converter_int8(model, case.calibration[:2])
    with quiet_fds():
        ours_float = compiler.compile(model, "tflite").data
        onnx_float = compiler.compile(model, "onnx").data
        compiler.compile(model, "tflite", int8=True,
                         calibration=[case.calibration[i:i + 1] for i in range(2)])

    def acc_of(logits):
        return None if labels is None else float(np.mean(logits.argmax(1) == labels))

    rows = [{"model": name, "calib": "-", "tool": "float keras", "secs": None, "latency": None,
             "size": None, "agree": 1.0, "sqnr": None, "acc": acc_of(ref)}]
    x_nchw = np.ascontiguousarray(case.eval_x.transpose(0, 3, 1, 2))
    for n in sizes:
        if n > len(case.calibration):
            print(f"# {name}: only {len(case.calibration)} calibration samples, skipping {n}")
            continue
        calib = np.ascontiguousarray(case.calibration[:n])
        flat: dict[str, bytes] = {"float (ours)": ours_float}
        secs: dict[str, float] = {}
        conv, secs["tflite-conv"] = _timed(repeat, lambda c=calib: converter_int8(model, c))
        flat["tflite-conv"] = conv
        notes = {}
        for m in methods:
            data_m, secs[f"ours {m}"], err = _timed(
                repeat, lambda m=m, c=calib: _ours_int8(name, model, c, m))
            if data_m is None:
                notes[f"ours {m}"] = err
            else:
                flat[f"ours {m}"] = data_m
        lat: dict[str, list[float]] = {k: [] for k in flat}
        results = None
        for _ in range(max(1, runs)):
            results = evaluate_many(flat, data, threads=threads)
            for k, r in results.items():
                lat[k].extend(r.latencies_ms)
        conv_lat = float(np.median(lat["tflite-conv"]))
        for k, r in results.items():
            med = float(np.median(lat[k]))
            rows.append({"model": name, "calib": n if k != "float (ours)" else "-", "tool": k,
                         "secs": secs.get(k), "conv_secs": secs["tflite-conv"],
                         "latency": med, "lat_ratio": med / conv_lat,
                         "size": r.size, "size_ratio": r.size / len(conv),
                         "agree": top1_agreement(ref, r.logits),
                         "sqnr": sqnr_db(ref, r.logits), "acc": r.accuracy})
        for k, err in notes.items():
            rows.append({"model": name, "calib": n, "tool": k, "error": err})
        try:
            q, q_secs = ort_qdq(onnx_float, np.ascontiguousarray(calib.transpose(0, 3, 1, 2)),
                                tmpdir)
            out, ort_ms = ort_run(q, x_nchw)
            out = out.reshape(len(out), -1)
            rows.append({"model": name, "calib": n, "tool": "ort-qdq", "secs": q_secs,
                         "conv_secs": secs["tflite-conv"], "ort_latency": ort_ms,
                         "size": len(q), "size_ratio": len(q) / len(conv),
                         "agree": top1_agreement(ref, out), "sqnr": sqnr_db(ref, out),
                         "acc": acc_of(out)})
        except Exception as e:  # noqa: BLE001 - a peer that does not fit is reported
            rows.append({"model": name, "calib": n, "tool": "ort-qdq",
                         "error": f"{type(e).__name__}: {e}"})
    return _dedupe_float(rows)


def _dedupe_float(rows: list[dict]) -> list[dict]:
    seen = set()
    out = []
    for r in rows:
        if r["tool"] == "float (ours)":
            if r["model"] in seen:
                continue
            seen.add(r["model"])
        out.append(r)
    return out


def _fmt(v, spec, none="-"):
    return none if v is None else format(v, spec)


def render(rows: list[dict], threads: int) -> str:
    if not rows:
        return "no results"
    header = ["model", "calib", "quantizer", "cal+compile s", "time x", "latency ms", "lat x",
              "size KB", "size x", "top-1 agree", "SQNR dB", "accuracy"]
    table = []
    for r in rows:
        if "error" in r:
            table.append([r["model"], str(r["calib"]), r["tool"], "failed: " + r["error"][:90]]
                         + [""] * 8)
            continue
        secs = r.get("secs")
        time_x = secs / r["conv_secs"] if secs is not None and r.get("conv_secs") else None
        if "ort_latency" in r:
            latency, lat_x = f"({r['ort_latency']:.3f} ort)", "n/a"
        else:
            latency, lat_x = _fmt(r.get("latency"), ".4f"), _fmt(r.get("lat_ratio"), ".2f")
        table.append([
            r["model"], str(r["calib"]), r["tool"], _fmt(secs, ".2f"), _fmt(time_x, ".2f"),
            latency, lat_x,
            _fmt(None if r.get("size") is None else r["size"] / 1024, ".1f"),
            _fmt(r.get("size_ratio"), ".3f"),
            _fmt(None if r.get("agree") is None else r["agree"] * 100, ".2f") + (
                "%" if r.get("agree") is not None else ""),
            "-" if r.get("sqnr") is None else (
                "inf" if np.isinf(r["sqnr"]) else f"{r['sqnr']:.1f}"),
            "-" if r.get("acc") is None else f"{r['acc'] * 100:.2f}%",
        ])
    widths = [max(len(h), *(len(row[i]) for row in table if len(row[3]) < 40 or i != 3))
              for i, h in enumerate(header)]

    def line(cells):
        if cells[3].startswith("failed"):
            return "  ".join(c.ljust(w) for c, w in zip(cells[:3], widths[:3])) + "  " + cells[3]
        return "  ".join(c.ljust(w) if i < 3 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))

    out = [line(header), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in table]
    out.append(f"ratios (x) are against tflite-conv at the same calibration size; LiteRT "
               f"{threads} thread(s); agreement and SQNR against the float Keras model on the "
               "held-out data; ort-qdq latency is onnxruntime's (not comparable)")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="digits,fer", help="comma list of: digits, fer, effnet")
    ap.add_argument("--samples", default="32,256", help="calibration sizes (comma list)")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--runs", type=int, default=3,
                    help="latency passes over the held-out set (alternating models)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1,
                    help="time each conversion this many times and report the median")
    args = ap.parse_args(argv)
    from bench.int8.data import CASES

    names = [m for m in args.models.split(",") if m]
    unknown = [m for m in names if m not in CASES]
    if unknown:
        ap.error(f"unknown models {unknown}; choose from {sorted(CASES)}")
    sizes = [int(s) for s in args.samples.split(",") if s]
    methods = [m for m in args.methods.split(",") if m]
    rows = []
    with tempfile.TemporaryDirectory(prefix="infercc-int8-bench-") as tmp:
        for name in names:
            try:
                rows += bench_case(name, sizes, methods, args.runs, args.threads, tmp,
                                   args.repeat)
            except FileNotFoundError as e:
                print(f"# {name}: skipped ({e})")
    print(render(rows, args.threads))
    print("ours, seconds per phase:")
    for line in PHASES:
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
