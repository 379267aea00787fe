"""``infercc opt MODEL``: run a pass pipeline over a model and print or write the result."""

from __future__ import annotations

import argparse
import logging
import sys
import textwrap
from pathlib import Path

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
    load_model,
    load_pass_plugins,
    parse_input_shapes,
    recorded_pipeline,
    reproducer_path,
)

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``opt`` sub-command to ``sub``."""
    p = sub.add_parser(
        "opt",
        parents=parents,
        help="run a pass pipeline over a model and write the result",
        description=textwrap.fill(
            "Run a pass pipeline over a model. Without -p the default pipeline runs (or, for "
            "a crash reproducer, the pipeline recorded in its first line). Without -o the "
            "resulting IR is printed on stdout (without tensor data).", 88),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="pipeline syntax: pass1,pass2{option=value,list=[1,2]},...  "
        "(run `infercc passes` for the passes and their options; 'default' stands for the "
        "default pipeline)\n"
        "default pipeline: " + default_pipeline(),
    )
    p.add_argument("model", help=MODEL_HELP + " (a reproducer .ir replays its crash)")
    p.add_argument("-p", "--pipeline", metavar="PIPELINE",
                   help="passes to run, e.g. 'fold-constants,dce' (default: see below)")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="write the result: OUT.ir (IR text with data) or OUT.onnx (ONNX model)")
    add_input_shape(p)
    add_pass_plugin(p)
    add_instrument_flags(p)
    p.add_argument("--show-ir", action="store_true",
                   help="print the optimized IR to stdout (also when -o writes a file)")
    p.add_argument("--timing", action="store_true",
                   help="print a per-pass table of time, node counts and pass statistics")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Optimise ``args.model``; print the IR, or write ``-o`` (.ir with data, or .onnx).

    The pipeline (``-p``, else the one a reproducer records, else the default) is parsed
    before the model loads, so a typo costs no model load.
    """
    from ..ir import print_graph
    from ..pass_manager import (
        PassContext,
        PassManager,
        parse_pipeline,
    )

    if args.output is not None:
        suffix = Path(args.output).suffix.lower()
        if suffix not in (".ir", ".onnx"):
            raise UsageError(
                f"-o {args.output}: unknown output format '{suffix or Path(args.output).name}' "
                "(use a .ir or .onnx file name)"
            )
    load_pass_plugins(args)
    pipeline_text = args.pipeline
    recorded = recorded_pipeline(args.model)
    if pipeline_text is None:
        if recorded is not None:
            log.info("replaying the pipeline recorded in %s: %s", args.model, recorded)
            pipeline_text = recorded
        else:
            pipeline_text = default_pipeline()
    # Parse the pipeline before loading the model: a typo should not cost a model load.
    pipeline = parse_pipeline(pipeline_text)
    instrument_list = instruments(args, pipeline)
    reproducer = reproducer_path(args)

    import_framework(args)
    graph = load_model(args.model, parse_input_shapes(args.input_shape), check=not args.no_verify,
                       weights=args.weights, layout=args.layout)
    nodes_before = len(graph.nodes)
    pm = PassManager(pipeline, instrument_list, verify=not args.no_verify, reproducer=reproducer)
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
        from ..fileio import atomic_write

        atomic_write(args.output, print_graph(graph, with_data=True))
    sys.stdout.write(
        f"infercc: wrote {args.output} ({nodes_before} -> {len(graph.nodes)} nodes after "
        f"{len(report.records)} passes, {report.time_ms:.0f} ms)\n"
    )
    return EXIT_OK


def _write_onnx(graph, path: str) -> None:
    from targets.onnx.exporter import export_onnx

    export_onnx(graph, path)  # checks the model, then writes atomically
