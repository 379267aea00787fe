"""Reading of TFLite flatbuffers: the model object, operator names and provenance labels.

Everything here reads the object API of ``ai_edge_litert.schema_py_generated`` and knows
nothing of the IR. Unreadable, corrupt or inconsistent files raise
:class:`~compiler.errors.ModelLoadError` (:mod:`.verify` checks a model before it is used).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ModelLoadError

# Op codes whose options call other subgraphs: (options attribute names of the object API).
CALLS = {
    "CALL_ONCE": ("initSubgraphIndex",),
    "IF": ("thenSubgraphIndex", "elseSubgraphIndex"),
    "WHILE": ("condSubgraphIndex", "bodySubgraphIndex"),
    "CALL": ("subgraph",),
    "STABLEHLO_COMPOSITE": ("decompositionSubgraphIndex",),
}


def read_model(source: Any) -> tuple[Any, bytes, str]:
    """``(ModelT, file bytes, label)`` for a path or bytes, verified (:mod:`.verify`) before
    anything trusts it; ModelLoadError when unreadable, corrupt or inconsistent."""
    from ai_edge_litert import schema_py_generated as schema

    if isinstance(source, (bytes, bytearray)):
        buf, label = bytes(source), "<tflite bytes>"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label = str(path)
        if not path.exists():
            raise ModelLoadError(f"{label}: no such file; check the path to the .tflite model")
        if path.is_dir():
            raise ModelLoadError(f"{label}: is a directory; pass the .tflite file inside it")
        try:
            buf = path.read_bytes()
        except OSError as e:
            raise ModelLoadError(f"{label}: cannot read the file ({e})") from None
    else:
        raise ModelLoadError(
            f"cannot read a TFLite model from a {type(source).__name__}; pass a path to a "
            ".tflite file or its bytes"
        )
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ModelLoadError(
            f"{label}: not a TFLite flatbuffer (file identifier {buf[4:8]!r}, expected b'TFL3'); "
            "the file may be truncated or of another format: re-export or re-download it"
        )
    from .verify import check_references, verify_model

    try:
        check_references(buf, label)
        model = schema.ModelT.InitFromPackedBuf(buf, 0)
    except ModelLoadError:
        raise
    except Exception as e:  # noqa: BLE001 - the schema code fails in many ways on a corrupt file
        raise ModelLoadError(
            f"{label}: corrupt TFLite flatbuffer ({type(e).__name__}: {str(e)[:200]}); "
            "re-export or re-download it"
        ) from None
    if not model.subgraphs:
        raise ModelLoadError(f"{label}: the model holds no subgraph")
    verify_model(model, len(buf), label)
    return model, buf, label


def builtin_names() -> dict[int, str]:
    """Builtin operator code -> name (``3`` -> ``CONV_2D``) from the installed schema."""
    from ai_edge_litert import schema_py_generated as schema

    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def op_type(model: Any, op: Any, names: dict[int, str]) -> str:
    """The op's builtin name (``CONV_2D``), or ``custom:<code>`` for a custom op."""
    oc = model.operatorCodes[op.opcodeIndex]
    code = max(int(oc.deprecatedBuiltinCode), int(oc.builtinCode))
    name = names.get(code, f"BUILTIN_{code}")
    if name == "CUSTOM":
        cc = oc.customCode.decode("utf-8", "replace") if oc.customCode else "?"
        return f"custom:{cc}"
    return name


def decode(b: Any) -> str:
    """A flatbuffer string field (bytes or None) as text."""
    if b is None:
        return ""
    return b.decode("utf-8", "replace") if isinstance(b, (bytes, bytearray)) else str(b)


def op_label(sg: Any, op: Any, k: int, kind: str) -> str:
    """Provenance of an op: its first output tensor name (else ``KIND#k``)."""
    for i in op.outputs if op.outputs is not None else []:
        if i >= 0:
            return decode(sg.tensors[i].name)
    ins = [decode(sg.tensors[i].name) for i in (op.inputs if op.inputs is not None else []) if i >= 0]
    return f"{kind}#{k}" + (f"({ins[0]})" if ins else "")


def reachable_subgraphs(model: Any, start: int, names: dict[int, str]) -> list[int]:
    """``start`` and every subgraph its ops call, directly or not (CALL_ONCE, IF, WHILE, ...)."""
    seen, stack = [], [start]
    while stack:
        s = stack.pop()
        if s in seen or not 0 <= s < len(model.subgraphs):
            continue
        seen.append(s)
        for op in model.subgraphs[s].operators or []:
            for field in CALLS.get(op_type(model, op, names), ()):
                idx = getattr(op.builtinOptions, field, None)
                if isinstance(idx, (int, np.integer)):
                    stack.append(int(idx))
    return seen


__all__ = ["CALLS", "builtin_names", "decode", "op_label", "op_type", "reachable_subgraphs", "read_model"]
