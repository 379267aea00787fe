"""The IR text format, reading side: ``parse_graph(text)`` inverts ``print_graph``.

Errors raise :class:`IRParseError` with the line, column and the offending line shown.
Output types written in the text are taken as written (no inference), so a parsed graph is
exactly the printed one; run the verifier to check them against the op schemas.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import numpy as np

from .graph import CONST, Graph, Value
from .types import DType, QuantParams, TensorType


class IRParseError(ValueError):
    """Malformed IR text; the message names the line and column."""


_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r\n]+)
  | (?P<comment>//[^\n]*)
  | (?P<arrow>->)
  | (?P<hashbrace>\#\{)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<value>%(?:[A-Za-z0-9_.\-/]+|"(?:[^"\\]|\\.)*"))
  | (?P<symbol>@(?:[A-Za-z0-9_.\-/]+|"(?:[^"\\]|\\.)*"))
  | (?P<number>[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?))
  | (?P<ident>[-]?[A-Za-z_][A-Za-z0-9_.\-]*)
  | (?P<punct>[()\[\]{}<>,:=?*_])
    """,
    re.VERBOSE,
)


class _Tok:
    __slots__ = ("kind", "text", "pos")

    def __init__(self, kind: str, text: str, pos: int):
        self.kind, self.text, self.pos = kind, text, pos

    def __repr__(self) -> str:
        return f"{self.kind}:{self.text!r}"


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    n = len(text)
    while pos < n:
        m = _TOKEN.match(text, pos)
        if m is None:
            raise IRParseError(_where(text, pos, f"unexpected character {text[pos]!r}"))
        kind = m.lastgroup
        if kind != "ws":
            tok_text = m.group()
            if kind == "ident" and tok_text == "_":
                kind = "punct"
            toks.append(_Tok(kind, tok_text, pos))
        pos = m.end()
    toks.append(_Tok("eof", "", n))
    return toks


def _where(text: str, pos: int, msg: str) -> str:
    line_no = text.count("\n", 0, pos) + 1
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    line = text[start : end if end >= 0 else len(text)]
    col = pos - start + 1
    shown = line if len(line) <= 160 else line[: min(len(line), col + 60)] + " ..."
    return f"line {line_no}, column {col}: {msg}\n  {shown}\n  {' ' * (col - 1)}^"


