"""Pipeline strings: ``fold-constants,fuse-batchnorm,my-pass{threshold=0.5,sizes=[1,2]}``.

Grammar (whitespace between tokens is ignored)::

    pipeline := [pass ("," pass)*]
    pass     := NAME ["{" [option ("," option)*] "}"] | "default"
    option   := KEY "=" value
    value    := scalar | "[" [scalar ("," scalar)*] "]"
    scalar   := BARE | "json-style double-quoted string"

Option values are coerced to the pass dataclass' field types: ``int``, ``float``, ``bool``
(true/false/1/0/yes/no/on/off), ``str``, ``list[...]``/``tuple[...]`` of those,
``Optional[...]`` (``none`` means None), ``Literal[...]`` and ``Enum`` (by name or value).
Option keys may be written in kebab-case (``max-elements``) or as the field name.

The name ``default`` stands for the default pipeline's passes, spliced in where it stands
(``default,quantize{...}``). The caller says what the default is (``infercc compile`` gives
its target's); otherwise it is :data:`DEFAULT_PIPELINE_TABLE`, looked up by name because the
builtin passes sit above the pass manager.

Every error is a :class:`PipelineError` naming the pass, the option and the position in the
string, with a caret under it. ``str(pipeline)`` prints only non-default options and parses
back to an equal pipeline.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import types
import typing
from collections.abc import Iterator, Sequence
from typing import Any, Literal, Union

from ..errors import PipelineError
from ..plugins import load_object
from .base import Pass
from .registry import PassRegistry, default_registry

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_BARE = re.compile(r"[^,{}\[\]=\"\s]+")
_SAFE_BARE = re.compile(r"^[A-Za-z0-9_.+\-/:@%*]+$")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_NONE = {"none", "null"}

#: the name that stands for the default pipeline inside a pipeline string
DEFAULT_ALIAS = "default"
#: where the default pipeline's text lives, "module:attribute"
DEFAULT_PIPELINE_TABLE = "passes:DEFAULT_PIPELINE"


class Pipeline(Sequence[Pass]):
    """An ordered list of configured pass instances."""

    def __init__(self, passes: Sequence[Pass] = ()):
        self.passes: list[Pass] = list(passes)

    @classmethod
    def parse(cls, text: str, registry: PassRegistry | None = None, *,
              default: str | None = None) -> "Pipeline":
        return parse_pipeline(text, registry, default=default)

    def __len__(self) -> int:
        return len(self.passes)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return Pipeline(self.passes[i])
        return self.passes[i]

    def __iter__(self) -> Iterator[Pass]:
        return iter(self.passes)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Pipeline):
            return self.passes == other.passes
        return NotImplemented

    def __str__(self) -> str:
        return ",".join(format_pass(p) for p in self.passes)

    def __repr__(self) -> str:
        return f"Pipeline({str(self)!r})"


# -- printing --------------------------------------------------------------------------------


def format_pass(p: Pass) -> str:
    """``name{opt=value,...}`` with the options that differ from their defaults."""
    parts = []
    for f in type(p).options():
        v = getattr(p, f.name)
        if f.default is not dataclasses.MISSING:
            if _same(v, f.default):
                continue
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            if _same(v, f.default_factory()):  # type: ignore[misc]
                continue
        parts.append(f"{f.name}={format_value(v)}")
    return p.name + ("{" + ",".join(parts) + "}" if parts else "")


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:  # arrays and odd objects: treat as different, print them
        return False


def format_value(v: Any) -> str:
    """One option value as the parser reads it back."""
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, enum.Enum):
        return format_value(v.name)
    if isinstance(v, (int, float)):
        return repr(v) if isinstance(v, float) else str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(format_value(x) for x in v) + "]"
    s = str(v)
    if _SAFE_BARE.match(s) and s.lower() not in _NONE:
        return s
    return json.dumps(s)


# -- parsing ---------------------------------------------------------------------------------


class _Scalar:
    __slots__ = ("text", "quoted", "pos")

    def __init__(self, text: str, quoted: bool, pos: int):
        self.text, self.quoted, self.pos = text, quoted, pos


class _List:
    __slots__ = ("items", "pos")

    def __init__(self, items: list[_Scalar], pos: int):
        self.items, self.pos = items, pos


class _BadValue(Exception):
    """Raised by coercion; the parser adds pass, option and position."""

    def __init__(self, msg: str, pos: int | None = None):
        super().__init__(msg)
        self.pos = pos


def parse_pipeline(text: str, registry: PassRegistry | None = None, *,
                   default: str | None = None) -> Pipeline:
    """Parse a pipeline string into configured pass instances (see the module docstring).

    ``default`` is the pipeline text the name ``default`` expands to (None: the builtin
    default pipeline, :data:`DEFAULT_PIPELINE_TABLE`). Raises :class:`PipelineError`.
    """
    return _Parser(text, registry or default_registry(), default).parse()


def _default_text() -> str:
    try:
        return str(load_object(DEFAULT_PIPELINE_TABLE))
    except (ImportError, AttributeError) as e:
        raise PipelineError(f"'{DEFAULT_ALIAS}' names the default pipeline, but "
                            f"{DEFAULT_PIPELINE_TABLE} cannot be loaded: {e}") from None


class _Parser:
    def __init__(self, text: str, registry: PassRegistry, default: str | None = None):
        self.text = text
        self.i = 0
        self.registry = registry
        self.default = default

    # -- helpers -----------------------------------------------------------------------------
    def error(self, msg: str, pos: int | None = None, pass_name: str | None = None,
              option: str | None = None) -> PipelineError:
        pos = self.i if pos is None else pos
        where = [f"position {pos + 1}"]
        if pass_name:
            where.append(f"pass '{pass_name}'")
        if option:
            where.append(f"option '{option}'")
        shown = self.text if len(self.text) <= 200 else self.text[: pos + 60] + " ..."
        return PipelineError(
            f"bad pipeline ({', '.join(where)}): {msg}\n  {shown}\n  {' ' * pos}^"
        )

    def ws(self) -> None:
        while self.i < len(self.text) and self.text[self.i].isspace():
            self.i += 1

    def peek(self) -> str:
        return self.text[self.i] if self.i < len(self.text) else ""

    def found(self) -> str:
        c = self.peek()
        return f"'{c}'" if c else "the end of the string"

    # -- grammar -----------------------------------------------------------------------------
    def parse(self) -> Pipeline:
        passes: list[Pass] = []
        self.ws()
        if self.i == len(self.text):
            return Pipeline()
        while True:
            passes.extend(self.parse_item())
            self.ws()
            c = self.peek()
            if not c:
                break
            if c == ",":
                self.i += 1
                self.ws()
                if not self.peek():
                    raise self.error("expected a pass name after ','")
                continue
            if c in "}]":
                raise self.error(f"unbalanced '{c}': no matching opening bracket")
            raise self.error(f"expected ',' between passes, found {self.found()}")
        return Pipeline(passes)

    def parse_item(self) -> list[Pass]:
        """One pass, or the default pipeline's passes for the name ``default``."""
        m = _NAME.match(self.text, self.i)
        if m is not None and m.group() == DEFAULT_ALIAS:
            start, self.i = self.i, m.end()
            return self.parse_default(start)
        return [self.parse_pass()]

    def parse_pass(self) -> Pass:
        start = self.i
        m = _NAME.match(self.text, self.i)
        if m is None:
            raise self.error(f"expected a pass name, found {self.found()}")
        name = m.group()
        self.i = m.end()
        if name not in self.registry:
            raise self.error(self.registry.unknown_message(name), start)
        try:
            cls = self.registry.get(name)
        except PipelineError as e:
            raise self.error(str(e), start, name) from None
        raw: dict[str, tuple[int, int, Any]] = {}  # field -> (key pos, value pos, raw value)
        self.ws()
        if self.peek() == "{":
            open_pos = self.i
            self.i += 1
            self.ws()
            if self.peek() == "}":
                self.i += 1
            else:
                while True:
                    self.parse_option(cls, name, raw, open_pos)
                    self.ws()
                    c = self.peek()
                    if c == ",":
                        self.i += 1
                        self.ws()
                        continue
                    if c == "}":
                        self.i += 1
                        break
                    if not c:
                        raise self.error(
                            f"unbalanced '{{' (opened at position {open_pos + 1}): missing '}}'",
                            pass_name=name,
                        )
                    raise self.error(
                        f"expected ',' or '}}' after an option, found {self.found()}",
                        pass_name=name,
                    )
        return self.build(cls, name, start, raw)

    def parse_default(self, start: int) -> list[Pass]:
        """The passes of the default pipeline, for ``default`` at ``start`` (no options)."""
        self.ws()
        if self.peek() == "{":
            raise self.error(f"'{DEFAULT_ALIAS}' stands for the default pipeline and takes no "
                             "options; list its passes to configure them", self.i,
                             DEFAULT_ALIAS)
        text = self.default if self.default is not None else _default_text()
        try:
            # parsed on its own; a 'default' inside the default would mean nothing
            return list(_Parser(text, self.registry, "").parse())
        except PipelineError as e:
            raise self.error(f"the default pipeline does not parse: {e}", start,
                             DEFAULT_ALIAS) from None

    def parse_option(self, cls: type[Pass], pass_name: str, raw: dict, open_pos: int) -> None:
        key_pos = self.i
        m = _KEY.match(self.text, self.i)
        if m is None:
            if not self.peek():
                raise self.error(
                    f"unbalanced '{{' (opened at position {open_pos + 1}): missing '}}'",
                    pass_name=pass_name,
                )
            raise self.error(f"expected an option name, found {self.found()}", pass_name=pass_name)
        key = m.group()
        self.i = m.end()
        fields = {f.name: f for f in cls.options()}
        fname = key if key in fields else key.replace("-", "_")
        if fname not in fields:
            raise self.error(
                f"unknown option '{key}'; {_describe_options(cls)}", key_pos, pass_name, key
            )
        if fname in raw:
            raise self.error(f"option '{key}' is given twice", key_pos, pass_name, key)
        self.ws()
        if self.peek() != "=":
            raise self.error(
                f"expected '=' after option name '{key}', found {self.found()}",
                pass_name=pass_name, option=key,
            )
        self.i += 1
        self.ws()
        val_pos = self.i
        value = self.parse_value(pass_name, key, open_pos)
        raw[fname] = (key_pos, val_pos, value)

    def parse_value(self, pass_name: str, key: str, open_pos: int) -> Any:
        if self.peek() == "[":
            lpos = self.i
            self.i += 1
            items: list[_Scalar] = []
            self.ws()
            if self.peek() == "]":
                self.i += 1
                return _List(items, lpos)
            while True:
                self.ws()
                if self.peek() == "[":
                    raise self.error("nested lists are not supported", pass_name=pass_name,
                                     option=key)
                items.append(self.parse_scalar(pass_name, key, open_pos, lpos))
                self.ws()
                c = self.peek()
                if c == ",":
                    self.i += 1
                    continue
                if c == "]":
                    self.i += 1
                    return _List(items, lpos)
                if not c or c == "}":
                    raise self.error(
                        f"unbalanced '[' (opened at position {lpos + 1}): missing ']'",
                        pass_name=pass_name, option=key,
                    )
                raise self.error(f"expected ',' or ']' in a list, found {self.found()}",
                                 pass_name=pass_name, option=key)
        return self.parse_scalar(pass_name, key, open_pos, None)

    def parse_scalar(self, pass_name: str, key: str, open_pos: int, list_pos: int | None
                     ) -> _Scalar:
        pos = self.i
        if self.peek() == '"':
            m = re.compile(r'"(?:[^"\\]|\\.)*"').match(self.text, self.i)
            if m is None:
                raise self.error("unterminated string (missing '\"')", pass_name=pass_name,
                                 option=key)
            self.i = m.end()
            try:
                return _Scalar(json.loads(m.group()), True, pos)
            except json.JSONDecodeError as e:
                raise self.error(f"bad string: {e.msg}", pos, pass_name, key) from None
        m = _BARE.match(self.text, self.i)
        if m is None:
            c = self.peek()
            if not c:
                opened = list_pos if list_pos is not None else open_pos
                bracket = "[" if list_pos is not None else "{"
                raise self.error(
                    f"unbalanced '{bracket}' (opened at position {opened + 1}): the string ends "
                    "before the value", pass_name=pass_name, option=key,
                )
            raise self.error(f"missing value, found {self.found()}", pass_name=pass_name,
                             option=key)
        self.i = m.end()
        return _Scalar(m.group(), False, pos)

    def build(self, cls: type[Pass], name: str, start: int, raw: dict) -> Pass:
        hints = _type_hints(cls)
        kwargs = {}
        for fname, (key_pos, val_pos, value) in raw.items():
            tp = hints.get(fname, Any)
            try:
                kwargs[fname] = coerce(value, tp)
            except _BadValue as e:
                raise self.error(str(e), e.pos if e.pos is not None else val_pos, name,
                                 fname) from None
        missing = [
            f.name
            for f in cls.options()
            if f.name not in kwargs
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING  # type: ignore[misc]
        ]
        if missing:
            raise self.error(
                f"required option(s) {', '.join(missing)} not given; {_describe_options(cls)}",
                start, name,
            )
        try:
            return cls(**kwargs)
        except Exception as e:  # __post_init__ validation
            raise self.error(f"options rejected: {type(e).__name__}: {e}", start, name) from None


