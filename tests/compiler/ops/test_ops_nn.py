"""Neural-network and linear-algebra ops (compiler/ops/nn.py, linalg.py) against onnxruntime.

Each case is one ONNX node at opset 25 (the newest onnxruntime 1.32 loads), run by
onnxruntime on one thread. The same node is built as an IR graph with ``Graph.add_node``
(shape-deciding inputs such as resize's ``sizes`` as ``const`` nodes) and

* its inferred output types must equal the real output types exactly (dtype and shape);
* the kernel's outputs (``compiler.ops.run_kernel``) must have onnxruntime's dtype and shape
  and agree in value: exactly for integer outputs, else within ``rtol=RTOL, atol=ATOL``.

Tolerances, measured on these cases: the largest float32 difference is 1.3e-5 absolute, on
the 7x7 conv whose 196-term sums reach magnitude ~20 (under 1e-6 of the output's scale);
every other case stays below 8e-6 absolute. The differences come from summation order
(OpenBLAS vs MLAS) and from float64 intermediates in resize/normalization. RTOL=1e-4 with
ATOL=1e-5 passes those with room and still fails any semantic error (an off-by-one window,
pad or tap shifts values by O(0.1..1)).

onnx's ReferenceEvaluator stands in where the two implementations of the ONNX spec disagree
(ConvTranspose's split of an odd total padding, see compiler/ops/nn.py) or onnxruntime has no
kernel for the node.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper
from onnx.reference import ReferenceEvaluator

from compiler.ir import Graph, TensorType
from compiler.ops import infer_types, run_kernel
from compiler.ops.onnx_names import ir_name
from compiler.ops.registry import SchemaError

OPSET = 25
RTOL, ATOL = 1e-4, 1e-5

_SO = ort.SessionOptions()
_SO.log_severity_level = 3
_SO.intra_op_num_threads = 1

rng = np.random.default_rng(0)


def f32(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def pos32(*shape: int) -> np.ndarray:
    return (np.abs(rng.standard_normal(shape)) + 0.5).astype(np.float32)


@dataclass
class Case:
    op: str  # ONNX op type
    inputs: list  # arrays or None (missing optional input)
    attrs: dict = field(default_factory=dict)
    n_out: int = 1
    const: tuple = ()  # input indices that become const nodes in the IR graph
    ref: str = "ort"  # or "reference" (onnx.reference.ReferenceEvaluator)
    id: str = ""
    post: str | None = None  # an ONNX activation applied after the node (fused in the IR)
    opset: int = OPSET


def _onnx_model(c: Case) -> onnx.ModelProto:
    in_names = [f"in{i}" if a is not None else "" for i, a in enumerate(c.inputs)]
    outs = [f"out{i}" for i in range(c.n_out)]
    nodes = [helper.make_node(c.op, in_names, outs, **c.attrs)]
    if c.post:
        nodes[0].output[0] = "pre"
        nodes.append(helper.make_node(c.post, ["pre"], ["out0"]))
    vis = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
           for n, a in zip(in_names, c.inputs) if a is not None]
    ovis = [helper.make_empty_tensor_value_info(o) for o in outs]
    g = helper.make_graph(nodes, "case", vis, ovis)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", c.opset)])


def _reference(c: Case) -> list[np.ndarray]:
    m = _onnx_model(c)
    feeds = {f"in{i}": a for i, a in enumerate(c.inputs) if a is not None}
    if c.ref == "reference":
        return [np.asarray(o) for o in ReferenceEvaluator(m).run(None, feeds)]
    sess = ort.InferenceSession(m.SerializeToString(), _SO, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def _ours(c: Case) -> tuple[list[TensorType], list[np.ndarray]]:
    g = Graph("case")
    vals = []
    for i, a in enumerate(c.inputs):
        if a is None:
            vals.append(None)
        elif i in c.const:
            vals.append(g.add_const(a, f"c{i}"))
        else:
            vals.append(g.add_input(f"in{i}", TensorType.of(a)))
    attrs = dict(c.attrs)
    if c.post:
        attrs["activation"] = c.post.lower()
    op = ir_name(c.op)
    types = infer_types(op, vals, attrs, num_outputs=c.n_out)[: c.n_out]
    node = g.add_node(op, vals, attrs, num_outputs=c.n_out)
    assert [v.type for v in node.outputs][: c.n_out] == types
    outs = run_kernel(op, list(c.inputs), attrs)[: c.n_out]
    return types, outs


def _check(c: Case) -> None:
    want = _reference(c)
    types, got = _ours(c)
    assert len(got) == len(want)
    for k, (t, w, o) in enumerate(zip(types, want, got)):
        w = np.asarray(w)
        assert t == TensorType.of(w), f"output {k}: inferred {t}, onnxruntime gives {TensorType.of(w)}"
        assert o.dtype == w.dtype and o.shape == w.shape, f"output {k}: {o.dtype}{o.shape} vs {w.dtype}{w.shape}"
        if w.dtype.kind in "iub":
            np.testing.assert_array_equal(o, w, err_msg=f"output {k}")
        else:
            np.testing.assert_allclose(o.astype(np.float64), w.astype(np.float64), rtol=RTOL,
                                       atol=ATOL, err_msg=f"output {k}")


# -- the cases ---------------------------------------------------------------------------------


def _conv_cases() -> list[Case]:
    x = f32(2, 4, 9, 10)
    cs = []
    for name, w, attrs in [
        ("3x3_pad1", f32(6, 4, 3, 3), dict(pads=[1, 1, 1, 1])),
        ("3x3_stride2", f32(6, 4, 3, 3), dict(strides=[2, 2], pads=[1, 1, 1, 1])),
        ("dilation2", f32(6, 4, 3, 3), dict(dilations=[2, 2], pads=[2, 1, 2, 1])),
        ("asym_pads_stride", f32(5, 4, 3, 2), dict(pads=[0, 1, 2, 0], strides=[2, 3])),
        ("groups2", f32(6, 2, 3, 3), dict(group=2, pads=[1, 1, 1, 1])),
        ("depthwise", f32(4, 1, 3, 3), dict(group=4, pads=[1, 1, 1, 1], strides=[2, 1])),
        ("depthwise_mult2", f32(8, 1, 3, 3), dict(group=4, dilations=[2, 2])),
        ("same_upper_s2", f32(6, 4, 4, 3), dict(auto_pad="SAME_UPPER", strides=[2, 2])),
        ("same_lower_s2", f32(6, 4, 4, 3), dict(auto_pad="SAME_LOWER", strides=[2, 2])),
        ("valid", f32(6, 4, 3, 3), dict(auto_pad="VALID")),
        ("1x1_stride2", f32(6, 4, 1, 1), dict(strides=[2, 2])),
        ("1x1_pad", f32(6, 4, 1, 1), dict(pads=[1, 0, 1, 0])),
        ("7x7_s2_p3", f32(8, 4, 7, 7), dict(strides=[2, 2], pads=[3, 3, 3, 3], kernel_shape=[7, 7])),
    ]:
        cs.append(Case("Conv", [x, w, f32(w.shape[0])], attrs, id=f"conv_{name}"))
    cs.append(Case("Conv", [x, f32(6, 4, 3, 3)], dict(pads=[1, 1, 1, 1]), id="conv_nobias"))
    cs.append(Case("Conv", [f32(1, 3, 17), f32(5, 3, 4), f32(5)], dict(strides=[2], pads=[1, 2]), id="conv_1d"))
    cs.append(Case("Conv", [f32(1, 4, 5, 6, 7), f32(4, 2, 3, 3, 2), f32(4)],
                   dict(group=2, pads=[1, 0, 1, 1, 0, 0], strides=[1, 2, 2]), id="conv_3d_grouped"))
    for act in ("Relu", "Tanh", "Sigmoid"):
        cs.append(Case("Conv", [x, f32(6, 4, 3, 3), f32(6)], dict(pads=[1, 1, 1, 1]), post=act,
                       id=f"conv_fused_{act.lower()}"))
    return cs


def _conv_transpose_cases() -> list[Case]:
    x = f32(2, 4, 5, 6)
    cs = []
    for name, w, attrs, ref in [
        ("basic", f32(4, 3, 3, 3), {}, "ort"),
        ("stride2_pads", f32(4, 3, 3, 3), dict(strides=[2, 2], pads=[1, 1, 1, 1]), "ort"),
        ("output_padding", f32(4, 3, 3, 3), dict(strides=[2, 3], output_padding=[1, 2]), "ort"),
        ("dilation", f32(4, 3, 2, 3), dict(dilations=[2, 2], pads=[0, 1, 1, 0]), "ort"),
        ("groups2", f32(4, 2, 3, 3), dict(group=2, strides=[2, 2]), "ort"),
        ("depthwise", f32(4, 1, 4, 4), dict(group=4, strides=[2, 2], pads=[1, 1, 1, 1]), "ort"),
        ("output_shape_even", f32(4, 3, 3, 3), dict(strides=[2, 2], output_shape=[9, 11]), "ort"),
        ("output_shape_same_upper", f32(4, 3, 3, 3), dict(strides=[2, 2], output_shape=[10, 12],
                                                           auto_pad="SAME_UPPER"), "reference"),
        ("same_upper", f32(4, 3, 3, 3), dict(strides=[2, 2], auto_pad="SAME_UPPER"), "reference"),
        ("same_lower", f32(4, 3, 3, 3), dict(strides=[2, 2], auto_pad="SAME_LOWER"), "reference"),
        ("same_upper_even", f32(4, 3, 4, 4), dict(strides=[2, 2], auto_pad="SAME_UPPER"), "ort"),
    ]:
        cs.append(Case("ConvTranspose", [x, w, f32(w.shape[1] * attrs.get("group", 1))], attrs,
                       ref=ref, id=f"convT_{name}"))
    cs.append(Case("ConvTranspose", [f32(1, 3, 7), f32(3, 2, 3)], dict(strides=[3]), id="convT_1d_nobias"))
    cs.append(Case("ConvTranspose", [f32(1, 2, 3, 4, 3), f32(2, 2, 2, 2, 2), f32(2)], dict(strides=[2, 1, 2]),
                   id="convT_3d"))
    cs.append(Case("ConvTranspose", [x, f32(4, 3, 3, 3), f32(3)], dict(strides=[2, 2]), post="Relu",
                   id="convT_fused_relu"))
    return cs


def _pool_cases() -> list[Case]:
    x = f32(2, 3, 11, 10)
    cs = []
    mp = [
        ("3x3_s2_p1", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
        ("ceil", dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)),
        ("ceil_pads", dict(kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)),
        ("dilation", dict(kernel_shape=[2, 3], dilations=[2, 2], strides=[1, 2])),
        ("same_upper", dict(kernel_shape=[3, 2], strides=[2, 3], auto_pad="SAME_UPPER")),
        ("same_lower", dict(kernel_shape=[3, 2], strides=[2, 3], auto_pad="SAME_LOWER")),
        ("valid", dict(kernel_shape=[4, 4], auto_pad="VALID", strides=[3, 3])),
    ]
    for name, attrs in mp:
        cs.append(Case("MaxPool", [x], attrs, id=f"maxpool_{name}"))
        cs.append(Case("AveragePool", [x], dict(attrs, count_include_pad=0), id=f"avgpool_{name}"))
    for name, attrs in mp[:3]:
        cs.append(Case("AveragePool", [x], dict(attrs, count_include_pad=1), id=f"avgpool_incl_{name}"))
    cs.append(Case("MaxPool", [x], dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]), n_out=2,
                   id="maxpool_indices"))
    cs.append(Case("MaxPool", [x], dict(kernel_shape=[2, 3], strides=[2, 1], storage_order=1), n_out=2,
                   id="maxpool_indices_colmajor"))
    cs.append(Case("MaxPool", [f32(2, 3, 13)], dict(kernel_shape=[3], strides=[2], pads=[1, 1]), id="maxpool_1d"))
    cs.append(Case("MaxPool", [f32(1, 2, 5, 6, 7)], dict(kernel_shape=[2, 3, 2], strides=[2, 2, 2], pads=[0, 1, 1, 1, 1, 0]),
                   id="maxpool_3d"))
    cs.append(Case("AveragePool", [f32(1, 2, 5, 6, 7)], dict(kernel_shape=[3, 3, 2], pads=[1, 1, 0, 1, 1, 1]),
                   id="avgpool_3d"))
    for dt in (np.uint8, np.int8):
        xi = rng.integers(np.iinfo(dt).min, np.iinfo(dt).max, size=(1, 2, 7, 7)).astype(dt)
        cs.append(Case("MaxPool", [xi], dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]),
                       id=f"maxpool_{np.dtype(dt).name}"))
    cs.append(Case("LpPool", [x], dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], p=2), id="lppool_p2"))
    cs.append(Case("LpPool", [x], dict(kernel_shape=[2, 2], p=3), id="lppool_p3"))
    for op in ("GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"):
        # onnxruntime implements GlobalLpPool up to opset 21 (the op itself is unchanged in 22)
        opset = 21 if op == "GlobalLpPool" else OPSET
        cs.append(Case(op, [x], id=op.lower(), opset=opset))
        cs.append(Case(op, [f32(2, 3, 4, 5, 6)], id=op.lower() + "_3d", opset=opset))
    return cs


def _norm_cases() -> list[Case]:
    x = f32(2, 6, 5, 4)
    c = 6
    cs = [
        Case("BatchNormalization", [x, f32(c), f32(c), f32(c), pos32(c)], dict(epsilon=1e-3), id="batchnorm"),
        Case("BatchNormalization", [f32(3, 6), f32(c), f32(c), f32(c), pos32(c)], id="batchnorm_2d"),
        Case("LayerNormalization", [x, f32(4), f32(4)], id="layernorm_last"),
        Case("LayerNormalization", [x, f32(6, 5, 4), f32(6, 5, 4)], dict(axis=1, epsilon=1e-3), n_out=3,
             id="layernorm_axis1_stats"),
        Case("LayerNormalization", [x, f32(5, 4)], dict(axis=-2), id="layernorm_noB"),
        Case("InstanceNormalization", [x, f32(c), f32(c)], dict(epsilon=1e-4), id="instancenorm"),
        Case("GroupNormalization", [x, f32(c), f32(c)], dict(num_groups=3), id="groupnorm"),
        Case("GroupNormalization", [x, f32(c), f32(c)], dict(num_groups=6, epsilon=1e-3), id="groupnorm_g6"),
        Case("LRN", [x], dict(size=3), id="lrn3"),
        Case("LRN", [x], dict(size=5, alpha=1e-2, beta=0.5, bias=2.0), id="lrn5"),
        Case("LpNormalization", [x], dict(axis=1, p=1), id="lpnorm_p1"),
        Case("LpNormalization", [x], dict(axis=-1, p=2), id="lpnorm_p2"),
        Case("MeanVarianceNormalization", [x], id="mvn"),
        Case("MeanVarianceNormalization", [x], dict(axes=[1, 3]), id="mvn_axes"),
        Case("RMSNormalization", [x, f32(4)], id="rmsnorm", ref="reference"),
        Case("RMSNormalization", [x, f32(5, 4)], dict(axis=2, epsilon=1e-3), id="rmsnorm_axis2", ref="reference"),
    ]
    return cs


def _resize_cases() -> list[Case]:
    x = f32(1, 2, 6, 8)
    cs = []
    scales_up = np.array([1, 1, 2.0, 1.5], np.float32)
    scales_down = np.array([1, 1, 0.5, 0.75], np.float32)
    sizes = np.array([1, 2, 9, 5], np.int64)
    for mode in ("nearest", "linear", "cubic"):
        for ctm in ("half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel", "half_pixel_symmetric"):
            for tag, sc, sz in (("up", scales_up, None), ("down", scales_down, None), ("sizes", None, sizes)):
                if ctm == "align_corners" and mode == "nearest" and tag == "down":
                    continue
                inputs = [x, None, sc] if sz is None else [x, None, None, sz]
                cs.append(Case("Resize", inputs, dict(mode=mode, coordinate_transformation_mode=ctm),
                               const=(1, 2, 3), id=f"resize_{mode}_{ctm}_{tag}"))
    for nm in ("round_prefer_ceil", "floor", "ceil"):
        cs.append(Case("Resize", [x, None, scales_up], dict(mode="nearest", nearest_mode=nm), const=(2,),
                       id=f"resize_nearest_{nm}"))
    cs.append(Case("Resize", [x, None, scales_down], dict(mode="cubic", exclude_outside=1, cubic_coeff_a=-0.5),
                   const=(2,), id="resize_cubic_exclude_outside"))
    cs.append(Case("Resize", [x, None, scales_down], dict(mode="linear", antialias=1), const=(2,),
                   id="resize_linear_antialias"))
    cs.append(Case("Resize", [x, None, scales_down], dict(mode="cubic", antialias=1), const=(2,),
                   id="resize_cubic_antialias"))
    cs.append(Case("Resize", [x, None, None, np.array([4, 4], np.int64)],
                   dict(mode="linear", axes=[2, 3], keep_aspect_ratio_policy="not_larger"), const=(3,),
                   id="resize_not_larger"))
    cs.append(Case("Resize", [x, None, None, np.array([4, 4], np.int64)],
                   dict(mode="nearest", axes=[2, 3], keep_aspect_ratio_policy="not_smaller"), const=(3,),
                   id="resize_not_smaller"))
    cs.append(Case("Resize", [x, None, np.array([3.0], np.float32)], dict(mode="linear", axes=[3]), const=(2,),
                   id="resize_axes"))
    cs.append(Case("Resize", [x, np.array([0, 0, 0.2, 0.1, 1, 1, 0.9, 1.2], np.float32), None, sizes],
                   dict(mode="linear", coordinate_transformation_mode="tf_crop_and_resize", extrapolation_value=7.0),
                   const=(1, 3), id="resize_tf_crop_and_resize"))
    xu8 = rng.integers(0, 255, size=(1, 3, 5, 5)).astype(np.uint8)
    cs.append(Case("Resize", [xu8, None, scales_up], dict(mode="nearest"), const=(2,), id="resize_u8_nearest"))
    return cs


def _shuffle_cases() -> list[Case]:
    x = f32(2, 8, 3, 4)
    return [
        Case("DepthToSpace", [x], dict(blocksize=2, mode="DCR"), id="d2s_dcr"),
        Case("DepthToSpace", [x], dict(blocksize=2, mode="CRD"), id="d2s_crd"),
        Case("SpaceToDepth", [f32(2, 3, 6, 4)], dict(blocksize=2), id="s2d"),
    ]


def _rnn_cases() -> list[Case]:
    seq, batch, inp, h = 5, 3, 4, 6
    x = f32(seq, batch, inp)
    lens = np.array([5, 3, 1], np.int32)
    cs = []
    for op, gates in (("RNN", 1), ("GRU", 3), ("LSTM", 4)):
        n_out = 3 if op == "LSTM" else 2
        for direction in ("forward", "reverse", "bidirectional"):
            d = 2 if direction == "bidirectional" else 1
            w, r, b = f32(d, gates * h, inp) * 0.5, f32(d, gates * h, h) * 0.5, f32(d, 2 * gates * h) * 0.5
            h0 = f32(d, batch, h)
            extra = [f32(d, batch, h), f32(d, 3 * h)] if op == "LSTM" else []
            attrs = dict(hidden_size=h, direction=direction)
            cs.append(Case(op, [x, w, r, b], attrs, n_out=n_out, id=f"{op.lower()}_{direction}"))
            cs.append(Case(op, [x, w, r, b, lens, h0, *extra], attrs, n_out=n_out,
                           id=f"{op.lower()}_{direction}_seqlens_init"))
        w, r = f32(1, gates * h, inp) * 0.5, f32(1, gates * h, h) * 0.5
        # onnxruntime refuses layout=1
        cs.append(Case(op, [x.transpose(1, 0, 2).copy(), w, r], dict(hidden_size=h, layout=1), n_out=n_out,
                       id=f"{op.lower()}_layout1", ref="reference"))
        states = [f32(batch, 1, h)] * (2 if op == "LSTM" else 1)  # layout 1: [batch, dirs, H]
        cs.append(Case(op, [x.transpose(1, 0, 2).copy(), w, r, None, None, *states],
                       dict(hidden_size=h, layout=1), n_out=n_out, id=f"{op.lower()}_layout1_init",
                       ref="reference"))
    w, r = f32(1, 3 * h, inp) * 0.5, f32(1, 3 * h, h) * 0.5
    cs.append(Case("GRU", [x, w, r, f32(1, 6 * h)], dict(hidden_size=h, linear_before_reset=1), n_out=2,
                   id="gru_linear_before_reset"))
    w, r = f32(1, 4 * h, inp), f32(1, 4 * h, h)
    cs.append(Case("LSTM", [x, w, r], dict(hidden_size=h, clip=0.7), n_out=3, id="lstm_clip"))
    cs.append(Case("LSTM", [x, w, r], dict(hidden_size=h, input_forget=1), n_out=3, id="lstm_input_forget"))
    # clip bounds each activation's input, the peephole term included (as onnxruntime does)
    cs.append(Case("LSTM", [x, w, r, None, None, f32(1, batch, h), f32(1, batch, h), f32(1, 3 * h)],
                   dict(hidden_size=h, clip=0.3), n_out=3, id="lstm_clip_peepholes"))
    # activation_alpha/beta are consumed in turn by the activations that take them
    cs.append(Case("LSTM", [x, w * 0.5, r * 0.5], dict(
        hidden_size=h, activations=["Sigmoid", "LeakyRelu", "Tanh"], activation_alpha=[0.5]),
        n_out=3, id="lstm_one_alpha_for_the_second_activation"))
    wb, rb = f32(2, 4 * h, inp) * 0.5, f32(2, 4 * h, h) * 0.5
    cs.append(Case("LSTM", [x, wb, rb], dict(
        hidden_size=h, direction="bidirectional",
        activations=["HardSigmoid", "Softsign", "ScaledTanh", "Sigmoid", "Elu", "Tanh"],
        activation_alpha=[0.3, 1.5, 0.8], activation_beta=[0.4, 0.7]), n_out=3,
        id="lstm_bidirectional_alphas_in_turn"))
    cs.append(Case("GRU", [x, f32(1, 3 * h, inp) * 0.5, f32(1, 3 * h, h) * 0.5], dict(
        hidden_size=h, activations=["Sigmoid", "LeakyRelu"], activation_alpha=[0.5]), n_out=2,
        id="gru_one_alpha_for_the_second_activation"))
    cs.append(Case("RNN", [x, f32(1, h, inp), f32(1, h, h)],
                   dict(hidden_size=h, activations=["Relu"]), n_out=2, id="rnn_relu"))
    cs.append(Case("LSTM", [x, w * 0.5, r * 0.5], dict(hidden_size=h), n_out=1, id="lstm_only_Y"))
    return cs


def _linalg_cases() -> list[Case]:
    cs = [
        Case("MatMul", [f32(4, 5), f32(5, 3)], id="matmul_2d"),
        Case("MatMul", [f32(5), f32(5, 3)], id="matmul_1d_2d"),
        Case("MatMul", [f32(2, 4, 5), f32(5)], id="matmul_3d_1d"),
        Case("MatMul", [f32(2, 1, 4, 5), f32(3, 5, 6)], id="matmul_broadcast"),
        Case("MatMul", [rng.integers(-9, 9, (3, 4)).astype(np.int32), rng.integers(-9, 9, (4, 2)).astype(np.int32)],
             id="matmul_int32"),
        Case("MatMul", [f32(2, 4, 5), f32(5, 3)], post="Relu", id="matmul_fused_relu"),
        Case("Gemm", [f32(4, 5), f32(5, 3), f32(3)], id="gemm_bias_vec"),
        Case("Gemm", [f32(5, 4), f32(3, 5), f32(4, 3)], dict(transA=1, transB=1, alpha=0.5, beta=2.0), id="gemm_trans"),
        Case("Gemm", [f32(4, 5), f32(5, 3)], dict(alpha=1.5), id="gemm_noC"),
        Case("Gemm", [f32(4, 5), f32(3, 5), f32(1)], dict(transB=1, beta=0.5), id="gemm_scalarC"),
        Case("Gemm", [f32(4, 5), f32(5, 3), f32(4, 1)], post="Sigmoid", id="gemm_fused_sigmoid"),
        Case("MatMulInteger", [rng.integers(0, 255, (4, 6)).astype(np.uint8),
                               rng.integers(0, 255, (6, 3)).astype(np.uint8),
                               np.array(12, np.uint8), np.array(200, np.uint8)], id="matmulinteger_u8"),
        Case("MatMulInteger", [rng.integers(0, 255, (2, 4, 6)).astype(np.uint8),
                               rng.integers(-128, 127, (6, 3)).astype(np.int8),
                               np.array(3, np.uint8), np.array([1, -2, 5], np.int8)], id="matmulinteger_u8i8",
             ref="reference"),  # onnxruntime's u8 x s8 AVX2 path saturates int16 partial sums
        Case("MatMulInteger", [rng.integers(0, 255, (4, 6)).astype(np.uint8),
                               rng.integers(0, 255, (6, 3)).astype(np.uint8),
                               rng.integers(0, 255, (4, 1)).astype(np.uint8)], id="matmulinteger_rowzp",
             ref="reference"),
    ]
    for eq, shapes in [
        ("ij,jk->ik", [(3, 4), (4, 5)]),
        ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
        ("ii->i", [(4, 4)]),
        ("ij->ji", [(3, 4)]),
        ("...ij,...jk", [(2, 3, 4), (2, 4, 2)]),
        ("i,i", [(5,), (5,)]),
        ("bhqd,bhkd->bhqk", [(1, 2, 3, 4), (1, 2, 5, 4)]),
        ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ]:
        cs.append(Case("Einsum", [f32(*s) for s in shapes], dict(equation=eq), id=f"einsum_{eq}"))
    return cs


ALL_CASES = (_conv_cases() + _conv_transpose_cases() + _pool_cases() + _norm_cases() + _resize_cases()
             + _shuffle_cases() + _rnn_cases() + _linalg_cases())


@pytest.mark.parametrize("case", ALL_CASES, ids=[c.id for c in ALL_CASES])
def test_op_matches_reference(case: Case) -> None:
    _check(case)


# -- inference without constants, symbolic dims, errors ------------------------------------------


def _infer(op: str, types: list[TensorType | None], attrs: dict | None = None, n_out: int | None = None):
    g = Graph("t")
    vals = [None if t is None else g.add_input(f"in{i}", t) for i, t in enumerate(types)]
    return infer_types(op, vals, attrs or {}, num_outputs=n_out)


def T(dt: str, *shape) -> TensorType:
    return TensorType(dt, shape)


def test_conv_symbolic_batch_and_same_padding() -> None:
    (t,) = _infer("conv", [T("f32", "N", 3, "H", "W"), T("f32", 8, 3, 3, 3)], {"auto_pad": "SAME_UPPER"})
    assert t == T("f32", "N", 8, "H", "W")
    (t,) = _infer("conv", [T("f32", "N", 3, "H", 32), T("f32", 8, 3, 3, 3)], {"strides": [2, 2], "pads": [1, 1, 1, 1]})
    assert t == T("f32", "N", 8, "?", 16)
    (t,) = _infer("conv", [T("f32", "N", 3, "H", "W"), T("f32", 8, 3, 1, 1)])
    assert t == T("f32", "N", 8, "H", "W")
    (t,) = _infer("conv", [TensorType("f32", None), T("f32", 8, 3, 3, 3)])
    assert t == T("f32", "?", 8, "?", "?")


def test_pool_and_norm_symbolic() -> None:
    (t,) = _infer("max_pool", [T("f32", "N", 64, 112, 112)], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]})
    assert t == T("f32", "N", 64, 56, 56)
    (t,) = _infer("global_avg_pool", [T("f32", "N", "C", "H", "W")])
    assert t == T("f32", "N", "C", 1, 1)
    ts = _infer("layer_norm", [T("f16", "B", "S", 64), T("f16", 64)], {}, n_out=3)
    assert ts == [T("f16", "B", "S", 64), T("f32", "B", "S", 1), T("f32", "B", "S", 1)]
    ts = _infer("lstm", [T("f32", "S", "B", 4), T("f32", 2, 24, 4), T("f32", 2, 24, 6)],
                {"hidden_size": 6, "direction": "bidirectional"})
    assert ts == [T("f32", "S", 2, "B", 6), T("f32", 2, "B", 6), T("f32", 2, "B", 6)]


def test_resize_without_constant_sizes_leaves_unknown_dims() -> None:
    (t,) = _infer("resize", [T("f32", "N", 3, 8, 8), None, None, T("i64", 4)], {"axes": None})
    assert t == T("f32", "?", "?", "?", "?")
    (t,) = _infer("resize", [T("f32", "N", 3, 8, 8), None, None, T("i64", 2)], {"axes": [2, 3]})
    assert t == T("f32", "N", 3, "?", "?")


def test_matmul_gemm_einsum_symbolic() -> None:
    assert _infer("matmul", [T("f32", "B", "S", 64), T("f32", 64, 32)]) == [T("f32", "B", "S", 32)]
    assert _infer("matmul", [T("f32", "B", 1, 4, 5), T("f32", 3, 5, 6)]) == [T("f32", "B", 3, 4, 6)]
    assert _infer("gemm", [T("f32", "N", 5), T("f32", 3, 5), T("f32", 3)], {"transB": 1}) == [T("f32", "N", 3)]
    assert _infer("einsum", [T("f32", "B", 3, 4), T("f32", "B", 4, 5)], {"equation": "bij,bjk->bik"}) == [
        T("f32", "B", 3, 5)]


def test_errors_are_schema_errors_with_the_reason() -> None:
    with pytest.raises(SchemaError, match="training_mode=1"):
        _infer("batch_norm", [T("f32", 1, 2, 3, 3)] + [T("f32", 2)] * 4, {"training_mode": 1})
    with pytest.raises(SchemaError, match="channels"):
        _infer("conv", [T("f32", 1, 3, 8, 8), T("f32", 8, 4, 3, 3)])
    with pytest.raises(SchemaError, match="inner dims"):
        _infer("matmul", [T("f32", 2, 3), T("f32", 4, 5)])
    with pytest.raises(SchemaError, match="only float"):
        _infer("conv", [T("i32", 1, 3, 8, 8), T("i32", 8, 3, 3, 3)])
    with pytest.raises(SchemaError, match="activation"):
        _infer("gemm", [T("f32", 2, 3), T("f32", 3, 5)], {"activation": "gelu"})
    with pytest.raises(SchemaError, match="antialias"):
        _infer("resize", [T("f32", 1, 1, 4, 4), None, T("f32", 4)], {"antialias": 1})


def test_float16_conv_keeps_dtype() -> None:
    x, w = f32(1, 3, 8, 8), f32(4, 3, 3, 3)
    case = Case("Conv", [x.astype(np.float16), w.astype(np.float16)], dict(pads=[1, 1, 1, 1]))
    want = _reference(case)[0]
    types, got = _ours(case)
    assert types[0] == T("f16", 1, 4, 8, 8) and got[0].dtype == np.float16
    # float16 output rounding: both round a float32 accumulation once (measured max 2e-3)
    np.testing.assert_allclose(got[0].astype(np.float32), want.astype(np.float32), rtol=5e-3, atol=5e-3)


def test_lrn_even_size_follows_the_spec_formula() -> None:
    # onnxruntime takes only odd sizes and onnx's reference LRN loops over the batch axis
    # instead of channels, so an even size is checked against the spec's formula written
    # out literally: channels max(0, c - floor((size-1)/2)) .. min(C-1, c + ceil((size-1)/2)).
    x = f32(2, 6, 3, 4)
    size, alpha, beta, bias = 4, 1e-2, 0.5, 2.0
    want = np.empty_like(x)
    for c in range(6):
        lo, hi = max(0, c - (size - 1) // 2), min(5, c + -(-(size - 1) // 2))
        sq = (x[:, lo:hi + 1].astype(np.float64) ** 2).sum(axis=1)
        want[:, c] = x[:, c] / (bias + alpha / size * sq) ** beta
    (got,) = run_kernel("lrn", [x], dict(size=size, alpha=alpha, beta=beta, bias=bias))
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
