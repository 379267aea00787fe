"""The ``infercc`` command line.

    infercc inspect MODEL [--input-shape x:1x3x224x224] [--show-ir]
    infercc opt MODEL [-p PIPELINE] [-o OUT.ir|OUT.onnx] [--timing] [--dump-dir DIR] ...
    infercc compile MODEL -o OUT.tflite|OUT.onnx [--target NAME] [--float16] [-p PIPELINE] ...
    infercc passes [NAME ...]
    infercc targets [NAME ...]
    infercc ops [NAME ...]

Exit codes: 0 success, 2 a user error (bad model, bad pipeline, failing pass; the message
names what and where), 1 an internal error (a bug: rerun with ``--debug`` for the traceback).
Logging goes to stderr; ``-v``/``-vv`` show more, ``-q`` only errors.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import textwrap
import traceback
from pathlib import Path
from typing import Any, Sequence

from .errors import InferccError, ModelLoadError, PipelineError
from .input_shapes import override_input_shapes

log = logging.getLogger("infercc")

MODEL_HELP = "model: .onnx, .tflite, .prototxt, .keras/.h5/.pb, SavedModel directory, .pt2 or .ir"

class UsageError(InferccError):
    """A command-line argument is malformed (not a model or pipeline problem)."""


EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USER = 2


# -- argument parsing ------------------------------------------------------------------------


def _common(suppress: bool) -> argparse.ArgumentParser:
    """-v/-q/--debug, accepted both before and after the sub-command."""
    d = argparse.SUPPRESS if suppress else None
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("-v", "--verbose", action="count", default=d if suppress else 0,
                   help="more log output on stderr (-vv for debug messages)")
    p.add_argument("-q", "--quiet", action="store_true", default=d if suppress else False,
                   help="log only errors")
    p.add_argument("--debug", action="store_true", default=d if suppress else False,
                   help="show Python tracebacks for errors")
    return p


def build_parser() -> argparse.ArgumentParser:
    common = _common(suppress=True)
    parser = argparse.ArgumentParser(
        prog="infercc",
        description="infercc: a graph compiler for deep-learning inference. Load a model "
        "(.onnx or .ir), inspect it, and optimise it with a pass pipeline.",
        epilog="Run `infercc COMMAND --help` for the options of a command.",
        parents=[_common(suppress=False)],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    # inspect -------------------------------------------------------------------------------
    p = sub.add_parser(
        "inspect",
        parents=[common],
        help="summarise a model: ops, parameters, FLOPs, inputs and outputs",
        description=textwrap.fill(
            "Summarise a model: op histogram, parameter count and bytes, FLOPs, inputs and "
            "outputs. --show-ir prints the IR instead.", 88),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=textwrap.fill(_flops_note(), 88),
    )
    p.add_argument("model", help=MODEL_HELP)
    _add_input_shape(p)
    p.add_argument("--show-ir", action="store_true",
                   help="print the IR text (large tensors shown by name) instead of a summary")
    p.set_defaults(func=cmd_inspect)

    # opt -----------------------------------------------------------------------------------
    p = sub.add_parser(
        "opt",
        parents=[common],
        help="run a pass pipeline over a model and write the result",
        description=textwrap.fill(
            "Run a pass pipeline over a model. Without -p the default pipeline runs (or, for "
            "a crash reproducer, the pipeline recorded in its first line). Without -o the "
            "resulting IR is printed on stdout (without tensor data).", 88),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="pipeline syntax: pass1,pass2{option=value,list=[1,2]},...  "
        "(run `infercc passes` for the passes and their options)\n"
        "default pipeline: " + _default_pipeline(),
    )
    p.add_argument("model", help=MODEL_HELP + " (a reproducer .ir replays its crash)")
    p.add_argument("-p", "--pipeline", metavar="PIPELINE",
                   help="passes to run, e.g. 'fold-constants,dce' (default: see below)")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="write the result: OUT.ir (IR text with data) or OUT.onnx (ONNX model)")
    _add_input_shape(p)
    _add_instrument_flags(p)
    p.add_argument("--show-ir", action="store_true",
                   help="print the optimized IR to stdout (also when -o writes a file)")
    p.add_argument("--timing", action="store_true",
                   help="print a per-pass table of time, node counts and pass statistics")
    p.set_defaults(func=cmd_opt)

    # compile -------------------------------------------------------------------------------
    p = sub.add_parser(
        "compile",
        parents=[common],
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
        epilog="default pipeline: " + _default_pipeline(),
    )
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("-t", "--target", metavar="NAME",
                   help="what to emit, optionally with options: tflite, onnx, "
                   "'tflite{float16=true}' (default: the target of -o's extension; `infercc "
                   "targets` lists them)")
    p.add_argument("-o", "--output", metavar="OUT", required=True,
                   help="the file to write (written atomically); its extension selects the "
                   "target (.tflite, .onnx)")
    p.add_argument("-p", "--pipeline", metavar="PIPELINE",
                   help="passes to run before emitting (default: see below)")
    p.add_argument("--float16", action="store_true",
                   help="TFLite only: store weights as float16 (dequantized at load)")
    p.add_argument("--eval", metavar="DATA.npz",
                   help="TFLite only: run the written model in LiteRT on DATA.npz (one array "
                        "per input name, samples along axis 0, optional integer 'labels') "
                        "and print accuracy, agreement, SQNR, size and latency; with --int8 "
                        "or --float16 next to the float32 model of the same source")
    g8 = p.add_argument_group("int8 quantization (TFLite only)")
    g8.add_argument("--int8", action="store_true",
                    help="calibrate, quantize (int8 activations, per-channel int8 weights, "
                         "int32 biases) and emit integer kernels")
    g8.add_argument("--calibration", metavar="DATA",
                    help="calibration data: an .npz with one array per input (samples along "
                         "axis 0, keyed by input name), an .npy (one input), a directory of "
                         "images (see --preprocess), or a statistics .npz written by "
                         "--save-calibration (then nothing is run)")
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
                    help="keep this layer (source layer name or IR value name) in float; "
                         "repeatable (mixed precision)")
    g8.add_argument("--int8-io", action="store_true",
                    help="make the model's quantized inputs and outputs int8 tensors "
                         "(default: float, with QUANTIZE/DEQUANTIZE inside)")
    g8.add_argument("--report", metavar="DIR",
                    help="compare float and int8 activations layer by layer on the "
                         "calibration data; write DIR/layers.md, layers.csv, layers.svg (and "
                         "sensitivity.md with mixed precision) and print the worst layers")
    g8.add_argument("--keep-sensitive", type=int, metavar="N",
                    help="mixed precision: keep the N most sensitive layers in float")
    g8.add_argument("--sqnr-budget", type=float, metavar="DB",
                    help="mixed precision: keep layers float, most sensitive first, until the "
                         "output's SQNR against float reaches DB")
    g8.add_argument("--save-calibration", metavar="F.npz",
                    help="write the calibration statistics here (reusable as --calibration)")
    _add_input_shape(p)
    p.add_argument("--timing", action="store_true",
                   help="print per-pass and per-phase (load, optimize, emit) times on stderr")
    _add_instrument_flags(p)
    p.add_argument("--no-run", action="store_true",
                   help="do not run the written .tflite in the LiteRT interpreter")
    p.add_argument("--show-ir", action="store_true",
                   help="print the optimized IR (what the emitter received) to stdout")
    p.set_defaults(func=cmd_compile)

    # passes ----------------------------------------------------------------------------------
    p = sub.add_parser(
        "passes",
        parents=[common],
        help="list the passes (builtin and plugins) with their options",
        description="List builtin and plugin passes: summary, options with types and "
        "defaults, and where each comes from. Plugins register passes through the "
        "'infercc.passes' entry-point group.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="show only these passes")
    p.set_defaults(func=cmd_passes)

    # targets ---------------------------------------------------------------------------------
    p = sub.add_parser(
        "targets",
        parents=[common],
        help="list the targets (builtin and plugins) with their options",
        description="List builtin and plugin targets: summary, output extensions, options "
        "with types and defaults, int8 support, executor and where each comes from. Plugins "
        "register targets through the 'infercc.targets' entry-point group.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="show only these targets")
    p.set_defaults(func=cmd_targets)

    # ops -------------------------------------------------------------------------------------
    p = sub.add_parser(
        "ops",
        parents=[common],
        help="list the op set with summaries",
        description="List the IR op set by category. With NAMEs, show each op's inputs, "
        "outputs and attributes in full.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="show these ops in detail")
    p.set_defaults(func=cmd_ops)
    return parser


def _add_input_shape(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input-shape", metavar="NAME:DIMS", action="append", default=[],
                   help="fix an input's shape, e.g. input:1x3x224x224 (dims may be symbols "
                   "like N or ?); repeatable")
    p.add_argument("--weights", metavar="FILE",
                   help="Caffe weights (.caffemodel) for a .prototxt; default: the one beside it")


def _add_instrument_flags(p: argparse.ArgumentParser) -> None:
    """The pass manager's observation flags (see :func:`_instruments`)."""
    p.add_argument("--print-ir-after", metavar="NAME|all", action="append", default=[],
                   help="print the IR to stderr after the named pass (repeatable, or "
                   "comma-separated) or after every pass ('all')")
    p.add_argument("--print-ir-after-change", action="store_true",
                   help="print the IR only after passes that changed it (with --print-ir-after "
                   "limits those; alone it means after any pass that changes the graph)")
    p.add_argument("--dump-dir", metavar="DIR",
                   help="write 000_input.ir, 001_<pass>.ir, ... into DIR (numbered dumps from "
                   "an earlier run there are replaced)")
    p.add_argument("--dump-data", action="store_true",
                   help="include tensor data in --dump-dir files (makes them loadable)")
    p.add_argument("--no-verify", action="store_true",
                   help="do not verify the IR after each pass (faster; bugs surface later)")
    p.add_argument("--reproducer", metavar="PATH",
                   help="where to write a crash reproducer if a pass fails (default: a file "
                   "in the temp directory)")


