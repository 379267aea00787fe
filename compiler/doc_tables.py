"""Tables of the documentation generated from the registries, and the pages holding them.

A page holds each generated table between marker comments::

    <!-- BEGIN GENERATED: pytorch -->
    ...
    <!-- END GENERATED -->

where the name is a frontend format (its supported-op table, :mod:`compiler.frontends.catalog`)
or ``ir-ops`` (the IR op set from :func:`compiler.ops.registry.all_schemas`). The README's
"N ops with schema" is the size of that op set. ``python3 -m compiler.doc_tables`` rewrites
the pages after a change; ``--check`` lists stale pages (tests/docs/test_doc_tables.py fails
while one is stale).
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
PAGES = ("README.md", "docs/frontends.md", "docs/ir.md")

_BLOCK = re.compile(
    r"(<!-- BEGIN GENERATED: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- END GENERATED -->)", re.S
)
_OP_COUNT = re.compile(r"\b(?:about )?\d+ ops with schema")


def ir_ops_table() -> str:
    """The IR op set: name, category and summary of every registered op."""
    from .frontends.catalog import cell
    from .ops.registry import all_schemas

    schemas = all_schemas()
    lines = [f"{len(schemas)} ops.", "", "| op | category | summary |", "|---|---|---|"]
    lines += [f"| `{s.name}` | {s.category} | {cell(s.summary)} |" for s in schemas.values()]
    return "\n".join(lines)


def block(name: str) -> str:
    """The generated text of the block called ``name``."""
    from .frontends import catalog

    if name == "ir-ops":
        return ir_ops_table()
    if name in catalog.FRONTEND_PACKAGES:
        return catalog.table(name)
    raise KeyError(
        f"no generated table is called '{name}' (known: ir-ops, {', '.join(catalog.FRONTEND_PACKAGES)})"
    )


def render(page: str) -> str:
    """``page`` with every generated block and the op count replaced by the current ones."""
    page = _BLOCK.sub(lambda m: m.group(1) + block(m.group("name")) + "\n" + m.group(4), page)
    if _OP_COUNT.search(page):
        from .ops.registry import all_schemas

        page = _OP_COUNT.sub(f"{len(all_schemas())} ops with schema", page)
    return page


def stale_pages(root: Path = ROOT) -> list[str]:
    """The :data:`PAGES` under ``root`` whose generated parts differ from :func:`render`."""
    return [p for p in PAGES if render((root / p).read_text()) != (root / p).read_text()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="list stale pages and exit 1 if any")
    ap.add_argument("--root", type=Path, default=ROOT, help="the repository holding the pages")
    args = ap.parse_args(argv)
    stale = stale_pages(args.root)
    if args.check:
        for p in stale:
            sys.stdout.write(f"{p} is stale: run python3 -m compiler.doc_tables\n")
        return 1 if stale else 0
    for p in stale:
        path = args.root / p
        path.write_text(render(path.read_text()))
        log.info("rewrote %s", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
