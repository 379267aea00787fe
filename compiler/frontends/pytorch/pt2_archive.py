"""Reading a ``.pt2`` archive (``torch.export.save``) without running anything stored in it.

``torch.export.load`` trusts the file: it unpickles pickled weights, constants, opaque and
script objects and sample inputs with ``weights_only=False``, hands symbolic-size
expressions to ``sympy.sympify`` (which ``eval``\\s them) and keeps ``guards_code``, Python
source that ``ExportedProgram.module()`` ``exec``\\s. Each of those runs code planted in the
file. This module reads the same archive with none of them:

* The zip is opened with :mod:`zipfile`; every record must sit under one top-level folder,
  and the uncompressed sizes must be ones the file can justify (:data:`MAX_INFLATION`).
* Weights and tensor constants are rebuilt from their raw bytes with the dtype, sizes,
  strides and storage offset of their JSON config, after checking that the record holds
  every byte the view reaches. A legacy ``data/weights/<model>.pt`` (or constants) state
  dict is read with ``torch.load(weights_only=True)``, torch's restricted unpickler that
  builds tensors and containers only; its result must be a mapping of names to tensors.
* Refused with :class:`~compiler.errors.ModelLoadError`: pickled payloads
  (``use_pickle``: tensor subclasses), script objects (``custom_obj_*``) and opaque objects
  (``opaque_obj_*``), and the pre-2.8 archive layout (a pickled state dict at the root).
* Not read at all: ``data/sample_inputs`` (pickled example inputs), ``guards_code``
  (emptied before deserialization; with an empty list torch generates no guard code) and
  AOTInductor artifacts (``data/aotinductor``: shared libraries torch would load).
* The program JSON is checked before torch's deserializer sees it: every value name must
  be a Python identifier (FX generates and ``exec``\\s Python source from them), every
  operator target must be a dotted name under ``torch.ops.``, ``_operator.``, ``math.`` or
  ``torch.sym_`` without private (``__``) parts, and stack traces are dropped (nothing in
  infercc reads them). Symbolic expressions are parsed by :func:`parse_sym_expr`, which
  builds the sympy expression from Python's ``ast`` of a whitelisted arithmetic grammar;
  torch's deserializer receives the finished expression, so ``sympify`` never parses text.

:func:`load_pt2` returns the program's ``torch.export.ExportedProgram`` (model ``model``,
what ``torch.export.load`` returns); every refusal names the file and the record or field.
"""

from __future__ import annotations

import ast
import io
import json
import logging
import math
import operator
import os
import re
import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ...errors import ModelLoadError

log = logging.getLogger(__name__)

MODEL = "model"
# Uncompressed bytes allowed per byte of file (torch stores records uncompressed, so 1 is
# the norm; the margin admits archives re-zipped with deflate).
MAX_INFLATION = 50
MAX_EXPR_CHARS = 4096
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TARGET_PREFIXES = ("torch.ops.", "_operator.", "math.", "torch.sym_", "torch._sym_")
_REFUSE_HINT = "re-export the model with torch.export and save it with plain tensors"


class _Refused(Exception):
    """A reason to refuse the archive (turned into ModelLoadError naming the file)."""


def load_pt2(path: str | os.PathLike) -> Any:
    """The ``ExportedProgram`` saved at ``path``, read without unpickling or evaluating
    anything from the file; :class:`ModelLoadError` naming the file and the offending
    record or field otherwise."""
    label = str(path)
    try:
        with zipfile.ZipFile(path) as zf:
            return _Archive(zf, Path(path).stat().st_size).program()
    except _Refused as e:
        raise ModelLoadError(f"{label}: {e}") from None
    except (zipfile.BadZipFile, EOFError, UnicodeDecodeError, NotImplementedError, zlib.error) as e:
        # zipfile's own reading errors: a corrupt directory, a name that is not UTF-8,
        # a zip feature it does not implement
        raise ModelLoadError(
            f"{label}: not a .pt2 archive ({e}); save it with torch.export.save"
        ) from None