def _instruments(args: argparse.Namespace, pipeline: Any, *, timing: bool = True) -> list:
    """The instruments ``--print-ir-after``, ``--print-ir-after-change``, ``--dump-dir`` and
    (with ``timing``) ``--timing`` ask for, for ``pipeline`` (its pass names are checked)."""
    from .pass_manager import DumpIR, PrintIR, Timing

    instruments: list = []
    after = [n.strip() for spec in args.print_ir_after for n in spec.split(",") if n.strip()]
    if after or args.print_ir_after_change:
        if "all" in after or not after:
            sel: Any = "all"
        else:
            names_in_pipeline = {p.name for p in pipeline}
            missing = [n for n in after if n not in names_in_pipeline]
            if missing:
                raise PipelineError(
                    f"--print-ir-after {', '.join(missing)}: not in the pipeline "
                    f"({pipeline or 'empty'}); name a pass of the pipeline or 'all'"
                )
            sel = after
        instruments.append(PrintIR(sel, only_on_change=args.print_ir_after_change,
                                   stream=sys.stderr))
    if args.dump_dir:
        instruments.append(DumpIR(args.dump_dir, with_data=args.dump_data))
    if timing and args.timing:
        instruments.append(Timing(stream=sys.stderr))
    return instruments


def _reproducer_path(args: argparse.Namespace) -> str:
    return args.reproducer or os.path.join(
        tempfile.gettempdir(), f"infercc-reproducer-{Path(args.model).stem}-{os.getpid()}.ir"
    )


