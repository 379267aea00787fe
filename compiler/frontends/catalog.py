"""The supported-op tables of every frontend, generated from the frontends' own code.

docs/frontends.md holds one generated block per format between marker comments; run
``python3 -m compiler.frontends.catalog --write docs/frontends.md`` after changing a
frontend, and tests/test_frontend_catalog.py fails while the page is stale.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from pathlib import Path

# format -> module defining SUPPORTED_OPS (source op -> how it lowers)
FRONTEND_MODULES = {
    "pytorch": "compiler.frontends.pytorch",
    "tensorflow": "compiler.frontends.tensorflow",
    "caffe": "compiler.frontends.caffe",
    "tflite": "compiler.frontends.tflite",
}


def onnx_supported_ops() -> dict[str, str]:
    """ONNX op types with an IR op (the importer maps them one-to-one after normalization)."""
    import onnx.defs

    from ..ops.onnx_names import FRONTEND_ONLY, ir_name
    from ..ops.registry import get_schema

    out: dict[str, str] = {}
    for schema in sorted(onnx.defs.get_all_schemas_with_history(), key=lambda s: s.name):
        if schema.domain not in ("", "ai.onnx") or schema.name in out:
            continue
        name = ir_name(schema.name)
        if get_schema(name) is not None:
            out[schema.name] = f"`{name}`"
        elif schema.name in FRONTEND_ONLY:
            out[schema.name] = "folded or rewritten by the importer"
    return out


def supported_ops(fmt: str) -> dict[str, str]:
    if fmt == "onnx":
        return onnx_supported_ops()
    module = importlib.import_module(FRONTEND_MODULES[fmt])
    return dict(sorted(module.SUPPORTED_OPS.items()))


def table(fmt: str) -> str:
    ops = supported_ops(fmt)
    lines = [f"{len(ops)} source ops.", "", "| source op | lowers to |", "|---|---|"]
    lines += [f"| `{k}` | {v.replace('|', '/')} |" for k, v in ops.items()]
    return "\n".join(lines)


def available_formats() -> list[str]:
    fmts = ["onnx"]
    for fmt, mod in FRONTEND_MODULES.items():
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name == mod:
                continue
            raise
        fmts.append(fmt)
    return fmts


_BLOCK = re.compile(
    r"(<!-- BEGIN GENERATED: (?P<fmt>\w+) -->\n)(?P<body>.*?)(<!-- END GENERATED -->)", re.S
)


def render(page: str) -> str:
    """``page`` with every generated block replaced by the current table."""
    return _BLOCK.sub(lambda m: m.group(1) + table(m.group("fmt")) + "\n" + m.group(4), page)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", metavar="PAGE", help="rewrite the generated blocks of PAGE")
    ap.add_argument("format", nargs="?", help="print one format's table")
    args = ap.parse_args(argv)
    if args.write:
        path = Path(args.write)
        path.write_text(render(path.read_text()))
        return 0
    for fmt in [args.format] if args.format else available_formats():
        sys.stdout.write(f"## {fmt}\n\n{table(fmt)}\n\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