class _Archive:
    def __init__(self, zf: zipfile.ZipFile, file_size: int) -> None:
        self.zf = zf
        infos = zf.infolist()
        roots = {i.filename.split("/", 1)[0] for i in infos}
        if len(roots) != 1 or any("/" not in i.filename for i in infos):
            raise _Refused("the zip does not hold one archive folder, as torch.export.save writes")
        self.root = roots.pop() + "/"
        total = sum(i.file_size for i in infos)
        if total > MAX_INFLATION * file_size + (1 << 20):
            raise _Refused(
                f"its records declare {total} bytes uncompressed, more than a {file_size}-byte "
                "file can hold; the archive is corrupt"
            )
        self.names = {i.filename[len(self.root):]: i for i in infos}

    def read(self, name: str) -> bytes:
        if name not in self.names:
            raise _Refused(f"record '{name}' is missing")
        return self.read_info(self.names[name])

    def read_info(self, info: zipfile.ZipInfo) -> bytes:
        try:
            return self.zf.read(info)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError,
                UnicodeDecodeError) as e:
            # RuntimeError: zipfile's "encrypted, password required"
            raise _Refused(f"record '{info.filename}' cannot be read ({e})") from None

    def program(self) -> Any:
        if "version" in self.names or "serialized_exported_program.json" in self.names:
            raise _Refused(
                "this is the pre-2.8 torch.export archive layout, which stores its state dict "
                "as an unrestricted pickle; re-save it with torch.export.save from torch 2.8 or later"
            )
        version = self.read("archive_version").decode(errors="replace").strip()
        from torch.export.pt2_archive.constants import ARCHIVE_VERSION_VALUE

        if version != ARCHIVE_VERSION_VALUE:
            raise _Refused(f"archive_version is {version!r}; this torch reads {ARCHIVE_VERSION_VALUE!r}")
        model_json = f"models/{MODEL}.json"
        if model_json not in self.names:
            raise _Refused(f"record '{model_json}' is missing; this .pt2 holds no exported program")
        if any(n.startswith("data/aotinductor/") for n in self.names):
            log.info("ignoring the AOTInductor artifacts in the archive")
        state_dict = self._payloads("weights", f"data/weights/{MODEL}_weights_config.json")
        constants = self._payloads("constants", f"data/constants/{MODEL}_constants_config.json")
        try:
            doc = json.loads(self.read(model_json))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            raise _Refused(f"'{model_json}' is not valid JSON ({e})") from None
        return _deserialize(_checked_program(doc, model_json), state_dict, constants)

    # -- weights and constants ---------------------------------------------------------------

    def _payloads(self, kind: str, config_name: str) -> dict[str, Any]:
        legacy = f"data/{kind}/{MODEL}.pt"
        if legacy in self.names:
            return _legacy_state_dict(self.read(legacy), legacy)
        from torch._export.serde import schema
        from torch._export.serde.serialize import _dict_to_dataclass

        try:
            config = _dict_to_dataclass(schema.PayloadConfig, json.loads(self.read(config_name)))
        except _Refused:
            raise
        except Exception as e:  # noqa: BLE001 - any malformed config is refused with the reason
            raise _Refused(f"'{config_name}' is malformed ({type(e).__name__}: {e})") from None
        out: dict[str, Any] = {}
        if not isinstance(config.config, dict):
            raise _Refused(f"'{config_name}' is malformed (config is not a mapping)")
        for fqn, meta in config.config.items():
            if not isinstance(meta.path_name, str) or not _IDENT.match(meta.path_name):
                raise _Refused(f"'{config_name}': {kind} '{fqn}' has a bad path_name")
            where = f"{kind} '{fqn}' (record data/{kind}/{meta.path_name})"
            if meta.path_name.startswith("custom_obj_"):
                raise _Refused(f"{where} is a pickled TorchScript object; infercc does not unpickle "
                               f"model files; {_REFUSE_HINT}")
            if meta.path_name.startswith("opaque_obj_"):
                raise _Refused(f"{where} is a pickled opaque Python object; infercc does not "
                               f"unpickle model files; {_REFUSE_HINT}")
            if meta.use_pickle:
                raise _Refused(f"{where} is stored as a pickle (a tensor subclass); infercc does "
                               f"not unpickle model files; {_REFUSE_HINT}")
            if meta.tensor_meta is None:
                raise _Refused(f"{where} has no tensor_meta")
            out[fqn] = self._raw_tensor(f"data/{kind}/{meta.path_name}", meta, where)
        return out

    def _raw_tensor(self, record: str, meta: Any, where: str) -> Any:
        import torch
        from torch._export.serde.serialize import deserialize_scalar_type

        tm = meta.tensor_meta
        try:
            dtype = deserialize_scalar_type(tm.dtype)
            sizes = [_static(s) for s in tm.sizes]
            strides = [_static(s) for s in tm.strides]
            offset = _static(tm.storage_offset)
        except _Refused as e:
            raise _Refused(f"{where}: {e}") from None
        except Exception as e:  # noqa: BLE001 - an unknown dtype enum, a wrong field type
            raise _Refused(f"{where}: bad tensor_meta ({type(e).__name__}: {e})") from None
        if len(sizes) != len(strides) or min(sizes + strides + [offset], default=0) < 0:
            raise _Refused(f"{where}: sizes {sizes} / strides {strides} / offset {offset} are inconsistent")
        info = self.names.get(record)
        if info is None:
            raise _Refused(f"{where}: the record is missing")
        elsize = torch.empty((), dtype=dtype).element_size()
        numel = math.prod(sizes)
        need = 0 if numel == 0 else (offset + sum((n - 1) * s for n, s in zip(sizes, strides)) + 1) * elsize
        if info.file_size < need or info.file_size % elsize:
            raise _Refused(
                f"{where}: sizes {sizes} with strides {strides} need {need} bytes of {dtype}, "
                f"the record holds {info.file_size}"
            )
        data = bytearray(self.read_info(info))
        flat = torch.frombuffer(data, dtype=dtype) if data else torch.empty(0, dtype=dtype)
        t = torch.as_strided(flat, sizes, strides, offset)
        if meta.is_param:
            return torch.nn.Parameter(t, requires_grad=bool(tm.requires_grad) and t.is_floating_point())
        return t


