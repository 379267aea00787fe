"""The IR text format, printing side (the grammar is in docs/ir.md; parser.py reads it back).

    graph @tiny(%x: f32[1,3,32,32]) -> (f32[1,10]) {
      %conv1.weight: f32[16,3,3,3] = const dense_resource
      %six: f32[] = const dense<f32[] [6.0]>  // relu6
      %zero: f32[] = const() {value=dense<f32[] [0.0]>}
      %c1: f32[1,16,32,32] = conv(%x, %conv1.weight, _) {pads=[1,1,1,1], strides=[1,1]}  // conv1
      ...
    }
    resources {
      conv1.weight: f32[16,3,3,3] "<base64 of little-endian bytes>"
    }

A ``const`` with provenance is written short: its value follows the op name, a resource
whose key is the value's name drops the key, and a provenance that is just the value's own
name (a weight imported under its own name) is left out. A ``const`` without provenance, with
annotations or other attributes is written in the general node form.

Small tensors are written inline (``dense<f32[3] [1.0, 2.0, 3.0]>``); larger ones go to the
trailing ``resources`` section, which ``with_data=False`` leaves out for display. Floats are
printed with ``repr`` so parsing gives back the identical bits.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import numpy as np

from .graph import CONST, Graph, Node, Value, is_sparse
from .types import DType, TensorType

INLINE_LIMIT = 8  # elements; larger tensors are written as resources
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_.\-/]+$")
_PLAIN_SOURCE = re.compile(r"^[A-Za-z0-9_.\-/:\[\]()]+$")


def fmt_name(name: str) -> str:
    return name if _PLAIN_NAME.match(name) else json.dumps(name)


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def fmt_key(key: str) -> str:
    """A resource key: bare when the parser reads it as one identifier, else quoted."""
    return key if _PLAIN_KEY.match(key) else json.dumps(key)


def fmt_value(v: Value | None) -> str:
    return "_" if v is None else "%" + fmt_name(v.name)


def fmt_source(source: tuple[str, ...]) -> str:
    if all(_PLAIN_SOURCE.match(s) for s in source):
        return ", ".join(source)
    return ", ".join(json.dumps(s) for s in source)


def fmt_scalar(x: Any) -> str:
    if isinstance(x, (bool, np.bool_)):
        return "true" if x else "false"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        return repr(float(x))
    if isinstance(x, (str, bytes)):
        return json.dumps(x if isinstance(x, str) else x.decode("utf-8", "replace"))
    raise TypeError(f"cannot print scalar {x!r}")


class _Printer:
    def __init__(self, with_data: bool):
        self.with_data = with_data
        self.resources: dict[str, Any] = {}
        self.lines: list[str] = []

    def resource_key(self, hint: str) -> str:
        key = hint
        i = 1
        while key in self.resources:
            key = f"{hint}.{i}"
            i += 1
        return key

    def fmt_attr(self, value: Any, key_hint: str, indent: str) -> str:
        if isinstance(value, Graph):
            sub = _Printer(self.with_data)
            sub.resources = self.resources  # one resource section for the whole file
            sub.graph(value, indent + "  ")
            body = "\n".join(sub.lines)
            return body.lstrip()
        if is_sparse(value):
            key = self.resource_key(key_hint)
            self.resources[key] = value
            return f"sparse_resource<{fmt_key(key)}>"
        if isinstance(value, np.ndarray):
            t = TensorType.of(value)
            if value.size <= INLINE_LIMIT:
                flat = ", ".join(fmt_scalar(x) for x in value.ravel().tolist())
                return f"dense<{t} [{flat}]>"
            key = self.resource_key(key_hint)
            self.resources[key] = value
            return f"dense_resource<{fmt_key(key)}>"
        if isinstance(value, (list, tuple)):
            return "[" + ", ".join(self.fmt_attr(x, key_hint, indent) for x in value) + "]"
        return fmt_scalar(value)

    def fmt_attrs(self, d: dict[str, Any], key_hint: str, indent: str) -> str:
        parts = []
        for k, v in d.items():
            hint = key_hint if k == "value" else f"{key_hint}.{k}"
            parts.append(f"{k}={self.fmt_attr(v, hint, indent)}")
        return "{" + ", ".join(parts) + "}"

    def short_const(self, n: Node, indent: str) -> str | None:
        """The short line of a ``const`` with provenance, else None (general form).

        ``%w: f32[16,3,3,3] = const dense_resource`` (resource key and provenance are both
        the value's own name) or ``%t: f32[2] = const dense<f32[2] [1.0, 2.0]>  // tr, w``.
        """
        if n.op != CONST or not n.source or n.annotations or list(n.attrs) != ["value"]:
            return None
        if len(n.outputs) != 1:
            return None
        v = n.outputs[0]
        value = n.attrs["value"]
        if not (is_sparse(value) or isinstance(value, np.ndarray)):
            return None
        text = self.fmt_attr(value, v.name, indent)
        if text.endswith(f"_resource<{fmt_key(v.name)}>"):
            text = text[: text.index("<")]  # the key is the value's name
        line = f"{indent}{fmt_value(v)}: {v.type} = {CONST} {text}"
        if n.source != (v.name,):
            line += "  // " + fmt_source(n.source)
        return line

    def node(self, n: Node, indent: str) -> str:
        short = self.short_const(n, indent)
        if short is not None:
            return short
        outs = ", ".join(f"{fmt_value(v)}: {v.type}" for v in n.outputs)
        ins = ", ".join(fmt_value(v) for v in n.inputs)
        line = f"{indent}{outs} = {n.op}({ins})"
        hint = n.outputs[0].name if n.outputs else n.op
        if n.attrs:
            line += " " + self.fmt_attrs(n.attrs, hint, indent)
        if n.annotations:
            line += " #" + self.fmt_attrs(n.annotations, hint + ".annotation", indent)
        if n.source:
            line += "  // " + fmt_source(n.source)
        return line

    def graph(self, g: Graph, indent: str = "") -> None:
        params = ", ".join(f"{fmt_value(v)}: {v.type}" for v in g.inputs)
        results = ", ".join(str(v.type) for v in g.outputs)
        self.lines.append(f"{indent}graph @{fmt_name(g.name)}({params}) -> ({results}) {{")
        for k, v in g.metadata.items():
            self.lines.append(f"{indent}  meta {fmt_name(k)} = {json.dumps(v)}")
        for n in g.nodes:
            self.lines.append(self.node(n, indent + "  "))
        self.lines.append(f"{indent}  return " + ", ".join(fmt_value(v) for v in g.outputs))
        self.lines.append(f"{indent}}}")

    def resource_section(self) -> None:
        if not self.resources or not self.with_data:
            return
        self.lines.append("resources {")
        for key, arr in self.resources.items():
            self.lines.append(f"  {fmt_key(key)}: {encode_resource(arr)}")
        self.lines.append("}")


def _b64(a: np.ndarray) -> str:
    a = np.ascontiguousarray(a)
    if a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("<"))
    return base64.b64encode(a.tobytes()).decode("ascii")


def encode_resource(arr: Any) -> str:
    """One resource entry: ``f32[2,3] "<base64>"`` or ``csc f32[4,4] data=... indices=...``."""
    if is_sparse(arr):
        fmt = arr.format
        t = TensorType(DType.from_numpy(arr.dtype), arr.shape)
        if fmt == "csc" or fmt == "csr":
            parts = {
                "data": arr.data,
                "indices": arr.indices.astype(np.int32),
                "indptr": arr.indptr.astype(np.int32),
            }
        elif fmt == "coo":
            parts = {
                "data": arr.data,
                "row": arr.row.astype(np.int32),
                "col": arr.col.astype(np.int32),
            }
        else:
            raise TypeError(f"sparse format {fmt!r} is not part of the IR (use csc, csr or coo)")
        body = " ".join(f'{k}="{_b64(v)}"' for k, v in parts.items())
        return f"{fmt} {t} {body}"
    t = TensorType.of(arr)
    if t.dtype == DType.STR:
        return f"{t} " + json.dumps([str(x) for x in arr.ravel().tolist()])
    return f'{t} "{_b64(arr)}"'


def print_graph(graph: Graph, *, with_data: bool = False, header: str | None = None) -> str:
    """The text form of ``graph``.

    With ``with_data=True`` a trailing ``resources`` section holds every large tensor, so
    :func:`compiler.ir.parser.parse_graph` rebuilds an identical graph; without it the text
    is for reading (large constants show as ``dense_resource<name>``).
    """
    p = _Printer(with_data)
    if header:
        p.lines.append(f"// {header}")
    p.graph(graph)
    p.resource_section()
    return "\n".join(p.lines) + "\n"


def print_node(node: Node) -> str:
    return _Printer(False).node(node, "")