def _default_pipeline() -> str:
    try:
        from passes import DEFAULT_PIPELINE

        return DEFAULT_PIPELINE
    except ImportError:  # pragma: no cover
        return ""


def _flops_note() -> str:
    from .stats import FLOPS_NOTE

    return FLOPS_NOTE + "."


# -- shared helpers --------------------------------------------------------------------------


def parse_input_shapes(specs: Sequence[str]) -> dict[str, list[Any]]:
    """``["x:1x3x224x224", "mask:Nx?"]`` -> ``{"x": [1,3,224,224], "mask": ["N","?"]}``."""
    shapes: dict[str, list[Any]] = {}
    for spec in specs:
        name, sep, dims = spec.rpartition(":")
        if not sep or not name:
            raise UsageError(
                f"--input-shape {spec!r}: expected NAME:DIMS such as input:1x3x224x224"
            )
        out: list[Any] = []
        if dims.strip() not in ("", "scalar"):
            for d in dims.replace(",", "x").split("x"):
                d = d.strip()
                if not d:
                    raise UsageError(f"--input-shape {spec!r}: empty dimension")
                out.append(int(d) if d.lstrip("-").isdigit() else d)
        if any(isinstance(d, int) and d < 0 for d in out):
            raise UsageError(f"--input-shape {spec!r}: negative dimension (use ? for unknown)")
        shapes[name] = out
    return shapes


