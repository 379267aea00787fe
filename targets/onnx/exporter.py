"""IR graph -> ONNX model that onnxruntime runs.

Contract of :func:`export_onnx`:

* The model imports the default domain at ``opset``; by default (:func:`default_opset`) at
  the source model's opset when the graph records one (``graph.metadata["onnx_opset"]``,
  set by the ONNX frontend) and it is at least :data:`MIN_SOURCE_OPSET`, else at
  :data:`ORT_OPSET` (21, the newest opset onnxruntime runs every op of). IR ops follow the
  latest ONNX opset's semantics, so the graph is built at the newest opset the installed
  ``onnx`` knows and converted down with ``onnx.version_converter`` (nodes that mean the
  same at the lower opset unchanged skip the converter, which lacks down-adapters for many
  of them; see :func:`_lower`). An op not defined at a requested opset, or an attribute value
  it does not know yet, is an :class:`OnnxExportError` naming the op and its node; where only the
  source opset was the default and it cannot express the graph (a pass fused ops into one
  of a later opset), :data:`ORT_OPSET` is used instead, with a warning.
* The IR version is the lowest that the opset needs (``onnx.helper.VERSION_TABLE``), so
  readers of that opset's era load the file.
* Value names are the IR's, except names that onnxruntime's graph optimizers give the
  initializers they create (:data:`ORT_GENERATED_NAMES`): onnxruntime picks those with its
  node-name generator, which does not look at value names, so a model value of the same
  name makes the session fail to load ("Attempt to replace the existing tensor"). Such a
  value is written as ``<name>_1`` (the first free variant); ``renamed`` tells the caller.
* IR op names go back to ONNX op types through ``compiler.ops.onnx_names.inverse_table()``;
  attributes are typed by the ONNX schema of the op (INT, FLOAT, STRING, lists, TENSOR,
  GRAPH). Attributes left unset in the IR are left unset in ONNX (ONNX applies the same
  defaults, since IR ops share ONNX's defaults).
* ``const`` nodes become initializers that keep their value names (constants nothing reads
  are left out); scipy.sparse constants are densified (see :func:`targets.onnx.tensors.dense`
  for why).
* The IR-only ``activation`` attribute (conv, conv_transpose, gemm, matmul, add, sub, mul,
  div) is split out into a separate Relu / Clip(0,6) / Clip(-1,1) / Tanh / Sigmoid node that
  produces the IR output name; the op itself writes ``<name>_preact``.
* Control flow: ``if``/``loop``/``scan`` take their captured outer values as explicit trailing
  inputs (``if``: every input after the condition; ``loop``/``scan``: the last
  ``num_captures``). ONNX captures implicitly, so those inputs are dropped and the subgraph
  reads the outer value's ONNX name directly. Subgraph values that would clash with a name
  elsewhere in the model are renamed (ONNX wants names unique across nesting levels).
* Symbolic dims become ``dim_param``, ``"?"`` an unknown dim, unknown rank no shape.
  Type-level quantization parameters are dropped: Q/DQ nodes carry the real ones.
* Node names come from provenance (``node.source[0]``, else the first output name),
  deduplicated; when a node came from several layers the full list is in its ``doc_string``.
* ``producer_name`` is "infercc", ``producer_version`` ``compiler._version.__version__``; the graph's
  metadata becomes ``metadata_props``.
* Every op, attribute or dtype the exporter cannot express is collected and reported at once
  in :class:`OnnxExportError` (op and source layer of each node) before anything is written.
* The model passes ``onnx.checker.check_model(full_check=True)`` (type and shape inference
  included) before it is written; writes are atomic (temporary file + ``os.replace``), so a
  failed export leaves neither a partial model nor a temporary file behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compiler.errors import InferccError
from compiler.ir.graph import CONST, Graph, Node, Value
from compiler.ir.types import DType
from compiler.ir.walk import walk_graphs

from . import tensors
from compiler.fileio import atomic_write, temp_beside

log = logging.getLogger(__name__)

# The opset used when the source gives none: the newest one at which onnxruntime 1.32's CPU
# provider has a kernel for every default-domain op. Measured with
#   onnxruntime.capi.onnxruntime_pybind11_state.get_all_opkernel_def()
# against onnx.defs.get_schema(op, opset).since_version, using onnxruntime's matching rule (a
# kernel registered open-ended, "N and later", only serves nodes whose since_version is exactly
# N): at opset 21 only the deprecated Scatter/Upsample lack a kernel; from 22 GlobalLpPool,
# RoiAlign, MaxRoiPool and the Random* ops do (their opset-22 versions have no kernel); from 25
# also Attention; at 28 also QuantizeLinear, DequantizeLinear, ReduceLogSum(Exp) and the
# Optional ops. onnxruntime loads models up to opset 28 and refuses 29, but a model it loads
# and then cannot run is no use, and Q/DQ are central to infercc. The IR follows the newest
# opset's semantics, so the exporter builds the model at onnx's newest opset and lowers it to
# 21 with onnx.version_converter, which refuses (loudly) where a newer form has no opset-21
# equivalent.
ORT_OPSET = 21

# A source model's opset below this is not kept: opset 13 moved the axes of Squeeze,
# Unsqueeze and ReduceSum and the sizes of Split from attributes to inputs, and a model from
# an older opset is written in the current forms instead of being converted back.
MIN_SOURCE_OPSET = 13

# Names onnxruntime 1.32's graph optimizers give the initializers (and a few values) they
# add, taken from the optimizers' sources (onnxruntime/core/optimizer/*.cc, every
# ``GenerateNodeName(...)`` whose result names a value). GenerateNodeName avoids node names
# only; when a model value already has the name, the session fails to load ("Attempt to
# replace the existing tensor": GatherSliceToSplitFusion, which turns the three scalar
# Gathers of an attention's q/k/v into one Split, adds "squeeze_axes" and "splits") or, for
# a non-initializer, silently aliases it. Variants "<name>_token_<n>" are avoided too.
ORT_GENERATED_NAMES = frozenset({
    "squeeze_axes", "splits", "SqueezeAxesInitializer", "UnsqueezeAxesInitializer",
    "SliceAxesInitializer", "ConstAsInitializer", "fused_Split", "gemm_input_shape",
    "gemm_output_shape", "Cast_Scale",
})


def ort_generated(name: str) -> bool:
    """Whether onnxruntime's optimizers may create a value named ``name`` themselves."""
    base, sep, n = name.rpartition("_token_")
    if name in ORT_GENERATED_NAMES:
        return True
    return bool(sep) and n.isdigit() and base in ORT_GENERATED_NAMES


