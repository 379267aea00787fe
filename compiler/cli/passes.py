"""``infercc passes [NAME ...]``: the registered passes (builtin and plugins) and options."""

from __future__ import annotations

import argparse
import sys

from ..errors import PipelineError
from .common import EXIT_OK, add_pass_plugin, load_pass_plugins


def register(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``passes`` sub-command to ``sub``."""
    p = sub.add_parser(
        "passes",
        parents=parents,
        help="list the passes (builtin and plugins) with their options",
        description="List builtin and plugin passes: summary, options with types and "
        "defaults, and where each comes from. Plugins register passes through the "
        "'infercc.passes' entry-point group.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="show only these passes")
    add_pass_plugin(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Describe the passes ``args.names`` (default: all); an unknown name is a PipelineError.

    A pass whose plugin fails to load is listed as unavailable with the reason.
    """
    from ..pass_manager import default_registry, describe_options

    load_pass_plugins(args)
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
