"""Would XNNPACK run a .tflite model's convolutions sparse (NCHW) on ARM? The conditions,
checked on the flatbuffer as LiteRT's XNNPACK delegate sees it.

XNNPACK's sparse inference is a rewrite of a whole delegated subgraph, not a per-weight
kernel choice. The conditions below are those of XNNPACK's ``src/subgraph.c``:
``xnn_check_nchw_compatibility`` (per node) and ``xnn_subgraph_rewrite_for_nchw`` (per
cluster), which runs only when the runtime is created with
``XNN_FLAG_HINT_SPARSE_INFERENCE`` (the delegate's sparse-inference option) and, in
``xnn_create_runtime``, only on CPUs without AVX: on this x86 machine LiteRT never takes the
sparse path, so a "would run sparse" answer here is unverified (``SparsePayoff.verified =
False``). Per node (TFLite op -> XNNPACK node as the delegate maps it):

* every input and output is float (quantized ops never qualify);
* ``CONV_2D``: a 1x1 kernel with stride 1, no dilation, no padding and no groups (runs NCHW);
  or the stem: a 3x3 kernel, stride 2, padding 1 on each side and 3 input channels (converts
  NHWC to NCHW). ``padding=SAME`` gives XNNPACK no explicit padding, so a padded 3x3 conv
  qualifies only as an explicit zero ``PAD`` on H and W before a ``VALID`` conv, which
  XNNPACK fuses into the conv;
* ``DEPTHWISE_CONV_2D``: depth multiplier 1, no dilation, equal strides of 1 or 2, a 3x3
  kernel padded 1 or a 5x5 kernel padded 2 on each side -- explicitly (a fused ``PAD``):
  ``padding=SAME`` is refused outright;
* ``FULLY_CONNECTED`` runs NCHW; ``ADD``/``MUL`` on 4-D operands whose constant operand is a
  scalar or a vector; unary activations on 4-D inputs; ``RESIZE_BILINEAR`` with H, W > 1;
* the cluster's exits: a ``MEAN`` over H and W of a 4-D input, or ``DEPTH_TO_SPACE``
  (NCHW back to NHWC);
* any other op (``RESHAPE``, ``CONCATENATION``, ``PRELU``, pooling, ...) is not NCHW.

Per cluster (the nodes connected, through their inputs, to an exit): every producer inside it
is NCHW-compatible, no value inside it comes from a graph input or an incompatible op, every
value it consumes has only NCHW consumers (a graph output counts as one more consumer), and
its 1x1 convolution and fully-connected weights hold more than 2/3 zeros in total (a cluster
without 1x1 convolutions never qualifies). Weights behind ``DENSIFY`` and float16 weights
behind ``DEQUANTIZE`` are static to the delegate, and their zeros count.

:func:`check` gives an :class:`XnnpackReport`: one :class:`NodeCheck` per op (why it is or
is not NCHW), the clusters found, and whether any cluster would run sparse.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

NCHW, NHWC2NCHW, NCHW2NHWC, INCOMPATIBLE = 1, 2, 4, 8
SOURCE = "XNNPACK src/subgraph.c: xnn_check_nchw_compatibility, xnn_subgraph_rewrite_for_nchw"

_UNARY = {"ABS", "CEIL", "ELU", "EXP", "FLOOR", "GELU", "HARD_SWISH", "LEAKY_RELU", "LOGISTIC",
          "NEG", "RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1", "ROUND", "RSQRT", "SIN",
          "SQRT", "SQUARE", "TANH"}
_FLOAT = (0, 1)  # TensorType FLOAT32, FLOAT16
_SAME = 0  # Padding.SAME


@dataclass
class NodeCheck:
    """One TFLite op: ``flags`` (``NCHW | NHWC2NCHW | NCHW2NHWC``, 0: not NCHW), ``why``
    (the condition that fails, or what the op does in NCHW), ``cluster`` (index into
    :attr:`XnnpackReport.clusters`, or None) and, for 1x1 convs and fully-connected ops,
    their weight's ``zeros`` / ``params``."""

    index: int
    op: str
    label: str
    flags: int
    why: str
    cluster: int | None = None
    zeros: int = 0
    params: int = 0
    blocked: str = ""  # why it cannot join an NCHW cluster through its inputs


