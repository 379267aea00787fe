"""``infercc run MODEL``: run a model (a source or an emitted file) and report its latency.

Which executor runs which file, and where inputs come from, is :mod:`.running`'s table.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap

from .common import (
    EXIT_OK,
    MODEL_HELP,
    UsageError,
    add_input_shape,
    import_framework,
    native_quiet,
    parse_input_shapes,
)
from .running import add_run_flags


def register(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``run`` sub-command to ``sub``."""
    p = sub.add_parser(
        "run",
        parents=parents,
        help="run a model or an emitted .tflite/.onnx and report latency percentiles",
        description=textwrap.fill(
            "Run a model with its executor: a .tflite in LiteRT, a .onnx in onnxruntime as "
            "it is, any other format through infercc's IR exported to onnxruntime "
            "(--executor reference: the numpy reference interpreter). Inputs come from "
            "--inputs X.npz (one array per input name) or seeded random data. After "
            "--warmup untimed runs, --iterations timed runs give latency p50/p90/p99, mean "
            "and min in milliseconds (one executor call each: feeding, running, copying the "
            "outputs).", 88),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help=MODEL_HELP + " (also an emitted .tflite/.onnx)")
    add_run_flags(p)
    p.add_argument("--warmup", type=int, default=5, metavar="W",
                   help="untimed runs first (default: 5)")
    p.add_argument("--iterations", type=int, default=50, metavar="N",
                   help="timed runs (default: 50)")
    p.add_argument("--save-outputs", metavar="OUT.npz",
                   help="write the last run's outputs here (one array per output name)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object instead of the table (schema: docs/cli.md)")
    add_input_shape(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``args.model`` and print the latency table (or ``--json``) on stdout."""
    from .running import describe, latency_summary, make_feeds, prepare, timed_runs

    if args.warmup < 0 or args.iterations < 1:
        raise UsageError("--warmup must be >= 0 and --iterations >= 1")
    if args.threads is not None and args.threads < 1:
        raise UsageError("--threads must be >= 1")
    shapes = parse_input_shapes(args.input_shape)
    import_framework(args)
    with native_quiet(args):  # LiteRT's XNNPACK INFO line
        model = prepare(args.model, executor=args.executor, input_shapes=shapes,
                        weights=args.weights, threads=args.threads)
    feeds, source, notes = make_feeds(model.inputs, args.inputs, shapes, args.seed)
    notes[:0] = model.notes
    with native_quiet(args):
        ex = model.open()
        result, times = timed_runs(ex, feeds, args.warmup, args.iterations)
    lat = latency_summary(times)
    if args.save_outputs:
        _save(args.save_outputs, result.outputs)
    inputs = describe(feeds)
    declared = {s.name: s for s in model.inputs}
    for d in inputs:
        d["source"] = source[d["name"]]
        d["dtype"] = str(declared[d["name"]].dtype)  # the model's, whatever was fed
    report = {"model": args.model, "executor": model.executor_name, "inputs": inputs,
              "outputs": describe(result.outputs), "warmup": args.warmup,
              "iterations": args.iterations, "latency_ms": lat, "notes": notes}
    if args.save_outputs:
        report["saved_outputs"] = args.save_outputs
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return EXIT_OK
    out = [f"model: {args.model}", f"executor: {model.executor_name}"
           + (f" ({args.threads} threads)" if args.threads else "")]
    out += [f"  note: {n}" for n in notes]
    out.append("inputs:")
    out += [f"  {d['name']}: {d['dtype']}{d['shape']} ({d['source']})" for d in inputs]
    out.append("outputs:")
    out += [f"  {d['name']}: {d['dtype']}{d['shape']}" for d in report["outputs"]]
    out.append(f"latency over {args.iterations} runs after {args.warmup} warmup (ms):")
    keys = ("p50", "p90", "p99", "mean", "min", "max")
    out.append("  " + "  ".join(f"{k:>8}" for k in keys))
    out.append("  " + "  ".join(f"{lat[k]:8.3f}" for k in keys))
    if args.save_outputs:
        out.append(f"outputs saved to {args.save_outputs}")
    sys.stdout.write("\n".join(out) + "\n")
    return EXIT_OK


def _save(path: str, outputs: dict) -> None:
    """Write ``outputs`` to ``path`` atomically (nothing is left half-written)."""
    import io

    import numpy as np

    from ..fileio import atomic_write

    buf = io.BytesIO()
    np.savez(buf, **outputs)
    atomic_write(path, buf.getvalue())
