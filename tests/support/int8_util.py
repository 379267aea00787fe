"""Test helpers for INT8 emission: a small QDQ-form builder and an onnxruntime data reader.

``qdq_form`` writes the contract's QDQ form (docs/quantization.md) with plain min/max
ranges, independently of passes/quantization/quantize.py, so the TFLite integer emitter is
tested on its own: every float activation that a quantizable op reads or writes is quantized
once after its producer, weights per channel symmetric int8, biases int32 with scale
input x weight, const operands of add/sub/mul/prelu per tensor. No shared-parameter or
fixed-parameter rules are applied (the emitter must cope with any parameters).
"""

from __future__ import annotations

import numpy as np

from compiler.ir import Graph
from compiler.ir.types import DType, QuantParams, TensorType

QUANTIZABLE = {
    "conv", "conv_transpose", "gemm", "matmul", "add", "sub", "mul", "avg_pool", "max_pool",
    "global_avg_pool", "global_max_pool", "reduce_mean", "reduce_max", "concat", "reshape",
    "flatten", "squeeze", "unsqueeze", "transpose", "pad", "resize", "slice", "split",
    "gather", "relu", "clip", "leaky_relu", "prelu", "hard_swish", "sigmoid", "tanh",
    "softmax", "depth_to_space", "space_to_depth"}
#: output parameters TFLite's int8 kernels fix, and ops whose output shares the input's
FIXED = {"sigmoid": (1 / 256, -128), "softmax": (1 / 256, -128), "tanh": (1 / 128, 0)}
SHARED = {"max_pool", "global_max_pool", "reduce_max", "reshape", "flatten", "squeeze",
          "unsqueeze", "transpose", "slice", "split", "gather", "pad", "depth_to_space",
          "space_to_depth", "resize"}
_WEIGHT_AXIS = {"conv": 0, "conv_transpose": 1, "matmul": 1}


def value_ranges(graph: Graph, feeds: list[dict]) -> dict[str, tuple[float, float]]:
    from compiler.interpreter import Interpreter

    rng: dict[str, tuple[float, float]] = {}

    def note(name, a):
        a = np.asarray(a)
        if a.dtype.kind != "f" or a.size == 0:
            return
        lo, hi = float(a.min()), float(a.max())
        old = rng.get(name, (lo, hi))
        rng[name] = (min(old[0], lo), max(old[1], hi))

    interp = Interpreter(graph)
    for f in feeds:
        for k, a in f.items():
            note(k, a)
        interp.run(f, observer=lambda node, outs: [note(v.name, a) for v, a in
                                                   zip(node.outputs, outs)])
    return rng


def _act_params(lo: float, hi: float) -> QuantParams:
    from compiler.quantization.scales import params_from_range

    return params_from_range(lo, hi, symmetric=False, dtype=DType.I8)


