"""The TFLite emission driver: IR graph -> TFLite flatbuffer that the LiteRT interpreter runs.

Contract of :func:`emit` / :func:`emit_tflite`:

* Layout: every IR value has a physical order (:mod:`targets.tflite.layout`). Graph inputs
  and outputs use the IR's logical order, so the .tflite has the IR's interface (an NCHW IR
  gives NCHW inputs, an IR imported with ``layout="NHWC"`` gives NHWC ones). Ops that need
  one order (conv, pooling, resize, conv_transpose, depth_to_space need NHWC; reshape, matmul
  and graph outputs need the logical order) get it with one ``TRANSPOSE`` (a ``RESHAPE``
  when only size-1 axes move), made once per value and order. Every other op works in
  whatever order its input has, and an IR ``transpose`` emits nothing. Constants are
  permuted when written.
* Ops: each node is lowered by the registered lowering its op and capability predicate
  select (:mod:`targets.tflite.registry`; the lowerings live in :mod:`targets.tflite.ops`,
  one module per op family, each stating what it writes). Peepholes:
  :mod:`targets.tflite.peepholes`.
* ``float16=True`` stores every float constant as float16 behind a ``DEQUANTIZE`` op to
  float32, as TFLite's float16 post-training quantization does.
* ``sparse_weights`` (``"none"`` | ``"densify"`` | ``"fc_blocks"``) stores pruned float
  conv / fully-connected weights as TFLite sparse tensors
  (:mod:`targets.tflite.sparse_tensors`).
* A graph in QDQ form (``quantize``/``dequantize`` nodes) is written with integer kernels
  under the int8 policy of :mod:`targets.tflite.quantized`; ``io_dtype="int8"`` then makes
  its quantized inputs and outputs int8 tensors (``"float"``: QUANTIZE/DEQUANTIZE at the
  interface).
* Pre-flight: every node that cannot be expressed is collected (op, source layer, reason)
  and reported at once in :class:`TfliteEmitError` before anything is written; the write
  is atomic (``compiler.fileio.atomic_write``).
* :func:`emit` also returns the tensor map: for each IR value that has a tensor in the
  file, the tensor's index and name, the physical order it is stored in and its int8
  quantization parameters (:class:`DeployedTensor`).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from compiler.ir.graph import CONST, Graph, Node, Value

from ..base import DeployedTensor
from . import registry
from .context import TENSOR_TYPES, EmitContext, np_dtype
from .errors import TfliteEmitError, TfliteWriteError, Unsupported
from .layout import dims, ident, oversized_dim
from .writer import _TFL_TYPES, TfliteWriter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Emitted:
    """The bytes of a .tflite, its tensor map (IR value name -> :class:`DeployedTensor`) and
    the int8 policy's ``float_nodes`` (``(op, layer, why)`` of quantized nodes run in float)."""

    data: bytes
    tensors: dict[str, DeployedTensor]
    float_nodes: list[tuple[str, str, str]] = field(default_factory=list)


def emit_tflite(graph: Graph, path: str | os.PathLike | None = None, *,
                float16: bool = False, io_dtype: str = "float") -> bytes:
    """Lower ``graph`` to TFLite flatbuffer bytes; also write them to ``path`` if given."""
    data = emit(graph, float16=float16, io_dtype=io_dtype).data
    if path is not None:
        write_model(path, data)
    return data