def load_model(path: str, input_shapes: dict[str, list[Any]] | None = None, *,
               check: bool = True, weights: str | None = None):
    """Load a model file into a graph, turning IR-level errors into :class:`ModelLoadError`.

    With ``check`` the graph is verified, so an unknown op or a wrong type in an ``.ir``
    file is reported against the file rather than later by a pass.
    """
    from .frontends import load
    from .ir import IRError, IRParseError, VerificationError, verify
    from .ops.registry import SchemaError

    # .ir text and torch .pt2 programs carry their shapes; the others take them at import
    frontend_shapes = Path(path).suffix.lower() not in (".ir", ".pt2")
    options: dict[str, Any] = {}
    if input_shapes and frontend_shapes:
        options["input_shapes"] = input_shapes
    if weights:
        options["weights"] = weights
    try:
        graph = load(path, **options)
    except (IRParseError, IRError, SchemaError) as e:
        raise ModelLoadError(f"{path}: {e}") from None
    if input_shapes and not frontend_shapes:
        override_input_shapes(graph, input_shapes, path)
    if check:
        try:
            verify(graph)
        except VerificationError as e:
            raise ModelLoadError(f"{path}: the model fails verification: {e}") from None
    return graph


# -- inspect ---------------------------------------------------------------------------------


def cmd_inspect(args: argparse.Namespace) -> int:
    from .ir import print_graph
    from .stats import FLOPS_NOTE, human, model_stats

    graph = load_model(args.model, parse_input_shapes(args.input_shape), weights=args.weights)
    if args.show_ir:
        sys.stdout.write(print_graph(graph))
        return EXIT_OK
    st = model_stats(graph)
    out = [f"model: {args.model}", f"graph: @{graph.name}"]
    for k, v in graph.metadata.items():
        out.append(f"  meta {k}: {v}")
    out.append("inputs:")
    out += [f"  %{v.name}: {v.type}" for v in graph.inputs] or ["  (none)"]
    out.append("outputs:")
    out += [f"  %{v.name}: {v.type}" for v in graph.outputs] or ["  (none)"]
    out.append(f"nodes: {st.nodes} ({st.nodes - st.op_histogram.get('const', 0)} ops, "
               f"{st.op_histogram.get('const', 0)} constants)")
    out.append("op histogram:")
    width = max((len(op) for op in st.op_histogram), default=0)
    for op, n in sorted(st.op_histogram.items(), key=lambda kv: (-kv[1], kv[0])):
        fl = st.flops_by_op.get(op, 0)
        extra = f"  {human(fl)}FLOPs" if fl else ""
        out.append(f"  {op.ljust(width)}  {n:6d}{extra}")
    out.append(f"parameters: {st.params:,} elements ({human(st.params)}), "
               f"{st.param_bytes:,} bytes ({human(st.param_bytes, 'B')})")
    out.append(f"FLOPs: {st.flops:,} ({human(st.flops)}), MACs: {st.macs:,} ({human(st.macs)})")
    if st.uncounted:
        shown = ", ".join(st.uncounted[:10]) + (" ..." if len(st.uncounted) > 10 else "")
        out.append(f"  not counted ({len(st.uncounted)} nodes without static shapes; fix the "
                   f"input shapes with --input-shape): {shown}")
    out.append(f"  ({FLOPS_NOTE})")
    sys.stdout.write("\n".join(out) + "\n")
    return EXIT_OK


