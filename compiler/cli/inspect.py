"""``infercc inspect MODEL``: a model's op histogram, parameters, FLOPs, inputs and outputs."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import textwrap
from pathlib import Path
from typing import Any

from .common import (
    EXIT_OK,
    MODEL_HELP,
    UsageError,
    add_input_shape,
    import_framework,
    load_model,
    parse_input_shapes,
)

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``inspect`` sub-command to ``sub``."""
    p = sub.add_parser(
        "inspect",
        parents=parents,
        help="summarise a model: ops, parameters, FLOPs, inputs and outputs",
        description=textwrap.fill(
            "Summarise a model: op histogram, parameter count and bytes, FLOPs, inputs and "
            "outputs. --show-ir prints the IR instead. A .prototxt without weights is "
            "summarised with placeholder weights (weights: none); ops infercc cannot lower "
            "are listed, and counted out of the rest.", 88),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=textwrap.fill(_flops_note(), 88),
    )
    p.add_argument("model", help=MODEL_HELP)
    add_input_shape(p)
    p.add_argument("--show-ir", action="store_true",
                   help="print the IR text (large tensors shown by name) instead of a summary")
    p.add_argument("--json", action="store_true",
                   help="print the summary as one JSON object (schema: docs/cli.md)")
    p.set_defaults(func=run)


def _flops_note() -> str:
    from ..stats import FLOPS_NOTE

    return FLOPS_NOTE + "."


def run(args: argparse.Namespace) -> int:
    """Print the summary (or with ``--show-ir`` the IR) of ``args.model`` on stdout."""
    from ..ir import print_graph

    if args.json and args.show_ir:
        raise UsageError("--json and --show-ir exclude each other; pick one")
    shapes = parse_input_shapes(args.input_shape)
    import_framework(args)
    graph, unsupported = _load(args, shapes)
    if args.show_ir:
        sys.stdout.write(print_graph(graph))
        return EXIT_OK
    summary = _summary(args.model, graph, unsupported, shapes)
    if args.json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        sys.stdout.write(_text(summary) + "\n")
    return EXIT_OK


def _load(args: argparse.Namespace, shapes: dict) -> tuple[Any, dict[str, list[str]]]:
    """The graph to summarise, and the ops cut out of it (``{op: [layers]}``).

    What people inspect loads even where compiling would refuse it: a .prototxt without
    weights gets placeholder weights (``weights: none``), and a .tflite with ops infercc
    cannot lower has them cut out so the rest is counted.
    """
    from ..errors import UnsupportedOpsError

    suffix = Path(args.model).suffix.lower()
    if suffix == ".prototxt" and not args.weights:
        return load_model(args.model, shapes, layout=args.layout, placeholder_weights=True), {}
    try:
        return load_model(args.model, shapes, weights=args.weights, layout=args.layout), {}
    except UnsupportedOpsError as e:
        if suffix not in (".tflite", ".onnx"):  # the frontends that can cut ops out
            raise
        graph = load_model(args.model, shapes, layout=args.layout, cut_unsupported=True)
        return graph, e.unsupported


def _tensor(v: Any, cut: set[str]) -> dict[str, Any]:
    """An input or output; ``cut``: it is an end of a cut-out unsupported op."""
    shape = None if v.type.shape is None else [d if isinstance(d, int) else str(d)
                                                for d in v.type.shape]
    return {"name": v.name, "shape": shape, "dtype": v.type.dtype.value, "type": str(v.type),
            "cut": v.name in cut}


def _summary(path: str, graph: Any, unsupported: dict[str, list[str]],
             shapes: dict) -> dict[str, Any]:
    """The summary as one JSON-ready dict (the schema is in docs/cli.md)."""
    from ..stats import model_stats

    st = model_stats(graph)
    flops_st, resolved = st, False
    if st.uncounted:
        flops_st, resolved = _resolved_stats(graph, st)
    consts = st.op_histogram.get("const", 0)
    cut = {n for key in ("cut_inputs", "cut_outputs")
           for n in graph.metadata.get(key, "").split(",") if n}
    open_inputs = [v.name for v in graph.inputs
                   if v.type.shape is None or not all(isinstance(d, int) for d in v.type.shape)]
    return {
        "model": path, "graph": graph.name, "metadata": dict(graph.metadata),
        "weights": graph.metadata.get("weights", "loaded"),
        "inputs": [_tensor(v, cut) for v in graph.inputs],
        "outputs": [_tensor(v, cut) for v in graph.outputs],
        "nodes": st.nodes, "ops": st.nodes - consts, "constants": consts,
        "op_histogram": dict(sorted(st.op_histogram.items(), key=lambda kv: (-kv[1], kv[0]))),
        "flops_by_op": dict(flops_st.flops_by_op),
        "parameters": st.params, "parameter_bytes": st.param_bytes,
        "flops": flops_st.flops, "macs": flops_st.macs, "shapes_resolved": resolved,
        "uncounted": list(flops_st.uncounted),
        "open_inputs": open_inputs,
        "input_shapes": {k: [d if isinstance(d, int) else str(d) for d in v]
                         for k, v in shapes.items()},
        "unsupported": {op: list(layers) for op, layers in sorted(unsupported.items())},
    }