ACTIVATION_OPS = frozenset({"conv", "conv_transpose", "gemm", "matmul", "add", "sub", "mul", "div"})
ACTIVATIONS = ("relu", "relu6", "relu_n1_to_1", "tanh", "sigmoid")
CAPTURING_OPS = frozenset({"if", "loop", "scan"})

# Serialized protobuf messages cannot exceed 2 GiB; bigger models keep tensors in a side file.
PROTOBUF_LIMIT = 2**31 - 1
EXTERNAL_DATA_MARGIN = 64 << 20  # headroom for the graph structure itself


class OnnxExportError(InferccError):
    """The graph cannot be written as ONNX; ``problems`` lists (op, source layer, reason)."""

    def __init__(self, graph_name: str, problems: Sequence[tuple[str, str, str]]):
        self.problems = list(problems)
        lines = [f"cannot export graph @{graph_name} to ONNX: {len(self.problems)} problem(s):"]
        for op, layer, why in self.problems:
            lines.append(f"  {why}" if op == "model" else f"  {op} (layer {layer}): {why}")
        if any(op != "model" for op, _, _ in self.problems):
            lines.append(
                "Rewrite these nodes into ONNX ops first (an infercc pass or a different "
                "pipeline), or use a target that supports them."
            )
        super().__init__("\n".join(lines))


def _model_error(graph_name: str, why: str) -> OnnxExportError:
    return OnnxExportError(graph_name, [("model", "-", why)])


def newest_onnx_opset() -> int:
    import onnx.defs

    return int(onnx.defs.onnx_opset_version())


def source_opset(graph: Graph | None) -> int | None:
    """The default-domain opset ``graph`` was read at (``metadata["onnx_opset"]``), if any."""
    if graph is None:
        return None
    raw = graph.metadata.get("onnx_opset")
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        log.warning("graph @%s: metadata onnx_opset=%r is not an integer; ignored",
                    graph.name, raw)
        return None


def default_opset(graph: Graph | None = None) -> int:
    """The opset :func:`export_onnx` writes when none is given: ``graph``'s source opset
    when it has one of at least :data:`MIN_SOURCE_OPSET` (and at most what both onnx and
    onnxruntime's kernels cover), else :data:`ORT_OPSET`."""
    newest = min(newest_onnx_opset(), ORT_OPSET)
    src = source_opset(graph)
    if src is not None and MIN_SOURCE_OPSET <= src <= newest:
        return src
    return newest


