"""The supported-op table of every frontend, read from the table its lowering dispatches on.

Each frontend package exposes ``SUPPORTED_OPS`` (source op -> how it lowers), derived from
its registry of lowerings; ONNX, whose support follows the IR's op set, computes it with
``supported_ops()``. :mod:`compiler.doc_tables` writes these tables into docs/frontends.md.
"""

from __future__ import annotations

import importlib

# format -> frontend package (each exposes SUPPORTED_OPS or supported_ops())
FRONTEND_PACKAGES = {
    "onnx": "compiler.frontends.onnx",
    "pytorch": "compiler.frontends.pytorch",
    "tensorflow": "compiler.frontends.tensorflow",
    "caffe": "compiler.frontends.caffe",
    "tflite": "compiler.frontends.tflite",
}


def supported_ops(fmt: str) -> dict[str, str]:
    """Source op -> how it lowers, sorted by op, for the format ``fmt``."""
    module = importlib.import_module(FRONTEND_PACKAGES[fmt])
    ops = module.supported_ops() if hasattr(module, "supported_ops") else module.SUPPORTED_OPS
    return dict(sorted(ops.items()))


def table(fmt: str) -> str:
    """The markdown table of ``fmt``'s supported ops, headed by their count."""
    ops = supported_ops(fmt)
    lines = [f"{len(ops)} source ops.", "", "| source op | lowers to |", "|---|---|"]
    lines += [f"| `{k}` | {cell(v)} |" for k, v in ops.items()]
    return "\n".join(lines)


def cell(text: str) -> str:
    """``text`` as a markdown table cell (a literal ``|`` would end the cell)."""
    return text.replace("|", "\\|")


__all__ = ["FRONTEND_PACKAGES", "cell", "supported_ops", "table"]
