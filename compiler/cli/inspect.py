"""``infercc inspect MODEL``: a model's op histogram, parameters, FLOPs, inputs and outputs."""

from __future__ import annotations

import argparse
import sys
import textwrap

from .common import (
    EXIT_OK,
    MODEL_HELP,
    add_input_shape,
    import_framework,
    load_model,
    parse_input_shapes,
)


def register(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``inspect`` sub-command to ``sub``."""
    p = sub.add_parser(
        "inspect",
        parents=parents,
        help="summarise a model: ops, parameters, FLOPs, inputs and outputs",
        description=textwrap.fill(
            "Summarise a model: op histogram, parameter count and bytes, FLOPs, inputs and "
            "outputs. --show-ir prints the IR instead.", 88),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=textwrap.fill(_flops_note(), 88),
    )
    p.add_argument("model", help=MODEL_HELP)
    add_input_shape(p)
    p.add_argument("--show-ir", action="store_true",
                   help="print the IR text (large tensors shown by name) instead of a summary")
    p.set_defaults(func=run)


def _flops_note() -> str:
    from ..stats import FLOPS_NOTE

    return FLOPS_NOTE + "."


def run(args: argparse.Namespace) -> int:
    """Print the summary (or with ``--show-ir`` the IR) of ``args.model`` on stdout."""
    from ..ir import print_graph
    from ..stats import FLOPS_NOTE, human, model_stats

    import_framework(args)
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