def write_model(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (a failure leaves no file behind)."""
    with _write_errors(path):
        from compiler.fileio import atomic_write

        atomic_write(path, data)
    log.info("wrote %s (%d bytes)", path, len(data))


def emit(graph: Graph, *, float16: bool = False, io_dtype: str = "float",
         sparse_weights: str = "none",
         sparse_threshold: float | None = None) -> Emitted:
    """Lower ``graph`` to TFLite (see the module doc); returns the bytes and tensor map.

    ``sparse_weights`` / ``sparse_threshold``: which float weights are stored as sparse
    tensors (:func:`targets.tflite.sparse_tensors.choose`; a None threshold is the mode's
    default; ``"none"`` writes the same bytes as before the option existed)."""
    from .quantized import int8_policy, is_qdq

    if io_dtype not in ("float", "int8"):
        raise TfliteEmitError(graph.name, [("model", "-", f"io_dtype {io_dtype!r} is neither "
                                            "'float' nor 'int8'")])
    sparse = {"sparse_weights": sparse_weights, "sparse_threshold": sparse_threshold}
    if is_qdq(graph):
        policy = int8_policy(graph, float16=float16, io_dtype=io_dtype)
        ctx = EmitContext(policy.g, False, quant=policy, **sparse)
        ctx.problems.extend(policy.problems)
    else:
        ctx = EmitContext(graph, float16, **sparse)
    return _run(ctx)


def unsupported_reason(node: Node) -> str | None:
    """Why the float TFLite emitter would refuse ``node`` (None when it lowers it).

    The node is lowered on its own into a scratch model (its non-constant inputs stored in
    logical order) by the same lowering :func:`emit` selects, so the answer is the emitter's
    own; a node whose lowering depends on its neighbours (a pad folded into convs, a
    broadcast against a value stored in another order) is judged as if they were absent.
    Q/DQ nodes are absorbed by the int8 policy: None.
    """
    if node.op in ("quantize", "dequantize"):
        return None
    ctx = EmitContext(Graph("probe"))
    for v in node.inputs:
        if v is not None and not v.is_const and v.type.shape is not None:
            ctx.out(v)
    try:
        _lower(ctx, node)
    except Unsupported as e:
        return str(e)
    return None


# -- the driver ------------------------------------------------------------------------------


def _run(ctx: EmitContext) -> Emitted:
    g, w = ctx.g, ctx.w
    _check_interface(ctx)
    _check_dims(ctx)
    if ctx.problems:
        raise TfliteEmitError(g.name, ctx.problems)
    # interface names are claimed first so intermediate tensors never take them
    w.reserve([v.name for v in list(g.inputs) + list(g.outputs)])
    in_idx = [_graph_input(ctx, v) for v in g.inputs]
    for node in g.nodes:
        if node.op == CONST:
            continue
        try:
            _lower(ctx, node)
        except Unsupported as e:
            ctx.problems.append((node.op, node.label, str(e)))
            for v in node.outputs:  # a placeholder lets later nodes be checked too
                if id(v) not in ctx.t and v.type.shape is not None:
                    ctx.out(v)
    if ctx.problems:
        raise TfliteEmitError(g.name, ctx.problems)
    out_idx = []
    for v in g.outputs:
        out_idx.append(_graph_output(ctx, v))
        ctx.outs.append(out_idx[-1])
    w.set_inputs(in_idx, [v.name for v in g.inputs])
    w.set_outputs(out_idx, [v.name for v in g.outputs])
    tensors = {v.name: (w.tensor(ctx.t[id(v)]), ctx.perm_of(v)) for v in _values(g)
               if id(v) in ctx.t}
    data = w.finish()
    if ctx.quant is not None:
        ctx.quant.finish()
    return Emitted(data, _tensor_map(w, tensors),
                   list(ctx.quant.float_nodes) if ctx.quant is not None else [])


def _lower(ctx: EmitContext, node: Node) -> None:
    """Lower one node with the lowering the registry selects (raises Unsupported)."""
    from compiler.ops.registry import get_schema

    from .ops.integer import no_lowering_reason

    entry = registry.select(node, ctx)
    if entry is None:
        raise Unsupported(no_lowering_reason(node))
    unranked = [v.name for v in list(node.inputs) + node.outputs
                if v is not None and v.type.shape is None]
    if unranked:
        raise Unsupported(f"%{unranked[0]} has unknown rank; TFLite needs ranks")
    schema = get_schema(node.op)
    attrs = schema.resolve_attrs(node.attrs) if schema else dict(node.attrs)
    with ctx.node_scope(node):
        entry.fn(ctx, node, attrs)


def _check_interface(ctx: EmitContext) -> None:
    for v in list(ctx.g.inputs) + list(ctx.g.outputs):
        if v.type.dtype not in TENSOR_TYPES or v.type.shape is None:
            why = (f"graph input/output %{v.name} has type {v.type}; only float32, int32, "
                   "int64 and bool values of known rank are supported")
            ctx.problems.append(("model", "-", why))
        elif v.is_const:
            why = f"graph output %{v.name} is a constant; fold it into the caller instead"
            ctx.problems.append(("model", "-", why))


def _check_dims(ctx: EmitContext) -> None:
    """A problem for each graph input and node output with a dim TFLite's int32 shapes
    cannot hold, found before lowering so nothing downstream meets it."""
    for v in ctx.g.inputs:
        why = oversized_dim(v.name, v.type.shape)
        if why:
            ctx.problems.append(("model", "-", f"graph input {why}"))
    for node in ctx.g.nodes:
        if node.op == CONST:
            continue
        for v in node.outputs:
            why = oversized_dim(v.name, v.type.shape) if v is not None else None
            if why:
                ctx.problems.append((node.op, node.label, why))


def _graph_input(ctx: EmitContext, v: Value) -> int:
    if ctx.quant is not None:
        idx = ctx.quant.graph_input(v)
        if idx is not None:
            return idx
    static, sig = dims(v.type.shape)
    idx = ctx.w.add_tensor(v.name, np_dtype(v), static, shape_signature=sig)
    ctx.alias(v, idx, ident(len(static)))
    return idx


def _graph_output(ctx: EmitContext, v: Value) -> int:
    if ctx.quant is not None:
        idx = ctx.quant.graph_output(v)
        if idx is not None:
            return idx
    idx = ctx.logical(v)
    taken = set(ctx.w.subgraph.inputs) | set(ctx.outs)
    if ctx.w.tensor(idx).name != v.name or idx in taken or v in ctx.g.inputs:
        # the logical tensor is shared or named otherwise: give the output its own
        out = ctx.tmp(v.name, v.type.shape, np_dtype(v))
        ctx.w.add_operator("RESHAPE", [idx, ctx.i32("shape", dims(v.type.shape)[1])], [out])
        idx = out
    return idx


def _values(g: Graph) -> Iterator[Value]:
    yield from g.inputs
    for node in g.nodes:
        if node.op != CONST:
            yield from (v for v in node.outputs if v is not None)


def _tensor_map(w: TfliteWriter, tensors: dict[str, tuple[Any, tuple[int, ...]]]
                ) -> dict[str, DeployedTensor]:
    """The map of IR value name -> tensor, indexed after the writer dropped unused ones."""
    index = {id(t): i for i, t in enumerate(w.subgraph.tensors)}
    dtype_names = {code: dt.name for dt, code in _TFL_TYPES.items()}
    out = {}
    for name, (t, perm) in tensors.items():
        if id(t) not in index:
            continue  # dropped: nothing reads it
        q = t.quantization
        scale = tuple(float(s) for s in q.scale) if q is not None and q.scale is not None else ()
        zp = tuple(int(z) for z in q.zeroPoint) if q is not None and q.zeroPoint is not None \
            else ()
        tname = t.name.decode() if isinstance(t.name, bytes) else str(t.name)
        out[name] = DeployedTensor(name=tname, index=index[id(t)], perm=tuple(perm),
                                   dtype=dtype_names.get(t.type, str(t.type)), scale=scale,
                                   zero_point=zp,
                                   axis=int(q.quantizedDimension) if len(scale) > 1 else None)
    return out


@contextlib.contextmanager
def _write_errors(path: str | os.PathLike) -> Iterator[None]:
    try:
        yield
    except OSError as e:
        raise TfliteWriteError(
            f"cannot write the TFLite model to {os.fspath(path)}: {e.strerror or e}; check that "
            "the directory exists, is writable and that the path is not a directory"
        ) from None
