"""IR graph (float32, NCHW) -> TFLite flatbuffer (NHWC) that the LiteRT interpreter runs.

Contract of :func:`emit_tflite`:

* Layout: every rank-4 IR value is NCHW; its TFLite tensor is stored NHWC (the IR value
  transposed by ``(0, 2, 3, 1)``). Values of other ranks are stored as they are. Rank-4
  graph inputs and outputs keep the IR's NCHW shape in the file: one ``TRANSPOSE`` follows
  each such input and precedes each such output, so the .tflite has the IR's interface.
  Rank-4 constants are transposed when written; constants read by a rank-4 elementwise op
  (``[C,1,1]`` per-channel, ``[1,C,H,W]``, ...) are brought to NHWC order and their leading
  ones dropped (``[C,1,1]`` -> ``[C]``).
* Ops: conv (group 1 -> ``CONV_2D``, weights OIHW -> OHWI; group = C_in -> ``DEPTHWISE_CONV_2D``,
  weights (C*M,1,H,W) -> (1,H,W,C*M)); pads equal to TFLite SAME -> ``SAME``, zero pads ->
  ``VALID``, other (non-negative) pads -> a ``PAD`` op and ``VALID``; a missing bias is
  written as zeros. max_pool/avg_pool -> ``MAX_POOL_2D``/``AVERAGE_POOL_2D`` where the
  padding semantics match (TFLite SAME never counts padding: avg_pool with
  ``count_include_pad=1`` and pads becomes ``PAD`` + ``VALID``; other pads are refused).
  global_avg_pool/global_max_pool -> ``MEAN``/``REDUCE_MAX`` over [1, 2] keeping dims.
  gemm (2-D, constant B, alpha = beta = 1, no transA) and matmul with a constant 2-D B ->
  ``FULLY_CONNECTED``. add/sub/mul/div with broadcasting; relu, clip (``RELU``, ``RELU6``,
  ``RELU_N1_TO_1``, ``RELU_0_TO_1`` or ``MAXIMUM``/``MINIMUM``), sigmoid (``LOGISTIC``),
  tanh, leaky_relu, hard_swish, prelu; softmax on the last axis (the channel axis of a rank-4
  value, which is last in NHWC); reshape/flatten (a rank-4 input is transposed back to NCHW
  first, a rank-4 result to NHWC after); concat (axis remapped for rank 4); transpose
  (composed with the layout permutations; an identity result costs nothing).
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

from .writer import TfliteWriter, op_version

log = logging.getLogger(__name__)

TO_NHWC = (0, 2, 3, 1)
TO_NCHW = (0, 3, 1, 2)
_NCHW_AXIS_IN_NHWC = (0, 3, 1, 2)  # IR (NCHW) axis a is stored at position [a] in NHWC

# Fused activations infercc writes. TFLite's enum also has TANH, but the float kernels clamp
# through CalculateActivationRange, which knows only the RELU family: measured with LiteRT,
# CONV_2D with fused TANH returns the un-activated value and FULLY_CONNECTED refuses it at
# prepare time. So tanh and sigmoid become separate TANH / LOGISTIC ops.
_FUSED = {"": 0, "relu": 1, "relu_n1_to_1": 2, "relu6": 3}
_SEPARATE_ACT = {"tanh": "TANH", "sigmoid": "LOGISTIC"}
_UNARY = {"relu": "RELU", "sigmoid": "LOGISTIC", "tanh": "TANH", "hard_swish": "HARD_SWISH"}
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
                float16: bool = False) -> bytes:
    """Lower ``graph`` to TFLite flatbuffer bytes; also write them to ``path`` if given."""
    data = _Lowering(graph, float16).run()
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


def _same_memory(nchw: Sequence[Any]) -> bool:
    """Whether a rank-4 value has the same element order in NCHW and NHWC (C = 1 or H = W = 1)."""
    _, c, h, w = nchw
    return c == 1 or (h == 1 and w == 1)


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


class _Lowering:
    def __init__(self, graph: Graph, float16: bool):
        self.g = graph
        self.float16 = float16
        self.w = TfliteWriter(graph.name)
        self.t: dict[int, int] = {}  # id(IR value) -> tensor index (NHWC when rank 4)
        self.problems: list[tuple[str, str, str]] = []
        self._consts: dict[tuple[int, str], int] = {}

    # -- driver ----------------------------------------------------------------------------
    def run(self) -> bytes:
        from compiler.ops.registry import get_schema

        self._check_interface()
        if self.problems:
            raise TfliteEmitError(self.g.name, self.problems)
        out_ids = {id(v) for v in self.g.outputs}
        # interface names are claimed first so intermediate tensors never take them
        self.w.reserve([v.name for v in list(self.g.inputs) + list(self.g.outputs)])
        in_idx = [self._graph_input(v) for v in self.g.inputs]
        for node in self.g.nodes:
            if node.op == CONST:
                continue
            fn = getattr(self, "_op_" + node.op, None)
            try:
                bad = [v.name for v in node.outputs if v.type.dtype != DType.F32]
                if fn is None:
                    raise _Unsupported("no TFLite lowering for this op")
                unranked = [v.name for v in list(node.inputs) + node.outputs
                            if v is not None and v.type.shape is None]
                if unranked:
                    raise _Unsupported(f"%{unranked[0]} has unknown rank; TFLite needs ranks")
                if bad:
                    raise _Unsupported(f"output(s) {', '.join('%' + b for b in bad)} are not "
                                       "float32; only float32 graphs are supported")
                schema = get_schema(node.op)
                attrs = schema.resolve_attrs(node.attrs) if schema else dict(node.attrs)
                fn(node, attrs)
            except _Unsupported as e:
                self.problems.append((node.op, node.label, str(e)))
                for v in node.outputs:  # a placeholder lets later nodes be checked too
                    if id(v) not in self.t and v.type.shape is not None:
                        self.t[id(v)] = self._value_tensor(v, id(v) in out_ids)
        if self.problems:
            raise TfliteEmitError(self.g.name, self.problems)
        out_idx = [self._graph_output(v) for v in self.g.outputs]
        self.w.set_inputs(in_idx, [v.name for v in self.g.inputs])
        self.w.set_outputs(out_idx, [v.name for v in self.g.outputs])
        return self.w.finish()

    def _check_interface(self) -> None:
        for v in list(self.g.inputs) + list(self.g.outputs):
            if v.type.dtype != DType.F32 or v.type.shape is None:
                why = (f"graph input/output %{v.name} has type {v.type}; only float32 values "
                       "of known rank are supported")
                self.problems.append(("model", "-", why))
            elif v.is_const:
                why = f"graph output %{v.name} is a constant; fold it into the caller instead"
                self.problems.append(("model", "-", why))

    # -- tensors ---------------------------------------------------------------------------
    def _stored(self, v: Value) -> tuple[list[int], list[int]]:
        static, sig = _dims(v.type.shape)
        if len(static) == 4:
            static, sig = _perm(static, TO_NHWC), _perm(sig, TO_NHWC)
        return static, sig

    def _value_tensor(self, v: Value, is_output: bool = False) -> int:
        """A fresh tensor holding IR value ``v`` in its stored layout."""
        static, sig = self._stored(v)
        name = v.name + "_nhwc" if (len(static) == 4 and (is_output or v in self.g.inputs)) \
            else v.name
        return self.w.add_tensor(name, np.float32, static, shape_signature=sig)

    def _out(self, v: Value) -> int:
        idx = self._value_tensor(v, v.is_graph_output)
        self.t[id(v)] = idx
        return idx

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
        """The tensor of an IR value (constants written on first use, NHWC when rank 4)."""
        if v is None:
            return -1
        if id(v) in self.t:
            return self.t[id(v)]
        if v.is_const:
            key = (id(v), "stored")
            if key not in self._consts:
                a = self._const_array(v)
                if a.dtype != np.float32:
                    raise _Unsupported(f"constant %{v.name} is {a.dtype}, not float32")
                if a.ndim == 4:
                    a = a.transpose(TO_NHWC)
                self._consts[key] = self._float_const(v.name, a)
            return self._consts[key]
        raise _Unsupported(f"input %{v.name} has no TFLite tensor")

    def operand(self, v: Value, out_rank: int) -> int:
        """An elementwise operand of a node whose result has rank ``out_rank``."""
        if out_rank != 4 or v.type.rank == 4 and not v.is_const:
            return self.get(v)
        if not v.is_const:
            if v.type.is_static and v.type.numel() == 1:
                return self.get(v)
            raise _Unsupported(f"operand %{v.name} of rank {v.type.rank} broadcasts against a "
                               "rank-4 value and is not a constant; its NHWC form is unknown")
        key = (id(v), "bcast4")
        if key not in self._consts:
            a = self._const_array(v).astype(np.float32)
            if a.ndim > 4:
                raise _Unsupported(f"constant %{v.name} has rank {a.ndim} > 4")
            a = a.reshape((1,) * (4 - a.ndim) + a.shape).transpose(TO_NHWC)
            while a.ndim > 1 and a.shape[0] == 1:
                a = a.reshape(a.shape[1:])
            self._consts[key] = self._float_const(v.name + "_nhwc", a)
        return self._consts[key]

    def weight(self, v: Value | None, what: str) -> np.ndarray:
        if v is None or not v.is_const:
            raise _Unsupported(f"{what} must be a constant")
        a = self._const_array(v)
        if a.dtype != np.float32:
            raise _Unsupported(f"{what} %{v.name} is {a.dtype}, not float32")
        return a

    def transpose(self, src: int, perm: Sequence[int], dst: int) -> None:
        self.w.add_operator("TRANSPOSE", [src, self._i32("perm", perm)], [dst])

    # -- interface -------------------------------------------------------------------------
    def _graph_input(self, v: Value) -> int:
        static, sig = _dims(v.type.shape)
        idx = self.w.add_tensor(v.name, np.float32, static, shape_signature=sig)
        if len(static) == 4:
            self.t[id(v)] = self._value_tensor(v)
            self.transpose(idx, TO_NHWC, self.t[id(v)])
        else:
            self.t[id(v)] = idx
        return idx

    def _graph_output(self, v: Value) -> int:
        stored = self.get(v)
        if v.type.rank != 4:
            if v in self.g.inputs:  # an input returned as is: give the output its own tensor
                out = self._tmp(v.name, v.type.shape)
                self.w.add_operator("RESHAPE", [stored, self._i32("shape", _dims(
                    v.type.shape)[1])], [out])
                return out
            return stored
        static, sig = _dims(v.type.shape)
        out = self.w.add_tensor(v.name, np.float32, static, shape_signature=sig)
        self.transpose(stored, TO_NCHW, out)
        return out

    # -- activation handling ---------------------------------------------------------------
    def _act(self, v: Value, act: str) -> tuple[int, int, Callable[[], None]]:
        """(fused code, tensor the op writes, what to emit after the op)."""
        act = act or ""
        if act in _FUSED:
            return _FUSED[act], self._out(v), lambda: None
        if act in _SEPARATE_ACT:
            static, sig = self._stored(v)
            pre = self.w.add_tensor(v.name + "_preact", np.float32, static, shape_signature=sig)

            def post() -> None:
                self.w.add_operator(_SEPARATE_ACT[act], [pre], [self._out(v)])

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

    def _pad(self, x: Value, begins, ends, name: str) -> int:
        src = self.get(x)
        shape = list(x.type.shape)
        for i in range(2):
            if isinstance(shape[2 + i], int):
                shape[2 + i] += begins[i] + ends[i]
        out = self._tmp(name + "_pad", _perm(shape, TO_NHWC))
        pads = [[0, 0], [begins[0], ends[0]], [begins[1], ends[1]], [0, 0]]
        self.w.add_operator("PAD", [src, self._i32("paddings", pads)], [out])
        return out

    def _op_conv(self, node: Node, attrs: dict) -> None:
        x, wv = node.inputs[0], node.inputs[1]
        b = node.input(2)
        w = self.weight(wv, "the conv weight")
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
            opname, wt = "CONV_2D", w.transpose(0, 2, 3, 1)
        elif group == cin and w.shape[1] == 1:
            opname, wt = "DEPTHWISE_CONV_2D", w.transpose(1, 2, 3, 0)
        else:
            raise _Unsupported(f"grouped conv with group={group} (C_in={cin}) is neither plain "
                               "nor depthwise")
        bias = np.zeros(o, np.float32) if b is None else self.weight(b, "the conv bias")
        src = self.get(x)
        if mode == "EXPLICIT":
            src = self._pad(x, begins, ends, node.outputs[0].name)
            sizes = [n + bb + e for n, bb, e in zip(sizes, begins, ends)]
            mode = "VALID"
        self._check_out_size(node, sizes, kernel, strides, dils, mode)
        fused, out, post = self._act(node.outputs[0], attrs.get("activation", ""))
        base = wv.name
        w_idx = self._float_const(base + ("_ohwi" if group == 1 else "_1hwc"), wt)
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
        src = self.get(x)
        include_pad = opname == "AVERAGE_POOL_2D" and int(attrs.get("count_include_pad", 0))
        if mode != "VALID" and include_pad:
            # TFLite never counts padding; explicit zero padding makes every window full
            src = self._pad(x, begins, ends, node.outputs[0].name)
            sizes = [n + bb + e for n, bb, e in zip(sizes, begins, ends)]
            mode = "VALID"
        elif mode == "EXPLICIT":
            raise _Unsupported(f"pads {begins + ends} are neither zero nor TFLite SAME, and "
                               "TFLite pooling cannot express other padding")
        self._check_out_size(node, sizes, kernel, strides, [1, 1], mode)
        opts = self.w.options("Pool2D", padding=0 if mode == "SAME" else 1, strideH=strides[0],
                              strideW=strides[1], filterHeight=kernel[0], filterWidth=kernel[1])
        self.w.add_operator(opname, [src], [self._out(node.outputs[0])], opts)

    def _op_max_pool(self, node: Node, attrs: dict) -> None:
        if len(node.outputs) > 1 and node.outputs[1].has_uses:
            raise _Unsupported("the Indices output has no TFLite form")
        self._pool(node, attrs, "MAX_POOL_2D")

    def _op_avg_pool(self, node: Node, attrs: dict) -> None:
        self._pool(node, attrs, "AVERAGE_POOL_2D")

    def _global(self, node: Node, opname: str) -> None:
        x = node.inputs[0]
        if x.type.rank != 4:
            raise _Unsupported(f"input rank {x.type.rank}: only rank 4 (NCHW) is supported")
        opts = self.w.options("Reducer", keepDims=True)
        self.w.add_operator(opname, [self.get(x), self._i32("axes", [1, 2])],
                            [self._out(node.outputs[0])], opts)

    def _op_global_avg_pool(self, node: Node, attrs: dict) -> None:
        self._global(node, "MEAN")

    def _op_global_max_pool(self, node: Node, attrs: dict) -> None:
        self._global(node, "REDUCE_MAX")

    # -- dense -----------------------------------------------------------------------------
    def _fc(self, node: Node, x: Value, w_nk: np.ndarray, wname: str, bias: Value | None,
            act: str) -> None:
        if x.type.rank != 2:
            raise _Unsupported(f"input %{x.name} has rank {x.type.rank}; only 2-D inputs "
                               "are supported")
        b_idx = -1
        if bias is not None:
            bv = self.weight(bias, "the bias")
            n = w_nk.shape[0]
            if bv.size != n or (bv.ndim == 2 and bv.shape[0] != 1):
                raise _Unsupported(f"bias of shape {list(bv.shape)} is not one value per "
                                   "output")
            b_idx = self._float_const(bias.name, bv.reshape(n))
        src = self.get(x)
        fused, out, post = self._act(node.outputs[0], act)
        w_idx = self._float_const(wname, w_nk)
        opts = self.w.options("FullyConnected", fusedActivationFunction=fused)
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
                 node.input(2), attrs.get("activation", ""))

    def _op_matmul(self, node: Node, attrs: dict) -> None:
        b = self.weight(node.inputs[1], "B (the right operand)")
        if b.ndim != 2:
            raise _Unsupported("B must be a 2-D constant")
        self._fc(node, node.inputs[0], np.ascontiguousarray(b.T), node.inputs[1].name + "_t",
                 None, attrs.get("activation", ""))

    # -- elementwise -----------------------------------------------------------------------
    def _binary(self, node: Node, attrs: dict) -> None:
        opname, opt = _BINARY[node.op]
        out_v = node.outputs[0]
        r = out_v.type.rank
        if r is None or r > 4:
            raise _Unsupported(f"result rank {r}: only ranks up to 4 are supported")
        a, b = (self.operand(v, r) for v in node.inputs[:2])
        fused, out, post = self._act(out_v, attrs.get("activation", ""))
        self.w.add_operator(opname, [a, b], [out],
                            self.w.options(opt, fusedActivationFunction=fused))
        post()

    _op_add = _op_sub = _op_mul = _op_div = _binary

    def _unary(self, node: Node, opname: str, options: Any = None) -> None:
        self.w.add_operator(opname, [self.get(node.inputs[0])], [self._out(node.outputs[0])],
                            options)

    def _op_relu(self, node: Node, attrs: dict) -> None:
        self._unary(node, "RELU")

    def _op_sigmoid(self, node: Node, attrs: dict) -> None:
        self._unary(node, "LOGISTIC")

    def _op_tanh(self, node: Node, attrs: dict) -> None:
        self._unary(node, "TANH")

    def _op_hard_swish(self, node: Node, attrs: dict) -> None:
        self._unary(node, "HARD_SWISH")

    def _op_leaky_relu(self, node: Node, attrs: dict) -> None:
        self._unary(node, "LEAKY_RELU", self.w.options("LeakyRelu", alpha=float(attrs["alpha"])))

    def _op_clip(self, node: Node, attrs: dict) -> None:
        lo, hi = _scalar(node.input(1)), _scalar(node.input(2))
        named = {(0.0, 6.0): "RELU6", (0.0, None): "RELU", (-1.0, 1.0): "RELU_N1_TO_1",
                 (0.0, 1.0): "RELU_0_TO_1"}
        if (lo, hi) in named:
            self._unary(node, named[(lo, hi)])
            return
        if lo is None and hi is None:
            raise _Unsupported("clip without bounds is an identity; run remove-identity")
        src = self.get(node.inputs[0])
        out_v = node.outputs[0]
        steps = [("MAXIMUM", lo), ("MINIMUM", hi)]
        steps = [(k, c) for k, c in steps if c is not None]
        for i, (opname, c) in enumerate(steps):
            if i == len(steps) - 1:
                dst = self._out(out_v)
            else:
                dst = self._tmp(out_v.name + "_lo", self._stored(out_v)[0])
            bound = self.w.add_const(f"{out_v.name}_{opname.lower()}",
                                     np.asarray([c], np.float32))
            self.w.add_operator(opname, [src, bound], [dst])
            src = dst

    def _op_prelu(self, node: Node, attrs: dict) -> None:
        out_v = node.outputs[0]
        slope = self.operand(node.inputs[1], out_v.type.rank or 0)
        self.w.add_operator("PRELU", [self.get(node.inputs[0]), slope], [self._out(out_v)])

    def _op_softmax(self, node: Node, attrs: dict) -> None:
        r = node.inputs[0].type.rank
        axis = int(attrs["axis"]) % r
        last = 1 if r == 4 else r - 1  # the channel axis is last in NHWC
        if axis != last:
            raise _Unsupported(f"softmax over axis {attrs['axis']} of a rank-{r} value: TFLite "
                               "SOFTMAX works on the last (stored) axis only")
        self._unary(node, "SOFTMAX", self.w.options("Softmax", beta=1.0))

    def _op_identity(self, node: Node, attrs: dict) -> None:
        if node.outputs[0].is_graph_output:
            raise _Unsupported("identity feeding a graph output; run remove-identity first")
        self.t[id(node.outputs[0])] = self.get(node.inputs[0])

    # -- shape ops -------------------------------------------------------------------------
    def _to_nchw(self, x: Value) -> int:
        src = self.get(x)
        if x.type.rank != 4 or _same_memory(x.type.shape):
            return src
        dst = self._tmp(x.name + "_nchw", x.type.shape)
        self.transpose(src, TO_NCHW, dst)
        return dst

    def _reshape_to(self, node: Node) -> None:
        x, y = node.inputs[0], node.outputs[0]
        shape = y.type.shape
        if shape is None:
            raise _Unsupported("the result rank is unknown")
        new = [d if isinstance(d, int) else -1 for d in shape]
        if new.count(-1) > 1:
            raise _Unsupported(f"result shape {list(shape)} has more than one unknown dim")
        src = self._to_nchw(x)
        opts = self.w.options("Reshape", newShape=new)
        if len(new) != 4:
            self.w.add_operator("RESHAPE", [src, self._i32("shape", new)], [self._out(y)], opts)
            return
        if _same_memory(shape):  # NCHW and NHWC orders hold the same bytes
            new = _perm(new, TO_NHWC)
            opts = self.w.options("Reshape", newShape=new)
            self.w.add_operator("RESHAPE", [src, self._i32("shape", new)], [self._out(y)], opts)
            return
        mid = self._tmp(y.name + "_nchw", shape)
        self.w.add_operator("RESHAPE", [src, self._i32("shape", new)], [mid], opts)
        self.transpose(mid, TO_NHWC, self._out(y))

    def _op_reshape(self, node: Node, attrs: dict) -> None:
        self._reshape_to(node)

    def _op_flatten(self, node: Node, attrs: dict) -> None:
        self._reshape_to(node)

    def _op_concat(self, node: Node, attrs: dict) -> None:
        y = node.outputs[0]
        r = y.type.rank
        axis = int(attrs["axis"]) % r
        if r == 4:
            axis = _NCHW_AXIS_IN_NHWC[axis]
        ins = [self.get(v) for v in node.inputs]
        self.w.add_operator("CONCATENATION", ins, [self._out(y)],
                            self.w.options("Concatenation", axis=axis))

    def _op_transpose(self, node: Node, attrs: dict) -> None:
        x, y = node.inputs[0], node.outputs[0]
        r = x.type.rank
        perm = list(attrs.get("perm") or range(r - 1, -1, -1))
        if r == 4:
            # stored_y[i] = y axis TO_NHWC[i] = x axis perm[TO_NHWC[i]] = stored_x axis
            # TO_NCHW[perm[TO_NHWC[i]]]  (TO_NCHW inverts TO_NHWC)
            perm = [TO_NCHW[perm[TO_NHWC[i]]] for i in range(4)]
            if perm == [0, 1, 2, 3] and not y.is_graph_output:
                self.t[id(y)] = self.get(x)
                return
        self.transpose(self.get(x), perm, self._out(y))
