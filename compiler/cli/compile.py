"""``infercc compile MODEL -o OUT``: optimise a model and emit it for a target.

With ``--int8`` calibration and quantization run as passes of the same pipeline; a written
.tflite is run once in LiteRT on seeded random inputs for the report.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from .common import (
    EXIT_OK,
    MODEL_HELP,
    UsageError,
    add_input_shape,
    add_instrument_flags,
    add_pass_plugin,
    default_pipeline,
    import_framework,
    instruments,
    load_pass_plugins,
    native_quiet,
    parse_input_shapes,
    progress_bars,
    reproducer_path,
)


def register(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``compile`` sub-command to ``sub``."""
    p = sub.add_parser(
        "compile",
        parents=parents,
        help="optimise a model and emit it for a target (see `infercc targets`)",
        description=textwrap.fill(
            "Load a model, run a pass pipeline over it (default: the target's pipeline) and "
            "write it for a target, which follows -o's extension unless --target names it. "
            "With --int8, calibrate and quantize run as passes of the same pipeline, so "
            "--print-ir-after, --dump-dir, --timing and crash reproducers cover them. A "
            ".tflite result is then run once in the LiteRT interpreter on seeded random "
            "inputs, and a short report is printed: path, size, TFLite ops, latency and "
            "output shapes. Nothing is written when the target cannot express the model; the "
            "error lists the nodes at fault.", 88),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="default pipeline: " + default_pipeline(),
    )
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("-t", "--target", metavar="NAME",
                   help="what to emit, optionally with options: tflite, onnx, tensorrt, "
                   "'tflite{float16=true}' (default: the target of -o's extension; `infercc "
                   "targets` lists them)")
    p.add_argument("-o", "--output", metavar="OUT", required=True,
                   help="the file to write (written atomically); its extension selects the "
                   "target (.tflite, .onnx, .engine)")
    p.add_argument("-p", "--pipeline", metavar="PIPELINE",
                   help="passes to run before emitting (default: see below; 'default' in "
                   "it stands for the target's default pipeline)")
    p.add_argument("--float16", action="store_true",
                   help="TFLite: store weights as float16 (dequantized at load); TensorRT: "
                        "an fp16 network (float32 inputs/outputs, overflowing layers fp32; "
                        "--calibration DATA gives the inputs that is judged on)")
    p.add_argument("--shape-range", metavar="NAME:MIN,OPT,MAX", action="append", default=[],
                   help="TensorRT only: the optimization profile of a dynamic input, e.g. "
                        "x:1x3x224x224,4x3x224x224,8x3x224x224 (min,opt,max as trtexec's "
                        "--minShapes/--optShapes/--maxShapes; NAME:MIN,MAX takes opt = max); "
                        "one per dynamic input, repeatable")
    p.add_argument("--opset", type=int, metavar="N",
                   help="ONNX only: the ONNX opset to write (default: the source model's "
                        "opset when it is at least 13, else 21, the newest onnxruntime runs "
                        "every op of); the IR version follows it")
    p.add_argument("--eval", metavar="DATA.npz",
                   help="TFLite only: run the written model in LiteRT on DATA.npz (one array "
                        "per input name, samples along axis 0, optional integer 'labels') "
                        "and print accuracy, agreement, SQNR, size and latency; with --int8 "
                        "or --float16 next to the float32 model of the same source")
    p.add_argument("--prune", metavar="OPTIONS",
                   help="prune weights before emitting (and before calibrating with --int8): "
                        "the options of the prune pass, as in a pipeline's prune{...}, e.g. "
                        "'sparsity=0.5,pattern=2:4,bias_correction=true' ('' for the "
                        "defaults; docs/sparsity.md); --calibration DATA (also without "
                        "--int8) gives the samples for bias correction and the SQNR figures")
    g8 = p.add_argument_group("int8 quantization (TFLite, TensorRT)")
    g8.add_argument("--int8", action="store_true",
                    help="calibrate, quantize (int8 activations, per-channel int8 weights) "
                         "by the target's rules and emit integer kernels (TFLite) or "
                         "explicit Q/DQ layers (TensorRT)")
    g8.add_argument("--calibration", metavar="DATA",
                    help="calibration data: an .npz with one array per input (samples along "
                         "axis 0, keyed by input name), an .npy (one input), a directory of "
                         "images (see --preprocess), a statistics .npz written by "
                         "--save-calibration (then nothing is run), or FILE.py:NAME, a "
                         "function of your own script returning the samples (a TFLiteConverter "
                         "representative_dataset) or an onnxruntime CalibrationDataReader; "
                         "with --float16 for TensorRT (no --int8): the sample inputs that "
                         "decide which layers stay fp32")
    g8.add_argument("--preprocess", metavar="RECIPE",
                    help="how images of a --calibration directory become inputs, e.g. "
                         "'color=rgb,scale=1/255,mean=0.485;0.456;0.406,std=0.229;0.224;0.225'"
                         " (default: RGB in [0, 1])")
    g8.add_argument("--method", default="minmax",
                    choices=("minmax", "entropy", "percentile", "mse"),
                    help="how activation ranges are chosen (default: minmax)")
    g8.add_argument("--percentile", type=float, default=99.99, metavar="P",
                    help="the percentile for --method percentile (default: 99.99)")
    g8.add_argument("--keep-float", metavar="NAME", action="append", default=[],
                    help="keep this layer (source layer name or IR value name; *, ? and [...] "
                         "make a pattern) in float; repeatable (mixed precision); with "
                         "--float16 for TensorRT (no --int8): keep it in fp32")
    g8.add_argument("--int8-io", action="store_true",
                    help="make the model's quantized inputs and outputs int8 tensors "
                         "(default: float, with QUANTIZE/DEQUANTIZE inside)")
    g8.add_argument("--report", metavar="DIR",
                    help="compare float and int8 activations layer by layer on the "
                         "calibration data; write DIR/layers.md, layers.csv, layers.svg (and "
                         "sensitivity.md with mixed precision) and print the worst layers; "
                         "with --prune (also without --int8) write DIR/sparsity.md and "
                         "sparsity.json: what sparsity buys per layer and target")
    g8.add_argument("--keep-sensitive", type=int, metavar="N",
                    help="mixed precision: keep the N most sensitive layers in float")
    g8.add_argument("--sqnr-budget", type=float, metavar="DB",
                    help="mixed precision: keep layers float, most sensitive first, until the "
                         "output's SQNR against float reaches DB")
    g8.add_argument("--save-calibration", metavar="F.npz",
                    help="write the calibration statistics here (reusable as --calibration)")
    add_input_shape(p)
    add_pass_plugin(p)
    p.add_argument("--timing", action="store_true",
                   help="print per-pass and per-phase times on stderr (load, optimize, "
                   "calibrate, quantize, accuracy report, emit, LiteRT run, eval)")
    add_instrument_flags(p)
    p.add_argument("--no-run", action="store_true",
                   help="do not run the written .tflite in the LiteRT interpreter (or a "
                   "written TensorRT engine in TensorRT)")
    p.add_argument("--show-ir", action="store_true",
                   help="print the optimized IR (what the emitter received) to stdout")
    p.add_argument("--json", action="store_true",
                   help="print the summary as one JSON object (schema: docs/cli.md)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Compile ``args.model`` for the target of ``--target`` or ``-o``'s extension, write
    ``-o`` and print a report on stdout (with ``--timing`` the pass table on stderr).

    Flag combinations that cannot work are refused (UsageError) before the model loads;
    the whole pipeline, calibrate and quantize included, is parsed before it too.
    """
    from targets import get_target, resolve_target

    from ..compile import (
        compile_pipeline,
        int8_refusal,
        prune_pass,
        saved_statistics,
        takes_fp16,
    )
    from ..compile import compile as compile_model

    if args.int8 and args.target:  # the int8 refusal says more than an extension mismatch
        refusal = int8_refusal(get_target(args.target.partition("{")[0]))
        if refusal:
            raise UsageError(refusal.replace("target=", "--target "))
    target, spec = resolve_target(args.target, args.output)
    if args.opset is not None:
        if target.name != "onnx":
            if target.name == "tensorrt":
                raise UsageError("--opset: the TensorRT-profile ONNX is written at the opset "
                                 "TensorRT's ONNX parser reads (docs/tensorrt.md); use "
                                 "--target onnx to choose one")
            raise UsageError(f"--opset chooses the opset of an ONNX model; target "
                             f"'{target.name}' does not write ONNX (use -o OUT.onnx)")
        spec = str(target.options(spec, opset=args.opset))
    if args.shape_range:
        spec = _with_shape_ranges(target, spec, args.shape_range, args.float16)
    if args.json and args.show_ir:
        raise UsageError("--json and --show-ir both print on stdout; pick one")
    fp16_options = target.options(spec, **({"float16": True} if args.float16 else {}))
    pruner = prune_pass(args.prune) if args.prune is not None else None
    int8_opts = _int8_options(args, fp16_samples=bool(args.calibration) and not args.int8
                              and (takes_fp16(fp16_options, "samples") or pruner is not None),
                              fp16_keep=not args.int8
                              and takes_fp16(fp16_options, "keep_fp32"))
    if args.eval:
        if target.executor != "litert":
            raise UsageError("--eval runs .tflite models in LiteRT; use --target tflite")
        if not os.path.isfile(args.eval):
            raise UsageError(f"--eval {args.eval}: no such file")
    load_pass_plugins(args)
    # the whole pipeline (calibrate and quantize included), parsed before the model loads
    pipeline = compile_pipeline(
        target, args.pipeline, int8=args.int8,
        calibrate=not args.int8 or saved_statistics(args.calibration) is None,
        method=args.method, percentile=args.percentile, keep_float=args.keep_float,
        prune=pruner)
    options: dict[str, Any] = {}
    if args.weights:
        options["weights"] = args.weights
    if args.layout:
        options["layout"] = args.layout
    shapes = parse_input_shapes(args.input_shape) or None
    import_framework(args)
    result = compile_model(args.model, spec, pipeline=args.pipeline,
                           float16=args.float16, output=args.output, input_shapes=shapes,
                           instruments=instruments(args, pipeline, timing=False),
                           reproducer=reproducer_path(args), verify=not args.no_verify,
                           prune=args.prune, **int8_opts, **options)
    if args.save_calibration:
        result.calibration.save(args.save_calibration)
    if args.show_ir:
        from ..ir import print_graph

        sys.stdout.write(print_graph(result.graph))
    timings = dict(result.timings)  # the CLI's own phases (report files, run, eval) join
    out = [f"infercc: wrote {args.output} ({result.size:,} bytes, target {result.target}, "
           f"{len(result.records)} passes)"]
    if args.int8:
        cal = result.calibration
        n_int8, n_float = _int8_counts(result)
        out.append(f"  int8 ({args.method}, {cal.num_samples} calibration samples): "
                   f"{n_int8} node(s) run in int8, {n_float} in float"
                   + (f"; statistics saved to {args.save_calibration}"
                      if args.save_calibration else ""))
    if result.pruning is not None:
        out.append(_pruning_line(result.pruning))
    if result.sparsity is not None:
        out += _sparsity_lines(result.sparsity, args.report)
    if target.name == "tensorrt" and args.output.lower().endswith(".onnx"):
        from targets.tensorrt.onnx_profile import trtexec_command

        ranges = result.target_options.ranges()
        out.append(f"  build the engine where TensorRT is installed: "
                   f"{trtexec_command(result.graph, args.output, ranges)}")
    # Per-layer choices of the target (TensorRT: fp32 layers of fp16, 2:4 sparse weights).
    out += [f"  {kind} layer {layer}: {why}" for kind, layer, why in result.emitted.layer_notes]
    if result.accuracy is not None:
        t0 = time.perf_counter()
        out += _accuracy_lines(result.accuracy, args.report)
        timings["accuracy"] = timings.get("accuracy", 0.0) + time.perf_counter() - t0
    if target.executor == "litert" and not args.no_run:
        t0 = time.perf_counter()
        with native_quiet(args):  # LiteRT's XNNPACK INFO line
            out += _tflite_run_report(args.output, result.graph)
        timings["run"] = time.perf_counter() - t0
    if target.executor == "tensorrt" and not args.no_run and result.output is not None \
            and result.output.suffix.lower() in (".engine", ".plan"):
        t0 = time.perf_counter()
        out += _engine_run_report(args.output, result.target_options.ranges())
        timings["run"] = time.perf_counter() - t0
    if args.eval:
        t0 = time.perf_counter()
        out += _eval_table(args, result, shapes, options)
        timings["eval"] = time.perf_counter() - t0
    if args.timing:
        sys.stderr.write(result.report.table() + "\n")
        sys.stderr.write(_phases_line(timings) + "\n")
    interface = interface_tensors(result)
    if args.json:
        import json

        summary = {"output": args.output, "size": result.size, "target": result.target,
                   "passes": len(result.records), "pipeline": result.pipeline,
                   "inputs": interface["inputs"], "outputs": interface["outputs"],
                   "timings_s": timings, "report": out[1:]}
        if result.pruning is not None:
            summary["pruning"] = _pruning_json(result.pruning)
        if result.sparsity is not None:
            summary["sparsity"] = result.sparsity.json()
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return EXIT_OK
    out[1:1] = [f"  {kind[:-1]} {t['name']}: {t['dtype']}"
                f"[{','.join(map(str, t['shape'] or ['?']))}] {t['layout']}"
                for kind in ("inputs", "outputs") for t in interface[kind]]
    sys.stdout.write("\n".join(out) + "\n")
    return EXIT_OK


def _with_shape_ranges(target: Any, spec: str | None, given: list[str],
                       float16: bool = False) -> str:
    """The target spec with ``--shape-range`` flags added to its ``shape_ranges`` (and
    ``float16`` when ``--float16`` is given, which the spec's own options may need)."""
    if target.name != "tensorrt":
        raise UsageError(f"--shape-range gives the optimization profile of a TensorRT engine "
                         f"(or of its TensorRT-profile ONNX); target '{target.name}' keeps "
                         "dynamic dims as they are (fix them with --input-shape); for "
                         "TensorRT add --target tensorrt")
    from targets.tensorrt.profile import parse_shape_ranges

    base = target.options(spec, **({"float16": True} if float16 else {}))
    try:
        parse_shape_ranges(list(base.shape_ranges) + given)
    except ValueError as e:
        raise UsageError(f"--shape-range: {e}") from None
    return str(target.options(base, shape_ranges=tuple(base.shape_ranges) + tuple(given)))


def interface_tensors(result: Any) -> dict[str, list[dict[str, Any]]]:
    """The emitted model's inputs and outputs as users feed and read them: deployed name,
    shape in the deployed axis order (symbols as strings), dtype and the layout of 4-D
    tensors ("NCHW"/"NHWC"; "-" for other ranks)."""
    graph, tmap = result.graph, result.tensor_map
    layouts = result.layouts  # one home: compiler.layout
    found: dict[str, list[dict[str, Any]]] = {}
    for kind, values in (("inputs", graph.inputs), ("outputs", graph.outputs)):
        rows = found.setdefault(kind, [])
        for v in values:
            d = tmap.get(v.name)
            perm = tuple(d.perm) if d is not None and d.perm else ()
            shape = None if v.type.shape is None else [
                x if isinstance(x, int) else str(x) for x in v.type.shape]
            if shape is not None and len(perm) == len(shape):
                shape = [shape[p] for p in perm]
            layout = (d.layout if d is not None and d.layout else layouts.get(v.name)) or "-"
            rows.append({"name": d.name if d is not None else v.name, "shape": shape,
                         "dtype": (d.dtype if d is not None and d.dtype
                                   else v.type.dtype.numpy.name), "layout": layout})
    return found


# the phases --timing lists, in the order they run
PHASES = ("load", "optimize", "prune", "calibrate", "quantize", "accuracy", "emit", "run", "eval")


def _phases_line(timings: dict[str, float]) -> str:
    """``phases: load 812.0 ms, ..., total 2.41 s`` (every phase of the run that took place)."""
    shown = [k for k in PHASES if k in timings] + sorted(set(timings) - set(PHASES))
    total = sum(timings[k] for k in shown)
    return ("phases: " + ", ".join(f"{k} {timings[k] * 1e3:.1f} ms" for k in shown)
            + f"; total {total:.2f} s")


def _int8_counts(result: Any) -> tuple[int, int]:
    """Nodes the written model runs in int8 and in float: the quantizer's split, less the
    quantized nodes the emitter runs in float (one warning each, or an INFO line when the
    quantizer left their operands float on purpose)."""
    summ = result.quantization
    left_float = set(summ.float_nodes)
    moved = sum(1 for _, layer, _ in result.emitted.float_nodes if layer not in left_float)
    return summ.num_quantized - moved, summ.num_float + moved


def _pruning_line(table: Any) -> str:
    """One line of the prune pass' table: layers pruned, overall sparsity, MACs removed (and
    the model output's SQNR when sample data was given)."""
    c = table.counts()
    macs = sum(r.macs for r in table.rows if r.macs is not None)
    share = f" of {macs:,} ({c['macs_removed'] / macs:.1%})" if macs else ""
    removed = (f"{c['macs_removed']:,} MACs removed{share}" if macs else
               "MACs not counted (open dims: fix them with --input-shape)")
    line = (f"  pruned {c['pruned']} of {len(table.rows)} layer(s): sparsity "
            f"{c['sparsity']:.3f} over their weights, {removed}")
    if table.num_samples:
        line += (f"; output SQNR {table.output_sqnr_db:.1f} dB vs unpruned on "
                 f"{table.num_samples} samples")
    return line


def _sparsity_lines(report: Any, report_dir: str | None) -> list[str]:
    """The payoff digest (and whole-model notes); with ``report_dir`` the report files."""
    lines = [f"  {report.digest()}"] + [f"  {note}" for note in report.notes]
    if report_dir:
        import json

        from ..fileio import atomic_write

        d = Path(report_dir)
        d.mkdir(parents=True, exist_ok=True)
        atomic_write(d / "sparsity.md", report.markdown().encode())
        atomic_write(d / "sparsity.json", (json.dumps(report.json(), indent=2) + "\n").encode())
        lines.append(f"  sparsity report: {d}/sparsity.md, sparsity.json")
    return lines


def _pruning_json(table: Any) -> dict[str, Any]:
    """The prune table as JSON (NaN figures as null)."""
    import dataclasses
    import math

    def num(x: Any) -> Any:
        return None if isinstance(x, float) and math.isnan(x) else x

    layers = [{k: (list(v) if k == "shape" else num(v))
               for k, v in dataclasses.asdict(r).items()} for r in table.rows]
    return {**table.counts(), "output_sqnr_db": num(table.output_sqnr_db),
            "samples": table.num_samples, "layers": layers}


def _eval_table(args: argparse.Namespace, result: Any, shapes: Any,
                options: dict[str, Any]) -> list[str]:
    """Evaluate the written model (and, for int8/float16, the float32 one) on ``--eval``."""
    from ..compile import compile as compile_model
    from ..debug.evaluate import compare, evaluate_many

    kind = "int8" if args.int8 else "float16" if args.float16 else "float32"
    models: dict[str, bytes] = {}
    if kind != "float32":
        models["float32"] = compile_model(args.model, result.target, pipeline=args.pipeline,
                                          input_shapes=shapes, **options).data
    models[kind] = result.data
    results = evaluate_many(models, args.eval, threads=1)
    n = len(next(iter(results.values())).predictions)
    return [f"  evaluated on {args.eval} ({n} samples, LiteRT, 1 thread):",
            *("    " + line for line in compare(results, reference="float32").splitlines())]


def _accuracy_lines(acc: Any, report_dir: str | None) -> list[str]:
    """The int8-vs-float summary (and the report files when ``report_dir`` is given)."""
    rep = acc.report
    lines = [f"  int8 vs float on {rep.num_samples} calibration samples: output SQNR "
             f"{rep.output_sqnr_db:.1f} dB"]
    if acc.ranking:
        lines[-1] += (f"; kept float: {', '.join(acc.kept) if acc.kept else 'none'}"
                      + ("" if acc.met else " (budget not reached: best model found)"))
    worst = rep.worst(3)
    if worst:
        lines.append("  worst layers: " + ", ".join(f"{r.layer} {r.sqnr_db:.1f} dB" for r in worst))
    if report_dir:
        from ..fileio import atomic_write

        d = Path(report_dir)
        d.mkdir(parents=True, exist_ok=True)
        atomic_write(d / "layers.md", rep.to_markdown().encode())
        atomic_write(d / "layers.csv", rep.to_csv().encode())
        atomic_write(d / "layers.svg", rep.save_svg(full_table="layers.csv").encode())
        if acc.ranking:
            from ..quantization.sensitivity import sensitivity_table

            atomic_write(d / "sensitivity.md", (sensitivity_table(acc.ranking) + "\n").encode())
        lines.append(f"  report: {d}/layers.md, layers.csv, layers.svg"
                     + (", sensitivity.md" if acc.ranking else ""))
    return lines


def _int8_options(args: argparse.Namespace, fp16_samples: bool = False,
                  fp16_keep: bool = False) -> dict[str, Any]:
    """compile() keyword arguments of the int8 flags; refuses combinations that cannot work.

    ``fp16_samples``: the float build reads sample inputs (the target's fp16 build, or the
    prune pass of --prune), so without --int8 --calibration (and --preprocess) give them. ``fp16_keep``: the target's fp16 build keeps
    layers in fp32 by name, so without --int8 --keep-float names them."""
    given = [f for f, v in (("--calibration", args.calibration), ("--keep-float",
                                                                 args.keep_float),
                            ("--int8-io", args.int8_io), ("--preprocess", args.preprocess),
                            ("--save-calibration", args.save_calibration),
                            ("--report", args.report),
                            ("--keep-sensitive", args.keep_sensitive is not None),
                            ("--sqnr-budget", args.sqnr_budget is not None)) if v]
    if getattr(args, "prune", None) is not None and args.report:  # also without --int8
        if os.path.exists(args.report) and not os.path.isdir(args.report):
            raise UsageError(f"--report {args.report}: a file is in the way; name a directory")
    if not args.int8:
        if getattr(args, "prune", None) is not None:  # --report: the sparsity report
            given = [f for f in given if f != "--report"]
        if fp16_samples and args.calibration:
            given = [f for f in given if f not in ("--calibration", "--preprocess")]
        if fp16_keep:
            given = [f for f in given if f != "--keep-float"]
        if given:
            raise UsageError(f"{', '.join(given)} only apply with --int8")
        fp16: dict[str, Any] = {}
        if fp16_samples and args.calibration:
            fp16 = {"calibration": _calibration_data(args), "preprocess": args.preprocess}
        if fp16_keep and args.keep_float:
            fp16["keep_float"] = list(args.keep_float)
        return fp16
    if args.float16:
        raise UsageError("--int8 and --float16 exclude each other; pick one")
    if not args.calibration:
        raise UsageError("--int8 needs --calibration DATA: an .npz of sample inputs (one "
                         "array per input name, samples along axis 0), an .npy, a directory "
                         "of images, or a statistics .npz from --save-calibration")
    if args.report and os.path.exists(args.report) and not os.path.isdir(args.report):
        raise UsageError(f"--report {args.report}: a file is in the way; name a directory")
    if args.save_calibration and not os.path.isdir(os.path.dirname(args.save_calibration)
                                                    or "."):
        raise UsageError(f"--save-calibration {args.save_calibration}: no such directory "
                         f"{os.path.dirname(args.save_calibration)}")
    return {"int8": True, "calibration": _calibration_data(args), "method": args.method,
            "percentile": args.percentile, "keep_float": list(args.keep_float),
            "io_dtype": "int8" if args.int8_io else "float", "progress": progress_bars(args),
            "preprocess": args.preprocess, "report": bool(args.report),
            "keep_sensitive": args.keep_sensitive, "sqnr_budget": args.sqnr_budget}


def _calibration_data(args: argparse.Namespace) -> Any:
    """What ``--calibration`` names: a path, or the samples of ``FILE.py:NAME``."""
    head, sep, name = args.calibration.rpartition(":")
    if sep and head.lower().endswith(".py"):
        return _script_calibration(head, name)
    if not os.path.exists(args.calibration):
        raise UsageError(f"--calibration {args.calibration}: no such file")
    return args.calibration


def _script_calibration(path: str, name: str) -> Any:
    """``--calibration FILE.py:NAME``: NAME of the user's own script FILE.py, run here as
    Python (it is their code, like a TFLiteConverter script; never code from a model file):
    a ``representative_dataset`` function or an onnxruntime ``CalibrationDataReader`` (an
    instance, or a class taking no arguments). Checked before the model loads."""
    import importlib.util

    flag = f"--calibration {path}:{name}"
    if not os.path.isfile(path):
        raise UsageError(f"{flag}: no such file {path}")
    if not name.isidentifier():
        raise UsageError(f"{flag}: {name!r} is not a Python name; use FILE.py:FUNCTION")
    spec = importlib.util.spec_from_file_location(f"infercc_calibration_{Path(path).stem}",
                                                  path)
    if spec is None or spec.loader is None:
        raise UsageError(f"{flag}: cannot be imported as a Python file")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 - the user's script: report whatever it raised
        raise UsageError(f"{flag}: running {path} raised {type(e).__name__}: {e}") from e
    obj = getattr(module, name, None)
    if obj is None:
        defined = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
                   and getattr(v, "__module__", None) == module.__name__]
        raise UsageError(f"{flag}: {path} defines no {name!r}"
                         + (f" (it defines {', '.join(defined)})" if defined else ""))
    if not (callable(obj) or hasattr(obj, "get_next")):
        raise UsageError(f"{flag}: {name} is a {type(obj).__name__}; name a function that "
                         "returns the samples (a representative_dataset) or a "
                         "CalibrationDataReader")
    return obj


def _refuse_if_the_graph_fails(graph: Any, path: str, why: Exception, seed: int) -> None:
    """Raise a clean error (removing ``path``) when ``graph`` fails in the reference
    interpreter on seeded inputs with open dims at 1, as LiteRT sizes them."""
    import numpy as np

    from ..errors import InferccError
    from ..interpreter import InterpreterError, run_graph

    rng = np.random.default_rng(seed)
    feeds = {}
    for v in graph.inputs:
        shape = tuple(d if isinstance(d, int) else 1 for d in (v.type.shape or ()))
        dtype = v.type.dtype.numpy
        feeds[v.name] = (rng.standard_normal(shape).astype(dtype) if dtype.kind == "f"
                         else np.zeros(shape, dtype))
    try:
        run_graph(graph, feeds)
    except InterpreterError as e:
        Path(path).unlink(missing_ok=True)
        raise InferccError(
            f"{path}: LiteRT cannot run the compiled model ({' '.join(str(why).split())}), "
            f"and neither can infercc's reference interpreter with every open dim at 1: {e}. "
            "The model does not run at these sizes; fix the source model or give its inputs "
            "sizes it runs at with --input-shape (--no-run skips this check and keeps the "
            "file). Nothing was written."
        ) from None


def _engine_run_report(path: str, ranges: dict[str, Any] | None = None,
                       seed: int = 0) -> list[str]:
    """Run the written engine once in TensorRT on seeded random inputs where the tensorrt
    executor can run (TensorRT, torch and a CUDA GPU); elsewhere one line saying why not.
    Each input with a shape range (``ranges``, the engine's optimization profile) is fed at
    its opt shape. The engine is written by then: an engine that refuses the run is a
    ``(not run: ...)`` line, not an error."""
    from targets.tensorrt.runtime import unavailable_reason

    from ..runtime import ExecutorError
    from .running import make_feeds, prepare, timed_runs

    why = unavailable_reason()
    if why is not None:
        return [f"  (not run: {why})"]
    given = {name: list(r.opt) for name, r in (ranges or {}).items()}
    try:
        model = prepare(path, executor="tensorrt")
        feeds, _, _ = make_feeds(model.inputs, None, given, seed)
        result, ms = timed_runs(model.open(), feeds, 1, 1)
    except (ExecutorError, UsageError) as e:
        return [f"  (not run: {' '.join(str(e).split())})"]
    lines = [f"  TensorRT run (seeded random inputs): {ms[0]:.2f} ms"]
    return lines + [f"  output {name}: {list(y.shape)} {y.dtype}"
                    for name, y in result.outputs.items()]


def _tflite_run_report(path: str, graph: Any, seed: int = 0) -> list[str]:
    """Run ``path`` once in LiteRT on seeded random inputs; report ops, latency, outputs.

    When LiteRT cannot run the written file, the compiled ``graph`` is run in the reference
    interpreter at the same sizes: if it fails there too the model itself cannot run at
    them (e.g. a reshape whose size fits no batch of 1), a clean error, and the file is
    removed; if the graph runs, the emitter wrote a bad file: an internal error.
    """
    from collections import Counter

    import numpy as np

    from ..runtime import ExecutorError, open_executor

    try:
        ex = open_executor("litert", path)
    except ExecutorError as e:
        if "not installed" in e.reason:
            return ["  (not run: ai_edge_litert is not installed)"]
        _refuse_if_the_graph_fails(graph, path, e, seed)
        raise RuntimeError(f"LiteRT cannot load the written model {path}: {e}") from e
    ops = Counter(ex.op_counts())
    rng = np.random.default_rng(seed)
    feeds = {}
    for name, d in zip(ex.input_names, ex.inputs):
        shape, dtype = tuple(int(x) for x in d["shape"]), np.dtype(d["dtype"])
        if dtype.kind == "f":
            x = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind == "b":
            x = rng.random(shape) < 0.5
        elif dtype == np.int8:  # a quantized input: the whole int8 range
            x = rng.integers(-128, 128, size=shape).astype(dtype)
        else:
            x = rng.integers(0, 10, size=shape).astype(dtype)
        feeds[name] = x
    try:
        outputs = ex.run(feeds).outputs
    except ExecutorError as e:
        _refuse_if_the_graph_fails(graph, path, e, seed)
        raise RuntimeError(f"LiteRT cannot run the written model {path}: {e}") from e
    ms = ex.last_invoke_ms
    lines = [f"  ops ({sum(ops.values())}): "
             + ", ".join(f"{k} {v}" for k, v in sorted(ops.items(), key=lambda kv: (-kv[1], kv[0])))]
    lines.append(f"  LiteRT run (1 thread, seeded random inputs): {ms:.2f} ms")
    for name, y in outputs.items():
        lines.append(f"  output {name}: {list(y.shape)} {y.dtype}")
    return lines
