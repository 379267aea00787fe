"""The IR text format, reading side: ``parse_graph(text)`` inverts ``print_graph``.

Errors raise :class:`IRParseError` with the line, column and the offending line shown; any
malformed text (bad literals, base64, dims, sizes) raises it rather than a lower-level error.
Output types written in the text are taken as written (no inference), so a parsed graph is
exactly the printed one; run the verifier to check them against the op schemas.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
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


#: how deep attribute lists and subgraphs may nest in the text
_MAX_NESTING = 64


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


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0
        # Deferred resource references: (container, key, resource name, expected type)
        self.pending: list[tuple[Any, Any, str, str]] = []
        self.depth = 0  # attribute lists and subgraphs being read, one inside the other

    # -- token helpers ---------------------------------------------------------------------
    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def error(self, msg: str, tok: _Tok | None = None) -> IRParseError:
        t = tok or self.tok
        return IRParseError(_where(self.text, t.pos, msg))

    def next(self) -> _Tok:
        t = self.toks[self.i]
        if t.kind != "eof":  # stay on eof so a cut-short text reports "end of input"
            self.i += 1
        return t

    def peek(self, k: int = 1) -> _Tok:
        """The token ``k`` places ahead (eof past the end)."""
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def string(self, tok: _Tok, skip: int = 0) -> str:
        """The JSON string literal that starts ``skip`` characters into ``tok``."""
        lit = tok.text[skip:]
        try:
            s = json.loads(lit)
        except json.JSONDecodeError as e:
            raise IRParseError(_where(self.text, tok.pos + skip + e.pos, f"bad string literal: {e.msg}")) from None
        _check_encodable(s, lambda msg: self.error(msg, tok))
        return s

    def name(self, tok: _Tok, skip: int = 0) -> str:
        """A bare or quoted name: ``x``, ``"x y"``, or after a sigil (``skip=1`` for %x, @g)."""
        return self.string(tok, skip) if tok.text[skip:].startswith('"') else tok.text[skip:]

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
        name = self.name(self.expect_kind("symbol", "a graph name like @main"), 1)
        g = Graph(name)
        env: dict[str, Value] = {}
        self.expect("(")
        while not self.accept(")"):
            vt = self.expect_kind("value", "a graph input like %x")
            self.expect(":")
            t = self.parse_type()
            vname = self.name(vt, 1)
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
                key_tok = self.tok
                if key_tok.kind not in ("ident", "string", "number"):
                    raise self.error(f"expected a metadata key, found '{key_tok.text or 'end of input'}'")
                self.next()
                self.expect("=")
                g.metadata[self.name(key_tok)] = self.string(self.expect_kind("string", "a string"))
                continue
            self.parse_node(g, env)

    def use(self, env: dict[str, Value], tok: _Tok) -> Value:
        name = self.name(tok, 1)
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
            source = self.parse_source(self.next())
        names = []
        for vt, _ in out_names:
            vname = self.name(vt, 1)
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
        name = self.name(vt, 1)
        if name in env:
            raise self.error(f"%{name} is defined twice", vt)
        t = self.tok
        attrs: dict[str, Any] = {}
        if t.kind == "ident" and t.text in ("dense_resource", "sparse_resource") and self.peek().text != "<":
            self.next()
            self.pending.append((attrs, "value", name, t.text))
        elif t.kind == "ident" and t.text in ("dense", "dense_resource", "sparse_resource"):
            attrs["value"] = self.parse_attr_value(attrs, "value")
        else:
            raise self.error(f"expected a constant value after 'const', found '{t.text}'", t)
        source: tuple[str, ...] = (name,)
        if self.tok.kind == "comment" and self._same_line(self.toks[self.i - 1], self.tok):
            source = self.parse_source(self.next())
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
        """One attribute value; lists and subgraphs nest at most ``_MAX_NESTING`` deep
        (deeper text would exhaust Python's recursion limit)."""
        if self.depth >= _MAX_NESTING:
            raise self.error(f"attribute values nest deeper than {_MAX_NESTING} levels")
        self.depth += 1
        try:
            return self._parse_attr_value(container, key)
        finally:
            self.depth -= 1

    def _parse_attr_value(self, container: Any, key: Any) -> Any:
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
                return self.make_array(items, ty, t)
            name = self.name(self.expect_kind_of(("ident", "string"), "a resource name"))
            self.expect(">")
            self.pending.append((container, key, name, t.text))
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
            return self.string(t)
        if t.kind == "ident":
            if t.text == "true":
                return True
            if t.text == "false":
                return False
            if t.text in ("inf", "-inf", "nan", "-nan"):
                return float(t.text)
        raise self.error(f"expected a value, found '{t.text or 'end of input'}'", t)

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
                if d.kind == "number" and d.text.isdigit():
                    shape.append(int(d.text))
                elif d.text == "?":
                    shape.append("?")
                elif d.kind in ("ident", "string"):
                    shape.append(self.name(d))
                else:
                    raise self.error(
                        f"bad dimension '{d.text or 'end of input'}' (a dimension is a "
                        "non-negative integer, a name like N, or ?)", d)
                if not self.accept(","):
                    self.expect("]")
                    break
        quant = None
        if self.tok.kind == "ident" and self.tok.text == "q" and self.peek().text == "(":
            quant = self.parse_quant()
        return TensorType(dtype, None if shape is None else tuple(shape), quant)

    def parse_quant(self) -> QuantParams:
        q_tok = self.expect("q")
        self.expect("(")
        if self.tok.text == "axis":
            self.next()
            self.expect("=")
            axis = self.parse_int("an axis")
            self.expect(":")
            self.expect("[")
            scales = self.parse_list(lambda: self.parse_float("a scale"))
            self.expect(",")
            self.expect("[")
            zps = self.parse_list(lambda: self.parse_int("a zero point"))
            self.expect(")")
            if len(scales) != len(zps):
                raise self.error(
                    f"quantization has {len(scales)} scales but {len(zps)} zero points", q_tok)
            return QuantParams(tuple(scales), tuple(zps), axis)
        scale = self.parse_float("a scale")
        self.expect(",")
        zp = self.parse_int("a zero point")
        self.expect(")")
        return QuantParams((scale,), (zp,), None)

    def parse_int(self, what: str) -> int:
        t = self.tok
        v = self.parse_scalar()
        if type(v) is not int:
            raise self.error(f"expected {what} (an integer), found '{t.text}'", t)
        return v

    def parse_float(self, what: str) -> float:
        t = self.tok
        v = self.parse_scalar()
        if type(v) not in (int, float):
            raise self.error(f"expected {what} (a number), found '{t.text}'", t)
        return float(v)

    def parse_list(self, item: Any) -> list[Any]:
        """Items up to the closing ``]`` (the ``[`` is already read)."""
        out = []
        while not self.accept("]"):
            out.append(item())
            if not self.accept(","):
                self.expect("]")
                break
        return out

    def expect_kind_of(self, kinds: tuple[str, ...], what: str) -> _Tok:
        if self.tok.kind not in kinds:
            raise self.error(f"expected {what}, found '{self.tok.text or 'end of input'}'")
        return self.next()

    def parse_source(self, comment: _Tok) -> tuple[str, ...]:
        """The provenance in a node's trailing ``// a, b`` or ``// "a", "b"`` comment."""
        skip = len(comment.text) - len(comment.text[2:].lstrip())
        text = comment.text[skip:].rstrip()
        if not text.startswith('"'):
            return tuple(s for s in text.split(", ") if s)
        try:
            items = json.loads("[" + text + "]")
        except json.JSONDecodeError as e:
            raise IRParseError(_where(
                self.text, comment.pos + skip + max(e.pos - 1, 0),
                f"bad source list in comment: {e.msg} (write quoted names separated by ', ')")) from None
        if not all(isinstance(s, str) for s in items):
            raise self.error("bad source list in comment: every entry must be a quoted name", comment)
        for s in items:
            _check_encodable(s, lambda msg: self.error(msg, comment))
        return tuple(items)

    def make_array(self, items: list[Any], ty: TensorType, tok: _Tok) -> np.ndarray:
        """``items`` as an array of type ``ty``; the count must match the static shape."""
        n = self.static_numel(ty, tok, "a dense value")
        if len(items) != n:
            raise self.error(f"dense value of type {ty} needs {n} elements, found {len(items)}", tok)
        if ty.dtype == DType.STR:
            return np.array(items, dtype=object).reshape(ty.shape)
        if any(isinstance(x, str) for x in items):
            raise self.error(f"dense value of type {ty} holds a string", tok)
        try:
            return np.array(items, dtype=ty.dtype.numpy).reshape(ty.shape)
        except (ValueError, OverflowError) as e:  # e.g. 300 in an i8 tensor
            raise self.error(f"dense value does not fit its type {ty}: {e}", tok) from None

    def static_numel(self, ty: TensorType, tok: _Tok, what: str) -> int:
        if not ty.is_static:
            raise self.error(f"{what} needs a type with a static shape, found {ty}", tok)
        return math.prod(ty.shape)  # Python ints: a huge dim must not overflow

    def decode_b64(self, tok: _Tok, dtype: Any, what: str) -> np.ndarray:
        """The array in the base64 string literal ``tok`` (little-endian ``dtype`` items)."""
        raw = self.string(tok)
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError) as e:
            raise self.error(f"{what}: bad base64 data ({e})", tok) from None
        dtype = np.dtype(dtype)
        if dtype.kind == "O" or len(data) % dtype.itemsize:
            raise self.error(
                f"{what}: {len(data)} bytes of data are not a whole number of {dtype} items", tok)
        return np.frombuffer(data, dtype=dtype).copy()

    def parse_number_list(self) -> list[Any]:
        self.expect("[")
        return self.parse_list(self.parse_scalar)

    def parse_resources(self) -> dict[str, Any]:
        self.expect("resources")
        self.expect("{")
        res: dict[str, Any] = {}
        while not self.accept("}"):
            name_tok = self.expect_kind_of(("ident", "string"), "a resource name or '}'")
            name = self.name(name_tok)
            if name in res:
                raise self.error(f"resource {name} is defined twice", name_tok)
            self.expect(":")
            if self.tok.kind == "ident" and self.tok.text in _SPARSE_PARTS:
                res[name] = self.parse_sparse(name)
                continue
            ty = self.parse_type()
            data_tok = self.tok
            if data_tok.text == "[":
                self.next()
                res[name] = self.make_array(self.parse_list(self.parse_scalar), ty, data_tok)
                continue
            n = self.static_numel(ty, data_tok, f"resource {name}")
            data_tok = self.expect_kind("string", "base64 data")
            arr = self.decode_b64(data_tok, ty.dtype.numpy, f"resource {name}")
            if arr.size != n:
                raise self.error(f"resource {name}: {arr.size} elements for type {ty}", data_tok)
            res[name] = arr.reshape(ty.shape)
        return res

    def parse_sparse(self, name: str) -> Any:
        """``csc|csr|coo TYPE key="<base64>" ...``: a 2-D scipy.sparse matrix of ``TYPE``."""
        import scipy.sparse as sp

        fmt_tok = self.next()
        fmt = fmt_tok.text
        ty = self.parse_type()
        if not ty.is_static or len(ty.shape) != 2:
            raise self.error(f"resource {name}: a {fmt} matrix needs a static 2-D type, found {ty}", fmt_tok)
        parts: dict[str, np.ndarray] = {}
        while self.tok.kind == "ident" and self.peek().text == "=":
            k_tok = self.next()
            if k_tok.text not in _SPARSE_PARTS[fmt]:
                raise self.error(f"resource {name}: a {fmt} matrix has no part '{k_tok.text}' "
                                 f"(its parts are {', '.join(_SPARSE_PARTS[fmt])})", k_tok)
            self.expect("=")
            dtype = ty.dtype.numpy if k_tok.text == "data" else np.int32
            parts[k_tok.text] = self.decode_b64(self.expect_kind("string", "base64 data"), dtype,
                                                f"resource {name}, part {k_tok.text}")
        missing = [k for k in _SPARSE_PARTS[fmt] if k not in parts]
        if missing:
            raise self.error(f"resource {name}: the {fmt} matrix lacks {', '.join(missing)}", fmt_tok)
        data = parts["data"]
        try:
            if fmt == "coo":
                m = sp.coo_matrix((data, (parts["row"], parts["col"])), shape=ty.shape)
            else:
                cls = sp.csc_matrix if fmt == "csc" else sp.csr_matrix
                m = cls((data, parts["indices"], parts["indptr"]), shape=ty.shape)
                m.check_format(full_check=True)  # indices in range, indptr sorted
        except (ValueError, TypeError, OverflowError) as e:  # scipy's own consistency checks
            raise self.error(f"resource {name}: the {fmt} parts do not form a {ty} matrix: {e}",
                             fmt_tok) from None
        return m