# -- opt ------------------------------------------------------------------------------------


def cmd_opt(args: argparse.Namespace) -> int:
    from .ir import print_graph
    from .pass_manager import (
        PassContext,
        PassManager,
        parse_pipeline,
        read_reproducer_pipeline,
    )

    if args.output is not None:
        suffix = Path(args.output).suffix.lower()
        if suffix not in (".ir", ".onnx"):
            raise UsageError(
                f"-o {args.output}: unknown output format '{suffix or Path(args.output).name}' "
                "(use a .ir or .onnx file name)"
            )
    pipeline_text = args.pipeline
    if pipeline_text is None:
        recorded = _reproducer_pipeline(args.model, read_reproducer_pipeline)
        if recorded is not None:
            log.info("replaying the pipeline recorded in %s: %s", args.model, recorded)
            pipeline_text = recorded
        else:
            pipeline_text = _default_pipeline()
    # Parse the pipeline before loading the model: a typo should not cost a model load.
    pipeline = parse_pipeline(pipeline_text)
    instruments = _instruments(args, pipeline)
    reproducer = _reproducer_path(args)

    graph = load_model(args.model, parse_input_shapes(args.input_shape), check=not args.no_verify,
                       weights=args.weights)
    nodes_before = len(graph.nodes)
    pm = PassManager(pipeline, instruments, verify=not args.no_verify, reproducer=reproducer)
    report = pm.run(graph, PassContext())
    log.info("ran %d pass(es) in %.1f ms", len(report.records), report.time_ms)

    if args.output is None or args.show_ir:
        sys.stdout.write(print_graph(graph))
    if args.output is None:
        return EXIT_OK
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    if args.output.lower().endswith(".onnx"):
        _write_onnx(graph, args.output)
    else:
        from .fileio import atomic_write

        atomic_write(args.output, print_graph(graph, with_data=True))
    print(
        f"infercc: wrote {args.output} ({nodes_before} -> {len(graph.nodes)} nodes after "
        f"{len(report.records)} passes, {report.time_ms:.0f} ms)"
    )
    return EXIT_OK


def _reproducer_pipeline(path: str, reader) -> str | None:
    if not path.lower().endswith(".ir"):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            head = f.read(64 * 1024)
    except OSError:
        return None  # the loader reports the missing file properly
    return reader(head)


def _write_onnx(graph, path: str) -> None:
    from targets.onnx.exporter import export_onnx

    export_onnx(graph, path)  # checks the model, then writes atomically


# -- compile -------------------------------------------------------------------------------


