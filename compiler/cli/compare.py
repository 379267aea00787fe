"""``infercc compare A B``: run two models on the same inputs and compare them output by
output, and layer by layer where both expose the same tensor names.

A is the reference. Outputs are matched by name, else by position (said in a note). Two
tensors whose shapes differ only by the NCHW <-> NHWC transpose are compared after moving
B's into A's axis order (said in a note). A pair passes when every element satisfies
``|a - b| <= atol + rtol * |a|``; any output that does not, or whose shapes cannot be
matched, makes the exit status 1. Per-layer rows are information only: a fused layer may keep
the name of a value whose meaning changed.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import textwrap
from typing import TYPE_CHECKING, Any

from .common import (
    EXIT_OK,
    MODEL_HELP,
    UsageError,
    add_input_shape,
    import_framework,
    native_quiet,
    parse_input_shapes,
)

if TYPE_CHECKING:
    import numpy as np

EXIT_MISMATCH = 1
#: default tolerances; float32 source vs emitted graphs stay well inside them (docs/cli.md)
ATOL = 1e-4
RTOL = 1e-3
_NCHW_TO_NHWC = (0, 2, 3, 1)
_NHWC_TO_NCHW = (0, 3, 1, 2)


def register(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``compare`` sub-command to ``sub``."""
    from .running import EXECUTORS, add_run_flags

    p = sub.add_parser(
        "compare",
        parents=parents,
        help="run two models on the same inputs and compare outputs (and layers)",
        description=textwrap.fill(
            "Run A and B (each with its own executor, as `infercc run` would) on the same "
            "inputs and compare B against A: per output the max and mean absolute error, "
            "SQNR, cosine similarity and, for 2-D outputs, top-1 agreement; per layer where "
            "both models expose tensors of the same name. Exit status: 0 when every output "
            "is within --atol/--rtol, 1 when one is not, 2 for bad input.", 88),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("a", metavar="A", help="the reference: " + MODEL_HELP)
    p.add_argument("b", metavar="B", help="the model compared with it (e.g. its .tflite)")
    add_run_flags(p)
    p.add_argument("--executor-b", choices=EXECUTORS,
                   help="B's executor when it differs from --executor's rule")
    p.add_argument("--atol", type=float, default=ATOL,
                   help=f"absolute tolerance (default: {ATOL:g})")
    p.add_argument("--rtol", type=float, default=RTOL,
                   help=f"relative tolerance, times |A| (default: {RTOL:g})")
    p.add_argument("--no-layers", action="store_true",
                   help="compare outputs only (no per-layer capture)")
    p.add_argument("--layers-shown", type=int, default=10, metavar="N",
                   help="per-layer rows printed: the N worst by SQNR (default: 10; --json "
                   "has all)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object instead of the tables (schema: docs/cli.md)")
    add_input_shape(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Compare ``args.b`` against ``args.a``; exit 1 when an output is out of tolerance."""
    from ..runtime import ExecutorError
    from .running import make_feeds, prepare

    if args.atol < 0 or args.rtol < 0:
        raise UsageError("--atol and --rtol must be >= 0")
    shapes = parse_input_shapes(args.input_shape)
    import_framework(args, args.a)
    import_framework(args, args.b)
    with native_quiet(args):  # LiteRT's XNNPACK INFO line
        a = prepare(args.a, executor=args.executor, input_shapes=shapes, weights=args.weights,
                    threads=args.threads)
        b = prepare(args.b, executor=args.executor_b or args.executor,
                    input_shapes=_ir_shapes(args.b, args.executor_b or args.executor, shapes),
                    threads=args.threads)
    feeds_a, _, notes = make_feeds(a.inputs, args.inputs, shapes, args.seed)
    notes[:0] = a.notes + b.notes
    feeds_b = _feeds_for(b.inputs, a.inputs, feeds_a, notes)
    layers = [] if args.no_layers else _shared_layers(a.tensor_names, b.tensor_names)
    followers = _followers(layers, a.tensor_names)
    capture_a = list(dict.fromkeys([n for n, _ in layers]
                                   + [f for fs in followers.values() for f in fs]))
    try:
        ra = a.open(capture_a).run(feeds_a, capture=capture_a)
        rb = b.open([m for _, m in layers]).run(feeds_b, capture=[m for _, m in layers])
    except ExecutorError as e:
        if not layers:
            raise
        # e.g. LiteRT keeps intermediates only without delegates, which some custom ops need
        notes.append("per-layer comparison skipped: " + " ".join(str(e).split()))
        layers = []
        ra, rb = a.open().run(feeds_a), b.open().run(feeds_b)
    pairs = _match_outputs(list(ra.outputs), list(rb.outputs), notes)
    outputs = [_compare(na, ra.outputs[na], nb, rb.outputs[nb], args, notes)
               for na, nb in pairs]
    layer_rows = [_layer_row(na, nb, ra.captured, rb.captured[nb], followers[na], args)
                  for na, nb in layers]
    passed = bool(outputs) and all(r["pass"] for r in outputs)
    if not outputs:
        notes.append("no output of A could be matched with one of B")
    report = {"a": {"model": args.a, "executor": a.executor_name},
              "b": {"model": args.b, "executor": b.executor_name},
              "atol": args.atol, "rtol": args.rtol, "pass": passed,
              "outputs": outputs, "layers": layer_rows, "notes": notes}
    if args.json:
        sys.stdout.write(json.dumps(_finite(report), indent=2) + "\n")
    else:
        sys.stdout.write(_text(report, args.layers_shown) + "\n")
    return EXIT_OK if passed else EXIT_MISMATCH


def _ir_shapes(path: str, executor: str | None, shapes: dict) -> dict:
    """``--input-shape`` for B: given to its loader only when B is loaded into the IR."""
    from .running import default_executor

    return shapes if (executor or default_executor(path)) in ("onnxruntime", "reference") \
        else {}


def _feeds_for(specs_b: list, specs_a: list, feeds_a: dict, notes: list[str]) -> dict:
    """A's feeds keyed for B: by name, else by position; NCHW/NHWC transposed when B's
    declared shape is A's under that transpose."""
    import numpy as np

    names_a = [s.name for s in specs_a]
    by_name = all(s.name in feeds_a for s in specs_b)
    if not by_name:
        if len(specs_b) != len(specs_a):
            raise UsageError(f"A has inputs {names_a} and B has {[s.name for s in specs_b]}: "
                             "neither names nor counts match, so they cannot be fed alike")
        notes.append("inputs matched by position: " + ", ".join(
            f"{sa.name} -> {sb.name}" for sa, sb in zip(specs_a, specs_b)))
    feeds = {}
    for k, s in enumerate(specs_b):
        x = feeds_a[s.name] if by_name else feeds_a[specs_a[k].name]
        want = s.shape
        if len(want) == 4 and x.ndim == 4 and not _fits(x.shape, want):
            for perm, what in ((_NCHW_TO_NHWC, "NCHW -> NHWC"), (_NHWC_TO_NCHW,
                                                                 "NHWC -> NCHW")):
                if _fits(tuple(x.shape[p] for p in perm), want):
                    x = np.ascontiguousarray(np.transpose(x, perm))
                    notes.append(f"input {s.name}: fed transposed {what} (B's layout)")
                    break
        if not _fits(x.shape, want):
            raise UsageError(
                f"B's input {s.name} takes {_dims(want)}, but A's data for it is "
                f"{list(x.shape)}: the models do not take the same inputs")
        feeds[s.name] = x
    return feeds


def _dims(shape: tuple) -> str:
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def _fits(shape: tuple, declared: tuple) -> bool:
    return len(shape) == len(declared) and all(
        not isinstance(d, int) or d == n for n, d in zip(shape, declared))


def _shared_layers(names_a: list[str], names_b: list[str]) -> list[tuple[str, str]]:
    """``(name in A, name in B)`` for the tensors both expose, in A's execution order: the
    same name, B's name being infercc's sanitized form of A's, or the same name up to a
    numeric suffix (``conv_4`` / ``conv_3``: frontends number the values they create) when
    that stem is unique on both sides."""
    import re
    from collections import Counter

    from ..ir.graph import sanitize_name

    def stem(n: str) -> str:
        return re.sub(r"_\d+$", "", n)

    in_b = set(names_b)
    stems_a, stems_b = Counter(map(stem, names_a)), Counter(map(stem, names_b))
    b_by_stem = {stem(n): n for n in names_b}
    pairs, used = [], set()
    for n in names_a:
        m = n if n in in_b else sanitize_name(n)
        if m not in in_b:
            k = stem(n)
            m = b_by_stem.get(k) if stems_a[k] == 1 and stems_b.get(k) == 1 else None
        if m is not None and m not in used:
            pairs.append((n, m))
            used.add(m)
    return pairs


#: how many of A's values after a layer may hold what B's tensor of that name holds
FUSION_WINDOW = 8


def _followers(layers: list[tuple[str, str]], names_a: list[str]) -> dict[str, list[str]]:
    """For each shared layer, the values A computes right after it (in execution order):
    where B fused ops into a layer, its tensor holds one of these."""
    at = {n: k for k, n in enumerate(names_a)}
    return {na: names_a[at[na] + 1:at[na] + 1 + FUSION_WINDOW] for na, _ in layers}


def _layer_row(na: str, nb: str, captured_a: dict, xb: Any, followers: list[str],
               args: argparse.Namespace) -> dict[str, Any]:
    """The per-layer row of ``na``; when B's tensor is beyond the tolerances against it but
    within them against one of A's next values, ``fused_into`` names that value (B fused
    the ops between them into this layer)."""
    row = _compare(na, captured_a[na], nb, xb, args, None)
    if row["pass"] or "error" in row:
        return row
    for f in followers:
        alt = _compare(f, captured_a[f], nb, xb, args, None)
        if alt["pass"]:
            row["fused_into"] = f
            break
    return row


def _match_outputs(out_a: list[str], out_b: list[str], notes: list[str]) -> list[tuple]:
    from ..ir.graph import sanitize_name

    b_names = set(out_b)
    if all(n in b_names or sanitize_name(n) in b_names for n in out_a):
        return [(n, n if n in b_names else sanitize_name(n)) for n in out_a]
    k = min(len(out_a), len(out_b))
    notes.append("outputs matched by position (their names differ): " + ", ".join(
        f"{x} -> {y}" for x, y in zip(out_a[:k], out_b[:k])))
    if len(out_a) != len(out_b):
        notes.append(f"A has {len(out_a)} outputs and B {len(out_b)}; the first {k} are "
                     "compared")
    return list(zip(out_a[:k], out_b[:k]))


def _compare(na: str, xa: np.ndarray, nb: str, xb: np.ndarray, args: argparse.Namespace,
             notes: list[str] | None) -> dict[str, Any]:
    """One row: the metrics of B's tensor against A's (see the module doc)."""
    import numpy as np

    from ..debug.metrics import ErrorStats, top1_agreement

    row: dict[str, Any] = {"name": na, "shape": [int(d) for d in np.shape(xa)]}
    if nb != na:
        row["name_b"] = nb
    xa, xb = np.asarray(xa), np.asarray(xb)
    if xa.shape != xb.shape:
        perm, what = _layout_perm(xa.shape, xb.shape)
        if perm is not None:
            xb = np.transpose(xb, perm)
            row["transposed"] = what
            if notes is not None:
                notes.append(f"output {nb}: {what}; compared after transposing")
        elif xa.size == xb.size and xa.squeeze().shape == xb.squeeze().shape:
            xb = xb.reshape(xa.shape)
        else:
            row.update({"pass": False, "error": f"shapes differ: A {list(xa.shape)}, "
                        f"B {list(xb.shape)}"})
            return row
    fa, fb = xa.astype(np.float64), xb.astype(np.float64)
    st = ErrorStats()
    st.update(fa, fb)
    diff = np.abs(fa - fb)
    row.update({
        "max_abs_err": float(diff.max()) if diff.size else 0.0,
        "mean_abs_err": float(diff.mean()) if diff.size else 0.0,
        "sqnr_db": st.sqnr_db,
        "cosine": st.cosine,
        "pass": bool(np.all(diff <= args.atol + args.rtol * np.abs(fa))),
    })
    if xa.ndim == 2 and xa.shape[1] > 1:
        row["top1_agreement"] = top1_agreement(fa, fb)
    return row


def _layout_perm(a: tuple, b: tuple) -> tuple[tuple[int, ...] | None, str]:
    """The transpose that turns a tensor of shape ``b`` into shape ``a`` and a phrase for
    it: NHWC -> NCHW (or back) first, else the only axis order that fits; ``(None, "")``
    when none or several fit."""
    import itertools

    import numpy as np

    if len(a) != len(b) or sorted(a) != sorted(b) or len(a) > 6:
        return None, ""
    if len(a) == 4:
        for perm, what in ((_NHWC_TO_NCHW, "B is NHWC"), (_NCHW_TO_NHWC, "B is NCHW")):
            if tuple(b[p] for p in perm) == tuple(a):
                return perm, what
    fits = [p for p in itertools.permutations(range(len(a)))
            if tuple(b[i] for i in p) == tuple(a)]
    if len(fits) == 1:
        return fits[0], f"B holds it in axis order {list(np.argsort(fits[0]))}"
    return None, ""


def _finite(obj: Any) -> Any:
    """JSON has no infinities: +-inf and nan become the strings "inf", "-inf", "nan"."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


_NAME_WIDTH = 40


def _short(name: str) -> str:
    """A name cut to :data:`_NAME_WIDTH` characters in the middle (the JSON has it whole)."""
    if len(name) <= _NAME_WIDTH:
        return name
    half = (_NAME_WIDTH - 3) // 2
    return name[:half] + "..." + name[-(_NAME_WIDTH - 3 - half):]


def _row_text(r: dict[str, Any], width: int, fail: str = "FAIL") -> str:
    name = _short(r["name"]).ljust(width)
    if "error" in r:
        return f"  {name}  {fail}  {r['error']}"
    top1 = f"  top1 {r['top1_agreement']:.3f}" if "top1_agreement" in r else ""
    return (f"  {name}  {'ok  ' if r['pass'] else 'FAIL'}  max {r['max_abs_err']:.3g}  "
            f"mean {r['mean_abs_err']:.3g}  SQNR {r['sqnr_db']:.1f} dB  "
            f"cos {r['cosine']:.6f}{top1}")


def _text(rep: dict[str, Any], shown: int) -> str:
    out = [f"A: {rep['a']['model']} ({rep['a']['executor']})",
           f"B: {rep['b']['model']} ({rep['b']['executor']})"]
    out += [f"  note: {n}" for n in rep["notes"]]
    rows = rep["outputs"]
    width = min(_NAME_WIDTH, max((len(r["name"]) for r in rows + rep["layers"]), default=0))
    out.append(f"outputs (B against A; pass: |a-b| <= {rep['atol']:g} + {rep['rtol']:g}|a|):")
    out += [_row_text(r, width) for r in rows]
    layers = rep["layers"]
    if layers:
        comparable = [r for r in layers if "error" not in r and "fused_into" not in r]
        fused = [r for r in layers if "fused_into" in r]
        beyond = [r for r in comparable if not r["pass"]]
        out.append(f"layers: {len(layers)} tensors in both models; {len(beyond)} of "
                   f"{len(comparable)} comparable ones beyond the tolerances"
                   + (f" (first: {_short(beyond[0]['name'])})" if beyond else "")
                   + (f"; {len(fused)} hold a later value of A (fused)" if fused else "")
                   + (f"; {len(layers) - len(comparable) - len(fused)} of other shapes"
                      if len(comparable) + len(fused) < len(layers) else ""))
        worst = sorted(comparable, key=lambda r: r["sqnr_db"])[:shown]
        if worst:
            out.append(f"  worst {len(worst)} by SQNR:")
            out += [_row_text(r, width) for r in worst]
    out.append("PASS" if rep["pass"] else "FAIL: outputs differ beyond the tolerances")
    return "\n".join(out)
