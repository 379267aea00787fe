"""ONNX frontend: an ``onnx.ModelProto`` (or ``.onnx`` file) -> an IR :class:`Graph`.

Contract of :func:`load_onnx`:

* Opsets 11 up to the newest one ONNX knows are supported; older forms of ops are
  normalized into the latest opset's form (``compiler.frontends.onnx.normalize`` holds the
  per-op rules: attributes that became inputs, changed defaults, renamed ops), and many
  opset 7-10 forms are accepted too.
* Initializers and ``Constant`` nodes become ``const`` nodes that keep their ONNX names.
* Graph inputs keep their names; ``dim_param`` dims become symbolic dims, missing dims
  ``"?"``; ``input_shapes`` overrides the declared shapes.
* Every IR node records the ONNX node name (or its first output name when the node is
  unnamed) in ``node.source``; value names are the ONNX value names.
* Output types come from the IR's own shape inference; where it cannot decide, the types
  the model declares (value_info, graph outputs, or ONNX's shape inference) are used.
* Subgraphs (``If``/``Loop``/``Scan``) are converted recursively and closed: every outer
  value a subgraph reads becomes a trailing input of the IR node and of the subgraph.
* Before anything is built, every op type without an IR schema is collected with all its
  node names and reported at once in :class:`~compiler.errors.UnsupportedOpsError`.
* A missing, unreadable or malformed model raises :class:`~compiler.errors.ModelLoadError`
  (:class:`OnnxImportError` once the file is parsed), naming the file and the node or field.
  What a malformed file could break is checked before it is trusted: string fields must be
  UTF-8, attributes must have the type ONNX declares for them, ``If``/``Loop``/``Scan``
  need their subgraphs, every input must be defined, and the graph must be acyclic (a cycle
  is reported with the nodes on it).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InferccError, ModelLoadError, UnsupportedOpsError
from ...ir.graph import Graph, Node, Value, sanitize_name
from ...ir.types import UNKNOWN_DIM, DType, TensorType, types_compatible
from ...ops.registry import SchemaError, check_arity, get_schema, infer_types

log = logging.getLogger(__name__)

DEFAULT_DOMAINS = ("", "ai.onnx")

# ONNX TensorProto.DataType -> IR element type (types missing here are not supported).
_ELEM_TYPES: dict[int, DType] = {
    1: DType.F32,
    2: DType.U8,
    3: DType.I8,
    4: DType.U16,
    5: DType.I16,
    6: DType.I32,
    7: DType.I64,
    8: DType.STR,
    9: DType.BOOL,
    10: DType.F16,
    11: DType.F64,
    12: DType.U32,
    13: DType.U64,
    16: DType.BF16,
    21: DType.U4,
    22: DType.I4,
}


class OnnxImportError(ModelLoadError):
    """The model is readable but a node, value or attribute cannot be lowered into the IR."""


def elem_type_name(elem_type: int) -> str:
    import onnx

    try:
        return onnx.TensorProto.DataType.Name(elem_type)
    except ValueError:
        return f"type #{elem_type}"


def dtype_of(elem_type: int, where: str) -> DType:
    """The IR element type for an ONNX ``TensorProto.DataType``."""
    try:
        return _ELEM_TYPES[elem_type]
    except KeyError:
        raise OnnxImportError(
            f"{where}: element type {elem_type_name(elem_type)} is not supported by infercc "
            f"(supported: {', '.join(sorted(elem_type_name(t) for t in _ELEM_TYPES))})"
        ) from None


# -- reading -------------------------------------------------------------------------------


def read_model(source: Any) -> tuple[Any, str]:
    """``(ModelProto, label)`` for a path, bytes or ModelProto; ModelLoadError when unreadable."""
    import onnx

    if isinstance(source, onnx.ModelProto):
        return source, source.graph.name or "<onnx model>"
    if isinstance(source, (bytes, bytearray)):
        label = "<onnx bytes>"
        try:
            model = onnx.load_model_from_string(bytes(source))
        except Exception as e:
            raise ModelLoadError(f"{label}: not a valid ONNX model ({type(e).__name__}: {e})") from None
        _check_has_graph(model, label)
        return model, label
    if not isinstance(source, (str, os.PathLike)):
        raise ModelLoadError(
            f"cannot read an ONNX model from a {type(source).__name__}; "
            "pass a path to a .onnx file, its bytes or an onnx.ModelProto"
        )
    path = Path(source)
    label = str(path)
    if not path.exists():
        raise ModelLoadError(f"{label}: no such file; check the path to the .onnx model")
    if path.is_dir():
        raise ModelLoadError(f"{label}: is a directory; pass the .onnx file inside it")
    try:
        model = onnx.load(str(path))
    except FileNotFoundError as e:  # external data next to the model is missing
        raise ModelLoadError(
            f"{label}: external tensor data is missing ({e}); keep the data files next to "
            "the model as they were saved"
        ) from None
    except Exception as e:
        raise ModelLoadError(
            f"{label}: not a valid ONNX model ({type(e).__name__}: {str(e)[:200]}); "
            "the file may be truncated or of another format: re-export or re-download it"
        ) from None
    _check_has_graph(model, label)
    return model, label


def _check_has_graph(model: Any, label: str) -> None:
    g = model.graph
    if not model.HasField("graph") or (not g.node and not g.output):
        raise ModelLoadError(
            f"{label}: the file holds no ONNX graph (empty or not an ONNX model); "
            "re-export or re-download it"
        )


def _check_text_fields(model: Any, label: str) -> None:
    """Refuse a model whose string fields (op types, names, domains, ...) are not UTF-8.

    protobuf hands such a field over as ``bytes`` instead of ``str``; everything after
    reading assumes text, so the field is named here, before anything trusts it.
    """
    from google.protobuf.descriptor import FieldDescriptor

    stack: list[tuple[Any, str]] = [(model, "model")]
    while stack:
        msg, path = stack.pop()
        for field, value in msg.ListFields():
            where = f"{path}.{field.name}"
            # a repeated field's value is a container (FieldDescriptor.label is gone in protobuf 7)
            repeated = not isinstance(value, (str, bytes)) and not hasattr(value, "ListFields")
            if field.type == FieldDescriptor.TYPE_STRING:
                bad = [k for k, v in enumerate(value if repeated else [value]) if not isinstance(v, str)]
                if bad:
                    at = f"{where}[{bad[0]}]" if repeated else where
                    raise OnnxImportError(
                        f"{label}: field {at} is not valid UTF-8 text; the file is corrupt: "
                        "re-export or re-download it"
                    )
            elif field.type == FieldDescriptor.TYPE_MESSAGE:
                if repeated:
                    stack.extend((m, f"{where}[{k}]") for k, m in enumerate(value))
                else:
                    stack.append((value, where))


def default_opset(model: Any) -> int:
    for imp in model.opset_import:
        if imp.domain in DEFAULT_DOMAINS:
            return int(imp.version)
    return 1  # models before opset imports existed


# -- op support ----------------------------------------------------------------------------


def node_label(node: Any) -> str:
    """The provenance name of an ONNX node: its name, else its first output name."""
    if node.name:
        return node.name
    for o in node.output:
        if o:
            return o
    return node.op_type


def walk_nodes(graph: Any) -> Iterator[Any]:
    """Every node of an ONNX graph and of its subgraphs, depth first."""
    for node in graph.node:
        yield node
        for a in node.attribute:
            if a.HasField("g"):
                yield from walk_nodes(a.g)
            for g in a.graphs:
                yield from walk_nodes(g)


def unsupported_ops(model: Any) -> dict[str, list[str]]:
    """Op types (with the names of the nodes using them) that the IR cannot express."""
    from .normalize import required_ir_ops

    opset = default_opset(model)
    found: dict[str, list[str]] = {}
    for node in walk_nodes(model.graph):
        if node.domain not in DEFAULT_DOMAINS:
            key = f"{node.domain}.{node.op_type}"
        else:
            needed = required_ir_ops(node.op_type, opset)
            if needed is not None and all(get_schema(n) is not None for n in needed):
                continue
            key = node.op_type
        found.setdefault(key, []).append(node_label(node))
    return found


def supported_ops() -> dict[str, str]:
    """Default-domain ONNX op types the importer lowers (at the newest opset) -> the IR ops
    they become, from the same rule :func:`unsupported_ops` checks nodes with."""
    import onnx.defs

    from .normalize import required_ir_ops

    opset = onnx.defs.onnx_opset_version()
    names = {s.name for s in onnx.defs.get_all_schemas_with_history() if s.domain in DEFAULT_DOMAINS}
    out: dict[str, str] = {}
    for name in sorted(names):
        needed = required_ir_ops(name, opset)
        if needed is None or not all(get_schema(n) is not None for n in needed):
            continue
        out[name] = ", ".join(f"`{n}`" for n in needed) if needed else "folded into a `const`"
    return out


# -- conversion ----------------------------------------------------------------------------


def load_onnx(
    source: Any,
    *,
    input_shapes: Mapping[str, Sequence[Any]] | None = None,
    name: str | None = None,
    cut_unsupported: bool = False,
) -> Graph:
    """Lower an ONNX model (path, bytes or ``onnx.ModelProto``) into an IR graph.

    ``input_shapes`` maps graph input names to shapes that replace the declared ones
    (ints, symbol names, or ``None``/``-1``/``"?"`` for unknown). ``name`` names the graph
    (default: the ONNX graph name, else the file stem). ``cut_unsupported``: instead of
    refusing main-graph nodes infercc cannot lower, cut them out
    (:func:`compiler.frontends.onnx.cut.cut_nodes`; the new interface values are listed in
    ``metadata["cut_inputs"]`` / ``["cut_outputs"]``); the graph is then for statistics.
    """
    model, label = read_model(source)
    _check_text_fields(model, label)
    opset = default_opset(model)
    if model.functions:
        model = _inline_functions(model, label)
    missing = unsupported_ops(model)
    cut: tuple[list[str], list[str]] | None = None
    if missing and cut_unsupported:
        from .cut import cut_nodes

        model, *cut = cut_nodes(model, label, missing,
                                {n for nodes in missing.values() for n in nodes})
        missing = {}
    if missing:
        raise UnsupportedOpsError(
            label,
            missing,
            "Run `infercc ops` for the op set infercc supports; ops from other domains "
            "(ai.onnx.ml, com.microsoft, ...) are not supported.",
        )
    if name is None:
        name = model.graph.name or (Path(label).stem if label.endswith(".onnx") else "main")
    conv = _Converter(model, label, opset)
    try:
        graph = conv.convert_main(name, dict(input_shapes or {}))
    except InferccError:
        raise
    except RecursionError:
        raise OnnxImportError(f"{label}: subgraphs nest too deeply to import") from None
    graph.metadata["source_format"] = "onnx"
    graph.metadata["onnx_opset"] = str(opset)
    if cut:
        graph.metadata["cut_inputs"], graph.metadata["cut_outputs"] = map(",".join, cut)
    if model.producer_name:
        graph.metadata["producer"] = f"{model.producer_name} {model.producer_version}".strip()
    return graph


def _inline_functions(model: Any, label: str) -> Any:
    import onnx.inliner

    try:
        return onnx.inliner.inline_local_functions(model)
    except Exception as e:
        raise OnnxImportError(f"{label}: cannot inline the model's local functions: {e}") from None


class _Scope:
    """ONNX value names of one (sub)graph -> IR values, with capture of outer values."""

    def __init__(self, graph: Graph, parent: _Scope | None):
        self.graph = graph
        self.parent = parent
        self.values: dict[str, Value] = {}
        # (outer value in the parent graph, the subgraph input standing for it)
        self.captures: list[tuple[Value, Value]] = []

    def resolve(self, name: str, where: str) -> Value:
        v = self.values.get(name)
        if v is not None:
            return v
        if self.parent is None:
            raise OnnxImportError(f"{where}: input '{name}' is not defined by any node, input or initializer")
        outer = self.parent.resolve(name, where)
        inner = add_fresh_input(self.graph, outer.name, outer.type)
        self.captures.append((outer, inner))
        self.values[name] = inner
        return inner


class _Converter:
    def __init__(self, model: Any, label: str, opset: int):
        self.model = model
        self.label = label
        self.opset = opset
        self.declared: dict[str, Any] = {}  # value name -> onnx TypeProto declared by the model
        self._inferred: dict[str, Any] | None = None  # from onnx shape inference (lazy)
        self.used_names = _used_names(model.graph)
        self.orphans: list[Value] = []  # consts normalization stopped reading
        self._collect_declared(model.graph)

    # -- declared types ---------------------------------------------------------------------
    def _collect_declared(self, g: Any) -> None:
        for vi in list(g.value_info) + list(g.output):
            if vi.type.HasField("tensor_type"):
                self.declared.setdefault(vi.name, vi.type)
        for node in g.node:
            for a in node.attribute:
                if a.HasField("g"):
                    self._collect_declared(a.g)
                for sub in a.graphs:
                    self._collect_declared(sub)

    def inferred_types(self) -> dict[str, Any]:
        """Value types from ONNX's own shape inference (computed on first need)."""
        if self._inferred is None:
            import onnx

            self._inferred = {}
            try:
                m = onnx.shape_inference.infer_shapes(self.model, check_type=False, strict_mode=False, data_prop=True)
            except Exception as e:  # inference is a fallback; its failure is not fatal
                log.debug("onnx shape inference failed on %s: %s", self.label, e)
                return self._inferred
            stack = [m.graph]
            while stack:
                g = stack.pop()
                for vi in list(g.value_info) + list(g.output):
                    if vi.type.HasField("tensor_type"):
                        self._inferred.setdefault(vi.name, vi.type)
                for node in g.node:
                    for a in node.attribute:
                        if a.HasField("g"):
                            stack.append(a.g)
                        stack.extend(a.graphs)
        return self._inferred

    def tensor_type(self, tp: Any, where: str, shape_override: Sequence[Any] | None = None) -> TensorType:
        if not tp.HasField("tensor_type"):
            kind = tp.WhichOneof("value") or "undefined"
            raise OnnxImportError(
                f"{where}: has {kind.replace('_type', '')} type; infercc supports tensor values only"
            )
        tt = tp.tensor_type
        dtype = dtype_of(tt.elem_type, where)
        if shape_override is not None:
            shape = tuple(UNKNOWN_DIM if d is None else d for d in shape_override)
        elif not tt.HasField("shape"):
            shape = None
        else:
            shape = tuple(
                int(d.dim_value) if d.HasField("dim_value") else (d.dim_param or UNKNOWN_DIM)
                for d in tt.shape.dim
            )
        return TensorType(dtype, shape)

    def declared_type(self, name: str, where: str, *, infer: bool) -> TensorType | None:
        tp = self.declared.get(name)
        guessed = False
        if tp is None and infer:
            tp = self.inferred_types().get(name)
            guessed = True
        if tp is None:
            return None
        try:
            t = self.tensor_type(tp, where)
        except OnnxImportError:
            return None
        if guessed and t.shape is not None:
            # ONNX's inference invents "unk__<n>" symbols for dims it does not know
            t = t.with_shape(tuple(UNKNOWN_DIM if isinstance(d, str) and d.startswith("unk__") else d
                                   for d in t.shape))
        return t

    # -- graphs -----------------------------------------------------------------------------
    def convert_main(self, name: str, input_shapes: dict[str, Sequence[Any]]) -> Graph:
        gp = self.model.graph
        graph = Graph(name)
        scope = _Scope(graph, None)
        init_names = {t.name for t in gp.initializer} | {s.values.name for s in gp.sparse_initializer}
        real_inputs = [vi for vi in gp.input if vi.name not in init_names]
        unknown = sorted(set(input_shapes) - {vi.name for vi in real_inputs})
        if unknown:
            raise ModelLoadError(
                f"{self.label}: input_shapes names {', '.join(unknown)}, but the model's inputs "
                f"are {', '.join(vi.name for vi in real_inputs) or '(none)'}"
            )
        for vi in real_inputs:
            t = self.tensor_type(vi.type, f"{self.label}: graph input '{vi.name}'", input_shapes.get(vi.name))
            scope.values[vi.name] = graph.add_input(vi.name, t)
        self.convert_body(gp, scope)
        return graph

    def convert_body(self, gp: Any, scope: _Scope) -> None:
        """Initializers, nodes and outputs of ``gp`` into ``scope.graph`` (inputs exist)."""
        graph = scope.graph
        for t in gp.initializer:
            arr, ty = self.tensor_array(t, f"{self.label}: initializer '{t.name}'")
            scope.values[t.name] = graph.add_const(arr, t.name, source=(t.name,), type=ty)
        for st in gp.sparse_initializer:
            arr, ty = self.sparse_array(st, f"{self.label}: sparse initializer '{st.values.name}'")
            scope.values[st.values.name] = graph.add_const(arr, st.values.name, source=(st.values.name,), type=ty)
        for node in _topo_order(gp, set(scope.values), f"{self.label}: graph '{gp.name}'"):
            self.convert_node(node, scope)
        outs = []
        for vi in gp.output:
            outs.append(scope.resolve(vi.name, f"{self.label}: graph output '{vi.name}'"))
        graph.outputs = outs
        self._refine_outputs(gp, outs)
        for v in [v for v in self.orphans if v.graph is graph]:
            if not v.has_uses and v.producer in graph.nodes:
                graph.erase_node(v.producer)
        self.orphans = [v for v in self.orphans if v.graph is not None and v.graph is not graph]

    def _refine_outputs(self, gp: Any, outs: list[Value]) -> None:
        # graph outputs declared with symbolic dims (e.g. "N") keep them where inference
        # only knows "?"
        for vi, v in zip(gp.output, outs):
            if v.producer is None or not vi.type.HasField("tensor_type"):
                continue
            try:
                t = self.tensor_type(vi.type, vi.name)
            except OnnxImportError:
                continue
            v.type = _refine(v.type, t)

    # -- nodes ------------------------------------------------------------------------------
    def convert_node(self, node: Any, scope: _Scope) -> None:
        from .normalize import NodeView, normalize

        label = node_label(node)
        where = f"{self.label}: node '{label}' ({node.op_type})"
        if node.op_type == "Constant":
            self.convert_constant(node, scope, label, where)
            return
        inputs = [None if not n else scope.resolve(n, where) for n in node.input]
        while inputs and inputs[-1] is None:
            inputs.pop()
        _check_input_count(node, len(inputs), inputs[0] is not None if inputs else False,
                           self.opset, where)
        outputs = list(node.output)
        while outputs and not outputs[-1]:
            outputs.pop()
        attrs: dict[str, Any] = {}
        expected = _onnx_attr_types(node.op_type, self.opset)
        for a in node.attribute:
            _check_attr_type(a, expected.get(a.name), node.op_type, where)
            attrs[a.name] = self.attr_value(a, node, scope, label, where)
        view = NodeView(self, scope, node, label, where, inputs, attrs, outputs)
        results = normalize(view)
        if results is None:
            results = self.emit(view, view.ir_op, view.inputs, view.attrs, view.outputs).outputs
        for oname, v in zip(view.outputs, results):
            if oname:
                scope.values[oname] = v

    def emit(
        self,
        view: Any,
        op: str,
        inputs: Sequence[Value | None],
        attrs: dict[str, Any],
        out_names: Sequence[str],
    ) -> Node:
        """Add one IR node for ``view``'s ONNX node, with checked attributes and types."""
        scope: _Scope = view.scope
        graph = scope.graph
        inputs = list(inputs)
        while inputs and inputs[-1] is None:
            inputs.pop()
        where = view.where
        schema = get_schema(op)
        if schema is None:  # unsupported_ops() ran first, so this is an internal mapping gap
            raise OnnxImportError(f"{where}: maps to IR op '{op}', which infercc does not define")
        attrs = self._fit_attrs(view, schema, attrs)
        n_out = max(len(out_names), 1)
        problems = check_arity(schema, len(inputs), n_out)
        if problems:
            raise OnnxImportError(f"{where}: does not fit IR op '{op}': {'; '.join(problems)}")
        names = [n if n else f"{sanitize_name(view.label)}_unused{i}" for i, n in enumerate(out_names)]
        if not names:
            names = [f"{sanitize_name(view.label)}_out"]
        types = self._output_types(view, op, inputs, attrs, names, n_out)
        return graph.add_node(op, inputs, attrs, out_types=types, names=names, source=(view.label,))

    def _fit_attrs(self, view: Any, schema: Any, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = [k for k in attrs if k not in schema.attrs]
        if unknown:
            defaults = _onnx_attr_defaults(view.node.op_type, self.opset)
            for k in unknown:
                # an attribute left at ONNX's default carries no information
                if k in defaults and _same_attr(defaults[k], attrs[k]):
                    log.debug("%s: dropping attribute %s at its default", view.where, k)
                    attrs = {kk: vv for kk, vv in attrs.items() if kk != k}
            unknown = [k for k in attrs if k not in schema.attrs]
        if unknown:
            raise OnnxImportError(
                f"{view.where}: attribute(s) {', '.join(sorted(unknown))} are not supported by "
                f"IR op '{schema.name}' (it takes: {', '.join(sorted(schema.attrs)) or 'none'})"
            )
        try:
            schema.resolve_attrs(attrs)
        except SchemaError as e:
            raise OnnxImportError(f"{view.where}: {e}") from None
        bad = schema.check_attr_types(attrs)
        if bad:
            raise OnnxImportError(f"{view.where}: {'; '.join(bad)}")
        return attrs

    def _output_types(
        self, view: Any, op: str, inputs: list, attrs: dict, names: list[str], n_out: int
    ) -> list[TensorType]:
        try:
            types = list(infer_types(op, inputs, attrs, num_outputs=n_out))[:n_out]
            err = None
        except Exception as e:  # fall back to what the model declares
            types, err = [], e
        out: list[TensorType] = []
        for i, name in enumerate(names):
            declared = self.declared_type(name, view.where, infer=i >= len(types))
            if i < len(types):
                out.append(_refine(types[i], declared) if declared is not None else types[i])
            elif declared is not None:
                out.append(declared)
            else:
                why = f"{type(err).__name__}: {err}" if err else "the op's inference gave no type"
                raise OnnxImportError(
                    f"{view.where}: cannot determine the type of output '{name}' ({why}); "
                    "give the model's value_info for it or fix the input shapes (input_shapes=...)"
                )
        if err is not None:
            log.debug("%s: inference failed (%s); used declared types", view.where, err)
        return out

    def convert_constant(self, node: Any, scope: _Scope, label: str, where: str) -> None:
        if len(node.attribute) != 1:
            raise OnnxImportError(f"{where}: a Constant needs exactly one value attribute")
        a = node.attribute[0]
        ty = None
        if a.name == "value":
            arr, ty = self.tensor_array(a.t, where)
        elif a.name == "sparse_value":
            arr, ty = self.sparse_array(a.sparse_tensor, where)
        elif a.name == "value_float":
            arr = np.array(a.f, dtype=np.float32)
        elif a.name == "value_floats":
            arr = np.array(list(a.floats), dtype=np.float32)
        elif a.name == "value_int":
            arr = np.array(a.i, dtype=np.int64)
        elif a.name == "value_ints":
            arr = np.array(list(a.ints), dtype=np.int64)
        elif a.name == "value_string":
            arr = np.array(a.s.decode("utf-8"), dtype=object)
        elif a.name == "value_strings":
            arr = np.array([s.decode("utf-8") for s in a.strings], dtype=object)
        else:
            raise OnnxImportError(f"{where}: unknown Constant attribute '{a.name}'")
        out = node.output[0]
        scope.values[out] = scope.graph.add_const(arr, out, source=(label,), type=ty)

    # -- tensors and attributes -------------------------------------------------------------
    def tensor_array(self, t: Any, where: str) -> tuple[Any, TensorType]:
        from onnx import numpy_helper

        dtype = dtype_of(t.data_type, where)
        try:
            arr = numpy_helper.to_array(t)
        except Exception as e:
            raise OnnxImportError(f"{where}: cannot read tensor data ({e})") from None
        if dtype in (DType.I4, DType.U4):
            arr = arr.astype(dtype.numpy)
        elif dtype == DType.STR:
            arr = np.array([x.decode("utf-8") if isinstance(x, bytes) else x for x in arr.ravel()],
                           dtype=object).reshape(arr.shape)
        elif dtype != DType.BF16:
            arr = np.asarray(arr, dtype=dtype.numpy)
        return arr, TensorType(dtype, tuple(int(d) for d in arr.shape))

    def sparse_array(self, st: Any, where: str) -> tuple[Any, TensorType]:
        import scipy.sparse as sp

        values, vty = self.tensor_array(st.values, where)
        indices, _ = self.tensor_array(st.indices, where)
        dims = tuple(int(d) for d in st.dims)
        nnz = values.shape[0] if values.ndim else 0
        if indices.ndim == 1:  # linearized indices
            coords = np.unravel_index(indices.astype(np.int64), dims) if nnz else tuple(
                np.zeros(0, np.int64) for _ in dims
            )
        else:
            coords = tuple(indices[:, k].astype(np.int64) for k in range(len(dims)))
        ty = TensorType(vty.dtype, dims)
        if len(dims) == 2 and vty.dtype.is_float:
            return sp.coo_matrix((values, coords), shape=dims), ty
        dense = np.zeros(dims, dtype=values.dtype)
        dense[coords] = values
        return dense, ty

    def attr_value(self, a: Any, node: Any, scope: _Scope, label: str, where: str) -> Any:
        import onnx

        A = onnx.AttributeProto
        if a.ref_attr_name:
            raise OnnxImportError(f"{where}: attribute '{a.name}' refers to a function attribute")
        t = a.type
        if t == A.FLOAT:
            return float(a.f)
        if t == A.INT:
            return int(a.i)
        if t == A.STRING:
            return a.s.decode("utf-8", "replace")
        if t == A.TENSOR:
            return self.tensor_array(a.t, f"{where} attribute '{a.name}'")[0]
        if t == A.SPARSE_TENSOR:
            arr = self.sparse_array(a.sparse_tensor, f"{where} attribute '{a.name}'")[0]
            return arr.toarray() if hasattr(arr, "toarray") else arr
        if t == A.FLOATS:
            return [float(x) for x in a.floats]
        if t == A.INTS:
            return [int(x) for x in a.ints]
        if t == A.STRINGS:
            return [s.decode("utf-8", "replace") for s in a.strings]
        if t == A.TENSORS:
            return [self.tensor_array(x, f"{where} attribute '{a.name}'")[0] for x in a.tensors]
        if t == A.GRAPH:
            return a.g  # converted by the control-flow normalizers, which know the inputs
        kind = A.AttributeType.Name(t) if t in A.AttributeType.values() else f"#{t} (unknown to ONNX)"
        raise OnnxImportError(
            f"{where}: attribute '{a.name}' has type {kind}, which infercc does not support"
        )

    def convert_subgraph(
        self,
        gp: Any,
        parent: _Scope,
        formal: Sequence[TensorType | None],
        name: str,
        where: str,
    ) -> tuple[Graph, list[Value]]:
        """Convert a subgraph; returns it and the outer values it captures (in input order).

        ``formal`` gives a fallback type for each declared subgraph input whose own type in
        the model is missing or incomplete (None: the declared type is required).
        """
        graph = Graph(name)
        scope = _Scope(graph, parent)
        if len(gp.input) != len(formal):
            raise OnnxImportError(
                f"{where}: subgraph '{gp.name}' has {len(gp.input)} inputs, expected {len(formal)}"
            )
        for vi, fallback in zip(gp.input, formal):
            t = None
            if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type:
                t = self.tensor_type(vi.type, f"{where}: subgraph input '{vi.name}'")
                if fallback is not None and t.shape is None:
                    t = t.with_shape(fallback.shape)
            elif fallback is not None:
                t = fallback
            if t is None:
                raise OnnxImportError(f"{where}: subgraph input '{vi.name}' has no tensor type")
            scope.values[vi.name] = add_fresh_input(graph, vi.name, t)
        self.convert_body(gp, scope)
        return graph, [outer for outer, _ in scope.captures]


# -- helpers -------------------------------------------------------------------------------


def add_fresh_input(graph: Graph, hint: str, type: TensorType) -> Value:
    """A new graph input named ``hint``, or ``hint_<k>`` when that name is taken."""
    return graph.add_input(graph.fresh_name(hint), type)


def _refine(inferred: TensorType, declared: TensorType | None) -> TensorType:
    """``inferred`` with unknown dims filled from a compatible ``declared`` type."""
    if declared is None or declared.dtype != inferred.dtype:
        return inferred
    if inferred.shape is None:
        return inferred.with_shape(declared.shape) if declared.shape is not None else inferred
    if declared.shape is None or len(declared.shape) != len(inferred.shape):
        return inferred
    if not types_compatible(declared, inferred):
        return inferred
    shape = tuple(
        d if (i == UNKNOWN_DIM and d != UNKNOWN_DIM) else i
        for i, d in zip(inferred.shape, declared.shape)
    )
    return TensorType(inferred.dtype, shape, inferred.quant)


def _used_names(g: Any) -> set[str]:
    used = {o.name for o in g.output}
    for node in walk_nodes(g):
        used.update(n for n in node.input if n)
    stack = [g]
    while stack:
        sub = stack.pop()
        used.update(o.name for o in sub.output)
        for node in sub.node:
            for a in node.attribute:
                if a.HasField("g"):
                    stack.append(a.g)
                stack.extend(a.graphs)
    return used


def _topo_order(gp: Any, known: set[str], where: str) -> list[Any]:
    """The graph's nodes in a valid order (ONNX requires one; some exporters break it).

    Raises :class:`OnnxImportError` naming the nodes of a cycle when there is none."""
    nodes = list(gp.node)
    produced: dict[str, int] = {}
    for i, n in enumerate(nodes):
        for o in n.output:
            if o:
                produced[o] = i
    need_sort = False
    for i, n in enumerate(nodes):
        for name in _node_reads(n):
            j = produced.get(name)
            if j is not None and j >= i and name not in known:
                need_sort = True
                break
        if need_sort:
            break
    if not need_sort:
        return nodes
    import heapq

    deps = [{produced[x] for x in _node_reads(n) if x in produced and x not in known} - {i} for i, n in enumerate(nodes)]
    users: dict[int, list[int]] = {}
    for i, d in enumerate(deps):
        for j in d:
            users.setdefault(j, []).append(i)
    indeg = [len(d) for d in deps]
    heap = [i for i, d in enumerate(indeg) if d == 0]
    heapq.heapify(heap)
    order = []
    while heap:
        i = heapq.heappop(heap)
        order.append(nodes[i])
        for u in users.get(i, ()):
            indeg[u] -= 1
            if indeg[u] == 0:
                heapq.heappush(heap, u)
    if len(order) != len(nodes):
        cycle = _find_cycle(deps, [i for i, d in enumerate(indeg) if d > 0])
        names = [f"'{node_label(nodes[i])}'" for i in cycle]
        shown = " -> ".join(names[:8]) + (f" -> ... ({len(names)} nodes)" if len(names) > 8 else "")
        raise OnnxImportError(
            f"{where}: the nodes {shown} -> {names[0]} read each other's outputs in a cycle; "
            "an ONNX graph must be acyclic: re-export the model"
        )
    return order


def _find_cycle(deps: list[set[int]], stuck: list[int]) -> list[int]:
    """The node indices of one cycle, in data-flow order, among ``stuck`` (the nodes a
    topological sort could not place; each of them depends on another stuck node)."""
    left = set(stuck)
    path: list[int] = []
    seen: dict[int, int] = {}
    i = stuck[0]
    while i not in seen:
        seen[i] = len(path)
        path.append(i)
        i = min(j for j in deps[i] if j in left)
    return list(reversed(path[seen[i]:]))


def _node_reads(node: Any) -> set[str]:
    """Names a node reads, including those its subgraphs read from outside."""
    reads = {n for n in node.input if n}
    for a in node.attribute:
        subs = ([a.g] if a.HasField("g") else []) + list(a.graphs)
        for g in subs:
            local = {i.name for i in g.input} | {t.name for t in g.initializer}
            for n in g.node:
                local.update(o for o in n.output if o)
            for n in g.node:
                reads.update(x for x in _node_reads(n) if x not in local)
            reads.update(o.name for o in g.output if o.name not in local)
    return reads


_ATTR_TYPES_CACHE: dict[tuple[str, int], dict[str, int]] = {}


def _onnx_attr_types(op_type: str, opset: int) -> dict[str, int]:
    """Attribute name -> ``AttributeProto.AttributeType`` that ONNX declares for ``op_type``
    at ``opset`` (empty for an op or opset ONNX does not know)."""
    key = (op_type, opset)
    if key not in _ATTR_TYPES_CACHE:
        import onnx

        try:
            schema = onnx.defs.get_schema(op_type, opset)
            _ATTR_TYPES_CACHE[key] = {n: int(a.type) for n, a in schema.attributes.items()}
        except Exception as e:  # an unknown op/opset has no declared types to check against
            log.debug("no ONNX schema for %s-%d: %s", op_type, opset, e)
            _ATTR_TYPES_CACHE[key] = {}
    return _ATTR_TYPES_CACHE[key]


_MIN_INPUTS_CACHE: dict[tuple[str, int], tuple[int, bool]] = {}


def _check_input_count(node: Any, count: int, has_first: bool, opset: int, where: str) -> None:
    """Refuse a node of a standard ONNX op with fewer inputs than ONNX requires of it at
    ``opset``, or without a first input ONNX requires, before a lowering rule reads them.
    (Later required inputs are given empty by some exporters; the IR op's own arity check
    catches those that matter.)"""
    if node.domain not in ("", "ai.onnx"):
        return
    key = (node.op_type, opset)
    if key not in _MIN_INPUTS_CACHE:
        import onnx

        try:
            schema = onnx.defs.get_schema(node.op_type, opset)
            single = onnx.defs.OpSchema.FormalParameterOption.Single
            first_required = bool(schema.inputs) and schema.inputs[0].option == single
            _MIN_INPUTS_CACHE[key] = (int(schema.min_input), first_required)
        except Exception as e:  # an op ONNX does not know: unsupported_ops() reports it
            log.debug("no ONNX schema for %s-%d: %s", node.op_type, opset, e)
            _MIN_INPUTS_CACHE[key] = (0, False)
    needed, first_required = _MIN_INPUTS_CACHE[key]
    if count < needed or (first_required and not has_first):
        got = f"{count} input(s)" if count < needed else "an empty name for its first input"
        raise OnnxImportError(
            f"{where}: has {got}, but {node.op_type}-{opset} needs at least {needed}; the "
            "model is malformed: re-export it"
        )


def _check_attr_type(a: Any, expected: int | None, op_type: str, where: str) -> None:
    """Refuse an attribute whose type differs from the one ONNX declares for it (an ``INTS``
    ``to`` of a Cast, a ``STRING`` Loop ``body``), before its value is read."""
    import onnx

    if expected is None or a.type == expected:
        return
    names = onnx.AttributeProto.AttributeType
    got = names.Name(a.type) if a.type in names.values() else f"#{a.type}"
    raise OnnxImportError(
        f"{where}: attribute '{a.name}' has type {got}, but {op_type} takes a "
        f"{names.Name(expected)} there; the model is malformed: re-export it"
    )


_DEFAULTS_CACHE: dict[tuple[str, int], dict[str, Any]] = {}


def _onnx_attr_defaults(op_type: str, opset: int) -> dict[str, Any]:
    """ONNX's default attribute values for ``op_type`` at ``opset`` (python values)."""
    key = (op_type, opset)
    if key in _DEFAULTS_CACHE:
        return _DEFAULTS_CACHE[key]
    import onnx
    from onnx import helper

    out: dict[str, Any] = {}
    try:
        schema = onnx.defs.get_schema(op_type, opset)
        for name, attr in schema.attributes.items():
            if attr.default_value is not None and attr.default_value.type != 0:
                v = helper.get_attribute_value(attr.default_value)
                if isinstance(v, bytes):
                    v = v.decode("utf-8", "replace")
                elif isinstance(v, list):
                    v = [x.decode("utf-8", "replace") if isinstance(x, bytes) else x for x in v]
                out[name] = v
    except Exception as e:  # an unknown op/opset just has no defaults to compare with
        log.debug("no ONNX schema defaults for %s-%d: %s", op_type, opset, e)
    _DEFAULTS_CACHE[key] = out
    return out


def _same_attr(a: Any, b: Any) -> bool:
    try:
        if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
            return list(a) == list(b)
        return a == b
    except Exception:
        return False


__all__ = ["OnnxImportError", "load_onnx", "node_label", "read_model", "supported_ops", "unsupported_ops"]