@dataclass
class Cluster:
    """Ops that XNNPACK would switch to NCHW together; ``sparse``: it would; ``why``: why not."""

    nodes: list[int]
    zeros: int
    params: int
    sparse: bool
    why: str


@dataclass
class XnnpackReport:
    """The checks of one subgraph; ``sparse``: some cluster would run sparse on ARM."""

    nodes: list[NodeCheck] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)

    @property
    def sparse(self) -> bool:
        return any(c.sparse for c in self.clusters)

    def sparse_ops(self) -> set[str]:
        """Labels (first output tensor names) of the ops XNNPACK would run with sparse
        kernels: the 1x1 convolutions and fully-connected ops of the clusters that qualify
        (the other ops of a cluster run dense NCHW kernels)."""
        return {n.label for n in self.nodes if n.params and n.cluster is not None
                and self.clusters[n.cluster].sparse}

    def summary(self) -> str:
        """One line: sparse or not, and the first reasons."""
        if self.sparse:
            n = sum(len(c.nodes) for c in self.clusters if c.sparse)
            c = next(c for c in self.clusters if c.sparse)
            return (f"XNNPACK on ARM would run {n} op(s) in its sparse NCHW path (1x1 weights "
                    f"{c.zeros}/{c.params} zeros; unverified here: x86 with AVX never does)")
        if self.clusters:
            return "XNNPACK would not run sparse: " + "; ".join(c.why for c in self.clusters[:2])
        exits = [n for n in self.nodes if n.op in ("MEAN", "DEPTH_TO_SPACE")]
        if not exits:
            return ("XNNPACK would not run sparse: no spatial MEAN or DEPTH_TO_SPACE ends an "
                    "NCHW cluster")
        return "XNNPACK would not run sparse: " + "; ".join(
            f"{n.label} ({n.op}) {n.blocked or n.why}" for n in exits[:2])