DEFAULT_OPSET = ORT_OPSET  # what default_opset() gives with any onnx that knows opset 21


def ir_version_for(opset: int) -> int:
    """The lowest ONNX IR version that can carry a default-domain ``opset``."""
    from onnx import helper

    return int(helper.find_min_ir_version_for([helper.make_opsetid("", opset)],
                                              ignore_unknown=True))


def export_onnx(
    graph: Graph,
    path: str | os.PathLike | None = None,
    *,
    opset: int | None = None,
    value_info: bool = True,
    external_data: bool | None = None,
    renamed: dict[str, str] | None = None,
) -> Any:
    """Convert ``graph`` to an ``onnx.ModelProto``, check it, and write it to ``path`` if given.

    ``opset``: the default-domain opset (None: :func:`default_opset` of ``graph``).
    ``renamed``, when given, receives IR name -> ONNX name of every main-graph value not
    written under its IR name (see the module doc). ``value_info`` also records the IR's
    types of intermediate values (readers such as the infercc ONNX frontend use them where
    their own inference is weaker). ``external_data``
    stores tensors in ``<path>.data`` next to the model: ``None`` does so only when the model
    would exceed protobuf's 2 GiB limit (a path is then required).
    """

    newest = newest_onnx_opset()
    target = default_opset(graph) if opset is None else int(opset)
    if target > newest:
        raise _model_error(graph.name, f"opset {target} is newer than the installed onnx knows "
                                       f"({newest})")
    if target < 1:
        raise _model_error(graph.name, f"opset {target} does not exist; ONNX opsets start at 1")
    if opset is not None and target > ORT_OPSET:
        log.warning("opset %d: onnxruntime 1.32 lacks CPU kernels for some ops past opset %d "
                    "(see targets.onnx.exporter.ORT_OPSET)", target, ORT_OPSET)
    builder = _Builder(graph, newest, value_info=value_info)
    model = builder.model()
    if renamed is not None:
        renamed.update(builder.renamed)
    if target != newest:
        try:
            model = _lower(builder, model, target)
        except OnnxExportError as e:
            if opset is not None or target == ORT_OPSET:
                raise
            # only the source's opset was the default: the graph has outgrown it
            log.warning("graph @%s: cannot be written at its source opset %d (%s); writing "
                        "opset %d instead", graph.name, target, e.problems[0][2], ORT_OPSET)
            target = ORT_OPSET
            model = _lower(builder, model, target)
    model.ir_version = ir_version_for(target)
    size = _tensor_bytes(model)
    if external_data is None:
        external_data = size > PROTOBUF_LIMIT - EXTERNAL_DATA_MARGIN
        if external_data and path is None:
            raise _model_error(graph.name, f"its tensors hold {size / 2**30:.2f} GiB, more than "
                                           "one ONNX file can; pass a path so they are written "
                                           "to a side file")
    if external_data:
        if path is None:
            raise _model_error(graph.name, "external_data=True needs a path")
        with _write_errors(path):
            _write_external(model, Path(path), graph.name)
        return model
    _check(model, graph.name)
    if path is not None:
        with _write_errors(path):
            atomic_write(path, model.SerializeToString())
        log.info("wrote %s (opset %d, %d nodes)", path, target, len(model.graph.node))
    return model


class OnnxWriteError(InferccError):
    """The model was built but the file could not be written."""


@contextlib.contextmanager
def _write_errors(path: str | os.PathLike) -> Iterator[None]:
    try:
        yield
    except OSError as e:
        why = e.strerror or str(e)
        raise OnnxWriteError(
            f"cannot write the ONNX model to {os.fspath(path)}: {why}; check that the "
            "directory exists, is writable and that the path is not a directory"
        ) from None


# -- checking and writing ------------------------------------------------------------------