# -- option types ----------------------------------------------------------------------------


def _type_hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # unresolvable annotations: fall back to raw annotations / Any
        return {}


def type_name(tp: Any) -> str:
    """A short readable spelling of an option type: ``list[int]``, ``float | None``."""
    if tp is Any:
        return "any"
    if isinstance(tp, type) and not typing.get_args(tp):
        if issubclass(tp, enum.Enum):
            return "{" + "|".join(m.name for m in tp) + "}"
        return tp.__name__
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal:
        return "{" + "|".join(str(a) for a in args) + "}"
    if origin in (Union, types.UnionType):
        return " | ".join("None" if a is type(None) else type_name(a) for a in args)
    if origin is not None:
        base = getattr(origin, "__name__", str(origin))
        return f"{base}[{', '.join('...' if a is Ellipsis else type_name(a) for a in args)}]"
    return str(tp)


def describe_options(cls: type[Pass]) -> list[tuple[str, str, str]]:
    """``(name, type, default)`` of each option, for help and error texts."""
    hints = _type_hints(cls)
    out = []
    for f in cls.options():
        if f.default is not dataclasses.MISSING:
            default = format_value(f.default)
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = format_value(f.default_factory())  # type: ignore[misc]
        else:
            default = "(required)"
        out.append((f.name, type_name(hints.get(f.name, Any)), default))
    return out