#: the base64 parts of each sparse resource format, in printed order
_SPARSE_PARTS = {"csc": ("data", "indices", "indptr"), "csr": ("data", "indices", "indptr"),
                 "coo": ("data", "row", "col")}


def _check_encodable(s: str, error: Any) -> None:
    """Refuse lone surrogates (``"\\ud800"``): such a name could not be written back as UTF-8."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise error("string holds a lone surrogate escape (\\ud800-\\udfff); it is not valid "
                    "text") from None


def parse_graph(text: str) -> Graph:
    """Parse IR text (as printed by :func:`print_graph`) into a :class:`Graph`."""
    return _Parser(text).parse_file()


def load_ir(path: str) -> Graph:
    """Read an ``.ir`` file; every error about its content is an :class:`IRParseError`
    naming the file (the text must be UTF-8; a leading byte-order mark is allowed)."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        bad = e.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)  # utf-8-sig drops the BOM
        line = data.count(b"\n", 0, bad) + 1
        column = bad - (data.rfind(b"\n", 0, bad) + 1) + 1
        raise IRParseError(
            f"{path}: line {line}, column {column}: byte 0x{data[bad]:02x} is not UTF-8 text; IR "
            "files are UTF-8 (re-save the file as UTF-8, or print the graph again with "
            "`infercc opt -o FILE.ir`)") from None
    try:
        return parse_graph(text)
    except IRParseError as e:
        raise IRParseError(f"{path}: {e}") from None