def _check(model: Any, graph_name: str, path: Path | None = None) -> None:
    import onnx

    try:
        if _has_rankless_interface(model):
            _check_rankless(model)
        else:
            onnx.checker.check_model(str(path) if path is not None else model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        why = str(e).strip()[:2000]
        raise _model_error(graph_name, f"onnx.checker rejects the exported model: {why}") from None


def _has_rankless_interface(model: Any) -> bool:
    return any(
        vi.type.HasField("tensor_type") and not vi.type.tensor_type.HasField("shape")
        for vi in list(model.graph.input) + list(model.graph.output)
    )


def _check_rankless(model: Any) -> None:
    """The checks that can run when a model input/output has an unknown rank.

    onnx.checker insists on a shape for the main graph's inputs and outputs (onnxruntime
    does not), so an IR graph of unknown-rank interface cannot pass ``check_model``. Each node
    (with its subgraphs) is checked against its schema and ONNX's strict type and shape
    inference runs over the whole model instead; topological order and single assignment hold
    by construction (the IR keeps them).
    """
    import onnx
    from onnx import checker

    log.warning("model %r has an input or output of unknown rank; onnx.checker.check_model "
                "cannot accept that, checking nodes and types only", model.graph.name)
    ctx = checker.C.CheckerContext()
    ctx.ir_version = model.ir_version
    ctx.opset_imports = {o.domain: o.version for o in model.opset_import}
    lex = checker.C.LexicalScopeContext()
    for node in model.graph.node:
        checker.check_node(node, ctx, lex)
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)


# Ops whose meaning changed between versions in ways a node's inputs and attributes do not
# show (GridSample 20 renamed its modes, ScatterElements/ScatterND 18 added reductions, DFT
# 20 and RoiAlign 16 changed attribute defaults): these always go through
# onnx.version_converter's adapters.
_SEMANTIC_CHANGES = frozenset({"GridSample", "ScatterElements", "ScatterND", "DFT", "RoiAlign"})
# Attribute values added by a later version: (op, attribute) -> {value: opset}.
_LATER_VALUES = {
    ("Pad", "mode"): {b"wrap": 19},
    ("Resize", "coordinate_transformation_mode"): {b"half_pixel_symmetric": 19},
}
_KEEP_DOMAIN = "ai.infercc.unchanged"  # private, only while the converter runs


def _lower(builder: _Builder, model: Any, opset: int) -> Any:
    """``model`` (built at onnx's newest opset) converted down to ``opset``.

    onnx.version_converter lacks down-adapters for many ops whose later versions only
    widened element types or added optional inputs and attributes (Relu 14 -> 13, Pad 18 ->
    17, ...). A node that uses only what the older version has (see :func:`_fits_older`) is
    parked in a private domain while the converter runs and then written unchanged at
    ``opset``; the checker afterwards confirms its types are allowed there.
    """
    from onnx import helper

    builder.require_opset(model, opset)
    newest = newest_onnx_opset()
    parked = [n for n in _all_nodes(model.graph) if _fits_older(n, opset, newest)]
    for n in parked:
        n.domain = _KEEP_DOMAIN
    if parked:
        model.opset_import.append(helper.make_opsetid(_KEEP_DOMAIN, 1))
    try:
        out = _convert_version(model, builder.graph.name, opset)
    finally:
        for n in parked:
            n.domain = ""
        _drop_keep_domain(model)
    for n in _all_nodes(out.graph):
        if n.domain == _KEEP_DOMAIN:
            n.domain = ""
    _drop_keep_domain(out)
    return out


def _drop_keep_domain(model: Any) -> None:
    keep = [o for o in model.opset_import if o.domain != _KEEP_DOMAIN]
    del model.opset_import[:]
    model.opset_import.extend(keep)


def _fits_older(node: Any, opset: int, newest: int) -> bool:
    """Whether ``node`` (written at ``newest``) means the same at ``opset`` unchanged: its
    op has another version there, whose inputs and outputs it uses in the same positions,
    whose attributes include the node's and whose values existed then."""
    import onnx.defs

    if node.domain or node.op_type in _SEMANTIC_CHANGES:
        return False
    try:
        lo = onnx.defs.get_schema(node.op_type, opset, "")
        hi = onnx.defs.get_schema(node.op_type, newest, "")
    except onnx.defs.SchemaError:
        return False
    if lo.since_version == hi.since_version:
        return False  # nothing to convert

    def fits(used: int, old: Any, new: Any) -> bool:
        variadic = bool(old) and old[-1].option == onnx.defs.OpSchema.FormalParameterOption.Variadic
        if used > len(old) and not variadic:
            return False
        k = min(used, len(old))
        return [p.name for p in old[:k]] == [p.name for p in new[:k]]

    if not fits(len(node.input), lo.inputs, hi.inputs):
        return False
    if not fits(len(node.output), lo.outputs, hi.outputs):
        return False
    for a in node.attribute:
        if a.name not in lo.attributes:
            return False
        since = _LATER_VALUES.get((node.op_type, a.name), {}).get(a.s)
        if since is not None and opset < since:
            return False
    return True