def qdq_form(graph: Graph, feeds: list[dict], keep_float: tuple[str, ...] = ()) -> Graph:
    """A QDQ-form copy of ``graph`` calibrated on ``feeds`` (min/max)."""
    from compiler.quantization.scales import weight_params

    rng = value_ranges(graph, feeds)
    g = graph.copy()
    quant_nodes = [n for n in g.nodes if n.op in QUANTIZABLE
                   and n.outputs[0].name not in keep_float]
    qnodes = {id(n) for n in quant_nodes}
    marked: dict[int, object] = {}
    for n in quant_nodes:
        for v in list(n.inputs) + list(n.outputs):
            if v is not None and not v.is_const and v.type.dtype == DType.F32 and \
                    (v.has_uses or v in n.inputs):
                marked[id(v)] = v
    order = [v for v in g.inputs if id(v) in marked]
    order += [v for n in g.nodes for v in n.outputs if id(v) in marked]
    dq_of: dict[int, object] = {}
    for v in order:
        qp = _act_params(*rng[v.name])
        p = v.producer
        if p is not None and p.op in FIXED and id(p) in qnodes:
            qp = QuantParams.per_tensor(*FIXED[p.op])
        elif p is not None and p.op in SHARED and id(p) in qnodes and id(p.inputs[0]) in dq_of:
            qp = dq_of[id(p.inputs[0])][1]
        first = g.nodes[0]
        s = g.add_const(np.float32(qp.scale[0]), v.name + ".scale", before=first)
        z = g.add_const(np.int8(qp.zero_point[0]), v.name + ".zp", before=first)
        q = g.add_node("quantize", [v, s, z], names=[v.name + ".q"], source=_src(v),
                       after=v.producer if v.producer is not None else z.producer)
        dq = g.add_node("dequantize", [q.output, s, z], names=[v.name + ".dq"],
                        source=_src(v), after=q)
        for node, i in v.uses():
            if node is not q:
                node.set_input(i, dq.output)
        if v.is_graph_output:
            name = v.name
            g.rename(v, g.fresh_name(name + ".f"))
            g.outputs = [dq.output if o is v else o for o in g.outputs]
            g.rename(dq.output, name)
        dq_of[id(v)] = dq_of[id(dq.output)] = (dq.output, qp)
    for n in quant_nodes:
        in_qp = None
        x = n.inputs[0]
        if x is not None and x.producer is not None and x.producer.op == "dequantize":
            in_qp = x.producer.inputs[0].type.quant
        if n.op in ("conv", "conv_transpose", "gemm", "matmul"):
            w = n.inputs[1]
            if not w.is_const or (n.op == "matmul" and w.type.rank != 2):
                continue
            axis = _WEIGHT_AXIS.get(n.op)
            if n.op == "gemm":
                axis = 0 if n.attrs.get("transB", 0) else 1
            wa = np.asarray(w.const_value, np.float32)
            wqp = weight_params(wa, axis)
            sh = [1] * wa.ndim
            sh[axis] = -1
            wq = np.clip(np.rint(wa / np.asarray(wqp.scale).reshape(sh)), -127, 127)
            _const_dq(g, n, 1, wq.astype(np.int8), wqp, axis)
            b = n.input(2)
            if b is not None and b.is_const and in_qp is not None:
                bs = np.asarray(wqp.scale, np.float64) * in_qp.scale[0]
                bq = np.rint(np.asarray(b.const_value, np.float64) / bs).astype(np.int32)
                _const_dq(g, n, 2, bq, QuantParams.per_axis(bs, np.zeros(bs.size), 0), 0)
        elif n.op in ("add", "sub", "mul", "prelu"):
            for i, c in enumerate(n.inputs[:2]):
                if c is not None and c.is_const:
                    a = np.asarray(c.const_value, np.float32)
                    qp = _act_params(float(a.min()), float(a.max()))
                    q = np.clip(np.rint(a / qp.scale[0]) + qp.zero_point[0], -128, 127)
                    _const_dq(g, n, i, q.astype(np.int8), qp, None)
    from compiler.ir.verifier import verify

    verify(g)
    return g


def _src(v):
    return v.producer.source if v.producer is not None else ()


def _const_dq(g: Graph, node, i: int, q: np.ndarray, qp: QuantParams, axis) -> None:
    c = node.inputs[i]
    dt = DType.from_numpy(q.dtype)
    qc = g.add_const(q, c.name + ".q", before=node,
                     type=TensorType(dt, q.shape, qp))
    if axis is None:
        s = g.add_const(np.float32(qp.scale[0]), c.name + ".scale", before=node)
        z = g.add_const(np.asarray(qp.zero_point[0], q.dtype), c.name + ".zp", before=node)
        attrs = {}
    else:
        s = g.add_const(np.asarray(qp.scale, np.float32), c.name + ".scale", before=node)
        z = g.add_const(np.zeros(len(qp.scale), q.dtype), c.name + ".zp", before=node)
        attrs = {"axis": axis}
    dq = g.add_node("dequantize", [qc, s, z], attrs, names=[c.name + ".dq"], before=node,
                    source=node.source)
    node.set_input(i, dq.output)


def ort_reader(samples, name: str = "input"):
    """An onnxruntime CalibrationDataReader feeding ``samples`` to the input ``name``."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(samples)

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {name: x}

    return Reader()