def cmd_compile(args: argparse.Namespace) -> int:
    from targets import get_target, resolve_target

    from .compile import compile_pipeline, int8_refusal, saved_statistics
    from .compile import compile as compile_model

    if args.int8 and args.target:  # the int8 refusal says more than an extension mismatch
        refusal = int8_refusal(get_target(args.target.partition("{")[0]))
        if refusal:
            raise UsageError(refusal.replace("target=", "--target "))
    target, spec = resolve_target(args.target, args.output)
    int8_opts = _int8_options(args)
    if args.eval:
        if target.executor != "litert":
            raise UsageError("--eval runs .tflite models in LiteRT; use --target tflite")
        if not os.path.isfile(args.eval):
            raise UsageError(f"--eval {args.eval}: no such file")
    # the whole pipeline (calibrate and quantize included), parsed before the model loads
    pipeline = compile_pipeline(
        target, args.pipeline, int8=args.int8,
        calibrate=not args.int8 or saved_statistics(args.calibration) is None,
        method=args.method, percentile=args.percentile, keep_float=args.keep_float)
    options: dict[str, Any] = {}
    if args.weights:
        options["weights"] = args.weights
    shapes = parse_input_shapes(args.input_shape) or None
    result = compile_model(args.model, spec, pipeline=args.pipeline,
                           float16=args.float16, output=args.output, input_shapes=shapes,
                           instruments=_instruments(args, pipeline, timing=False),
                           reproducer=_reproducer_path(args), verify=not args.no_verify,
                           **int8_opts, **options)
    if args.save_calibration:
        result.calibration.save(args.save_calibration)
    if args.show_ir:
        from .ir import print_graph

        sys.stdout.write(print_graph(result.graph))
    if args.timing:
        t = result.timings
        sys.stderr.write(result.report.table() + "\n")
        phases = ["load", "optimize", "calibrate", "quantize", "accuracy", "emit"]
        sys.stderr.write("phases: " + ", ".join(f"{k} {t[k] * 1e3:.1f} ms" for k in phases
                                                if k in t) + "\n")
    out = [f"infercc: wrote {args.output} ({result.size:,} bytes, target {result.target}, "
           f"{len(result.records)} passes)"]
    if args.int8:
        summ, cal = result.quantization, result.calibration
        out.append(f"  int8 ({args.method}, {cal.num_samples} calibration samples): "
                   f"{summ.num_quantized} node(s) quantized, {summ.num_float} kept float"
                   + (f"; statistics saved to {args.save_calibration}"
                      if args.save_calibration else ""))
    if result.accuracy is not None:
        out += _accuracy_lines(result.accuracy, args.report)
    if target.executor == "litert" and not args.no_run:
        out += _tflite_run_report(args.output)
    if args.eval:
        out += _eval_table(args, result, shapes, options)
    sys.stdout.write("\n".join(out) + "\n")
    return EXIT_OK


def _eval_table(args: argparse.Namespace, result: Any, shapes: Any,
                options: dict[str, Any]) -> list[str]:
    """Evaluate the written model (and, for int8/float16, the float32 one) on ``--eval``."""
    from .compile import compile as compile_model
    from .debug.evaluate import compare, evaluate_many

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
        from .fileio import atomic_write

        d = Path(report_dir)
        d.mkdir(parents=True, exist_ok=True)
        atomic_write(d / "layers.md", rep.to_markdown().encode())
        atomic_write(d / "layers.csv", rep.to_csv().encode())
        atomic_write(d / "layers.svg", rep.save_svg().encode())
        if acc.ranking:
            from .quantization.sensitivity import sensitivity_table

            atomic_write(d / "sensitivity.md", (sensitivity_table(acc.ranking) + "\n").encode())
        lines.append(f"  report: {d}/layers.md, layers.csv, layers.svg"
                     + (", sensitivity.md" if acc.ranking else ""))
    return lines


def _int8_options(args: argparse.Namespace) -> dict[str, Any]:
    """compile() keyword arguments of the int8 flags; refuses combinations that cannot work."""
    given = [f for f, v in (("--calibration", args.calibration), ("--keep-float",
                                                                 args.keep_float),
                            ("--int8-io", args.int8_io), ("--preprocess", args.preprocess),
                            ("--save-calibration", args.save_calibration),
                            ("--report", args.report),
                            ("--keep-sensitive", args.keep_sensitive is not None),
                            ("--sqnr-budget", args.sqnr_budget is not None)) if v]
    if not args.int8:
        if given:
            raise UsageError(f"{', '.join(given)} only apply with --int8")
        return {}
    if args.float16:
        raise UsageError("--int8 and --float16 exclude each other; pick one")
    if not args.calibration:
        raise UsageError("--int8 needs --calibration DATA: an .npz of sample inputs (one "
                         "array per input name, samples along axis 0), an .npy, a directory "
                         "of images, or a statistics .npz from --save-calibration")
    if not os.path.exists(args.calibration):
        raise UsageError(f"--calibration {args.calibration}: no such file")
    return {"int8": True, "calibration": args.calibration, "method": args.method,
            "percentile": args.percentile, "keep_float": list(args.keep_float),
            "io_dtype": "int8" if args.int8_io else "float", "progress": True,
            "preprocess": args.preprocess, "report": bool(args.report),
            "keep_sensitive": args.keep_sensitive, "sqnr_budget": args.sqnr_budget}