def _convert_version(model: Any, graph_name: str, opset: int) -> Any:
    import re

    from onnx import version_converter

    try:
        return version_converter.convert_version(model, opset)
    except Exception as e:  # noqa: BLE001 - the converter raises assorted C++ errors
        text = str(e).strip()
        # "No Adapter To Version $17 for Pad": an op whose form changed after ``opset``
        m = re.search(r"No Adapter (?:To|From) Version \$(\d+) for (\w+)", text)
        if m:
            op = m.group(2)
            raise _model_error(graph_name, (
                f"ONNX {op} cannot be written at opset {opset}: onnx.version_converter has "
                f"no adapter to opset {m.group(1)} for it; ask for a later opset")) from None
        why = f"{type(e).__name__}: {text[:500]}"
        raise _model_error(graph_name, f"cannot convert to opset {opset}: {why}") from None


def _tensor_bytes(model: Any) -> int:
    """Bytes of tensor data in ``model`` (initializers and tensor attributes, nested too)."""
    total = 0
    stack = [model.graph]
    while stack:
        g = stack.pop()
        total += sum(t.ByteSize() for t in g.initializer)
        for n in g.node:
            for a in n.attribute:
                if a.HasField("t"):
                    total += a.t.ByteSize()
                if a.HasField("g"):
                    stack.append(a.g)
                stack.extend(a.graphs)
    return total


def _write_external(model: Any, target: Path, graph_name: str) -> None:
    """Model + ``<name>.data`` side file, each replaced atomically (data first)."""
    import onnx
    from onnx import external_data_helper

    location = target.name + ".data"
    data_target = target.with_name(location)
    # work on a copy: converting moves the bytes out of the caller's ModelProto
    m = onnx.ModelProto()
    m.CopyFrom(model)
    external_data_helper.convert_model_to_external_data(
        m, all_tensors_to_one_file=True, location=location, size_threshold=1024)
    import tempfile

    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        tmp_model = work / target.name
        onnx.save_model(m, str(tmp_model))
        _check(m, graph_name, tmp_model)
        if (work / location).exists():
            os.replace(work / location, data_target)
        with temp_beside(target) as tmp:
            os.replace(tmp_model, tmp)
            os.replace(tmp, target)
    finally:
        for p in work.iterdir():
            p.unlink()
        work.rmdir()


# -- building ------------------------------------------------------------------------------


@dataclass
class _Scope:
    """One graph being written: IR value -> ONNX name, and the pieces of its GraphProto."""

    graph: Graph
    names: dict[int, str]
    nodes: list
    initializers: list
    clip_bounds: dict  # (dtype, lo, hi) -> (min name, max name)