def _resolved_stats(graph: Any, st: Any) -> tuple[Any, bool]:
    """FLOPs after shape resolution: ``resolve-shapes`` on a copy of ``graph`` fixes the dims
    that shape arithmetic computes (a reshape to ``Shape(x)[0], -1``); ``(stats, True)``
    when it counted more nodes, else ``(st, False)``. The histogram and parameters stay
    those of the graph as loaded."""
    from ..errors import InferccError
    from ..pass_manager import PassManager
    from ..stats import model_stats

    copy = graph.copy()
    try:
        PassManager("resolve-shapes", verify=False).run(copy)
    except InferccError as e:  # the counts of the model as loaded still stand
        log.info("shape resolution for FLOPs failed: %s", e)
        return st, False
    after = model_stats(copy)
    return (after, True) if len(after.uncounted) < len(st.uncounted) else (st, False)


def _text(s: dict[str, Any]) -> str:
    from ..stats import FLOPS_NOTE, human

    out = [f"model: {s['model']}", f"graph: @{s['graph']}"]
    for k, v in s["metadata"].items():
        if k not in ("cut_inputs", "cut_outputs"):  # marked on the inputs and outputs
            out.append(f"  meta {k}: {v}")
    if s["weights"] == "none":
        out.append("weights: none (no .caffemodel: placeholder weights; structure, shapes, "
                   "parameter counts and FLOPs are right, values are not)")
    if s["unsupported"]:
        n = sum(len(v) for v in s["unsupported"].values())
        out.append(f"unsupported ops ({n} node(s) infercc cannot lower; cut out, so the "
                   "figures below are for the rest of the model):")
        out += [f"  {op}: {', '.join(layers)}" for op, layers in s["unsupported"].items()]
    out.append("inputs:")
    cut = "  (an end of a cut-out unsupported op)"
    out += [f"  %{v['name']}: {v['type']}{cut if v['cut'] else ''}"
            for v in s["inputs"]] or ["  (none)"]
    out.append("outputs:")
    out += [f"  %{v['name']}: {v['type']}{cut if v['cut'] else ''}"
            for v in s["outputs"]] or ["  (none)"]
    out.append(f"nodes: {s['nodes']} ({s['ops']} ops, {s['constants']} constants)")
    out.append("op histogram:")
    width = max((len(op) for op in s["op_histogram"]), default=0)
    for op, n in s["op_histogram"].items():
        fl = s["flops_by_op"].get(op, 0)
        extra = f"  {human(fl)}FLOPs" if fl else ""
        out.append(f"  {op.ljust(width)}  {n:6d}{extra}")
    out.append(f"parameters: {s['parameters']:,} elements ({human(s['parameters'])}), "
               f"{s['parameter_bytes']:,} bytes ({human(s['parameter_bytes'], 'B')})")
    out.append(f"FLOPs: {s['flops']:,} ({human(s['flops'])}), MACs: {s['macs']:,} "
               f"({human(s['macs'])})"
               + (" after shape resolution" if s["shapes_resolved"] else ""))
    uncounted = s["uncounted"]
    if uncounted:
        shown = ", ".join(uncounted[:10]) + (" ..." if len(uncounted) > 10 else "")
        if s["open_inputs"]:
            fix = ("the inputs " + ", ".join(s["open_inputs"]) + " have open dims; fix them "
                   "with --input-shape NAME:DIMS (e.g. " + _example(s) + ")")
        else:
            fix = "their shapes depend on data"
        out.append(f"  not counted ({len(uncounted)} nodes without static shapes; {fix}): "
                   f"{shown}")
    out.append(f"  ({FLOPS_NOTE})")
    return "\n".join(out)


def _example(s: dict[str, Any]) -> str:
    """An ``--input-shape`` for the first open input: its static dims, 1 for a leading open
    dim, 224 for the others (a placeholder to replace)."""
    v = next(t for t in s["inputs"] if t["name"] == s["open_inputs"][0])
    if v["shape"] is None:
        return f"{v['name']}:1x3x224x224"
    dims = [str(d) if isinstance(d, int) else ("1" if k == 0 else "224")
            for k, d in enumerate(v["shape"])]
    return f"{v['name']}:{'x'.join(dims)}"