def _tflite_run_report(path: str, seed: int = 0) -> list[str]:
    """Run ``path`` once in LiteRT on seeded random inputs; report ops, latency, outputs."""
    from collections import Counter

    import numpy as np

    from .runtime import ExecutorError, open_executor

    try:
        ex = open_executor("litert", path)
    except ExecutorError as e:
        if "not installed" in e.reason:
            return ["  (not run: ai_edge_litert is not installed)"]
        # the emitter wrote a file LiteRT refuses: that is an infercc bug, not a user error
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
    outputs = ex.run(feeds).outputs
    ms = ex.last_invoke_ms
    lines = [f"  ops ({sum(ops.values())}): "
             + ", ".join(f"{k} {v}" for k, v in sorted(ops.items(), key=lambda kv: (-kv[1], kv[0])))]
    lines.append(f"  LiteRT run (1 thread, seeded random inputs): {ms:.2f} ms")
    for name, y in outputs.items():
        lines.append(f"  output {name}: {list(y.shape)} {y.dtype}")
    return lines


# -- passes --------------------------------------------------------------------------------


def cmd_passes(args: argparse.Namespace) -> int:
    from .pass_manager import default_registry, describe_options

    reg = default_registry()
    names = args.names or reg.names()
    for n in names:
        if n not in reg:
            raise PipelineError(reg.unknown_message(n))
    out = []
    for n in names:
        info = reg.info(n)
        source = (f"plugin from distribution '{info.distribution}' ({info.target})"
                  if info.kind == "plugin" else f"{info.kind} ({info.target})")
        try:
            cls = reg.get(n)
        except PipelineError as e:
            out.append(f"{n}  -  (unavailable)\n    {e}")
            continue
        out.append(f"{n}  -  {cls.summary or '(no summary)'}")
        out.append(f"    source: {source}")
        opts = describe_options(cls)
        if opts:
            out.append("    options:")
            for name, tp, default in opts:
                out.append(f"      {name}: {tp} = {default}")
    sys.stdout.write("\n".join(out) + "\n")
    return EXIT_OK


# -- targets ---------------------------------------------------------------------------------


def cmd_targets(args: argparse.Namespace) -> int:
    from targets import UnknownTargetError, default_registry, describe_target_options

    reg = default_registry()
    names = args.names or reg.names()
    for n in names:
        if n not in reg:
            raise UnknownTargetError(reg.unknown_message(n))
    out = []
    for n in names:
        info = reg.info(n)
        try:
            target = reg.get(n)
        except UnknownTargetError as e:
            out.append(f"{n}  -  (unavailable)\n    {e}")
            continue
        out.append(f"{n}  -  {target.summary or '(no summary)'}")
        out.append(f"    extensions: {', '.join(target.extensions) or '(none)'}")
        out.append(f"    int8: {'yes' if target.supports_int8 else 'no'}")
        out.append(f"    executor: {target.executor or '(none)'}")
        out.append(f"    source: {info.origin}")
        opts = describe_target_options(target)
        if opts:
            out.append("    options:")
            for name, tp, default in opts:
                out.append(f"      {name}: {tp} = {default}")
    sys.stdout.write("\n".join(out) + "\n")
    return EXIT_OK


# -- ops --------------------------------------------------------------------------------------