def _describe_options(cls: type[Pass]) -> str:
    opts = describe_options(cls)
    if not opts:
        return f"pass '{cls.name}' takes no options"
    listed = ", ".join(f"{n}: {t} = {d}" for n, t, d in opts)
    return f"valid options of '{cls.name}': {listed}"


def coerce(value: Any, tp: Any) -> Any:
    """Convert a parsed ``_Scalar``/``_List`` to ``tp``; raises ``_BadValue``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        if (
            type(None) in args
            and isinstance(value, _Scalar)
            and not value.quoted
            and value.text.lower() in _NONE
        ):
            return None
        errors = []
        for a in non_none:
            try:
                return coerce(value, a)
            except _BadValue as e:
                errors.append(str(e))
        raise _BadValue("; ".join(errors) if len(errors) == 1 else
                        f"{_show(value)} is not a {type_name(tp)}")
    if origin in (list, tuple, Sequence, typing.Sequence) or tp in (list, tuple):
        items = value.items if isinstance(value, _List) else [value]
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(items) != len(args):
                raise _BadValue(f"expected {len(args)} values for {type_name(tp)}, "
                                f"got {len(items)}")
            return tuple(_coerce_item(x, a) for x, a in zip(items, args))
        elem = args[0] if args else Any
        out = [_coerce_item(x, elem) for x in items]
        return tuple(out) if (origin is tuple or tp is tuple) else out
    if isinstance(value, _List):
        raise _BadValue(f"a list was given but the option is a {type_name(tp)}", value.pos)
    text = value.text
    if origin is Literal:
        for a in args:
            if str(a) == text or (isinstance(a, bool) and text.lower() in (_TRUE if a else _FALSE)):
                return a
        raise _BadValue(f"{_show(value)} is not one of {', '.join(str(a) for a in args)}")
    if tp is bool:
        low = text.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise _BadValue(f"{_show(value)} is not a bool (use true or false)")
    if tp is int:
        for base in (10, 0):  # decimal (leading zeros allowed), then 0x/0o/0b literals
            try:
                return int(text, base)
            except ValueError:
                pass
        raise _BadValue(f"{_show(value)} is not an int")
    if tp is float:
        try:
            return float(text)
        except ValueError:
            raise _BadValue(f"{_show(value)} is not a float") from None
    if tp is str:
        return text
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        for m in tp:
            if text in (m.name, str(m.value)):
                return m
        raise _BadValue(f"{_show(value)} is not one of {', '.join(m.name for m in tp)}")
    if tp is Any:
        if value.quoted:
            return text
        low = text.lower()
        for conv in (int, float):
            try:
                return conv(text)
            except ValueError:
                pass
        if low in ("true", "false"):
            return low == "true"
        return text
    raise _BadValue(f"options of type {type_name(tp)} cannot be set from a pipeline string")


def _coerce_item(item: _Scalar, tp: Any) -> Any:
    """Coerce one list element; errors point at the element, not the list."""
    try:
        return coerce(item, tp)
    except _BadValue as e:
        if e.pos is None:
            e.pos = item.pos
        raise


def _show(value: Any) -> str:
    return json.dumps(value.text) if isinstance(value, _Scalar) else "the list"


__all__ = [
    "DEFAULT_ALIAS",
    "Pipeline",
    "coerce",
    "describe_options",
    "format_pass",
    "format_value",
    "parse_pipeline",
    "type_name",
]
