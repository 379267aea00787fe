"""``infercc ops [NAME ...]``: the IR op set by category, or named ops in detail."""

from __future__ import annotations

import argparse
import sys

from .common import EXIT_OK, UsageError


def register(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``ops`` sub-command to ``sub``."""
    p = sub.add_parser(
        "ops",
        parents=parents,
        help="list the op set with summaries",
        description="List the IR op set by category. With NAMEs, show each op's inputs, "
        "outputs and attributes in full.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="show these ops in detail")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """List all ops by category, or ``args.names`` in full; an unknown name is a UsageError
    with the closest op names as hints."""
    from ..ops.registry import all_schemas

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