def _static(s: Any) -> int:
    if getattr(s, "type", None) != "as_int" or type(s.value) is not int:
        raise _Refused("a stored tensor has a symbolic or non-integer size")
    return s.value


def _legacy_state_dict(data: bytes, record: str) -> dict[str, Any]:
    import torch

    try:
        # weights_only=True is torch's restricted unpickler: tensors and containers only,
        # no imports, no calls to arbitrary globals. Passing it explicitly also keeps the
        # TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD override from turning it off.
        obj = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - the restricted unpickler refused the record
        raise _Refused(
            f"record '{record}' is not a plain state dict of tensors ({type(e).__name__}: "
            f"{str(e).splitlines()[0][:200] if str(e) else ''}); infercc reads pickles with "
            f"torch.load(weights_only=True) only; {_REFUSE_HINT}"
        ) from None
    if not isinstance(obj, Mapping) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise _Refused(f"record '{record}' is not a mapping of names to tensors")
    return dict(obj)


# -- the program JSON ------------------------------------------------------------------------


def _checked_program(doc: Any, record: str) -> Any:
    """The program dataclass from the JSON, after the checks of the module docstring."""
    if not isinstance(doc, dict) or not isinstance(doc.get("graph_module"), dict):
        raise _Refused(f"'{record}' holds no graph_module")
    if doc.get("guards_code"):
        log.info("%s: ignoring %d stored guard(s); infercc never runs code from a model file",
                 record, len(doc["guards_code"]))
    doc["guards_code"] = []
    _check_tree(doc["graph_module"], record)
    from torch._export.serde import schema
    from torch._export.serde.serialize import _dict_to_dataclass

    try:
        return _dict_to_dataclass(schema.ExportedProgram, doc)
    except Exception as e:  # noqa: BLE001 - any schema mismatch is refused with the reason
        raise _Refused(f"'{record}' does not match torch's export schema ({type(e).__name__}: {e})") from None