def _unquote(s: str) -> str:
    return json.loads(s) if s.startswith('"') else s


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0
        # Deferred resource references: (container, key, resource name, expected type)
        self.pending: list[tuple[Any, Any, str, str]] = []

    # -- token helpers ---------------------------------------------------------------------
    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def error(self, msg: str, tok: _Tok | None = None) -> IRParseError:
        t = tok or self.tok
        return IRParseError(_where(self.text, t.pos, msg))

    def next(self) -> _Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def skip_comments(self) -> None:
        while self.tok.kind == "comment":
            self.i += 1

    def accept(self, text: str) -> bool:
        if self.tok.text == text and self.tok.kind in ("punct", "arrow", "ident", "hashbrace"):
            self.i += 1
            return True
        return False

    def expect(self, text: str) -> _Tok:
        if not self.accept(text):
            found = self.tok.text or "end of input"
            raise self.error(f"expected '{text}', found '{found}'")
        return self.toks[self.i - 1]

    def expect_kind(self, kind: str, what: str) -> _Tok:
        if self.tok.kind != kind:
            raise self.error(f"expected {what}, found '{self.tok.text or 'end of input'}'")
        return self.next()

    # -- grammar ---------------------------------------------------------------------------
    def parse_file(self) -> Graph:
        self.skip_comments()
        g = self.parse_graph()
        self.skip_comments()
        resources: dict[str, Any] = {}
        if self.tok.kind == "ident" and self.tok.text == "resources":
            resources = self.parse_resources()
        self.skip_comments()
        if self.tok.kind != "eof":
            raise self.error(f"unexpected '{self.tok.text}' after the graph")
        for container, key, name, _ in self.pending:
            if name not in resources:
                raise IRParseError(
                    f"tensor data for resource '{name}' is not in this text (it was printed "
                    "without data; print with with_data=True / write it with `infercc opt -o`)"
                )
            container[key] = resources[name]
        return g

    def parse_graph(self) -> Graph:
        self.expect("graph")
        name = _unquote(self.expect_kind("symbol", "a graph name like @main").text[1:])
        g = Graph(name)
        env: dict[str, Value] = {}
        self.expect("(")
        while not self.accept(")"):
            vt = self.expect_kind("value", "a graph input like %x")
            self.expect(":")
            t = self.parse_type()
            vname = _unquote(vt.text[1:])
            if vname in env:
                raise self.error(f"%{vname} is defined twice", vt)
            env[vname] = g.add_input(vname, t)
            if not self.accept(","):
                self.expect(")")
                break
        self.expect("->")
        self.expect("(")
        result_types = []
        while not self.accept(")"):
            result_types.append(self.parse_type())
            if not self.accept(","):
                self.expect(")")
                break
        self.expect("{")
        while True:
            self.skip_comments()
            if self.tok.kind == "ident" and self.tok.text == "return":
                rtok = self.next()
                outs = []
                if self.tok.kind == "value":
                    outs.append(self.use(env, self.next()))
                    while self.accept(","):
                        outs.append(self.use(env, self.expect_kind("value", "a value")))
                g.outputs = outs
                if len(outs) != len(result_types):
                    raise self.error(
                        f"graph @{name} declares {len(result_types)} results but returns {len(outs)}",
                        rtok,
                    )
                for v, t in zip(outs, result_types):
                    if v.type != t:
                        raise self.error(
                            f"result %{v.name} has type {v.type}, the signature says {t}", rtok
                        )
                self.expect("}")
                return g
            if self.tok.kind == "ident" and self.tok.text == "meta":
                self.next()
                key = self.next().text
                self.expect("=")
                g.metadata[_unquote(key)] = json.loads(self.expect_kind("string", "a string").text)
                continue
            self.parse_node(g, env)

    def use(self, env: dict[str, Value], tok: _Tok) -> Value:
        name = _unquote(tok.text[1:])
        try:
            return env[name]
        except KeyError:
            raise self.error(f"%{name} is used before it is defined", tok) from None

    def parse_node(self, g: Graph, env: dict[str, Value]) -> None:
        out_names: list[tuple[_Tok, TensorType]] = []
        while True:
            vt = self.expect_kind("value", "a result like %y (or 'return')")
            self.expect(":")
            out_names.append((vt, self.parse_type()))
            if not self.accept(","):
                break
        self.expect("=")
        op_tok = self.expect_kind("ident", "an op name")
        if op_tok.text == CONST and self.tok.text != "(" and len(out_names) == 1:
            self.parse_short_const(g, env, out_names[0])
            return
        self.expect("(")
        inputs: list[Value | None] = []
        while not self.accept(")"):
            if self.accept("_"):
                inputs.append(None)
            else:
                inputs.append(self.use(env, self.expect_kind("value", "an operand")))
            if not self.accept(","):
                self.expect(")")
                break
        attrs: dict[str, Any] = {}
        annotations: dict[str, Any] = {}
        if self.tok.text == "{":
            attrs = self.parse_attr_dict("{")
        if self.tok.kind == "hashbrace":
            annotations = self.parse_attr_dict("#{")
        source: tuple[str, ...] = ()
        # the source comment follows the node's last token (a subgraph attribute spans lines)
        if self.tok.kind == "comment" and self._same_line(self.toks[self.i - 1], self.tok):
            source = _parse_source(self.next().text[2:].strip())
        names = []
        for vt, _ in out_names:
            vname = _unquote(vt.text[1:])
            if vname in env:
                raise self.error(f"%{vname} is defined twice", vt)
            names.append(vname)
        node = g.add_node(
            op_tok.text,
            inputs,
            attrs,
            out_types=[t for _, t in out_names],
            names=names,
            source=source,
            annotations=annotations,
        )
        self.add_to(env, node)
        # Node() copies its attribute dicts: point deferred resource fills at the copies.
        self.pending = [
            (node.attrs if c is attrs else node.annotations if c is annotations else c, k, r, w)
            for c, k, r, w in self.pending
        ]

    def parse_short_const(self, g: Graph, env: dict[str, Value], out: tuple[_Tok, TensorType]) -> None:
        """``%w: T = const VALUE [// source]``: the short form of a constant.

        A resource without ``<key>`` is keyed by the value's name; without a comment the
        provenance is the value's own name.
        """
        vt, ty = out
        name = _unquote(vt.text[1:])
        if name in env:
            raise self.error(f"%{name} is defined twice", vt)
        t = self.tok
        attrs: dict[str, Any] = {}
        if t.kind == "ident" and t.text in ("dense_resource", "sparse_resource") and self.toks[self.i + 1].text != "<":
            self.next()
            self.pending.append((attrs, "value", name, t.text))
        elif t.kind == "ident" and t.text in ("dense", "dense_resource", "sparse_resource"):
            attrs["value"] = self.parse_attr_value(attrs, "value")
        else:
            raise self.error(f"expected a constant value after 'const', found '{t.text}'", t)
        source: tuple[str, ...] = (name,)
        if self.tok.kind == "comment" and self._same_line(self.toks[self.i - 1], self.tok):
            source = _parse_source(self.next().text[2:].strip())
        node = g.add_node(CONST, [], attrs, out_types=[ty], names=[name], source=source)
        self.add_to(env, node)
        self.pending = [(node.attrs if c is attrs else c, k, r, w) for c, k, r, w in self.pending]

    @staticmethod
    def add_to(env: dict[str, Value], node: Any) -> None:
        for v in node.outputs:
            env[v.name] = v

    def _same_line(self, a: _Tok, b: _Tok) -> bool:
        return "\n" not in self.text[a.pos : b.pos]

    def parse_attr_dict(self, opener: str) -> dict[str, Any]:
        self.expect(opener)
        d: dict[str, Any] = {}
        while not self.accept("}"):
            key = self.expect_kind("ident", "an attribute name").text
            self.expect("=")
            d[key] = self.parse_attr_value(d, key)
            if not self.accept(","):
                self.expect("}")
                break
        return d

    def parse_attr_value(self, container: Any, key: Any) -> Any:
        t = self.tok
        if t.kind == "ident" and t.text == "graph":
            return self.parse_graph()
        if t.kind == "ident" and t.text in ("dense", "dense_resource", "sparse_resource"):
            self.next()
            self.expect("<")
            if t.text == "dense":
                ty = self.parse_type()
                self.expect("[")
                items = []
                while not self.accept("]"):
                    items.append(self.parse_scalar())
                    if not self.accept(","):
                        self.expect("]")
                        break
                self.expect(">")
                return _make_array(items, ty)
            name = self.next().text
            self.expect(">")
            self.pending.append((container, key, _unquote(name), t.text))
            return None
        if t.text == "[":
            self.next()
            items: list[Any] = []
            while not self.accept("]"):
                items.append(self.parse_attr_value(items, len(items)))
                if not self.accept(","):
                    self.expect("]")
                    break
            return items
        return self.parse_scalar()

    def parse_scalar(self) -> Any:
        t = self.next()
        if t.kind == "number":
            if re.fullmatch(r"[-+]?\d+", t.text):
                return int(t.text)
            return float(t.text)
        if t.kind == "string":
            return json.loads(t.text)
        if t.kind == "ident":
            if t.text == "true":
                return True
            if t.text == "false":
                return False
            if t.text in ("inf", "-inf", "nan", "-nan"):
                return float(t.text)
        raise self.error(f"expected a value, found '{t.text}'", t)

    def parse_type(self) -> TensorType:
        dt_tok = self.expect_kind("ident", "an element type like f32")
        try:
            dtype = DType(dt_tok.text)
        except ValueError:
            raise self.error(f"unknown element type '{dt_tok.text}'", dt_tok) from None
        self.expect("[")
        shape: list[Any] | None = []
        if self.accept("*"):
            shape = None
            self.expect("]")
        else:
            while not self.accept("]"):
                d = self.next()
                if d.kind == "number":
                    shape.append(int(d.text))
                elif d.text == "?":
                    shape.append("?")
                elif d.kind in ("ident", "string"):
                    shape.append(_unquote(d.text))
                else:
                    raise self.error(f"bad dimension '{d.text}'", d)
                if not self.accept(","):
                    self.expect("]")
                    break
        quant = None
        if self.tok.kind == "ident" and self.tok.text == "q" and self.toks[self.i + 1].text == "(":
            quant = self.parse_quant()
        return TensorType(dtype, None if shape is None else tuple(shape), quant)

    def parse_quant(self) -> QuantParams:
        self.expect("q")
        self.expect("(")
        if self.tok.text == "axis":
            self.next()
            self.expect("=")
            axis = int(self.expect_kind("number", "an axis").text)
            self.expect(":")
            scales = self.parse_number_list()
            self.expect(",")
            zps = self.parse_number_list()
            self.expect(")")
            return QuantParams(tuple(float(s) for s in scales), tuple(int(z) for z in zps), axis)
        scale = float(self.parse_scalar())
        self.expect(",")
        zp = int(self.parse_scalar())
        self.expect(")")
        return QuantParams((scale,), (zp,), None)

    def parse_number_list(self) -> list[Any]:
        self.expect("[")
        out = []
        while not self.accept("]"):
            out.append(self.parse_scalar())
            if not self.accept(","):
                self.expect("]")
                break
        return out

    def parse_resources(self) -> dict[str, Any]:
        self.expect("resources")
        self.expect("{")
        res: dict[str, Any] = {}
        while not self.accept("}"):
            name = _unquote(self.next().text)
            self.expect(":")
            if self.tok.kind == "ident" and self.tok.text in ("csc", "csr", "coo"):
                fmt = self.next().text
                ty = self.parse_type()
                parts = {}
                while self.tok.kind == "ident" and self.toks[self.i + 1].text == "=":
                    k = self.next().text
                    self.expect("=")
                    parts[k] = json.loads(self.expect_kind("string", "base64 data").text)
                res[name] = _make_sparse(fmt, ty, parts)
                continue
            ty = self.parse_type()
            data_tok = self.tok
            if data_tok.text == "[":
                res[name] = np.array(self.parse_number_list(), dtype=object).reshape(ty.shape)
                continue
            raw = json.loads(self.expect_kind("string", "base64 data").text)
            arr = np.frombuffer(base64.b64decode(raw), dtype=ty.dtype.numpy)
            if arr.size != int(np.prod(ty.shape)):
                raise self.error(f"resource {name}: {arr.size} elements for type {ty}", data_tok)
            res[name] = arr.reshape(ty.shape).copy()
        return res