class _View:
    """The delegate's view of subgraph 0: static tensors (buffers, and outputs of DENSIFY /
    DEQUANTIZE of static tensors), producers and consumers."""

    def __init__(self, model: Any):
        from compiler.frontends.tflite.reader import builtin_names, decode, op_type

        self.model, self.sg = model, model.subgraphs[0]
        names = builtin_names()
        self.ops = [op_type(model, op, names) for op in self.sg.operators]
        self.decode = decode
        self.static: set[int] = set()  # tensors the delegate holds as constant data
        self.producer: dict[int, int] = {}
        self.consumers: dict[int, list[int]] = {}
        for t_idx, t in enumerate(self.sg.tensors):
            buf = model.buffers[t.buffer] if t.buffer is not None and t.buffer < len(
                model.buffers) else None
            if buf is not None and buf.data is not None and len(buf.data):
                self.static.add(t_idx)
        self.folded: set[int] = set()
        self.folded_outputs: set[int] = set()
        for k, op in enumerate(self.sg.operators):
            ins = [i for i in (op.inputs if op.inputs is not None else []) if i >= 0]
            outs = [i for i in (op.outputs if op.outputs is not None else []) if i >= 0]
            if self.ops[k] in ("DENSIFY", "DEQUANTIZE") and ins and ins[0] in self.static:
                self.folded.add(k)
                for o in outs:
                    self.static.add(o)
                    self.folded_outputs.add(o)
                continue
            for o in outs:
                self.producer[o] = k
            for i in set(ins):
                if i not in self.static:
                    self.consumers.setdefault(i, []).append(k)
        self.graph_inputs = set(self.sg.inputs if self.sg.inputs is not None else [])
        self.graph_outputs = set(self.sg.outputs if self.sg.outputs is not None else [])

    def tensor(self, i: int) -> Any:
        return self.sg.tensors[i]

    def shape(self, i: int) -> list[int]:
        s = self.tensor(i).shape
        return [int(d) for d in s] if s is not None else []

    def label(self, k: int) -> str:
        outs = self.sg.operators[k].outputs
        return self.decode(self.tensor(outs[0]).name) if outs is not None and len(outs) \
            else f"{self.ops[k]}#{k}"

    def value(self, i: int) -> np.ndarray:
        """The data of static tensor ``i`` (densified / dequantized as the delegate does)."""
        from ai_edge_litert import schema_py_generated as schema

        from compiler.frontends.tflite.sparse import densify

        for k in self.folded:  # a DENSIFY / DEQUANTIZE output: its input, dense
            op = self.sg.operators[k]
            if i in list(op.outputs):
                return self.value(int(op.inputs[0])).astype(np.float32)
        t = self.tensor(i)
        dt = {schema.TensorType.FLOAT32: np.float32, schema.TensorType.FLOAT16: np.float16,
              schema.TensorType.INT32: np.int32, schema.TensorType.INT64: np.int64,
              schema.TensorType.INT8: np.int8, schema.TensorType.UINT8: np.uint8}.get(
                  t.type, np.uint8)
        raw = np.asarray(self.model.buffers[t.buffer].data, dtype=np.uint8).tobytes()
        flat = np.frombuffer(raw, dtype=dt)
        if t.sparsity is not None:
            return densify(flat, tuple(self.shape(i)), t.sparsity)
        return flat.reshape(self.shape(i)) if self.shape(i) else flat


def _conv_padding(view: _View, k: int) -> tuple[list[int], bool, str]:
    """(padding [top, bottom, left, right], same, note) of conv op ``k``: explicit when its
    input is an all-spatial zero PAD XNNPACK fuses into it (``padding=VALID``, the PAD's
    output read only by the conv), else zeros (``same``: the TensorFlow SAME flag is set)."""
    op = view.sg.operators[k]
    if op.builtinOptions is None:  # schema defaults: padding SAME
        return [0, 0, 0, 0], True, ""
    same = int(op.builtinOptions.padding) == _SAME
    x = int(op.inputs[0])
    p = view.producer.get(x)
    if same or p is None or view.ops[p] not in ("PAD", "PADV2"):
        return [0, 0, 0, 0], same, ""
    pad = view.sg.operators[p]
    if int(pad.inputs[1]) not in view.static or len(view.consumers.get(x, [])) != 1 \
            or x in view.graph_outputs:
        return [0, 0, 0, 0], same, ""
    amounts = view.value(int(pad.inputs[1])).reshape(-1, 2)
    if amounts.shape[0] != 4 or amounts[0].any() or amounts[3].any():
        return [0, 0, 0, 0], same, ""
    if view.ops[p] == "PADV2" and len(pad.inputs) > 2 and int(pad.inputs[2]) in view.static \
            and view.value(int(pad.inputs[2])).any():
        return [0, 0, 0, 0], same, ""
    return [int(amounts[1, 0]), int(amounts[1, 1]), int(amounts[2, 0]),
            int(amounts[2, 1])], False, f" (PAD {view.label(p)} fused)"


#: ops whose inputs past the first are parameters to XNNPACK, not values
_PARAM_INPUTS = ("PAD", "PADV2", "MEAN", "RESIZE_BILINEAR", "RESHAPE", "TRANSPOSE")


def _all_float(view: _View, k: int) -> bool:
    """Every value the XNNPACK node of op ``k`` reads or writes is float (all_values_fp)."""
    op = view.sg.operators[k]
    ins = [int(i) for i in (op.inputs if op.inputs is not None else []) if i >= 0]
    if view.ops[k] in _PARAM_INPUTS:
        ins = ins[:1]
    outs = [int(i) for i in (op.outputs if op.outputs is not None else []) if i >= 0]
    return all(view.tensor(i).type in _FLOAT or i in view.folded_outputs for i in ins + outs)


