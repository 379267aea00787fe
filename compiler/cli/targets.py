"""``infercc targets [NAME ...]``: the registered targets (builtin and plugins) and options."""

from __future__ import annotations

import argparse
import sys

from .common import EXIT_OK


def register(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``targets`` sub-command to ``sub``."""
    p = sub.add_parser(
        "targets",
        parents=parents,
        help="list the targets (builtin and plugins) with their options",
        description="List builtin and plugin targets: summary, output extensions, options "
        "with types and defaults, int8 support, executor and where each comes from. Plugins "
        "register targets through the 'infercc.targets' entry-point group.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="show only these targets")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Describe the targets ``args.names`` (default: all); an unknown name is an
    UnknownTargetError. A target whose plugin fails to load is listed as unavailable."""
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