class _Builder:
    def __init__(self, graph: Graph, opset: int, *, value_info: bool = True):
        from compiler.ops.onnx_names import inverse_table

        self.graph = graph
        self.value_info_wanted = value_info
        self.opset = opset
        self.table = inverse_table()
        self.problems: list[tuple[str, str, str]] = []
        # every IR name anywhere, so fresh names never collide with one assigned later
        self.reserved: set[str] = set()
        _collect_names(graph, self.reserved)
        self.assigned: set[str] = set()
        self.renamed: dict[str, str] = {}  # main-graph IR name -> ONNX name, where they differ
        self.node_names: set[str] = set()
        self._schemas: dict[str, Any] = {}

    # -- names ------------------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        """A value name not used anywhere in the IR or the model so far."""
        name, k = hint, 0
        while name in self.reserved or name in self.assigned or ort_generated(name):
            k += 1
            name = f"{hint}_{k}"
        self.assigned.add(name)
        return name

    def claim(self, v: Value, scope: _Scope, *, interface: bool = False) -> str:
        """``v``'s IR name if still free model-wide (and, unless ``v`` is part of the
        model's interface, not one onnxruntime's optimizers create), else a fresh variant."""
        name = v.name
        if name in self.assigned or (not interface and ort_generated(name)):
            name = self.fresh(name)
            if scope.graph is self.graph:
                self.renamed[v.name] = name
        else:
            self.assigned.add(name)
        scope.names[id(v)] = name
        return name

    def node_name(self, hint: str) -> str:
        name, k = hint, 0
        while name in self.node_names:
            k += 1
            name = f"{hint}_{k}"
        self.node_names.add(name)
        return name

    def problem(self, node: Node, why: str) -> None:
        self.problems.append((node.op, node.label, why))

    def onnx_schema(self, op_type: str) -> Any:
        import onnx.defs

        if op_type not in self._schemas:
            try:
                self._schemas[op_type] = onnx.defs.get_schema(op_type, self.opset, "")
            except onnx.defs.SchemaError:  # not defined (yet) at this opset
                self._schemas[op_type] = None
        return self._schemas[op_type]

    # -- model ------------------------------------------------------------------------------
    def model(self) -> Any:
        from onnx import helper

        from compiler._version import __version__

        scope = _Scope(self.graph, {}, [], [], {})
        # main-graph names first: they are the model's interface and keep their IR spelling
        interface = {id(v) for v in list(self.graph.inputs) + list(self.graph.outputs)}
        for v in self.graph.values():
            self.claim(v, scope, interface=id(v) in interface)
        gp = self.graph_proto(scope, n_captured=0, top=True)
        if self.problems:
            raise OnnxExportError(self.graph.name, self.problems)
        opsets = [helper.make_opsetid("", self.opset)]
        model = helper.make_model(gp, opset_imports=opsets, producer_name="infercc",
                                  producer_version=__version__)
        model.ir_version = helper.find_min_ir_version_for(opsets, ignore_unknown=True)
        if self.graph.metadata:
            helper.set_model_props(model, {str(k): str(v) for k, v in self.graph.metadata.items()})
        return model

    def require_opset(self, model: Any, opset: int) -> None:
        """Raise :class:`OnnxExportError` naming each node whose op ``opset`` lacks."""
        import onnx.defs

        problems = []
        for n in _all_nodes(model.graph):
            for a in n.attribute:
                since = _LATER_VALUES.get((n.op_type, a.name), {}).get(a.s)
                if not n.domain and since is not None and opset < since:
                    value = a.s.decode()
                    problems.append(("model", "-", f"ONNX {n.op_type} (node {n.name}) has "
                                                   f"{a.name}={value!r}, which needs opset >= "
                                                   f"{since}; ask for opset {since} or later"))
            if n.domain or _defined_at(n.op_type, opset):
                continue
            since = onnx.defs.get_schema(n.op_type, newest_onnx_opset(), "").since_version
            # a "model" problem: the advice to rewrite nodes does not apply, a later opset does
            problems.append(("model", "-", f"ONNX {n.op_type} (node {n.name}) needs opset >= "
                                           f"{since}, but opset {opset} was asked for; ask "
                                           f"for opset {since} or later"))
        if problems:
            raise OnnxExportError(self.graph.name, problems)

    def graph_proto(self, scope: _Scope, n_captured: int, top: bool) -> Any:
        """The GraphProto of ``scope.graph``; its last ``n_captured`` inputs are captures."""
        from onnx import helper

        g = scope.graph
        formal = g.inputs[: len(g.inputs) - n_captured]
        if not top:
            for v in formal:
                self.claim(v, scope)
            for n in g.nodes:
                for v in n.outputs:
                    self.claim(v, scope)
        for node in g.nodes:
            self.node(node, scope)
        outputs = self.outputs(scope, top)
        produced = {id(v) for n in g.nodes if n.op != CONST for v in n.outputs}
        outs_ids = {id(v) for v in g.outputs}
        vi = []
        if self.value_info_wanted:
            for n in g.nodes:
                if n.op == CONST:
                    continue
                for v in n.outputs:
                    if id(v) in produced and id(v) not in outs_ids and v.type.shape is not None:
                        vi.append(tensors.value_info(scope.names[id(v)], v.type))
        gp = helper.make_graph(
            scope.nodes,
            g.name,
            [tensors.value_info(scope.names[id(v)], v.type) for v in formal],
            outputs,
            initializer=scope.initializers,
            value_info=vi,
        )
        return gp

    def outputs(self, scope: _Scope, top: bool) -> list:
        """Graph outputs; an Identity is added where ONNX cannot name the value directly."""
        from onnx import helper

        g = scope.graph
        if top:
            # onnxruntime and the checker accept main-graph outputs that are graph inputs or
            # initializers, which keeps the model's interface names
            direct_ok = {id(v) for v in g.values()}
        else:
            direct_ok = {id(v) for n in g.nodes if n.op != CONST for v in n.outputs}
        seen: set[int] = set()
        out = []
        for v in g.outputs:
            name = scope.names.get(id(v))
            if name is None:
                self.problems.append(("return", g.name, f"output %{v.name} is not defined in @{g.name}"))
                continue
            # a subgraph output must be computed inside it (not a capture, input or
            # initializer), and no value may be listed twice
            direct = id(v) not in seen and id(v) in direct_ok
            if not direct:
                new = self.fresh(f"{v.name}_out")
                scope.nodes.append(helper.make_node("Identity", [name], [new],
                                                    name=self.node_name(f"{v.name}_out")))
                name = new
            seen.add(id(v))
            out.append(tensors.value_info(name, v.type))
        return out

    # -- nodes ------------------------------------------------------------------------------
    def node(self, node: Node, scope: _Scope) -> None:
        from onnx import helper

        if node.op == CONST:
            if node.outputs and not node.output.has_uses:
                return  # a dead constant would only be an unused initializer
            self.const(node, scope)
            return
        op_type = self.table.get(node.op)
        schema = self.onnx_schema(op_type) if op_type else None
        if schema is None:
            why = ("has no ONNX counterpart" if op_type is None
                   else f"ONNX {op_type} is not defined at opset {self.opset}")
            self.problem(node, why)
            return
        for v in node.outputs:
            if v.type.dtype not in (DType.I4, DType.U4) or self.opset >= 21:
                continue
            self.problem(node, f"output %{v.name} is {v.type.dtype}, which needs opset >= 21")
        attrs, activation, n_captured = self.attributes(node, schema, scope)
        ins = list(node.inputs)
        if n_captured:
            ins = ins[: len(ins) - n_captured]
        while ins and ins[-1] is None:
            ins.pop()
        in_names = []
        for v in ins:
            if v is None:
                in_names.append("")
            elif id(v) in scope.names:
                in_names.append(scope.names[id(v)])
            else:
                self.problem(node, f"input %{v.name} is not defined in @{scope.graph.name}")
                return
        out_names = [scope.names[id(v)] for v in node.outputs]
        final = None
        if activation:
            final = out_names[0]
            out_names[0] = self.fresh(f"{final}_preact")
        base = node.source[0] if node.source else node.outputs[0].name
        n = helper.make_node(op_type, in_names, out_names, name=self.node_name(base))
        n.attribute.extend(attrs)
        if len(node.source) > 1:
            n.doc_string = "source: " + ", ".join(node.source)
        scope.nodes.append(n)
        if activation:
            self.activation(node, activation, out_names[0], final, base, scope)

    def const(self, node: Node, scope: _Scope) -> None:
        v = node.output
        value = node.attrs.get("value")
        if value is None:
            self.problem(node, "const without a value")
            return
        try:
            t = tensors.to_tensor_proto(value, scope.names[id(v)], v.type.dtype)
        except (TypeError, ValueError, KeyError) as e:
            self.problem(node, f"cannot write its value as an ONNX tensor: {e}")
            return
        scope.initializers.append(t)

    def activation(self, node: Node, act: str, x: str, y: str, base: str, scope: _Scope) -> None:
        from onnx import helper

        name = self.node_name(f"{base}_{act}")
        if act in ("relu", "tanh", "sigmoid"):
            op = {"relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid"}[act]
            scope.nodes.append(helper.make_node(op, [x], [y], name=name))
            return
        lo, hi = (0.0, 6.0) if act == "relu6" else (-1.0, 1.0)
        dtype = node.outputs[0].type.dtype
        key = (dtype, lo, hi)
        if key not in scope.clip_bounds:
            names = (self.fresh(f"{act}_min"), self.fresh(f"{act}_max"))
            scope.initializers.append(tensors.scalar(lo, dtype, names[0]))
            scope.initializers.append(tensors.scalar(hi, dtype, names[1]))
            scope.clip_bounds[key] = names
        lo_name, hi_name = scope.clip_bounds[key]
        scope.nodes.append(helper.make_node("Clip", [x, lo_name, hi_name], [y], name=name))

    # -- attributes -------------------------------------------------------------------------
    def attributes(self, node: Node, schema: Any, scope: _Scope) -> tuple[list, str, int]:
        """(ONNX attributes, activation to split out, number of captured trailing inputs)."""
        import onnx

        A = onnx.AttributeProto
        activation = ""
        n_captured = 0
        if node.op == "if":
            n_captured = len(node.inputs) - 1
        elif node.op in CAPTURING_OPS:
            n_captured = int(node.attrs.get("num_captures", 0) or 0)
        out = []
        for k, v in node.attrs.items():
            if v is None:
                continue
            if k == "activation" and node.op in ACTIVATION_OPS:
                if v and v not in ACTIVATIONS:
                    self.problem(node, f"unknown activation {v!r} (known: {', '.join(ACTIVATIONS)})")
                activation = v or ""
                continue
            if k == "num_captures" and node.op in CAPTURING_OPS:
                continue
            spec = schema.attributes.get(k)
            if spec is None:
                self.problem(node, f"attribute '{k}' has no counterpart in ONNX {schema.name}")
                continue
            try:
                if spec.type == A.GRAPH:
                    if not isinstance(v, Graph):
                        raise TypeError(f"expected a graph, got {type(v).__name__}")
                    value = self.subgraph(node, v, n_captured, scope)
                elif spec.type == A.GRAPHS:
                    value = [self.subgraph(node, g, n_captured, scope) for g in v]
                else:
                    value = _attr_value(spec.type, v)
                out.append(_make_attribute(k, value, spec.type))
            except (TypeError, ValueError, KeyError) as e:
                self.problem(node, f"attribute '{k}' cannot be written as ONNX "
                                   f"{A.AttributeType.Name(spec.type)}: {e}")
        return out, activation, n_captured

    def subgraph(self, node: Node, g: Graph, n_captured: int, outer: _Scope) -> Any:
        """A GraphProto for a body/branch whose last ``n_captured`` inputs are captures."""
        if n_captured > len(g.inputs):
            raise ValueError(f"subgraph @{g.name} has {len(g.inputs)} inputs but the node "
                             f"passes {n_captured} captured values")
        scope = _Scope(g, {}, [], [], {})
        captured_outer = node.inputs[len(node.inputs) - n_captured:] if n_captured else []
        inner = g.inputs[len(g.inputs) - n_captured:] if n_captured else []
        for outer_v, inner_v in zip(captured_outer, inner):
            if outer_v is None or id(outer_v) not in outer.names:
                raise ValueError(f"captured input %{inner_v.name} has no outer value")
            # ONNX subgraphs read outer values by name (implicit capture)
            scope.names[id(inner_v)] = outer.names[id(outer_v)]
        return self.graph_proto(scope, n_captured, top=False)