def _node_flags(view: _View, k: int) -> tuple[int, str, int, int]:
    """(flags, why, zeros, params) of op ``k`` (xnn_check_nchw_compatibility)."""
    kind = view.ops[k]
    op = view.sg.operators[k]
    if not _all_float(view, k):
        return 0, "not float (sparse inference takes float tensors only)", 0, 0
    if kind in ("CONV_2D", "DEPTHWISE_CONV_2D") and op.builtinOptions is None:
        return 0, f"{kind} without options", 0, 0
    if kind == "CONV_2D":
        o = op.builtinOptions
        w = view.shape(int(op.inputs[1]))  # OHWI
        cin = view.shape(int(op.inputs[0]))[-1]
        kh, kw, i_per_group = w[1], w[2], w[3]
        if cin != i_per_group:
            return 0, f"grouped conv ({cin} input channels, {i_per_group} per group)", 0, 0
        if (int(o.dilationHFactor), int(o.dilationWFactor)) != (1, 1):
            return 0, "dilated conv", 0, 0
        pads, same, fused = _conv_padding(view, k)
        stride = (int(o.strideH), int(o.strideW))
        if (kh, kw) == (1, 1):
            if any(pads):
                return 0, f"1x1 conv with padding {pads}", 0, 0
            if stride != (1, 1):
                return 0, f"1x1 conv with stride {list(stride)}", 0, 0
            wv = view.value(int(op.inputs[1])) if int(op.inputs[1]) in view.static else None
            zeros = int((wv == 0).sum()) if wv is not None else 0
            return NCHW, "1x1 conv", zeros, int(np.prod(w))
        if (kh, kw) == (3, 3):
            if pads != [1, 1, 1, 1]:
                return 0, (f"3x3 conv not padded 1 on each side explicitly (padding="
                           f"{'SAME' if same else pads}; write a zero PAD and a VALID conv)"), 0, 0
            if stride != (2, 2):
                return 0, f"3x3 conv with stride {list(stride)} (the stem needs 2)", 0, 0
            if cin != 3:
                return 0, f"3x3 stride-2 conv on {cin} input channels (the stem needs 3)", 0, 0
            return NHWC2NCHW, "the stem: 3x3 stride-2 conv on 3 channels" + fused, 0, 0
        return 0, f"{kh}x{kw} conv (NCHW takes 1x1 convs and the 3x3 stem)", 0, 0
    if kind == "DEPTHWISE_CONV_2D":
        o = op.builtinOptions
        w = view.shape(int(op.inputs[1]))  # 1HWC
        cin = view.shape(int(op.inputs[0]))[-1]
        if (int(o.dilationHFactor), int(o.dilationWFactor)) != (1, 1):
            return 0, "dilated depthwise conv", 0, 0
        pads, same, fused = _conv_padding(view, k)
        if same:
            return 0, "depthwise conv with padding=SAME (write a zero PAD and a VALID conv)", 0, 0
        if w[3] != cin:
            return 0, f"depth multiplier {w[3] // max(cin, 1)}", 0, 0
        if int(o.strideH) != int(o.strideW) or int(o.strideH) not in (1, 2):
            return 0, f"depthwise stride {[int(o.strideH), int(o.strideW)]}", 0, 0
        if w[1] != w[2] or w[1] not in (3, 5):
            return 0, f"{w[1]}x{w[2]} depthwise kernel (3x3 or 5x5 only)", 0, 0
        need = w[1] // 2
        if pads != [need] * 4:
            return 0, f"{w[1]}x{w[2]} depthwise conv padded {pads}, not {need} each side", 0, 0
        return NCHW, f"{w[1]}x{w[2]} depthwise conv" + fused, 0, 0
    if kind == "FULLY_CONNECTED":
        wi = int(op.inputs[1])
        w = view.shape(wi)
        wv = view.value(wi) if wi in view.static else None
        zeros = int((wv == 0).sum()) if wv is not None else 0
        return NCHW, "fully connected", zeros, int(np.prod(w))
    if kind in ("ADD", "MUL"):
        ins = [int(i) for i in op.inputs]
        if any(len(view.shape(i)) != 4 for i in ins):
            return 0, f"{kind} on operands that are not 4-D", 0, 0
        for i in ins:
            if i in view.static and sum(d != 1 for d in view.shape(i)) > 1:
                return 0, (f"{kind} with a constant operand {view.shape(i)} (scalar or "
                           "vector only)"), 0, 0
        return NCHW, kind, 0, 0
    if kind in _UNARY:
        if len(view.shape(int(op.inputs[0]))) != 4:
            return 0, f"{kind} on a tensor that is not 4-D", 0, 0
        return NCHW, kind, 0, 0
    if kind == "RESIZE_BILINEAR":
        s = view.shape(int(op.inputs[0]))
        if len(s) == 4 and s[1] > 1 and s[2] > 1:
            return NCHW, kind, 0, 0
        return 0, f"RESIZE_BILINEAR of {s}", 0, 0
    if kind == "MEAN":
        s = view.shape(int(op.inputs[0]))
        axes = {int(a) % 4 for a in np.ravel(view.value(int(op.inputs[1])))} \
            if len(s) == 4 and int(op.inputs[1]) in view.static else None
        if axes is not None and axes <= {1, 2}:
            return NCHW | NCHW2NHWC, "spatial MEAN (exit to NHWC)", 0, 0
        return 0, f"MEAN of {s} over axes {sorted(axes) if axes else '?'} (spatial only)", 0, 0
    if kind == "DEPTH_TO_SPACE":
        return NCHW2NHWC, "DEPTH_TO_SPACE (exit to NHWC)", 0, 0
    if kind in ("PAD", "PADV2"):
        return 0, "PAD not fused into a VALID conv / depthwise conv", 0, 0
    return 0, f"{kind} has no NCHW form in XNNPACK", 0, 0


