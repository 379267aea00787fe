"""TFLite frontend: a ``.tflite`` flatbuffer -> an IR :class:`Graph`.

Contract of :func:`load_tflite`:

* The flatbuffer is read with the object API of ``ai_edge_litert.schema_py_generated``;
  one subgraph (``subgraph=0`` by default) is converted. Operator codes are
  ``max(deprecated_builtin_code, builtin_code)``.
* Buffers become ``const`` nodes (created on first use). A float16 constant behind
  ``DEQUANTIZE`` becomes ``const f16 -> cast f32`` (``fold-constants`` can fold it); a
  sparse constant (TFLite sparsity parameters) is decoded into a dense array and
  ``DENSIFY`` reads it directly.
* Quantized tensors keep their integer type with :class:`~compiler.ir.types.QuantParams`;
  ops compute on ``dequantize``-d values and a quantized result is ``quantize``-d with its
  tensor's parameters, so the reference interpreter runs a fully int8 model as
  fake-quant.
* TFLite is NHWC; the IR's conv/pool/resize ops are NCHW. Every rank-4 tensor may exist in
  both layouts: conv-like ops read and produce NCHW, layout-neutral ops (elementwise,
  activations, pad, concat, reductions over known axes) stay in the layout their input
  already has, and a ``transpose`` is inserted only where the other layout is needed. The
  ``cancel-transposes``, ``sink-transposes`` and ``dce`` passes run last (through the
  :class:`~compiler.pass_manager.PassManager`).
* Graph inputs/outputs are named by the signature def when the model has one, else by
  their tensor names; other values keep their tensor names. ``node.source`` is the op's
  first output tensor name.
* Before anything is built, every unsupported op (builtin or custom, in the subgraph and in
  the subgraphs it calls) is listed with all its op names in one
  :class:`~compiler.errors.UnsupportedOpsError`. Missing or corrupt files raise
  :class:`~compiler.errors.ModelLoadError`; before that, :mod:`.verify` has checked every
  index, shape, buffer size, quantization and sparsity field the conversion relies on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InferccError, ModelLoadError, UnsupportedOpsError
from ...ir.graph import Graph, Value, sanitize_name
from ...ir.types import UNKNOWN_DIM, DType, QuantParams, TensorType, types_compatible
from ...ops.registry import run_kernel
from ...pass_manager import PassManager
from .ops import LOWERINGS
from .reader import builtin_names, decode, op_label, op_type, reachable_subgraphs, read_model

log = logging.getLogger(__name__)

NHWC, NCHW = "nhwc", "nchw"
TO_NCHW = (0, 3, 1, 2)
TO_NHWC = (0, 2, 3, 1)

# TFLite TensorType enum -> IR element type (others are not supported).
_DTYPES: dict[int, DType] = {
    0: DType.F32,
    1: DType.F16,
    2: DType.I32,
    3: DType.U8,
    4: DType.I64,
    6: DType.BOOL,
    7: DType.I16,
    9: DType.I8,
    10: DType.F64,
    12: DType.U64,
    15: DType.U32,
    16: DType.U16,
    18: DType.BF16,
}
_TYPE_NAMES = {
    0: "FLOAT32", 1: "FLOAT16", 2: "INT32", 3: "UINT8", 4: "INT64", 5: "STRING", 6: "BOOL",
    7: "INT16", 8: "COMPLEX64", 9: "INT8", 10: "FLOAT64", 11: "COMPLEX128", 12: "UINT64",
    13: "RESOURCE", 14: "VARIANT", 15: "UINT32", 16: "UINT16", 17: "INT4", 18: "BFLOAT16",
}

class TfliteImportError(ModelLoadError):
    """The model is readable but an op, tensor or option cannot be lowered into the IR."""


# -- op support ----------------------------------------------------------------------------


def unsupported_ops(model: Any, subgraph: int = 0) -> dict[str, list[str]]:
    """Op types (with the names of the ops using them) that infercc cannot lower.

    Covers the subgraph and every subgraph its ops call (CALL_ONCE, IF, WHILE, ...).
    """
    names = builtin_names()
    found: dict[str, list[str]] = {}
    for s in reachable_subgraphs(model, subgraph, names):
        sg = model.subgraphs[s]
        for k, op in enumerate(sg.operators or []):
            kind = op_type(model, op, names)
            if kind in LOWERINGS:
                continue
            label = op_label(sg, op, k, kind)
            if s != subgraph:
                label += f" (subgraph {s})"
            found.setdefault(kind, []).append(label)
    return found


# -- conversion ----------------------------------------------------------------------------


def load_tflite(
    path: Any,
    *,
    subgraph: int = 0,
    input_shapes: Mapping[str, Sequence[Any]] | None = None,
    cut_unsupported: bool = False,
) -> Graph:
    """Lower one subgraph of a TFLite model (path or bytes) into a verified IR graph.

    ``input_shapes`` maps input names (signature names or tensor names) to shapes that
    replace the declared ones (ints, symbol names, or ``None``/``-1``/``"?"``).
    ``cut_unsupported``: instead of refusing ops infercc cannot lower, cut them out: each
    output tensor of such an op becomes a graph input of its declared type and each
    non-constant input a graph output, so the rest of the model loads. Such a graph no
    longer computes the model; it serves statistics (``infercc inspect``).
    """
    from ...ir.verifier import verify

    model, buf, label = read_model(path)
    if not 0 <= subgraph < len(model.subgraphs):
        raise ModelLoadError(
            f"{label}: subgraph {subgraph} does not exist (the model has {len(model.subgraphs)})"
        )
    missing = unsupported_ops(model, subgraph)
    if missing and not cut_unsupported:
        raise UnsupportedOpsError(
            label,
            missing,
            "infercc lowers the TFLite builtin ops listed in compiler.frontends.tflite."
            "SUPPORTED_OPS; custom ops and resource variables are not supported.",
        )
    conv = _Converter(model, buf, label, subgraph)
    conv.cut_unsupported = cut_unsupported
    try:
        graph = conv.convert(dict(input_shapes or {}))
    except InferccError:
        raise
    except Exception as e:  # a lowering bug or an input the lowering did not foresee
        raise TfliteImportError(f"{label}: {conv.where}: {type(e).__name__}: {e}") from e
    _cleanup(graph)
    verify(graph)
    graph.metadata["source_format"] = "tflite"
    if model.description:
        graph.metadata["producer"] = decode(model.description)
    return graph


# The lowering leaves layout transposes back to back around layout-neutral ops: cancel the
# pairs, sink the rest through those ops, cancel again, then drop what became dead.
CLEANUP_PIPELINE = "cancel-transposes,sink-transposes,cancel-transposes,dce"


def _cleanup(graph: Graph) -> None:
    """Run :data:`CLEANUP_PIPELINE` on the converted graph (the caller verifies the result)."""
    PassManager(CLEANUP_PIPELINE, verify=False).run(graph)


@dataclass
class _ConstSrc:
    """Where a constant-like tensor's data lives: ``array`` in storage dtype.

    ``quant``: the array is quantized with these parameters; ``f16``: the array is float16
    standing for a float32 tensor.
    """

    array: np.ndarray
    quant: QuantParams | None
    f16: bool = False


class OpView:
    """One TFLite operator as the lowerings see it."""

    def __init__(self, kind: str, op: Any, label: str):
        self.kind = kind
        self.op = op
        self.label = label
        self.inputs: list[int] = [int(i) for i in (op.inputs if op.inputs is not None else [])]
        self.outputs: list[int] = [int(i) for i in (op.outputs if op.outputs is not None else [])]
        self.opts = op.builtinOptions

    def input(self, k: int) -> int:
        """Tensor index of input ``k`` (-1 when absent)."""
        return self.inputs[k] if k < len(self.inputs) else -1

    def opt(self, name: str, default: Any = None) -> Any:
        return getattr(self.opts, name, default) if self.opts is not None else default


class _Converter:
    def __init__(self, model: Any, buf: bytes, label: str, sg_index: int):
        self.model = model
        self.buf = buf
        self.label = label
        self.sg = model.subgraphs[sg_index]
        self.graph = Graph(sanitize_name(decode(self.sg.name)) or Path(label).stem or "main")
        self.tensors = self.sg.tensors or []
        self.cache: dict[tuple, Value] = {}
        self.primary: dict[int, str] = {}
        self.constsrc: dict[int, _ConstSrc] = {}
        self.where = "reading tensors"
        self.cur: OpView | None = None
        self._fresh: set[int] = set()
        self.names = self._io_names(sg_index)

    # -- tensors ------------------------------------------------------------------------
    def _io_names(self, sg_index: int) -> dict[int, str]:
        names: dict[int, str] = {}
        for sd in self.model.signatureDefs or []:
            if int(sd.subgraphIndex) != sg_index:
                continue
            for m in list(sd.inputs or []) + list(sd.outputs or []):
                names.setdefault(int(m.tensorIndex), decode(m.name))
            break
        return names

    def name(self, i: int) -> str:
        return self.names.get(i) or decode(self.tensor(i).name) or f"t{i}"

    def tensor(self, i: int) -> Any:
        """Tensor ``i``; -1 (an absent optional input) where the op needs one is refused."""
        if i < 0:
            raise TfliteImportError(f"{self.label}: {self.where}: a required input is missing")
        return self.tensors[i]

    def dtype(self, i: int) -> DType:
        t = self.tensor(i)
        try:
            return _DTYPES[int(t.type)]
        except KeyError:
            raise TfliteImportError(
                f"{self.label}: tensor '{self.name(i)}' has type "
                f"{_TYPE_NAMES.get(int(t.type), t.type)}, which infercc does not support"
            ) from None

    def shape(self, i: int) -> tuple[int, ...]:
        """The declared static shape (TFLite's resolved shape)."""
        s = self.tensor(i).shape
        return tuple(int(d) for d in s) if s is not None else ()

    def rank(self, i: int) -> int:
        return len(self.shape(i))

    def sig_shape(self, i: int) -> tuple:
        """The declared shape with dynamic dims (shape_signature -1) as ``"?"``."""
        t = self.tensor(i)
        sig = t.shapeSignature
        if sig is not None and len(sig) == len(self.shape(i)):
            return tuple(UNKNOWN_DIM if int(d) < 0 else int(d) for d in sig)
        return self.shape(i)

    def quant(self, i: int) -> QuantParams | None:
        """The tensor's affine quantization (None for float/unquantized tensors)."""
        q = self.tensor(i).quantization
        if q is None or q.scale is None or len(q.scale) == 0:
            return None
        if not self.dtype(i).is_int:
            return None
        scale = np.asarray(q.scale, np.float64).ravel()
        zp = np.asarray(q.zeroPoint if q.zeroPoint is not None else np.zeros(len(scale)), np.int64).ravel()
        if len(zp) != len(scale):
            zp = np.broadcast_to(zp, scale.shape)
        if len(scale) == 1:
            return QuantParams.per_tensor(float(scale[0]), int(zp[0]))
        return QuantParams.per_axis(scale, zp, int(q.quantizedDimension))

    def is_quant(self, i: int) -> bool:
        return self.quant(i) is not None

    def ttype(self, i: int, shape: Any = None, quant: bool = True) -> TensorType:
        return TensorType(self.dtype(i), self.sig_shape(i) if shape is None else shape,
                          self.quant(i) if quant else None)

    def buffer_array(self, i: int) -> np.ndarray | None:
        """The tensor's constant data in its storage dtype, else None."""
        t = self.tensor(i)
        if t.buffer is None or int(t.buffer) <= 0 or int(t.buffer) >= len(self.model.buffers):
            return None
        b = self.model.buffers[int(t.buffer)]
        raw: bytes | None = None
        if b.data is not None and len(b.data):
            raw = np.asarray(b.data, np.uint8).tobytes()
        elif int(b.offset) > 1 and int(b.size) > 0:
            raw = self.buf[int(b.offset): int(b.offset) + int(b.size)]
        if raw is None:
            return None
        dt = self.dtype(i).numpy
        arr = np.frombuffer(raw, dtype=dt).copy()
        if t.sparsity is not None:
            from .sparse import SparsityError, densify

            try:
                return densify(arr, self.shape(i), t.sparsity)
            except SparsityError as e:
                raise TfliteImportError(f"{self.label}: sparse tensor '{self.name(i)}': {e}") from None
        return arr.reshape(self.shape(i))  # the size was verified when the model was read

    def const_array(self, i: int, what: str = "this input") -> np.ndarray:
        """The real-valued constant behind tensor ``i`` (raises when it is not constant)."""
        src = self.constsrc.get(i)
        if src is None:
            raise TfliteImportError(
                f"{self.label}: {self.where}: {what} (tensor '{self.name(i)}') must be a constant"
            )
        a = src.array
        if src.f16:
            return a.astype(np.float32)
        q = src.quant
        if q is not None:
            shape = [1] * a.ndim
            if q.axis is not None:
                shape[q.axis] = -1
            scale = np.asarray(q.scale, np.float64).reshape(shape if q.axis is not None else ())
            zp = np.asarray(q.zero_point, np.int64).reshape(shape if q.axis is not None else ())
            return ((a.astype(np.int64) - zp) * scale).astype(np.float32)
        return a

    def maybe_const(self, i: int) -> np.ndarray | None:
        return self.const_array(i) if i >= 0 and i in self.constsrc else None

    def is_const(self, i: int) -> bool:
        return i in self.constsrc

    def layout(self, i: int) -> str:
        """The layout tensor ``i`` is produced in (constants: NHWC)."""
        return self.primary.get(i, NHWC)

    # -- values -------------------------------------------------------------------------
    def get(self, i: int, layout: str = NHWC, real: bool = True) -> Value:
        """Tensor ``i`` as an IR value in ``layout``; ``real``: dequantized when quantized."""
        if i < 0:
            raise TfliteImportError(f"{self.label}: {self.where}: a required input is missing")
        if layout == NCHW and self.rank(i) != 4:
            layout = NHWC
        if not self.is_quant(i):
            real = False
        key = (i, layout, real)
        v = self.cache.get(key)
        if v is not None:
            return v
        base = self.name(i) + ("" if layout == NHWC else "_nchw")
        if i in self.constsrc:
            perm = TO_NCHW if layout == NCHW else None
            v = self.materialize(i, perm=perm, real=real, name=base)
        elif real:
            raw = self.get(i, layout, real=False)
            v = self.dequant(raw, self.quant(i), base + "_real", axis_map=TO_NCHW if layout == NCHW else None)
        elif i in self.primary and self.primary[i] != layout:
            src = self.get(i, self.primary[i], real=False)
            perm = TO_NCHW if layout == NCHW else TO_NHWC
            v = self.node("transpose", [src], {"perm": list(perm)}, name=base)
        else:
            raise TfliteImportError(
                f"{self.label}: {self.where}: tensor '{self.name(i)}' is read before any op "
                "produces it (the subgraph is not in topological order or is corrupt)"
            )
        self.cache[key] = v
        return v

    def materialize(
        self,
        i: int,
        *,
        perm: Sequence[int] | None = None,
        reshape: Sequence[int] | None = None,
        real: bool = True,
        name: str | None = None,
    ) -> Value:
        """A constant tensor as IR nodes, optionally reshaped then transposed in numpy."""
        src = self.constsrc[i]
        arr, q = src.array, src.quant
        axis = None if q is None else q.axis
        if reshape is not None:
            if axis is not None:
                axis += len(reshape) - arr.ndim  # reshapes here only prepend 1-dims
            arr = arr.reshape(tuple(reshape))
        if perm is not None:
            arr = np.ascontiguousarray(arr.transpose(tuple(perm)))
            if axis is not None:
                axis = list(perm).index(axis)
        if q is not None and axis is not None:
            q = QuantParams(q.scale, q.zero_point, axis)
        name = name or self.name(i)
        tensor_is_real = not self.is_quant(i)
        c = self.graph.add_const(arr, name, source=(decode(self.tensors[i].name),),
                                 type=TensorType(DType.from_numpy(arr.dtype), arr.shape, q))
        if (real or tensor_is_real) and q is not None:
            return self.dequant(c, q, name + "_real")
        if src.f16 and self.dtype(i) != DType.F16:
            return self.node("cast", [c], {"to": "f32"}, name=name + "_f32")
        return c

    def weight(self, i: int, perm: Sequence[int]) -> Value:
        """A weight tensor transposed by ``perm`` (in numpy when constant)."""
        key = (i, "w", tuple(perm))
        v = self.cache.get(key)
        if v is None:
            if i in self.constsrc:
                v = self.materialize(i, perm=perm, name=self.name(i) + "_t")
            else:
                v = self.node("transpose", [self.get(i)], {"perm": list(perm)}, name=self.name(i) + "_t")
            self.cache[key] = v
        return v

    def bcast(self, i: int, layout: str, out_rank: int) -> Value:
        """Input ``i`` of a broadcasting op whose output has ``out_rank``, in ``layout``."""
        if layout == NHWC or out_rank != 4:
            return self.get(i)
        r = self.rank(i)
        if r == 4:
            return self.get(i, NCHW)
        if int(np.prod(self.shape(i), dtype=np.int64)) == 1:
            return self.get(i)
        key = (i, "bcast4")
        v = self.cache.get(key)
        if v is None:
            v = self.materialize(i, reshape=(1,) * (4 - r) + self.shape(i), perm=TO_NCHW,
                                 name=self.name(i) + "_nchw")
            self.cache[key] = v
        return v

    def pick_layout(self, ins: Sequence[int], out_rank: int) -> str:
        """NCHW when some input already is, and every other input can follow cheaply."""
        if out_rank != 4:
            return NHWC
        any_nchw = False
        for i in ins:
            if i < 0:
                continue
            if i in self.constsrc:
                if self.rank(i) > 4:
                    return NHWC
                continue
            numel = int(np.prod(self.shape(i), dtype=np.int64))
            if self.rank(i) != 4 and numel != 1:
                return NHWC
            if self.rank(i) == 4 and self.layout(i) == NCHW:
                any_nchw = True
        return NCHW if any_nchw else NHWC

    def const(self, array: Any, name: str) -> Value:
        return self.graph.add_const(np.asarray(array), self.graph.unique_name(sanitize_name(name)),
                                    source=(self.cur.label,) if self.cur else ())

    def i64(self, values: Any, name: str = "shape") -> Value:
        return self.const(np.asarray(values, dtype=np.int64), f"{self.cur_base}_{name}")

    def scalar(self, x: float, dtype: DType, name: str) -> Value:
        return self.const(np.asarray(x, dtype=dtype.numpy), f"{self.cur_base}_{name}")

    @property
    def cur_base(self) -> str:
        return sanitize_name(self.cur.label) if self.cur else "c"

    def dequant(self, v: Value, q: QuantParams, name: str, axis_map: Sequence[int] | None = None) -> Value:
        scale = np.asarray(q.scale, np.float32)
        zp = np.asarray(q.zero_point, v.type.dtype.numpy)
        attrs: dict[str, Any] = {}
        if q.axis is None:
            scale, zp = scale.reshape(()), zp.reshape(())
        else:
            axis = q.axis if axis_map is None else list(axis_map).index(q.axis)
            attrs["axis"] = int(axis)
        s = self.graph.add_const(scale, self.graph.unique_name(name + "_scale"))
        z = self.graph.add_const(zp, self.graph.unique_name(name + "_zp"))
        return self.node("dequantize", [v, s, z], attrs, name=name)

    def quantize(self, v: Value, i: int, name: str, layout: str) -> Value:
        q = self.quant(i)
        dt = self.dtype(i)
        scale = np.asarray(q.scale, np.float32)
        zp = np.asarray(q.zero_point, dt.numpy)
        attrs: dict[str, Any] = {}
        if q.axis is None:
            scale, zp = scale.reshape(()), zp.reshape(())
        else:
            axis = q.axis if layout == NHWC else list(TO_NCHW).index(q.axis)
            attrs["axis"] = int(axis)
        s = self.graph.add_const(scale, self.graph.unique_name(name + "_scale"))
        z = self.graph.add_const(zp, self.graph.unique_name(name + "_zp"))
        return self.node("quantize", [v, s, z], attrs, name=name)

    # -- emitting -----------------------------------------------------------------------
    def node(self, op: str, inputs: Sequence[Value | None], attrs: dict[str, Any] | None = None,
             *, name: str | None = None, n_out: int = 1, names: Sequence[str] | None = None) -> Any:
        """Add one IR node (folded when every input is a small non-float constant).

        Returns its output value, or the list of outputs when ``n_out > 1``.
        """
        inputs = list(inputs)
        while inputs and inputs[-1] is None:
            inputs.pop()
        attrs = dict(attrs or {})
        if names is None:
            hint = name or f"{self.cur_base}_{op}"
            names = [hint] + [f"{hint}_{k}" for k in range(1, n_out)]
        names = [self.graph.fresh_name(n) for n in names]  # add_node claims (and dedupes) them
        src = (self.cur.label,) if self.cur else ()
        folded = self._fold(op, inputs, attrs, names, src)
        if folded is not None:
            return folded if n_out > 1 else folded[0]
        node = self.graph.add_node(op, inputs, attrs, names=names, num_outputs=n_out, source=src)
        self._fresh.update(id(v) for v in node.outputs)
        return node.outputs if n_out > 1 else node.outputs[0]

    def _fold(self, op: str, inputs: list, attrs: dict, names: list[str], src: tuple) -> list[Value] | None:
        """Shape arithmetic on constants (SHAPE -> STRIDED_SLICE -> PACK ...) is evaluated now."""
        if not inputs or op in ("quantize", "dequantize"):
            return None
        arrays = []
        for v in inputs:
            if v is None:
                arrays.append(None)
                continue
            if not v.is_const or v.type.dtype.is_float or v.type.quant is not None:
                return None
            a = np.asarray(v.const_value)
            if a.size > 4096:
                return None
            arrays.append(a)
        outs = run_kernel(op, arrays, attrs)
        vals = [self.graph.add_const(np.asarray(o), n, source=src) for o, n in zip(outs, names)]
        self._fresh.update(id(v) for v in vals)
        return vals

    def emit(self, op: str, inputs: Sequence[Value | None], attrs: dict[str, Any] | None = None,
             *, out: int, layout: str = NHWC) -> Value:
        """The node computing tensor ``out`` (its real value), recorded in ``layout``."""
        is_q = self.is_quant(out)
        name = self.name(out) + ("" if layout == NHWC else "_nchw") + ("_real" if is_q else "")
        v = self.node(op, inputs, attrs, name=name)
        return self.set_out(out, v, layout)

    def set_out(self, i: int, v: Value, layout: str = NHWC) -> Value:
        """Record ``v`` as tensor ``i``'s real value in ``layout`` (quantizing when needed)."""
        if self.rank(i) != 4:
            layout = NHWC
        base = self.name(i) + ("" if layout == NHWC else "_nchw")
        self._refine(v, i, layout)
        self._rename(v, base + ("_real" if self.is_quant(i) else ""))
        if self.is_quant(i):
            want = self.dtype(i)
            q = self.quantize(v, i, base, layout)
            if q.type.dtype != want:
                raise TfliteImportError(f"{self.label}: {self.where}: quantized output type mismatch")
            self.cache[(i, layout, False)] = q
        else:
            if v.type.dtype != self.dtype(i):
                v = self.node("cast", [v], {"to": self.dtype(i).value}, name=base + "_cast")
            self.cache[(i, layout, False)] = v
        self.primary[i] = layout
        return v

    def _rename(self, v: Value, name: str) -> None:
        """Give a value made by the current op its tensor's name (when that name is free)."""
        if id(v) not in self._fresh or v.name == name or self.graph.has_name(name):
            return
        self.graph.rename(v, name)

    def _refine(self, v: Value, i: int, layout: str) -> None:
        """Fill dims the IR's inference left unknown from the TFLite declared shape."""
        t = v.type
        if t.shape is None or t.is_static:
            return
        decl = self.sig_shape(i)
        if layout == NCHW and len(decl) == 4:
            decl = tuple(decl[p] for p in TO_NCHW)
        if len(decl) != len(t.shape):
            return
        cand = TensorType(t.dtype, tuple(d if a == UNKNOWN_DIM else a for a, d in zip(t.shape, decl)), t.quant)
        if types_compatible(cand, t):
            v.type = cand

    # -- driver -------------------------------------------------------------------------
    def convert(self, input_shapes: dict[str, Sequence[Any]]) -> Graph:
        sg = self.sg
        names = builtin_names()
        self._collect_consts()
        inputs = [int(i) for i in (sg.inputs if sg.inputs is not None else [])]
        known = {self.name(i) for i in inputs} | {decode(self.tensors[i].name) for i in inputs}
        unknown = sorted(set(input_shapes) - known)
        if unknown:
            raise ModelLoadError(
                f"{self.label}: input_shapes names {', '.join(unknown)}, but the model's inputs "
                f"are {', '.join(self.name(i) for i in inputs) or '(none)'}"
            )
        for i in inputs:
            if i in self.constsrc:
                continue
            shape = input_shapes.get(self.name(i), input_shapes.get(decode(self.tensors[i].name)))
            if shape is not None:
                shape = tuple(UNKNOWN_DIM if d is None else d for d in shape)
            v = self.graph.add_input(self.name(i), self.ttype(i, shape))
            self.cache[(i, NHWC, False)] = v
            self.primary[i] = NHWC
        for k, op in enumerate(sg.operators or []):
            kind = op_type(self.model, op, names)
            view = OpView(kind, op, op_label(sg, op, k, kind))
            self.cur = view
            self._fresh: set[int] = set()
            self.where = f"op #{k} {kind} '{view.label}'"
            if not view.outputs:  # every op infercc lowers produces a tensor
                raise TfliteImportError(f"{self.label}: {self.where}: the operator has no outputs")
            if kind not in LOWERINGS and self.cut_unsupported:
                self._cut(view)
                continue
            LOWERINGS[kind](self, view)
        self.cur = None
        self.where = "graph outputs"
        outs = list(self._cut_outputs)
        if self._cut_outputs or self._cut_inputs:  # which interface values are cut ends
            self.graph.metadata["cut_inputs"] = ",".join(v.name for v in self._cut_inputs)
            self.graph.metadata["cut_outputs"] = ",".join(v.name for v in self._cut_outputs)
        for i in (sg.outputs if sg.outputs is not None else []):
            v = self.get(int(i), NHWC, real=False)
            if v.producer is None or any(v is o for o in outs):
                v = self.graph.add_node("identity", [v], names=[self.graph.unique_name(self.name(int(i)))]).output
            outs.append(v)
        self.graph.outputs = outs
        return self.graph

    cut_unsupported = False
    _cut_outputs: list[Value] = []
    _cut_inputs: list[Value] = []

    def _cut(self, view: OpView) -> None:
        """Cut an op infercc cannot lower out of the graph (see ``cut_unsupported``)."""
        if not self._cut_outputs and not self._cut_inputs:
            self._cut_outputs, self._cut_inputs = [], []
        typed = [i for i in view.inputs + view.outputs
                 if i >= 0 and int(self.tensors[i].type) in _DTYPES]  # not RESOURCE handles
        for i in view.inputs:
            if i in typed and not self.is_const(i) and i in self.primary:
                v = self.get(i, NHWC, real=False)
                if not any(v is o for o in self._cut_outputs):
                    self._cut_outputs.append(v)
        for i in view.outputs:
            if i not in typed:
                continue
            name, k = self.name(i), 0
            while self.graph.has_name(name):
                k += 1
                name = f"{self.name(i)}_{k}"
            v = self.graph.add_input(name, self.ttype(i))
            self._cut_inputs.append(v)
            self.cache[(i, NHWC, False)] = v
            self.primary[i] = NHWC

    def _collect_consts(self) -> None:
        for i, t in enumerate(self.tensors):
            if t.isVariable:
                continue
            arr = self.buffer_array(i) if int(t.type) in _DTYPES else None
            if arr is not None:
                self.constsrc[i] = _ConstSrc(arr, self.quant(i))


__all__ = ["TfliteImportError", "load_tflite", "unsupported_ops"]