def cmd_ops(args: argparse.Namespace) -> int:
    from .ops.registry import all_schemas

    schemas = all_schemas()
    out: list[str] = []
    if args.names:
        for n in args.names:
            s = schemas.get(n)
            if s is None:
                import difflib

                close = difflib.get_close_matches(n, list(schemas), n=3)
                hint = f"; did you mean {' or '.join(close)}?" if close else ""
                raise UsageError(f"unknown op '{n}'{hint} (run `infercc ops` for the list)")
            out.append(f"{s.name}  [{s.category}]  {s.summary}")
            out.append(f"    inputs:  {', '.join(s.inputs) or '(none)'}")
            out.append(f"    outputs: {', '.join(s.outputs)}")
            if s.attrs:
                out.append("    attributes:")
                for k, spec in s.attrs.items():
                    d = "(required)" if spec.required else repr(spec.default)
                    doc = f"  {spec.doc}" if spec.doc else ""
                    out.append(f"      {k}: {spec.type} = {d}{doc}")
            out.append(f"    defined in: {s.module}")
        sys.stdout.write("\n".join(out) + "\n")
        return EXIT_OK
    by_cat: dict[str, list] = {}
    for s in schemas.values():
        by_cat.setdefault(s.category, []).append(s)
    width = max((len(n) for n in schemas), default=0)
    for cat in sorted(by_cat):
        out.append(f"{cat}:")
        for s in by_cat[cat]:
            out.append(f"  {s.name.ljust(width)}  {s.summary}")
    out.append(f"{len(schemas)} ops (`infercc ops NAME` shows one in detail)")
    sys.stdout.write("\n".join(out) + "\n")
    return EXIT_OK


# -- main --------------------------------------------------------------------------------------


_FRAMEWORK_LOGGERS = {"tensorflow", "absl", "keras", "tf_keras", "torch", "h5py", "onnx"}


def _setup_logging(verbose: int, quiet: bool):
    """Log to stderr at the level -v/-q ask for; returns a function that undoes it."""
    level = logging.ERROR if quiet else {0: logging.WARNING, 1: logging.INFO}.get(
        verbose, logging.DEBUG
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("infercc: %(levelname)s: %(message)s"))
    if verbose < 2:
        # frameworks (TensorFlow's deprecation notices, torch.export) speak only at -vv
        handler.addFilter(lambda r: r.name.split(".")[0] not in _FRAMEWORK_LOGGERS)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(level)

    def undo() -> None:  # main() may be called in-process (tests, embedding)
        root.removeHandler(handler)
        root.setLevel(old_level)

    return undo


def _user_error_types() -> tuple[type[BaseException], ...]:
    """Errors that mean bad input rather than an infercc bug, besides InferccError."""
    from .ir import IRError, IRParseError, VerificationError
    from .ops.registry import SchemaError

    return (IRParseError, VerificationError, SchemaError, IRError)


def _error(msg: str) -> None:
    sys.stderr.write(f"infercc: error: {msg.rstrip()}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 user error, 1 internal error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse already printed usage / help
        return int(e.code) if isinstance(e.code, int) else EXIT_USER
    debug = bool(getattr(args, "debug", False))
    undo_logging = _setup_logging(int(getattr(args, "verbose", 0) or 0),
                                  bool(getattr(args, "quiet", False)))
    try:
        return _run(args, debug)
    finally:
        undo_logging()


def _run(args: argparse.Namespace, debug: bool) -> int:
    try:
        return args.func(args)
    except InferccError as e:
        if debug:
            traceback.print_exc()
        _error(str(e))
        return getattr(e, "exit_code", EXIT_USER)
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except BrokenPipeError:  # `infercc ... | head`
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        except OSError:
            pass
        return EXIT_OK
    except OSError as e:
        if debug:
            traceback.print_exc()
        where = f"{e.filename}: " if e.filename else ""
        _error(f"{where}{e.strerror or e}")
        return EXIT_USER
    except Exception as e:
        if isinstance(e, _user_error_types()):
            if debug:
                traceback.print_exc()
            _error(str(e))
            return EXIT_USER
        if debug:
            traceback.print_exc()
        _error(
            f"internal error: {type(e).__name__}: {e}\n"
            "This is a bug in infercc; rerun with --debug for the traceback and report it."
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