def _make_array(items: list[Any], ty: TensorType) -> np.ndarray:
    if ty.dtype == DType.STR:
        return np.array(items, dtype=object).reshape(ty.shape)
    return np.array(items, dtype=ty.dtype.numpy).reshape(ty.shape)


def _make_sparse(fmt: str, ty: TensorType, parts: dict[str, str]) -> Any:
    import scipy.sparse as sp

    def arr(key: str, dtype: Any) -> np.ndarray:
        return np.frombuffer(base64.b64decode(parts[key]), dtype=dtype).copy()

    data = arr("data", ty.dtype.numpy)
    if fmt == "coo":
        return sp.coo_matrix((data, (arr("row", np.int32), arr("col", np.int32))), shape=ty.shape)
    cls = sp.csc_matrix if fmt == "csc" else sp.csr_matrix
    return cls((data, arr("indices", np.int32), arr("indptr", np.int32)), shape=ty.shape)


def _parse_source(text: str) -> tuple[str, ...]:
    if text.startswith('"'):
        return tuple(json.loads("[" + text + "]"))
    return tuple(s for s in text.split(", ") if s)


def parse_graph(text: str) -> Graph:
    """Parse IR text (as printed by :func:`print_graph`) into a :class:`Graph`."""
    return _Parser(text).parse_file()


def load_ir(path: str) -> Graph:
    """Read an ``.ir`` file; parse errors name the file."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        return parse_graph(text)
    except IRParseError as e:
        raise IRParseError(f"{path}: {e}") from None
