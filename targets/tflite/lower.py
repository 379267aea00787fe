"""IR graph (float32) -> TFLite flatbuffer that the LiteRT interpreter runs.

Contract of :func:`emit_tflite`:

* Layout: every IR value has a *physical order* ``p`` (a permutation of its logical axes):
  its TFLite tensor holds ``value.transpose(p)``. Graph inputs and outputs use the IR's
  logical order, so the .tflite has the IR's interface (an NCHW IR gives NCHW inputs, an
  IR imported with ``layout="NHWC"`` gives NHWC ones). Ops that need one order (conv,
  pooling, resize, conv_transpose, depth_to_space need NHWC = ``(0, 2, 3, 1)`` of NCHW;
  reshape, matmul and graph outputs need the logical order) get it with one ``TRANSPOSE``
  (a ``RESHAPE`` when only size-1 axes move), made once per value and order. Every other
  op works in whatever order its input has (elementwise ops, concat, pad, slice, gather,
  split, reductions, softmax when its axis is stored last), and an IR ``transpose`` only
  changes the physical order: it emits nothing. Constants are permuted when written;
  constants broadcast against a value are brought to its order (leading ones dropped).
* Ops: conv (group 1 -> ``CONV_2D``, weights OIHW -> OHWI; group = C_in -> ``DEPTHWISE_CONV_2D``,
  weights (C*M,1,H,W) -> (1,H,W,C*M)); pads equal to TFLite SAME -> ``SAME``, zero pads ->
  ``VALID``, other (non-negative) pads -> a ``PAD`` op and ``VALID``; a missing bias is
  written as zeros. max_pool/avg_pool -> ``MAX_POOL_2D``/``AVERAGE_POOL_2D`` where the
  padding semantics match (TFLite SAME never counts padding: avg_pool with
  ``count_include_pad=1`` and pads becomes ``PAD`` + ``VALID``; max_pool with centred pads
  of at most (k-1)//2 a side, or a ceil_mode output, becomes ``PADV2`` with the lowest
  float32 + ``VALID``; other pads are refused).
  global_avg_pool/global_max_pool and reduce_mean/max/min/sum -> ``MEAN``/``REDUCE_MAX``/
  ``REDUCE_MIN``/``SUM``. gemm (constant B, alpha = beta = 1, no transA) and matmul with a
  constant 2-D B -> ``FULLY_CONNECTED``; matmul of two values -> ``BATCH_MATMUL``.
  add/sub/mul/div with broadcasting; relu, clip (``RELU``, ``RELU6``, ``RELU_N1_TO_1``,
  ``RELU_0_TO_1`` or ``MAXIMUM``/``MINIMUM``), sigmoid, tanh, leaky_relu, hard_swish,
  hard_sigmoid (``MUL``, ``ADD``, ``RELU_0_TO_1``), prelu, gelu, exp, log, sqrt, neg, abs; softmax
  on the stored last axis; reshape/flatten/squeeze/unsqueeze; concat and split on any axis;
  pad (constant) -> ``PAD``/``PADV2``; slice -> ``STRIDED_SLICE``; gather with constant
  indices -> ``GATHER``; batch_norm -> ``MUL`` + ``ADD``; layer_norm -> ``MEAN``, ``SUB``,
  ``MUL``, ``ADD``, ``RSQRT``; resize (nearest/linear, coordinate modes TFLite's
  align_corners/half_pixel_centers express) -> ``RESIZE_*``; conv_transpose (group 1, no
  dilation) -> ``TRANSPOSE_CONV`` (+ ``SLICE`` for crops TFLite's SAME cannot express);
  depth_to_space (DCR) -> ``DEPTH_TO_SPACE``.
* Peepholes: add/sub of a constant 0 and mul/div by a constant 1 that do not broadcast
  emit nothing; a zero ``pad`` whose readers are all convs (directly or through one
  transpose) for which it equals TFLite SAME padding is folded into them; a reshape that only
  moves size-1 axes into a rank-4 value a conv reads is written straight in NHWC; a reshape
  whose inferred type kept unknown dims but whose shape input is a constant is resolved.
* The IR ``activation`` attribute becomes ``fused_activation_function`` for relu, relu6 and
  relu_n1_to_1; tanh and sigmoid become separate ``TANH`` / ``LOGISTIC`` ops (the float
  kernels do not apply a fused TANH; see ``_FUSED``).
* ``float16=True`` stores every float constant as float16 behind a ``DEQUANTIZE`` op to
  float32, as TFLite's float16 post-training quantization does.
* Unknown or symbolic dims are written as 1 in ``shape`` and -1 in ``shape_signature``.
* Pre-flight: every node that cannot be expressed is collected (op, source layer, reason)
  and reported at once in :class:`TfliteEmitError` before anything is written; the write
  is atomic (``compiler.fileio.atomic_write``).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from compiler.errors import InferccError
from compiler.ir.graph import CONST, Graph, Node, Value
from compiler.ir.types import DType

from .lower_int import NonFloatOps, np_dtype, transpose_version
from .lower_seq import SequenceOps
from .writer import TfliteWriter, op_version

log = logging.getLogger(__name__)

TO_NHWC = (0, 2, 3, 1)
TO_NCHW = (0, 3, 1, 2)

# Fused activations infercc writes. TFLite's enum also has TANH, but the float kernels clamp
# through CalculateActivationRange, which knows only the RELU family: measured with LiteRT,
# CONV_2D with fused TANH returns the un-activated value and FULLY_CONNECTED refuses it at
# prepare time. So tanh and sigmoid become separate TANH / LOGISTIC ops.
_FUSED = {"": 0, "relu": 1, "relu_n1_to_1": 2, "relu6": 3}
_SEPARATE_ACT = {"tanh": "TANH", "sigmoid": "LOGISTIC"}
# ops that read their data input in NHWC order
_NHWC_OPS = {"conv", "max_pool", "avg_pool", "conv_transpose", "resize", "depth_to_space"}
_BINARY = {"add": ("ADD", "Add"), "sub": ("SUB", "Sub"), "mul": ("MUL", "Mul"),
           "div": ("DIV", "Div")}


class TfliteEmitError(InferccError):
    """The graph cannot be written as TFLite; ``problems`` lists (op, source layer, reason)."""

    def __init__(self, graph_name: str, problems: Sequence[tuple[str, str, str]]):
        self.problems = list(problems)
        lines = [f"cannot emit graph @{graph_name} as TFLite: {len(self.problems)} problem(s):"]
        for op, layer, why in self.problems:
            lines.append(f"  {why}" if op == "model" else f"  {op} (layer {layer}): {why}")
        if any(op != "model" for op, _, _ in self.problems):
            lines.append("Rewrite these nodes into supported ops first (an infercc pass or a "
                         "different pipeline), or use another target such as ONNX.")
        super().__init__("\n".join(lines))


class TfliteWriteError(InferccError):
    """The model was built but the file could not be written."""


class _Unsupported(Exception):
    """One node cannot be lowered (the reason is the message)."""


def emit_tflite(graph: Graph, path: str | os.PathLike | None = None, *,
                float16: bool = False, io_dtype: str = "float",
                tensor_map: dict[str, tuple[int, tuple[int, ...], Any]] | None = None
                ) -> bytes:
    """Lower ``graph`` to TFLite flatbuffer bytes; also write them to ``path`` if given.

    A graph in QDQ form (it has ``quantize``/``dequantize`` nodes) is written with integer
    kernels by :mod:`targets.tflite.quantized`; ``io_dtype="int8"`` then makes its quantized
    inputs and outputs int8 tensors (``"float"``: QUANTIZE/DEQUANTIZE at the interface).
    ``tensor_map``, when given, is filled with :meth:`_Lowering.placed_values`.
    """
    from .quantized import is_qdq, quantized_lowering

    if io_dtype not in ("float", "int8"):
        raise TfliteEmitError(graph.name, [("model", "-", f"io_dtype {io_dtype!r} is neither "
                                            "'float' nor 'int8'")])
    if is_qdq(graph):
        lowering = quantized_lowering(graph, float16=float16, io_dtype=io_dtype)
    else:
        lowering = _Lowering(graph, float16)
    data = lowering.run()
    if tensor_map is not None:
        tensor_map.update(lowering.placed_values())
    if path is not None:
        with _write_errors(path):
            from compiler.fileio import atomic_write

            atomic_write(path, data)
        log.info("wrote %s (%d bytes)", path, len(data))
    return data


@contextlib.contextmanager
def _write_errors(path: str | os.PathLike) -> Iterator[None]:
    try:
        yield
    except OSError as e:
        raise TfliteWriteError(
            f"cannot write the TFLite model to {os.fspath(path)}: {e.strerror or e}; check that "
            "the directory exists, is writable and that the path is not a directory"
        ) from None


# -- helpers ---------------------------------------------------------------------------------


def _dims(shape: Sequence[Any]) -> tuple[list[int], list[int]]:
    """(static shape with 1 for unknown dims, signature with -1 for them)."""
    static = [d if isinstance(d, int) else 1 for d in shape]
    sig = [d if isinstance(d, int) else -1 for d in shape]
    return static, sig


def _perm(seq: Sequence[Any], perm: Sequence[int]) -> list[Any]:
    return [seq[p] for p in perm]


def _same_pads(sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
               dils: Sequence[int]) -> tuple[list[int], list[int]]:
    """TFLite SAME padding (odd totals put the extra at the end) as begin/end lists."""
    begins, ends = [], []
    for n, k, s, d in zip(sizes, kernel, strides, dils):
        out = -(-n // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
        begins.append(total // 2)
        ends.append(total - total // 2)
    return begins, ends


def _scalar(v: Value | None) -> float | None:
    if v is None:
        return None
    c = v.const_value
    if c is None:
        raise _Unsupported(f"bound %{v.name} is not a constant")
    c = np.asarray(c)
    if c.size != 1:
        raise _Unsupported(f"bound %{v.name} is not a scalar")
    return float(c.reshape(()))


def _ident(r: int) -> tuple[int, ...]:
    return tuple(range(r))


def _drop_axes(perm: Sequence[int], axes: Sequence[int]) -> tuple[int, ...]:
    """The physical order left when logical ``axes`` are removed (remaining axes renumbered)."""
    keep = [a for a in perm if a not in axes]
    order = sorted(keep)
    return tuple(order.index(a) for a in keep)


def _const_ints(v: Value | None, what: str) -> list[int] | None:
    if v is None:
        return None
    c = v.const_value
    if c is None:
        raise _Unsupported(f"{what} %{v.name} must be a constant")
    return [int(i) for i in np.asarray(c).reshape(-1)]


class _Lowering(NonFloatOps, SequenceOps):
    def __init__(self, graph: Graph, float16: bool):
        self.g = graph
        self.float16 = float16
        self.w = TfliteWriter(graph.name)
        self.t: dict[int, int] = {}  # id(IR value) -> tensor index (in the value's order)
        self.perm: dict[int, tuple[int, ...]] = {}  # id(IR value) -> physical order
        self.problems: list[tuple[str, str, str]] = []
        self._consts: dict[tuple[int, Any], int] = {}
        self._views: dict[tuple[int, tuple[int, ...]], int] = {}
        # id(padded value) -> (unpadded value, its stored order in the padded value's axes
        # or None when they share axes): zero PADs folded into the SAME padding of convs
        # and its spatial sizes
        self._padfold: dict[int, tuple[Value, tuple[int, ...] | None, list[int]]] = {}

    # -- driver ----------------------------------------------------------------------------
    def run(self) -> bytes:
        from compiler.ops.registry import get_schema

        self._check_interface()
        if self.problems:
            raise TfliteEmitError(self.g.name, self.problems)
        # interface names are claimed first so intermediate tensors never take them
        self.w.reserve([v.name for v in list(self.g.inputs) + list(self.g.outputs)])
        in_idx = [self._graph_input(v) for v in self.g.inputs]
        for node in self.g.nodes:
            if node.op == CONST:
                continue
            fn = getattr(self, "_op_" + node.op, None)
            try:
                bad = [v.name for v in node.outputs if v.type.dtype != DType.F32]
                if bad:  # integer / bool results: see lower_int.NonFloatOps
                    fn = self._nonfloat_lowering(node, fn)
                if fn is None:
                    raise _Unsupported("no TFLite lowering for this op")
                unranked = [v.name for v in list(node.inputs) + node.outputs
                            if v is not None and v.type.shape is None]
                if unranked:
                    raise _Unsupported(f"%{unranked[0]} has unknown rank; TFLite needs ranks")
                schema = get_schema(node.op)
                attrs = schema.resolve_attrs(node.attrs) if schema else dict(node.attrs)
                self._lower_node(node, fn, attrs)
            except _Unsupported as e:
                self.problems.append((node.op, node.label, str(e)))
                for v in node.outputs:  # a placeholder lets later nodes be checked too
                    if id(v) not in self.t and v.type.shape is not None:
                        self._out(v)
        if self.problems:
            raise TfliteEmitError(self.g.name, self.problems)
        out_idx = [self._graph_output(v) for v in self.g.outputs]
        self.w.set_inputs(in_idx, [v.name for v in self.g.inputs])
        self.w.set_outputs(out_idx, [v.name for v in self.g.outputs])
        return self.w.finish()

    def placed_values(self) -> dict[str, tuple[int, tuple[int, ...], Any]]:
        """After :meth:`run`: IR value name -> (index of its tensor in the written model,
        the physical order it is stored in, the flatbuffer ``TensorT``) for every value of
        the graph that has a tensor there."""
        out = {}
        for v in self.g.values():
            if id(v) in self.t:
                i = self.w.final_index(self.t[id(v)])
                if i is not None:
                    out[v.name] = (i, self.perm_of(v), self.w.tensor(i))
        return out

    def _lower_node(self, node: Node, fn: Callable[[Node, dict], None], attrs: dict) -> None:
        """Lower one node (a hook: the integer lowering sets its per-node mode here)."""
        fn(node, attrs)

    def _weight_const(self, v: Value | None, name: str, array: np.ndarray,
                      perm: Sequence[int]) -> int:
        """The tensor of weight ``v`` written as ``array`` (= v's value transposed by
        ``perm``, TFLite's layout); a hook: the integer lowering writes int8 weights."""
        return self._float_const(name, array)

    def _check_interface(self) -> None:
        for v in list(self.g.inputs) + list(self.g.outputs):
            if not self._interface_dtype_ok(v) or v.type.shape is None:
                why = (f"graph input/output %{v.name} has type {v.type}; only float32, int32, "
                       "int64 and bool values of known rank are supported")
                self.problems.append(("model", "-", why))
            elif v.is_const:
                why = f"graph output %{v.name} is a constant; fold it into the caller instead"
                self.problems.append(("model", "-", why))

    # -- tensors and physical orders -------------------------------------------------------
    def perm_of(self, v: Value) -> tuple[int, ...]:
        return self.perm.get(id(v), _ident(v.type.rank or 0))

    def _out(self, v: Value, perm: Sequence[int] | None = None) -> int:
        """A fresh tensor for IR value ``v`` stored in order ``perm`` (logical by default)."""
        r = v.type.rank or 0
        perm = _ident(r) if perm is None else tuple(perm)
        static, sig = _dims(_perm(v.type.shape, perm))
        name = v.name
        if perm != _ident(r) and (v.is_graph_output or v in self.g.inputs):
            name = v.name + "_stored"  # the interface name belongs to the logical tensor
        idx = self.w.add_tensor(name, np_dtype(v), static, shape_signature=sig)
        self.t[id(v)] = idx
        self.perm[id(v)] = perm
        return idx

    def _alias(self, v: Value, idx: int, perm: Sequence[int]) -> None:
        self.t[id(v)] = idx
        self.perm[id(v)] = tuple(perm)

    def _tmp(self, name: str, shape: Sequence[Any], dtype: Any = np.float32) -> int:
        static, sig = _dims(shape)
        return self.w.add_tensor(name, dtype, static, shape_signature=sig)

    def _i32(self, name: str, values: Any) -> int:
        return self.w.add_const(name, np.asarray(values, dtype=np.int32))

    def _float_const(self, name: str, array: np.ndarray) -> int:
        a = np.asarray(array, dtype=np.float32)
        if not self.float16:
            return self.w.add_const(name, a)
        half = self.w.add_const(name + "_f16", a.astype(np.float16))
        full = self.w.add_tensor(name, np.float32, a.shape)
        self.w.add_operator("DEQUANTIZE", [half], [full],
                            version=op_version("DEQUANTIZE", input_dtype=np.float16))
        return full

    def _const_array(self, v: Value) -> np.ndarray:
        c = v.const_value
        if hasattr(c, "toarray"):
            c = c.toarray()
        return np.asarray(c)

    def get(self, v: Value | None) -> int:
        """The tensor of an IR value in its physical order (constants: logical order)."""
        if v is None:
            return -1
        if id(v) in self.t:
            return self.t[id(v)]
        if v.is_const:
            return self.as_perm(v, _ident(v.type.rank or 0))
        raise _Unsupported(f"input %{v.name} has no TFLite tensor")

    def as_perm(self, v: Value, want: Sequence[int]) -> int:
        """The tensor of ``v`` stored in order ``want`` (a TRANSPOSE made once if needed)."""
        want = tuple(want)
        if v.is_const and id(v) not in self.t:
            key = (id(v), want)
            if key not in self._consts:
                a = self._const_array(v)
                if a.dtype != np.float32:
                    self._consts[key] = self._nonfloat_const(v.name, a.transpose(want))
                    return self._consts[key]
                self._consts[key] = self._float_const(v.name, a.transpose(want))
            return self._consts[key]
        have = self.perm_of(v)
        src = self.get(v)
        if have == want:
            return src
        key = (id(v), want)
        if key in self._views:
            return self._views[key]
        shape = list(v.type.shape)
        big_have = [a for a in have if shape[a] != 1]
        big_want = [a for a in want if shape[a] != 1]
        new_shape = _perm(shape, want)
        name = v.name if want == _ident(len(want)) and v.is_graph_output \
            else v.name + "_" + "".join(map(str, want))
        dst = self._tmp(name, new_shape, np_dtype(v))
        static, sig = _dims(new_shape)
        if big_have == big_want and sig.count(-1) <= 1:  # same bytes: only size-1 axes move
            self.w.add_operator("RESHAPE", [src, self._i32("shape", sig)], [dst],
                                self.w.options("Reshape", newShape=sig))
        else:
            self.transpose(src, [have.index(a) for a in want], dst)
        self._views[key] = dst
        return dst

    def nhwc(self, v: Value) -> int:
        if v.type.rank != 4:
            raise _Unsupported(f"input %{v.name} has rank {v.type.rank}; only rank 4 (NCHW) "
                               "is supported")
        return self.as_perm(v, TO_NHWC)

    def logical(self, v: Value) -> int:
        return self.as_perm(v, _ident(v.type.rank or 0))

    def _pick_perm(self, values: Sequence[Value | None], rank: int) -> tuple[int, ...]:
        """The physical order of the first non-constant operand of full rank."""
        for v in values:
            if v is not None and not v.is_const and v.type.rank == rank:
                return self.perm_of(v)
        return _ident(rank)

    def operand(self, v: Value, perm: Sequence[int]) -> int:
        """An elementwise operand of a node whose result is stored in order ``perm``."""
        r = len(perm)
        if not v.is_const:
            if v.type.rank == r:
                return self.as_perm(v, perm)
            if v.type.is_static and v.type.numel() == 1:
                return self.get(v)
            if tuple(perm) == _ident(r):
                return self.get(v)  # numpy broadcasting from the right holds as is
            raise _Unsupported(f"operand %{v.name} of rank {v.type.rank} broadcasts against a "
                               f"rank-{r} value stored in order {list(perm)}")
        key = (id(v), ("bcast", tuple(perm)))
        if key not in self._consts:
            a = self._const_array(v).astype(np.float32)
            if a.ndim > r:
                raise _Unsupported(f"constant %{v.name} has rank {a.ndim} > {r}")
            a = a.reshape((1,) * (r - a.ndim) + a.shape).transpose(perm)
            while a.ndim > 1 and a.shape[0] == 1:
                a = a.reshape(a.shape[1:])
            self._consts[key] = self._float_const(v.name, a)
        return self._consts[key]

    def weight(self, v: Value | None, what: str) -> np.ndarray:
        if v is None or not v.is_const:
            raise _Unsupported(f"{what} must be a constant")
        a = self._const_array(v)
        if a.dtype != np.float32:
            raise _Unsupported(f"{what} %{v.name} is {a.dtype}, not float32")
        return a

    def transpose(self, src: int, perm: Sequence[int], dst: int) -> None:
        self.w.add_operator("TRANSPOSE", [src, self._i32("perm", list(perm))], [dst],
                            version=transpose_version(self.w.tensor(src)))

    # -- interface -------------------------------------------------------------------------
    def _graph_input(self, v: Value) -> int:
        static, sig = _dims(v.type.shape)
        idx = self.w.add_tensor(v.name, np_dtype(v), static, shape_signature=sig)
        self._alias(v, idx, _ident(len(static)))
        return idx

    def _graph_output(self, v: Value) -> int:
        idx = self.logical(v)
        taken = set(self.w.subgraph.inputs) | set(getattr(self, "_outs", []))
        if self.w.tensor(idx).name != v.name or idx in taken or v in self.g.inputs:
            # the logical tensor is shared or named otherwise: give the output its own
            out = self._tmp(v.name, v.type.shape, np_dtype(v))
            self.w.add_operator("RESHAPE", [idx, self._i32("shape", _dims(v.type.shape)[1])],
                                [out])
            idx = out
        self._outs = getattr(self, "_outs", []) + [idx]
        return idx

    # -- activation handling ---------------------------------------------------------------
    def _act(self, v: Value, act: str, perm: Sequence[int] | None = None,
             fusable: bool = True) -> tuple[int, int, Callable[[], None]]:
        """(fused code, tensor the op writes, what to emit after the op)."""
        act = act or ""
        perm = _ident(v.type.rank or 0) if perm is None else tuple(perm)
        if act == "":
            return 0, self._out(v, perm), lambda: None
        if act in _FUSED and fusable:
            return _FUSED[act], self._out(v, perm), lambda: None
        sep = dict(_SEPARATE_ACT, relu="RELU", relu6="RELU6", relu_n1_to_1="RELU_N1_TO_1")
        if act in sep:
            static, sig = _dims(_perm(v.type.shape, perm))
            pre = self.w.add_tensor(v.name + "_preact", np.float32, static, shape_signature=sig)

            def post() -> None:
                self.w.add_operator(sep[act], [pre], [self._out(v, perm)])

            return 0, pre, post
        raise _Unsupported(f"activation {act!r} has no TFLite form")

    # -- conv and pooling ------------------------------------------------------------------
    def _spatial(self, node: Node, attrs: dict, kernel: Sequence[int]) -> tuple:
        from compiler.ops.nn import pool_geometry

        x = node.inputs[0]
        if x.type.rank != 4:
            raise _Unsupported(f"input %{x.name} has rank {x.type.rank}; only 2-D (NCHW) "
                               "windows are supported")
        sizes = x.type.shape[2:]
        if not all(isinstance(d, int) for d in sizes):
            raise _Unsupported(f"spatial dims {list(sizes)} of %{x.name} must be static")
        strides = [int(s) for s in (attrs.get("strides") or [1, 1])]
        dils = [int(d) for d in (attrs.get("dilations") or [1, 1])]
        _, begins, ends = pool_geometry(node.op, sizes, kernel, attrs,
                                        bool(attrs.get("ceil_mode", 0)))
        if any(p < 0 for p in begins + ends):
            raise _Unsupported(f"negative pads {begins + ends} are not supported")
        sb, se = _same_pads(sizes, kernel, strides, dils)
        if not any(begins + ends):
            mode = "VALID"
        elif begins == sb and ends == se:
            mode = "SAME"
        else:
            mode = "EXPLICIT"
        return sizes, strides, dils, begins, ends, mode

    def _check_out_size(self, node: Node, sizes, kernel, strides, dils, mode) -> None:
        want = node.outputs[0].type.shape[2:]
        for n, k, s, d, o in zip(sizes, kernel, strides, dils, want):
            got = -(-n // s) if mode == "SAME" else (n - (k - 1) * d - 1) // s + 1
            if isinstance(o, int) and got != o:
                raise _Unsupported(f"output size {list(want)} differs from what TFLite's "
                                   f"{mode} padding gives (ceil_mode?)")

    def _pad(self, x: Value, begins, ends, name: str, value: float = 0.0) -> int:
        src = self.nhwc(x)
        shape = list(x.type.shape)
        for i in range(2):
            if isinstance(shape[2 + i], int):
                shape[2 + i] += begins[i] + ends[i]
        out = self._tmp(name + "_pad", _perm(shape, TO_NHWC))
        pads = [[0, 0], [begins[0], ends[0]], [begins[1], ends[1]], [0, 0]]
        if value == 0.0:
            self.w.add_operator("PAD", [src, self._i32("paddings", pads)], [out])
        else:
            fill = self.w.add_const(name + "_pad_value", np.asarray([value], np.float32))
            self.w.add_operator("PADV2", [src, self._i32("paddings", pads), fill], [out])
        return out

    def _op_conv(self, node: Node, attrs: dict) -> None:
        x, wv = node.inputs[0], node.inputs[1]
        b = node.input(2)
        w = self.weight(wv, "the conv weight")
        if w.ndim == 3 and x.type.rank == 3:
            return self._conv1d(node, attrs, w)  # lower_seq
        if w.ndim != 4:
            raise _Unsupported(f"weight rank {w.ndim}: only 2-D convolutions are supported")
        kernel = list(w.shape[2:])
        sizes, strides, dils, begins, ends, mode = self._spatial(node, attrs, kernel)
        cin = x.type.shape[1]
        if not isinstance(cin, int):
            raise _Unsupported("the input channel count must be static")
        group = int(attrs.get("group", 1))
        o = w.shape[0]
        if group == 1:
            opname, wperm = "CONV_2D", (0, 2, 3, 1)
        elif group == cin and w.shape[1] == 1:
            opname, wperm = "DEPTHWISE_CONV_2D", (1, 2, 3, 0)
        else:
            raise _Unsupported(f"grouped conv with group={group} (C_in={cin}) is neither plain "
                               "nor depthwise")
        bias = np.zeros(o, np.float32) if b is None else self.weight(b, "the conv bias")
        if id(x) in self._padfold:  # checked by _fold_pad: the pad equals TFLite SAME
            pre, order, sizes = self._padfold[id(x)]
            src = self.nhwc(pre) if order is None else self.get(pre)
            mode = "SAME"
        else:
            src = self.nhwc(x)
        if mode == "EXPLICIT":
            src = self._pad(x, begins, ends, node.outputs[0].name)
            sizes = [n + bb + e for n, bb, e in zip(sizes, begins, ends)]
            mode = "VALID"
        self._check_out_size(node, sizes, kernel, strides, dils, mode)
        fused, out, post = self._act(node.outputs[0], attrs.get("activation", ""), TO_NHWC)
        base = wv.name
        w_idx = self._weight_const(wv, base + ("_ohwi" if group == 1 else "_1hwc"),
                                   w.transpose(wperm), wperm)
        b_idx = self._float_const((b.name if b is not None else base + "_bias"),
                                  bias.reshape(-1))
        common = {"padding": 0 if mode == "SAME" else 1, "strideH": strides[0],
                  "strideW": strides[1], "dilationHFactor": dils[0], "dilationWFactor": dils[1],
                  "fusedActivationFunction": fused}
        if opname == "CONV_2D":
            opts = self.w.options("Conv2D", **common)
            version = op_version("CONV_2D")
        else:
            opts = self.w.options("DepthwiseConv2D", depthMultiplier=o // cin, **common)
            version = op_version("DEPTHWISE_CONV_2D", dilated=dils != [1, 1])
        self.w.add_operator(opname, [src, w_idx, b_idx], [out], opts, version=version)
        post()

    def _pool(self, node: Node, attrs: dict, opname: str) -> None:
        x = node.inputs[0]
        kernel = [int(k) for k in attrs["kernel_shape"]]
        if len(kernel) != 2:
            raise _Unsupported(f"kernel_shape {kernel}: only 2-D pooling is supported")
        if any(int(d) != 1 for d in (attrs.get("dilations") or [1, 1])):
            raise _Unsupported("dilated pooling has no TFLite form")
        if int(attrs.get("storage_order", 0) or 0) != 0:
            raise _Unsupported("storage_order=1 is not supported")
        sizes, strides, _, begins, ends, mode = self._spatial(node, attrs, kernel)
        src = self.nhwc(x)
        include_pad = opname == "AVERAGE_POOL_2D" and int(attrs.get("count_include_pad", 0))
        if mode != "VALID" and include_pad:
            # TFLite never counts padding; explicit zero padding makes every window full
            src = self._pad(x, begins, ends, node.outputs[0].name)
            sizes = [n + bb + e for n, bb, e in zip(sizes, begins, ends)]
            mode = "VALID"
        elif opname == "MAX_POOL_2D" and all(
                b <= (k - 1) // 2 and e <= (k - 1) // 2
                for b, e, k in zip(begins, ends, kernel)) and (
                mode == "EXPLICIT" or self._pool_size_differs(node, sizes, kernel, strides,
                                                               mode)):
            # padding with the lowest float never wins a max, so centred explicit pads (up
            # to (k - 1) // 2 a side, as torch's padding=k//2 and Caffe give) and the extra
            # end padding a ceil_mode window reaches into become PADV2 + VALID. Wider pads
            # stay refused (windows could then be mostly padding; not needed so far).
            outs = node.outputs[0].type.shape[2:]
            if not all(isinstance(o, int) for o in outs):
                raise _Unsupported("max_pool with explicit pads needs static output dims")
            ends = [max(0, (o - 1) * s + k - n - b)
                    for o, s, k, n, b in zip(outs, strides, kernel, sizes, begins)]
            src = self._pad(x, begins, ends, node.outputs[0].name,
                            value=float(np.finfo(np.float32).min))
            sizes = [n + bb + e for n, bb, e in zip(sizes, begins, ends)]
            mode = "VALID"
        elif mode == "EXPLICIT":
            raise _Unsupported(f"pads {begins + ends} are neither zero nor TFLite SAME, and "
                               "TFLite pooling cannot express other padding")
        self._check_out_size(node, sizes, kernel, strides, [1, 1], mode)
        opts = self.w.options("Pool2D", padding=0 if mode == "SAME" else 1, strideH=strides[0],
                              strideW=strides[1], filterHeight=kernel[0], filterWidth=kernel[1])
        self.w.add_operator(opname, [src], [self._out(node.outputs[0], TO_NHWC)], opts)

    def _pool_size_differs(self, node: Node, sizes, kernel, strides, mode) -> bool:
        try:
            self._check_out_size(node, sizes, kernel, strides, [1, 1], mode)
        except _Unsupported:
            return True
        return False

    def _op_max_pool(self, node: Node, attrs: dict) -> None:
        if len(node.outputs) > 1 and node.outputs[1].has_uses:
            raise _Unsupported("the Indices output has no TFLite form")
        self._pool(node, attrs, "MAX_POOL_2D")

    def _op_avg_pool(self, node: Node, attrs: dict) -> None:
        self._pool(node, attrs, "AVERAGE_POOL_2D")

    def _op_conv_transpose(self, node: Node, attrs: dict) -> None:
        x, y = node.inputs[0], node.outputs[0]
        w = self.weight(node.inputs[1], "the conv_transpose weight")
        if w.ndim != 4 or x.type.rank != 4:
            raise _Unsupported("only 2-D transposed convolutions are supported")
        if int(attrs.get("group", 1)) != 1:
            raise _Unsupported("grouped conv_transpose has no TFLite form")
        if any(int(d) != 1 for d in (attrs.get("dilations") or [1, 1])):
            raise _Unsupported("dilated conv_transpose has no TFLite form")
        kernel = list(w.shape[2:])
        strides = [int(s) for s in (attrs.get("strides") or [1, 1])]
        sizes, outs = list(x.type.shape[2:]), list(y.type.shape[2:])
        if not all(isinstance(d, int) for d in sizes + outs):
            raise _Unsupported("spatial dims must be static")
        pads = [int(p) for p in (attrs.get("pads") or [0, 0, 0, 0])]
        if any(p < 0 for p in pads):
            raise _Unsupported(f"negative pads {pads} are not supported")
        full = [(n - 1) * s + k for n, s, k in zip(sizes, strides, kernel)]
        begins = pads[:2]
        n, o = y.type.shape[0], w.shape[1]
        if all(f >= q and (f - q) // 2 == b for f, q, b in zip(full, outs, begins)):
            mode, tshape, crop = 0, outs, False  # TFLite SAME crops (full - out) // 2 first
        elif all(b + q <= f for f, q, b in zip(full, outs, begins)):
            mode, tshape, crop = 1, full, any(b or f != q for f, q, b in zip(full, outs, begins))
        else:
            raise _Unsupported(f"output size {outs} (output_padding?) lies beyond the "
                               "transposed convolution's extent")
        b = node.input(2)
        bias = np.zeros(o, np.float32) if b is None else self.weight(b, "the bias")
        fused, out, post = self._act(y, attrs.get("activation", ""), TO_NHWC, fusable=False)
        nn = n if isinstance(n, int) else 1
        dst = self._tmp(y.name + "_full", [n, *tshape, o]) if crop else out
        ins = [self._i32("output_shape", [nn, *tshape, o]),
               self._weight_const(node.inputs[1], node.inputs[1].name + "_ohwi",
                                  w.transpose(1, 2, 3, 0), (1, 2, 3, 0)),
               self.nhwc(x), self._float_const(y.name + "_bias", bias.reshape(-1))]
        opts = self.w.options("TransposeConv", padding=mode, strideH=strides[0],
                              strideW=strides[1])
        self.w.add_operator("TRANSPOSE_CONV", ins, [dst], opts,
                            version=op_version("TRANSPOSE_CONV", with_bias=True))
        if crop:
            self.w.add_operator("SLICE", [dst, self._i32("begin", [0, *begins, 0]),
                                          self._i32("size", [-1, *outs, o])], [out])
        post()

    def _op_resize(self, node: Node, attrs: dict) -> None:
        x, y = node.inputs[0], node.outputs[0]
        if x.type.rank != 4:
            raise _Unsupported("only rank-4 (NCHW) resize is supported")
        xs, ys = x.type.shape, y.type.shape
        if xs[:2] != ys[:2] and not (xs[0] == ys[0] and xs[1] == ys[1]):
            raise _Unsupported("only the spatial axes (H, W) may be resized")
        outs = list(ys[2:])
        if not all(isinstance(d, int) for d in outs):
            raise _Unsupported("the output size must be static")
        mode, ct = attrs["mode"], attrs["coordinate_transformation_mode"]
        nm = attrs["nearest_mode"]
        if int(attrs.get("antialias", 0)):
            raise _Unsupported("antialias has no TFLite form")
        if mode == "linear":
            table = {"align_corners": (True, False), "half_pixel": (False, True),
                     "asymmetric": (False, False)}
            if ct == "pytorch_half_pixel" and all(d > 1 for d in outs):
                ct = "half_pixel"
            opname, kind = "RESIZE_BILINEAR", "ResizeBilinear"
        elif mode == "nearest":
            # TFLite: asymmetric floor; align_corners rounds; half_pixel_centers floors
            # (x + 0.5) * scale, which is ONNX tf_half_pixel_for_nn + floor and
            # half_pixel + round_prefer_ceil
            table = {("asymmetric", "floor"): (False, False),
                     ("align_corners", "round_prefer_ceil"): (True, False),
                     ("tf_half_pixel_for_nn", "floor"): (False, True),
                     ("half_pixel", "round_prefer_ceil"): (False, True)}
            ct = (ct, nm)
            opname, kind = "RESIZE_NEAREST_NEIGHBOR", "ResizeNearestNeighbor"
        else:
            raise _Unsupported(f"mode {mode!r} has no TFLite form")
        if ct not in table:
            raise _Unsupported(f"coordinate_transformation_mode/nearest_mode {ct} has no "
                               "TFLite form")
        ac, hp = table[ct]
        opts = self.w.options(kind, alignCorners=ac, halfPixelCenters=hp)
        self.w.add_operator(opname, [self.nhwc(x), self._i32("size", outs)],
                            [self._out(y, TO_NHWC)], opts,
                            version=op_version(opname, half_pixel=hp))

    def _op_depth_to_space(self, node: Node, attrs: dict) -> None:
        if attrs.get("mode", "DCR") != "DCR":
            raise _Unsupported("only DCR depth_to_space matches TFLite's DEPTH_TO_SPACE")
        opts = self.w.options("DepthToSpace", blockSize=int(attrs["blocksize"]))
        self.w.add_operator("DEPTH_TO_SPACE", [self.nhwc(node.inputs[0])],
                            [self._out(node.outputs[0], TO_NHWC)], opts)

    # -- reductions ------------------------------------------------------------------------
    def _reduce(self, x: Value, y: Value, axes: Sequence[int], keep: bool, opname: str) -> None:
        r = x.type.rank
        axes = sorted({a % r for a in axes})
        p = self.perm_of(x)
        stored = sorted(p.index(a) for a in axes)
        out_perm = p if keep else _drop_axes(p, axes)
        self.w.add_operator(opname, [self.get(x), self._i32("axes", stored)],
                            [self._out(y, out_perm)], self.w.options("Reducer", keepDims=keep))

    def _global(self, node: Node, opname: str) -> None:
        x = node.inputs[0]
        if x.type.rank != 4:
            raise _Unsupported(f"input rank {x.type.rank}: only rank 4 (NCHW) is supported")
        self._reduce(x, node.outputs[0], [2, 3], True, opname)

    def _op_global_avg_pool(self, node: Node, attrs: dict) -> None:
        self._global(node, "MEAN")

    def _op_global_max_pool(self, node: Node, attrs: dict) -> None:
        self._global(node, "REDUCE_MAX")

    def _reduce_op(self, node: Node, attrs: dict, opname: str) -> None:
        x = node.inputs[0]
        axes = _const_ints(node.input(1), "axes")
        if axes is None:
            axes = attrs.get("axes")  # older opsets kept axes as an attribute
        if not axes:
            if int(attrs.get("noop_with_empty_axes", 0)):
                raise _Unsupported("a no-op reduction; run the cleanup passes")
            axes = list(range(x.type.rank))
        self._reduce(x, node.outputs[0], axes, bool(int(attrs.get("keepdims", 1))), opname)

    def _op_reduce_mean(self, node: Node, attrs: dict) -> None:
        self._reduce_op(node, attrs, "MEAN")

    def _op_reduce_max(self, node: Node, attrs: dict) -> None:
        self._reduce_op(node, attrs, "REDUCE_MAX")

    def _op_reduce_min(self, node: Node, attrs: dict) -> None:
        self._reduce_op(node, attrs, "REDUCE_MIN")

    def _op_reduce_sum(self, node: Node, attrs: dict) -> None:
        self._reduce_op(node, attrs, "SUM")

    # -- dense -----------------------------------------------------------------------------
    def _fc(self, node: Node, x: Value, w_nk: np.ndarray, wname: str, bias: Value | None,
            act: str, wsrc: tuple[Value, tuple[int, ...]] | None = None) -> None:
        if x.type.rank is None or x.type.rank < 2:
            raise _Unsupported(f"input %{x.name} has rank {x.type.rank}; FULLY_CONNECTED "
                               "needs rank >= 2")
        b_idx = -1
        if bias is not None:
            bv = self.weight(bias, "the bias")
            n = w_nk.shape[0]
            if bv.size != n or (bv.ndim == 2 and bv.shape[0] != 1):
                raise _Unsupported(f"bias of shape {list(bv.shape)} is not one value per "
                                   "output")
            b_idx = self._float_const(bias.name, bv.reshape(n))
        src = self.logical(x)
        fused, out, post = self._act(node.outputs[0], act)
        wv, wperm = wsrc if wsrc is not None else (None, (0, 1))
        w_idx = self._weight_const(wv, wname, w_nk, wperm)
        opts = self.w.options("FullyConnected", fusedActivationFunction=fused,
                              keepNumDims=x.type.rank > 2)
        self.w.add_operator("FULLY_CONNECTED", [src, w_idx, b_idx], [out], opts)
        post()

    def _op_gemm(self, node: Node, attrs: dict) -> None:
        if attrs["transA"] or attrs["alpha"] != 1.0 or (node.input(2) is not None
                                                         and attrs["beta"] != 1.0):
            raise _Unsupported("only gemm with transA=0, alpha=1, beta=1 is supported")
        b = self.weight(node.inputs[1], "B")
        if b.ndim != 2:
            raise _Unsupported("B must be 2-D")
        w = b if attrs["transB"] else b.T
        self._fc(node, node.inputs[0], np.ascontiguousarray(w), node.inputs[1].name,
                 node.input(2), attrs.get("activation", ""),
                 (node.inputs[1], (0, 1) if attrs["transB"] else (1, 0)))

    def _op_matmul(self, node: Node, attrs: dict) -> None:
        a, b = node.inputs[0], node.inputs[1]
        if b.is_const and b.type.rank == 2:
            w = self.weight(b, "B (the right operand)")
            self._fc(node, a, np.ascontiguousarray(w.T), b.name + "_t", None,
                     attrs.get("activation", ""), (b, (1, 0)))
            return
        if (a.type.rank or 0) < 2 or (b.type.rank or 0) < 2:
            raise _Unsupported("BATCH_MATMUL needs operands of rank >= 2")
        ins = [self.logical(a), self.logical(b)]
        fused, out, post = self._act(node.outputs[0], attrs.get("activation", ""),
                                     fusable=False)
        self.w.add_operator("BATCH_MATMUL", ins, [out], self.w.options("BatchMatMul"))
        post()

    # -- elementwise -----------------------------------------------------------------------
    def _binary(self, node: Node, attrs: dict) -> None:
        opname, opt = _BINARY[node.op]
        out_v = node.outputs[0]
        r = out_v.type.rank
        if r is None or r > 6:
            raise _Unsupported(f"result rank {r}: only ranks up to 6 are supported")
        same = self._identity_operand(node, attrs)
        if same is not None:  # x + 0, x - 0, x * 1, x / 1 (e.g. Keras swish's beta = 1)
            self._alias(out_v, self.get(same), self.perm_of(same))
            return
        p = self._pick_perm(node.inputs[:2], r)
        a, b = (self.operand(v, p) for v in node.inputs[:2])
        fused, out, post = self._act(out_v, attrs.get("activation", ""), p)
        self.w.add_operator(opname, [a, b], [out],
                            self.w.options(opt, fusedActivationFunction=fused))
        post()

    _op_add = _op_sub = _op_mul = _op_div = _binary

    def _identity_operand(self, node: Node, attrs: dict) -> Value | None:
        """The operand a binary node returns unchanged (the other is a constant 0 or 1 that
        does not broadcast it to a larger shape), else None."""
        if attrs.get("activation", ""):
            return None
        unit = 0.0 if node.op in ("add", "sub") else 1.0
        sides = (1,) if node.op in ("sub", "div") else (1, 0)
        out_v = node.outputs[0]
        for c in sides:
            x, k = node.inputs[1 - c], node.inputs[c]
            if x.is_const or not k.is_const or x.type.shape != out_v.type.shape:
                continue
            a = self._const_array(k)
            if a.dtype == np.float32 and a.size and np.all(a == unit):
                if x in self.g.inputs and out_v.is_graph_output:
                    return None
                return x
        return None

    def _unary(self, node: Node, opname: str, options: Any = None) -> None:
        x = node.inputs[0]
        self.w.add_operator(opname, [self.get(x)], [self._out(node.outputs[0], self.perm_of(x))],
                            options)

    def _op_relu(self, node: Node, attrs: dict) -> None:
        self._unary(node, "RELU")

    def _op_sigmoid(self, node: Node, attrs: dict) -> None:
        self._unary(node, "LOGISTIC")

    def _op_tanh(self, node: Node, attrs: dict) -> None:
        self._unary(node, "TANH")

    def _op_hard_swish(self, node: Node, attrs: dict) -> None:
        self._unary(node, "HARD_SWISH")

    def _op_gelu(self, node: Node, attrs: dict) -> None:
        approx = attrs.get("approximate", "none")
        if approx not in ("none", "tanh"):
            raise _Unsupported(f"approximate={approx!r} has no TFLite form")
        self._unary(node, "GELU", self.w.options("Gelu", approximate=approx == "tanh"))

    def _op_exp(self, node: Node, attrs: dict) -> None:
        self._unary(node, "EXP")

    def _op_log(self, node: Node, attrs: dict) -> None:
        self._unary(node, "LOG")

    def _op_sqrt(self, node: Node, attrs: dict) -> None:
        self._unary(node, "SQRT")

    def _op_neg(self, node: Node, attrs: dict) -> None:
        self._unary(node, "NEG")

    def _op_abs(self, node: Node, attrs: dict) -> None:
        self._unary(node, "ABS")

    def _op_leaky_relu(self, node: Node, attrs: dict) -> None:
        self._unary(node, "LEAKY_RELU", self.w.options("LeakyRelu", alpha=float(attrs["alpha"])))

    def _op_hard_sigmoid(self, node: Node, attrs: dict) -> None:
        x, y = node.inputs[0], node.outputs[0]
        p = self.perm_of(x)
        shape = _perm(y.type.shape, p)
        t1, t2 = self._tmp(y.name + "_ax", shape), self._tmp(y.name + "_axb", shape)
        alpha = self.w.add_const(y.name + "_alpha", np.asarray([attrs["alpha"]], np.float32))
        beta = self.w.add_const(y.name + "_beta", np.asarray([attrs["beta"]], np.float32))
        self.w.add_operator("MUL", [self.get(x), alpha], [t1], self.w.options("Mul"))
        self.w.add_operator("ADD", [t1, beta], [t2], self.w.options("Add"))
        self.w.add_operator("RELU_0_TO_1", [t2], [self._out(y, p)])

    def _op_clip(self, node: Node, attrs: dict) -> None:
        lo, hi = _scalar(node.input(1)), _scalar(node.input(2))
        named = {(0.0, 6.0): "RELU6", (0.0, None): "RELU", (-1.0, 1.0): "RELU_N1_TO_1",
                 (0.0, 1.0): "RELU_0_TO_1"}
        if (lo, hi) in named:
            self._unary(node, named[(lo, hi)])
            return
        if lo is None and hi is None:
            raise _Unsupported("clip without bounds is an identity; run remove-identity")
        x = node.inputs[0]
        p = self.perm_of(x)
        src = self.get(x)
        out_v = node.outputs[0]
        steps = [("MAXIMUM", lo), ("MINIMUM", hi)]
        steps = [(k, c) for k, c in steps if c is not None]
        for i, (opname, c) in enumerate(steps):
            if i == len(steps) - 1:
                dst = self._out(out_v, p)
            else:
                dst = self._tmp(out_v.name + "_lo", _perm(out_v.type.shape, p))
            bound = self.w.add_const(f"{out_v.name}_{opname.lower()}",
                                     np.asarray([c], np.float32))
            self.w.add_operator(opname, [src, bound], [dst])
            src = dst

    def _op_prelu(self, node: Node, attrs: dict) -> None:
        x, out_v = node.inputs[0], node.outputs[0]
        p = self.perm_of(x) if x.type.rank == out_v.type.rank else _ident(out_v.type.rank)
        slope = self.operand(node.inputs[1], p)
        self.w.add_operator("PRELU", [self.as_perm(x, p), slope], [self._out(out_v, p)])

    def _op_softmax(self, node: Node, attrs: dict) -> None:
        x = node.inputs[0]
        r = x.type.rank
        axis = int(attrs["axis"]) % r
        p = self.perm_of(x)
        if p[-1] != axis:
            p = TO_NHWC if (r == 4 and axis == 1) else \
                tuple([a for a in range(r) if a != axis] + [axis])
        self.w.add_operator("SOFTMAX", [self.as_perm(x, p)], [self._out(node.outputs[0], p)],
                            self.w.options("Softmax", beta=1.0))

    def _op_batch_norm(self, node: Node, attrs: dict) -> None:
        x, y = node.inputs[0], node.outputs[0]
        if any(v.has_uses for v in node.outputs[1:]):
            raise _Unsupported("training-mode outputs have no TFLite form")
        scale, b, mean, var = (self.weight(node.input(i), n).astype(np.float64)
                               for i, n in ((1, "scale"), (2, "B"), (3, "mean"), (4, "var")))
        r = x.type.rank
        f = scale / np.sqrt(var + float(attrs["epsilon"]))
        t = b - mean * f
        p = self.perm_of(x)
        cs = (1, -1) + (1,) * (r - 2)
        fs = self._bcast_const(y.name + "_scale", f.reshape(cs), p)
        ts = self._bcast_const(y.name + "_shift", t.reshape(cs), p)
        mid = self._tmp(y.name + "_scaled", _perm(y.type.shape, p))
        self.w.add_operator("MUL", [self.get(x), fs], [mid], self.w.options("Mul"))
        self.w.add_operator("ADD", [mid, ts], [self._out(y, p)], self.w.options("Add"))

    def _bcast_const(self, name: str, a: np.ndarray, perm: Sequence[int]) -> int:
        r = len(perm)
        a = np.asarray(a, np.float32)
        a = a.reshape((1,) * (r - a.ndim) + a.shape).transpose(perm)
        while a.ndim > 1 and a.shape[0] == 1:
            a = a.reshape(a.shape[1:])
        return self._float_const(name, a)

    def _op_layer_norm(self, node: Node, attrs: dict) -> None:
        x, y = node.inputs[0], node.outputs[0]
        if any(v.has_uses for v in node.outputs[1:]):
            raise _Unsupported("the mean/inv_std_dev outputs have no TFLite form")
        r = x.type.rank
        axis = int(attrs.get("axis", -1)) % r
        p = self.perm_of(x)
        stored_axes = sorted(p.index(a) for a in range(axis, r))
        shape = _perm(y.type.shape, p)
        red = [1 if i in stored_axes else d for i, d in enumerate(shape)]
        n = y.name
        axes = self._i32(n + "_axes", stored_axes)
        keep = self.w.options("Reducer", keepDims=True)
        mean, d, sq, var, ve, inv, nrm = (
            self._tmp(n + s, sh) for s, sh in (("_mean", red), ("_centered", shape),
                                               ("_sq", shape), ("_var", red),
                                               ("_var_eps", red), ("_rstd", red),
                                               ("_normed", shape)))
        src = self.get(x)
        self.w.add_operator("MEAN", [src, axes], [mean], keep)
        self.w.add_operator("SUB", [src, mean], [d], self.w.options("Sub"))
        self.w.add_operator("MUL", [d, d], [sq], self.w.options("Mul"))
        self.w.add_operator("MEAN", [sq, axes], [var], keep)
        eps = self.w.add_const(n + "_eps", np.asarray([attrs.get("epsilon", 1e-5)], np.float32))
        self.w.add_operator("ADD", [var, eps], [ve], self.w.options("Add"))
        self.w.add_operator("RSQRT", [ve], [inv])
        cur = nrm
        self.w.add_operator("MUL", [d, inv], [nrm], self.w.options("Mul"))
        sc, bias = node.input(1), node.input(2)
        steps = [("MUL", "Mul", sc)] + ([("ADD", "Add", bias)] if bias is not None else [])
        for i, (opname, opt, v) in enumerate(steps):
            dst = self._out(y, p) if i == len(steps) - 1 else self._tmp(n + "_scaled", shape)
            self.w.add_operator(opname, [cur, self.operand(v, p)], [dst], self.w.options(opt))
            cur = dst

    def _op_identity(self, node: Node, attrs: dict) -> None:
        x = node.inputs[0]
        self._alias(node.outputs[0], self.get(x), self.perm_of(x))

    # -- shape ops -------------------------------------------------------------------------
    def _reshape_to(self, node: Node) -> None:
        x, y = node.inputs[0], node.outputs[0]
        shape = list(y.type.shape)
        target = node.input(1)
        if (node.op == "reshape" and not all(isinstance(d, int) for d in shape)
                and target is not None and target.const_value is not None
                and x.type.is_static):
            # a shape computed into a constant after type inference ran: resolve it here
            want = [int(d) for d in np.asarray(target.const_value).reshape(-1)]
            if not int(node.attrs.get("allowzero", 0) or 0):
                want = [x.type.shape[i] if d == 0 else d for i, d in enumerate(want)]
            with contextlib.suppress(ValueError):
                shape = list(np.empty(x.type.shape, np.uint8).reshape(want).shape)
        new = [d if isinstance(d, int) else -1 for d in shape]
        if new.count(-1) > 1 and node.op == "reshape" and target is not None \
                and not target.is_const:
            return self._reshape_dynamic(node)  # the target tensor itself (lower_int)
        if new.count(-1) > 1:
            raise _Unsupported(f"result shape {list(shape)} has more than one unknown dim")
        xs = list(x.type.shape)
        big_x = [xs[a] for a in self.perm_of(x) if xs[a] != 1]
        if (len(shape) == 4 and shape == list(y.type.shape) and y.type.is_static
                and x.type.is_static and not y.is_graph_output
                and [d for d in _perm(shape, TO_NHWC) if d != 1] == big_x
                and any(u.op in _NHWC_OPS for u in y.users)):
            # only size-1 axes move (e.g. the squeeze-excite [N,C] -> [N,C,1,1]) and a
            # reader wants NHWC: one RESHAPE straight to the NHWC order
            nhwc = _perm(shape, TO_NHWC)
            self.w.add_operator("RESHAPE", [self.get(x), self._i32("shape", nhwc)],
                                [self._out(y, TO_NHWC)],
                                self.w.options("Reshape", newShape=nhwc))
            return
        opts = self.w.options("Reshape", newShape=new)
        if shape != list(y.type.shape):
            out = self._tmp(y.name, shape)
            self._alias(y, out, _ident(len(shape)))
        else:
            out = self._out(y)
        self.w.add_operator("RESHAPE", [self.logical(x), self._i32("shape", new)], [out], opts)

    _op_reshape = _op_flatten = _op_squeeze = _op_unsqueeze = \
        lambda self, node, attrs: self._reshape_to(node)

    def _op_concat(self, node: Node, attrs: dict) -> None:
        y = node.outputs[0]
        r = y.type.rank
        axis = int(attrs["axis"]) % r
        p = self._pick_perm(node.inputs, r)
        ins = [self.as_perm(v, p) for v in node.inputs]
        self.w.add_operator("CONCATENATION", ins, [self._out(y, p)],
                            self.w.options("Concatenation", axis=p.index(axis)))

    def _op_transpose(self, node: Node, attrs: dict) -> None:
        # y = x.transpose(P): stored_x axis i is x axis px[i], which is y axis P^-1[px[i]];
        # so the same tensor holds y in order P^-1[px[i]], and nothing is emitted
        x, y = node.inputs[0], node.outputs[0]
        r = x.type.rank
        perm = [int(a) for a in (attrs.get("perm") or range(r - 1, -1, -1))]
        inv = [perm.index(a) for a in range(r)]
        if id(x) in self._padfold:  # a folded PAD: the convs reading y read its input
            src = self._padfold[id(x)][0]
            self._padfold[id(y)] = (src, tuple(inv[a] for a in self.perm_of(src)),
                                    [src.type.shape[perm[2]], src.type.shape[perm[3]]])
            return
        self._alias(y, self.get(x), [inv[a] for a in self.perm_of(x)])

    def _conv_takes_pad(self, conv: Node, y: Value, sizes, pads) -> bool:
        """Whether ``conv`` reads ``y`` (the zero-padded input, ``pads`` per NCHW axis of the
        conv input) as its data only and the padding equals TFLite's SAME for it."""
        if conv.op != "conv" or conv.inputs[0] is not y or any(v is y for v in conv.inputs[1:]):
            return False
        w = conv.inputs[1]
        if w is None or not w.is_const or w.type.rank != 4:
            return False
        a = conv.attrs
        if (a.get("auto_pad", "NOTSET") or "NOTSET") not in ("NOTSET", "VALID") or \
                any(int(q) for q in (a.get("pads") or [])) or pads[0] != [0, 0] or \
                pads[1] != [0, 0]:
            return False
        kernel = list(w.type.shape[2:])
        strides = [int(q) for q in (a.get("strides") or [1, 1])]
        dils = [int(q) for q in (a.get("dilations") or [1, 1])]
        sb, se = _same_pads(sizes, kernel, strides, dils)
        return [pads[2][0], pads[3][0]] == sb and [pads[2][1], pads[3][1]] == se

    def _fold_pad(self, node: Node, x: Value, full: list[list[int]]) -> bool:
        """Defer a zero PAD that every reader (a conv, or a transpose feeding convs) can
        take as TFLite SAME padding; the convs then read ``x`` directly."""
        y = node.outputs[0]
        if y.type.rank != 4 or not x.type.is_static or y.is_graph_output or not y.users:
            return False
        for u in y.users:
            if u.op == "transpose":
                t = u.outputs[0]
                perm = [int(a) for a in (u.attrs.get("perm") or range(3, -1, -1))]
                inv = [perm.index(a) for a in range(4)]
                if (t.is_graph_output or not t.users
                        or tuple(inv[a] for a in self.perm_of(x)) != TO_NHWC):
                    return False
                sizes = [x.type.shape[perm[2]], x.type.shape[perm[3]]]
                tp = [full[a] for a in perm]
                if not all(self._conv_takes_pad(c, t, sizes, tp) for c in t.users):
                    return False
            elif not self._conv_takes_pad(u, y, list(x.type.shape[2:]), full):
                return False
        self._padfold[id(y)] = (x, None, list(x.type.shape[2:]))
        return True

    def _op_pad(self, node: Node, attrs: dict) -> None:
        x, y = node.inputs[0], node.outputs[0]
        mode = attrs.get("mode", "constant")
        if mode not in ("constant", "reflect", "symmetric"):
            raise _Unsupported(f"pad mode {mode!r} has no TFLite form")
        r = x.type.rank
        pads = _const_ints(node.input(1), "pads")
        axes = _const_ints(node.input(3), "axes") or list(range(r))
        axes = [a % r for a in axes]
        full = [[0, 0] for _ in range(r)]
        for i, a in enumerate(axes):
            full[a] = [pads[i], pads[i + len(axes)]]
        if any(v < 0 for pr in full for v in pr):
            raise _Unsupported("negative pads (cropping) are not supported")
        if mode == "constant" and not (_scalar(node.input(2)) or 0.0) and \
                self._fold_pad(node, x, full):
            return
        p = self.perm_of(x)
        stored = [full[a] for a in p]
        ins = [self.get(x), self._i32("paddings", stored)]
        if mode != "constant":
            opname, opts = "MIRROR_PAD", self.w.options("MirrorPad", mode=int(mode == "symmetric"))
        else:
            cv = _scalar(node.input(2)) or 0.0
            opname, opts = "PAD", None
            if cv != 0.0:
                opname = "PADV2"
                ins.append(self.w.add_const(y.name + "_value", np.asarray([cv], np.float32)))
        self.w.add_operator(opname, ins, [self._out(y, p)], opts)

    def _op_slice(self, node: Node, attrs: dict) -> None:
        x, y = node.inputs[0], node.outputs[0]
        r = x.type.rank
        starts = _const_ints(node.input(1), "starts")
        ends = _const_ints(node.input(2), "ends")
        axes = [a % r for a in (_const_ints(node.input(3), "axes") or range(len(starts)))]
        steps = _const_ints(node.input(4), "steps") or [1] * len(starts)
        p = self.perm_of(x)
        begin, end, stride = [0] * r, [0] * r, [1] * r
        bmask = emask = 0
        sliced = dict(zip(axes, zip(starts, ends, steps)))
        for i, a in enumerate(p):
            if a not in sliced:
                bmask |= 1 << i
                emask |= 1 << i
                continue
            s, e, st = sliced[a]
            dim = x.type.shape[a]
            if not isinstance(dim, int):  # TFLite resolves negative / open ends at run time
                begin[i], end[i], stride[i], to_end = self._slice_unknown_dim(s, e, st, a, x)
                emask |= int(to_end) << i
                continue
            s, e, st = slice(s, e, st).indices(dim)
            begin[i], end[i], stride[i] = s, e, st
            if e < 0:  # a negative step running to the front: TFLite would wrap -1
                emask |= 1 << i
        opts = self.w.options("StridedSlice", beginMask=bmask, endMask=emask)
        n = y.name
        self.w.add_operator("STRIDED_SLICE", [self.get(x), self._i32(n + "_begin", begin),
                                              self._i32(n + "_end", end),
                                              self._i32(n + "_strides", stride)],
                            [self._out(y, p)], opts)

    def _op_gather(self, node: Node, attrs: dict) -> None:
        x, y = node.inputs[0], node.outputs[0]
        iv = node.inputs[1]
        if iv.const_value is None:
            raise _Unsupported("only constant indices are supported")
        idx = np.asarray(iv.const_value).astype(np.int64)
        r = x.type.rank
        axis = int(attrs.get("axis", 0)) % r
        dim = x.type.shape[axis]
        if (idx < 0).any():
            if not isinstance(dim, int):
                raise _Unsupported("negative indices need a static axis")
            idx = np.where(idx < 0, idx + dim, idx)
        p = self.perm_of(x)
        if idx.ndim == 0:
            out_perm = _drop_axes(p, [axis])
        elif idx.ndim == 1:
            out_perm = p
        else:
            p = out_perm = _ident(r)
        src = self.as_perm(x, p)
        opts = self.w.options("Gather", axis=p.index(axis))
        self.w.add_operator("GATHER", [src, self._i32(y.name + "_indices", idx)],
                            [self._out(y, out_perm if idx.ndim <= 1 else None)], opts)

    def _op_split(self, node: Node, attrs: dict) -> None:
        x = node.inputs[0]
        r = x.type.rank
        axis = int(attrs.get("axis", 0)) % r
        sizes = [v.type.shape[axis] for v in node.outputs]
        if not all(isinstance(s, int) for s in sizes):
            raise _Unsupported("split sizes must be static")
        p = self.perm_of(x)
        outs = [self._out(v, p) for v in node.outputs]
        self.w.add_operator("SPLIT_V", [self.get(x), self._i32("size_splits", sizes),
                                        self._i32("split_axis", [p.index(axis)])], outs,
                            self.w.options("SplitV", numSplits=len(outs)))