def check(source: Any) -> XnnpackReport:
    """The XNNPACK sparse-inference checks of subgraph 0 of a .tflite (path or bytes)."""
    from compiler.frontends.tflite.reader import read_model

    model, _, _ = read_model(source)
    view = _View(model)
    ops = [k for k in range(len(view.ops)) if k not in view.folded]
    checks: dict[int, NodeCheck] = {}
    inputs: dict[int, list[int]] = {}  # op -> the values it reads (a fused PAD's input)
    fused: set[int] = set()
    for k in ops:
        flags, why, zeros, params = _node_flags(view, k)
        checks[k] = NodeCheck(k, view.ops[k], view.label(k), flags, why, zeros=zeros,
                              params=params)
        op = view.sg.operators[k]
        reads = [int(i) for i in op.inputs if i >= 0 and int(i) not in view.static]
        if view.ops[k] in _PARAM_INPUTS:
            reads = reads[:1]
        if view.ops[k] in ("CONV_2D", "DEPTHWISE_CONV_2D") and _conv_padding(view, k)[2]:
            p = view.producer[reads[0]]
            fused.add(p)
            reads = [int(view.sg.operators[p].inputs[0])]
        inputs[k] = reads
    for p in fused:
        checks[p].why = "fused into the conv it feeds"
    live = [k for k in ops if k not in fused]
    consumers: dict[int, list[int]] = {}
    for k in live:
        for i in set(inputs[k]):
            consumers.setdefault(i, []).append(k)
    producer = {int(o): k for k in live for o in view.sg.operators[k].outputs if o >= 0}
    leader = {k: k for k in live}

    def link(k: int) -> bool:
        """Join ``k`` with the producers of its inputs (or mark it incompatible)."""
        changed = False
        for i in inputs[k]:
            p = producer.get(i)
            if p is None:  # a graph input, or the output of a folded/unknown op
                checks[k].flags |= INCOMPATIBLE
                checks[k].blocked = checks[k].blocked or (
                    f"reads {view.decode(view.tensor(i).name)}, a graph input")
                continue
            pf = checks[p].flags
            if pf & (NHWC2NCHW | NCHW) and not pf & INCOMPATIBLE:
                checks[p].flags &= ~NCHW2NHWC
                if leader[p] != leader[k]:
                    leader[p] = leader[k] = max(leader[p], leader[k])
                    changed = True
            else:
                checks[k].flags |= INCOMPATIBLE
                checks[k].blocked = checks[k].blocked or (
                    f"reads {checks[p].label} ({checks[p].op}: {checks[p].why})"
                    if not pf & INCOMPATIBLE else f"reads {checks[p].label} ({checks[p].op}"
                    f", itself cut off: {checks[p].blocked or 'outside any cluster'})")
        return changed

    update = False
    for k in live:  # the exits lead their clusters
        if checks[k].flags & NCHW2NHWC:
            update |= link(k)
    clusters: list[Cluster] = []
    if update:
        while update:
            update = False
            for k in live:
                f = checks[k].flags
                if not f & INCOMPATIBLE and f & (NCHW | NCHW2NHWC):
                    update |= link(k)
        reasons: dict[int, str] = {}
        for k in live:
            if checks[k].flags & INCOMPATIBLE:
                checks[leader[k]].flags |= INCOMPATIBLE
                reasons.setdefault(leader[k], f"{checks[k].label} ({checks[k].op}) "
                                              f"{checks[k].blocked}")

        def member(k: int) -> bool:
            return (not checks[leader[k]].flags & INCOMPATIBLE
                    and bool(checks[k].flags & (NCHW | NCHW2NHWC)))

        for k in [k for k in live if member(k)]:
            for i in inputs[k]:
                outside = [u for u in consumers.get(i, []) if not member(u)]
                if outside or i in view.graph_outputs:
                    checks[leader[k]].flags |= INCOMPATIBLE
                    who = (f"{checks[outside[0]].label} ({checks[outside[0]].op})" if outside
                           else "the graph's outputs")
                    reasons.setdefault(leader[k], f"{view.decode(view.tensor(i).name)} is "
                                                  f"also read by {who}")
        groups: dict[int, list[int]] = {}
        for k in live:
            if checks[k].flags & (NCHW | NCHW2NHWC | NHWC2NCHW) and \
                    (leader[k] != k or checks[k].flags & NCHW2NHWC):
                groups.setdefault(leader[k], []).append(k)
        for lead, members in groups.items():
            if len(members) < 2:
                continue
            zeros = sum(checks[m].zeros for m in members)
            params = sum(checks[m].params for m in members)
            ok = not checks[lead].flags & INCOMPATIBLE
            if not ok:
                why = reasons.get(lead, "a value of the cluster leaves it")
            elif params == 0:
                ok, why = False, "no 1x1 convolution in the cluster"
            elif zeros * 3 <= params * 2:
                ok, why = False, (f"1x1 weights hold {zeros}/{params} zeros "
                                  f"({zeros / params:.0%}), not more than 2/3")
            else:
                why = f"1x1 weights {zeros}/{params} zeros ({zeros / params:.0%})"
            for m in members:
                checks[m].cluster = len(clusters)
            clusters.append(Cluster(sorted(members), zeros, params, ok, why))
    for c in checks.values():
        c.flags &= ~INCOMPATIBLE
    rep = XnnpackReport([checks[k] for k in ops], clusters)
    log.info("%s", rep.summary())
    return rep


__all__ = ["Cluster", "NodeCheck", "XnnpackReport", "check"]
