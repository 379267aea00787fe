#!/usr/bin/env python3
"""infercc's TFLite emitter against TensorFlow's own TFLiteConverter on Keras applications.

For each model (weights=None, seeded with ``keras.utils.set_random_seed``, 224x224x3):
convert it with ``tf.lite.TFLiteConverter.from_keras_model(model).convert()`` and with
``compiler.compile(model, target="tflite")`` (each timed), run both flatbuffers in the same
LiteRT Interpreter configuration (``--threads``), alternating runs so machine noise hits both
alike, and print one table: median latency ratio (ours / converter), size ratio, op counts
(and TRANSPOSE ops in ours), compile-time ratio, and the max abs difference between the two
outputs (logits: the models are built with classifier_activation=None) on the same
seeded input. A model infercc cannot compile is reported and skipped.
Ratios, not absolute times, are the figures to read (the machines are shared and noisy).

    python3 bench/tflite_vs_converter.py --models MobileNetV2,ResNet50,EfficientNetB0 \\
        --runs 20 --threads 1
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench.quiet import quiet_fds  # noqa: E402 - after the sys.path insert

MODELS = ("MobileNetV2", "ResNet50", "EfficientNetB0")


def _interpreter(data: bytes, threads: int):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=data, num_threads=threads)
    # count before allocate_tensors: afterwards the XNNPACK delegate adds DELEGATE nodes
    ops = Counter(o["op_name"] for o in interp._get_ops_details())
    interp.allocate_tensors()
    return interp, ops


def _set_input(interp, x):
    import numpy as np

    (d,) = interp.get_input_details()
    shape = tuple(int(s) for s in d["shape"])
    if tuple(x.shape) != shape:
        if x.ndim == 4 and shape == (x.shape[0], x.shape[3], x.shape[1], x.shape[2]):
            x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))  # file kept an NCHW interface
        else:
            raise ValueError(f"input shape {shape} does not fit the model input {x.shape}")
    interp.set_tensor(d["index"], x)


def _output(interp):
    (d,) = interp.get_output_details()
    return interp.get_tensor(d["index"])


def bench_model(name: str, runs: int, threads: int) -> dict:
    import keras
    import numpy as np
    import tensorflow as tf

    import compiler

    keras.utils.set_random_seed(0)
    # logits, not softmax: with random weights the softmax is flat (every class 1/1000) and
    # would hide any difference between the two files
    model = getattr(keras.applications, name)(weights=None, input_shape=(224, 224, 3),
                                              classifier_activation=None)
    row: dict = {"model": name}

    t0 = time.perf_counter()
    with quiet_fds():
        ref = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    t_conv = time.perf_counter() - t0

    t0 = time.perf_counter()
    try:
        with quiet_fds():
            ours = compiler.compile(model, target="tflite")
    except compiler.InferccError as e:
        row["error"] = str(e)
        return row
    t_ours = time.perf_counter() - t0

    ri, rops = _interpreter(ref, threads)
    oi, oops = _interpreter(ours.data, threads)
    x = np.random.default_rng(0).standard_normal((1, 224, 224, 3)).astype(np.float32)
    _set_input(ri, x)
    _set_input(oi, x)
    ri.invoke()  # warm-up (XNNPACK packs weights on the first run)
    oi.invoke()
    t_ref, t_us = [], []
    for _ in range(runs):
        for interp, sink in ((oi, t_us), (ri, t_ref)):
            t0 = time.perf_counter()
            interp.invoke()
            sink.append(time.perf_counter() - t0)
    diff = float(np.max(np.abs(_output(oi) - _output(ri))))
    scale = float(np.max(np.abs(_output(ri))))
    row.update(
        ours_ms=statistics.median(t_us) * 1e3,
        conv_ms=statistics.median(t_ref) * 1e3,
        ours_size=len(ours.data),
        conv_size=len(ref),
        ours_ops=sum(oops.values()),
        conv_ops=sum(rops.values()),
        transposes=oops.get("TRANSPOSE", 0),
        ours_compile=t_ours,
        conv_compile=t_conv,
        diff=diff,
        scale=scale,
    )
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(MODELS),
                    help=f"comma-separated Keras applications (default: {','.join(MODELS)})")
    ap.add_argument("--runs", type=int, default=20, help="timed runs per model and file")
    ap.add_argument("--threads", type=int, default=1, help="LiteRT num_threads for both")
    args = ap.parse_args(argv)

    import logging

    with contextlib.suppress(ImportError):
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)

    rows = []
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        print(f"[{name}] converting ...", file=sys.stderr, flush=True)
        try:
            row = bench_model(name, args.runs, args.threads)
        except AttributeError:
            row = {"model": name, "error": f"keras.applications has no {name}"}
        if "error" in row:
            print(f"[{name}] infercc could not compile it:\n{row['error']}", flush=True)
        rows.append(row)

    hdr = ("model", "latency ours/conv", "ours ms", "conv ms", "size ratio", "ops ours/conv",
           "TRANSPOSE ours", "compile ours/conv", "compile s ours/conv", "max|diff| (max|logit|)")
    table = [hdr]
    for r in rows:
        if "error" in r:
            table.append((r["model"], "compile failed", *[""] * (len(hdr) - 2)))
            continue
        table.append((
            r["model"],
            f"{r['ours_ms'] / r['conv_ms']:.2f}x",
            f"{r['ours_ms']:.1f}",
            f"{r['conv_ms']:.1f}",
            f"{r['ours_size'] / r['conv_size']:.3f}",
            f"{r['ours_ops']}/{r['conv_ops']}",
            str(r["transposes"]),
            f"{r['ours_compile'] / r['conv_compile']:.2f}x",
            f"{r['ours_compile']:.1f}/{r['conv_compile']:.1f}",
            f"{r['diff']:.2e} ({r['scale']:.2g})",
        ))
    widths = [max(len(str(row[i])) for row in table) for i in range(len(hdr))]
    print(f"LiteRT, num_threads={args.threads}, median of {args.runs} alternating runs")
    for i, row in enumerate(table):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