def _check_tree(node: Any, record: str) -> None:
    """Names must be identifiers, targets whitelisted dotted names; stack traces dropped."""
    stack = [node]
    while stack:
        obj = stack.pop()
        if isinstance(obj, dict):
            if isinstance(obj.get("metadata"), dict):
                obj["metadata"].pop("stack_trace", None)
            for key, value in obj.items():
                if key in ("name", "as_name") and isinstance(value, str) and not _IDENT.match(value):
                    raise _Refused(f"'{record}': value name {value[:60]!r} is not an identifier")
                if key == "target" and isinstance(value, str) and not _good_target(value):
                    raise _Refused(f"'{record}': operator target {value[:80]!r} is not a torch operator")
                if isinstance(value, (dict, list)):
                    stack.append(value)
        elif isinstance(obj, list):
            stack.extend(v for v in obj if isinstance(v, (dict, list)))


def _good_target(target: str) -> bool:
    parts = target.split(".")
    return (target.startswith(_TARGET_PREFIXES)
            and all(_IDENT.match(p) and not p.startswith("__") for p in parts))


# -- symbolic expressions --------------------------------------------------------------------

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.Pow: operator.pow,
}
_UNOPS: dict[type, Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}
# What sympy's srepr writes for the expressions torch.export stores.
_SYMPY_NAMES = ("Add", "Mul", "Pow", "Integer", "Rational", "Float", "Symbol", "Max", "Min",
                "Abs", "floor", "ceiling", "sqrt", "StrictLessThan", "LessThan",
                "StrictGreaterThan", "GreaterThan", "Equality", "Unequality", "And", "Or",
                "Not", "Piecewise", "Tuple", "oo", "zoo", "nan", "true", "false")
_FLOAT_TEXT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\Z")


def _sympy_names() -> dict[str, Any]:
    import sympy
    from sympy.functions.elementary.piecewise import ExprCondPair
    from torch.utils._sympy.numbers import int_oo

    return {"int_oo": int_oo, "ExprCondPair": ExprCondPair,
            **{n: getattr(sympy, n) for n in _SYMPY_NAMES}}


def parse_sym_expr(text: str, names: Mapping[str, Any]) -> Any:
    """The sympy expression that ``sympy.srepr`` wrote as ``text`` (the form torch.export
    stores, e.g. ``Add(FloorDiv(Symbol('s0', integer=True), Integer(2)), Integer(1))``),
    built from its Python ``ast`` without ``eval``.

    Allowed: integer literals; ``+ - * / **``; names of sympy's own classes above, of
    ``names`` (torch's sympy functions, symbols already seen) and of bare symbols; calls
    of those classes with such arguments and keyword flags that are ``True``/``False`` or
    integers; a string literal only as the name of a ``Symbol`` (an identifier) or the
    digits of a ``Float``. Anything else raises ``ValueError``.
    """
    import sympy

    if not isinstance(text, str) or len(text) > MAX_EXPR_CHARS:
        raise ValueError("symbolic expression missing or too long")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, RecursionError, MemoryError, ValueError) as e:
        raise ValueError(f"cannot parse {text[:80]!r} ({type(e).__name__})") from None
    known = {**_sympy_names(), **names}

    def build(n: ast.AST) -> Any:
        if isinstance(n, ast.Constant) and type(n.value) in (int, bool):
            return sympy.sympify(n.value)
        if isinstance(n, ast.Name) and _IDENT.match(n.id) and not n.id.startswith("_"):
            return known[n.id] if n.id in known else sympy.Symbol(n.id)
        if isinstance(n, ast.BinOp) and type(n.op) in _BINOPS:
            return _BINOPS[type(n.op)](build(n.left), build(n.right))
        if isinstance(n, ast.UnaryOp) and type(n.op) in _UNOPS:
            return _UNOPS[type(n.op)](build(n.operand))
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in known:
            return call(n.func.id, known[n.func.id], n)
        raise ValueError(f"{text[:80]!r}: {type(n).__name__} is not allowed in a symbolic size")

    def call(name: str, fn: Any, n: ast.Call) -> Any:
        if not (isinstance(fn, type) and issubclass(fn, sympy.Basic)) and fn is not sympy.sqrt:
            raise ValueError(f"{text[:80]!r}: {name} is not a function")
        flags = {}
        for kw in n.keywords:
            if kw.arg is None or not _IDENT.match(kw.arg) or kw.arg.startswith("_") or not (
                    isinstance(kw.value, ast.Constant) and type(kw.value.value) in (int, bool)):
                raise ValueError(f"{text[:80]!r}: bad keyword in {name}(...)")
            flags[kw.arg] = kw.value.value
        args = []
        for i, a in enumerate(n.args):
            if isinstance(a, ast.Constant) and isinstance(a.value, str):
                ok = (name == "Symbol" and i == 0 and _IDENT.match(a.value)) or (
                    name == "Float" and i == 0 and _FLOAT_TEXT.match(a.value))
                if not ok:
                    raise ValueError(f"{text[:80]!r}: string argument to {name}(...)")
                args.append(a.value)
            else:
                args.append(build(a))
        if flags and name not in ("Symbol", "Float"):
            raise ValueError(f"{text[:80]!r}: keywords in {name}(...)")
        return fn(*args, **flags)

    try:
        result = sympy.sympify(build(tree.body))
    except ValueError:
        raise
    except (TypeError, RecursionError, ArithmeticError, AttributeError) as e:
        raise ValueError(f"{text[:80]!r} is not a valid expression ({type(e).__name__})") from None
    if not isinstance(result, sympy.Basic):
        raise ValueError(f"{text[:80]!r} is not a symbolic expression")
    return result