def _attr_value(kind: int, v: Any) -> Any:
    import onnx

    A = onnx.AttributeProto
    if kind == A.INT:
        return int(v)
    if kind == A.FLOAT:
        return float(v)
    if kind == A.STRING:
        if not isinstance(v, (str, bytes)):
            raise TypeError(f"expected a string, got {type(v).__name__}")
        return v
    if kind == A.INTS:
        return [int(x) for x in v]
    if kind == A.FLOATS:
        return [float(x) for x in v]
    if kind == A.STRINGS:
        return [str(x) for x in v]
    if kind == A.TENSOR:
        return tensors.to_tensor_proto(v)
    if kind == A.TENSORS:
        return [tensors.to_tensor_proto(x) for x in v]
    if kind == A.SPARSE_TENSOR:
        raise TypeError("sparse tensor attributes are not supported")
    raise TypeError(f"unsupported attribute kind {A.AttributeType.Name(kind)}")


def _make_attribute(key: str, value: Any, kind: int) -> Any:
    from onnx import helper

    return helper.make_attribute(key, value, attr_type=kind)


def _all_nodes(g: Any) -> Iterator[Any]:
    """The NodeProtos of GraphProto ``g`` and of its subgraphs."""
    for n in g.node:
        yield n
        for a in n.attribute:
            if a.HasField("g"):
                yield from _all_nodes(a.g)
            for sub in a.graphs:
                yield from _all_nodes(sub)


def _defined_at(op_type: str, opset: int) -> bool:
    import onnx.defs

    try:
        onnx.defs.get_schema(op_type, opset, "")
    except onnx.defs.SchemaError:
        return False
    return True


def _collect_names(g: Graph, out: set[str]) -> None:
    for sub in walk_graphs(g):
        out.update(v.name for v in sub.values())


__all__ = ["DEFAULT_OPSET", "MIN_SOURCE_OPSET", "ORT_GENERATED_NAMES", "ORT_OPSET",
           "OnnxExportError", "OnnxWriteError", "default_opset", "export_onnx", "ir_version_for",
           "ort_generated", "source_opset"]
