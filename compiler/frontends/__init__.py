"""Frontends: each lowers one model format into the IR.

``load(source, **options)`` picks the frontend from the object or the file type.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError
from ..ir.graph import Graph


def load(source: Any, **options: Any) -> Graph:
    """Lower ``source`` (a path or a framework object) into an IR graph.

    Accepted: ``.onnx`` files or ``onnx.ModelProto``; ``.ir`` text files.
    """
    if isinstance(source, Graph):
        return source
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise ModelLoadError(f"{path}: no such file or directory")
        suffix = path.suffix.lower()
        if suffix == ".onnx":
            from .onnx import load_onnx

            return load_onnx(path, **options)
        if suffix == ".ir":
            from ..ir.parser import IRParseError, load_ir

            try:
                return load_ir(str(path))
            except IRParseError as e:
                raise ModelLoadError(str(e)) from None
        raise ModelLoadError(
            f"{path}: unrecognised model format '{suffix or path.name}' "
            "(infercc reads .onnx and .ir files)"
        )
    if type(source).__name__ == "ModelProto":
        from .onnx import load_onnx

        return load_onnx(source, **options)
    raise ModelLoadError(f"cannot load a model from {type(source).__name__}")