def _deserialize(program: Any, state_dict: dict, constants: dict) -> Any:
    """torch's ``ExportedProgramDeserializer.deserialize`` with expressions parsed by
    :func:`parse_sym_expr` and no sample inputs."""
    from torch._export.serde.serialize import (
        SCHEMA_VERSION,
        ExportedProgramDeserializer,
        GraphModuleDeserializer,
        _int_to_sympy_int,
        load_verifier,
    )
    from torch.export import exported_program as ep
    from torch.fx.experimental import symbolic_shapes
    from torch.utils._sympy.numbers import int_oo

    version = program.schema_version
    if version.major != SCHEMA_VERSION[0]:
        raise _Refused(f"schema version {version.major}.{version.minor} does not match this "
                       f"torch's {SCHEMA_VERSION[0]}.{SCHEMA_VERSION[1]}; re-save it with this torch")
    ranges = {
        k: symbolic_shapes.ValueRanges(_int_to_sympy_int(v.min_val, -int_oo),
                                       _int_to_sympy_int(v.max_val, int_oo))
        for k, v in program.range_constraints.items()
    }
    gmd = GraphModuleDeserializer()
    torch_parse = gmd._parse_sym_expr

    def safe_parse(expr_str: Any, hint: Any = None) -> Any:
        if isinstance(expr_str, str):
            try:
                expr_str = parse_sym_expr(expr_str, {**gmd.sympy_functions, **gmd.symbol_name_to_symbol})
            except ValueError as e:
                raise _Refused(f"symbolic size rejected: {e}") from None
        return torch_parse(expr_str, hint)  # sympify returns a sympy object unchanged

    gmd._parse_sym_expr = safe_parse
    try:
        res = gmd.deserialize(program.graph_module, state_dict, constants, None, ranges)
        range_constraints = ExportedProgramDeserializer().deserialize_range_constraints(
            ranges, res.names_to_symbols)
        result = ep.ExportedProgram(
            root=res.graph_module, graph=res.graph_module.graph, graph_signature=res.signature,
            state_dict=res.state_dict, range_constraints=range_constraints,
            module_call_graph=res.module_call_graph, example_inputs=None,
            constants=res.constants, verifiers=[load_verifier(v) for v in program.verifiers],
        )
    except _Refused:
        raise
    except Exception as e:  # noqa: BLE001 - torch's deserializer rejects malformed programs variously
        raise _Refused(f"torch cannot rebuild the exported program ({type(e).__name__}: "
                       f"{str(e).strip().splitlines()[0][:300] if str(e).strip() else ''})") from None
    result._guards_code = []
    return result
