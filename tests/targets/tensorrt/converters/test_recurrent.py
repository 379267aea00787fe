"""lstm / gru / rnn converters (unrolled) through the stand-in, vs the reference interpreter,
onnxruntime on the source ONNX model, and torch for nn.LSTM / nn.GRU.

ONNX models are built in memory with onnx.helper (hidden 5, input 3, batch 2, 4 steps),
loaded, run through the tensorrt pipeline and converted. Errors are max |diff| over outputs
(absolute; values are at most ~1). Measured (PYTHONPATH=$PWD python3 -m pytest -s
tests/targets/tensorrt/converters/test_recurrent.py, 42 tests, about 10 s): stand-in vs the
reference interpreter at most 4.8e-7 (GRU with LeakyRelu/Elu/Softplus/Affine), vs
onnxruntime at most 1.6e-7, torch modules exported to ONNX vs torch at most 8.9e-8; bound
1e-5. fp16 networks (half weights and states, fp32-accumulated matrix multiplies) vs the
float reference, 8 steps bidirectional: at most 1.4e-3 of the largest reference value (LSTM);
a float16 graph 8.9e-4; bound 1e-2 (rounding errors carry across steps, so they grow with
the sequence).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import compiler
from compiler.compile import compile_pipeline
from compiler.ir import Graph, TensorType
from compiler.pass_manager import PassManager
from targets import get_target
from targets.tensorrt.converters.recurrent import MAX_STEPS
from targets.tensorrt.network import build_network
from targets.tensorrt.preflight import problems
from targets.tensorrt.profile import parse_shape_ranges
from targets.tensorrt.target import TensorRTOptions
from tests.support import trt_standin as trt
from tests.support.trt_check import reference, through_standin

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

ATOL = 1e-5
FP16_TOL = 1e-2
SEQ, BATCH, IN, HID = 4, 2, 3, 5
GATES = {"lstm": 4, "gru": 3, "rnn": 1}
OP_NAMES = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


def _model(op: str, tmp: Path, *, direction: str = "forward", bias: bool = True,
           states: bool = False, layout: int = 0, seq: int = SEQ, peepholes: bool = False,
           seq_lens: list[int] | None = None, **attrs) -> tuple[Path, dict[str, np.ndarray]]:
    """An ONNX model of one ``op`` node with random weights; returns its path and feeds.
    Every output of the node is a graph output."""
    r = np.random.default_rng(7)
    ndir = 2 if direction == "bidirectional" else 1
    g = GATES[op]
    x_shape = [BATCH, seq, IN] if layout else [seq, BATCH, IN]
    s_shape = [BATCH, ndir, HID] if layout else [ndir, BATCH, HID]
    inits = [numpy_helper.from_array(r.uniform(-0.6, 0.6, (ndir, g * HID, IN)).astype(
                 np.float32), "W"),
             numpy_helper.from_array(r.uniform(-0.6, 0.6, (ndir, g * HID, HID)).astype(
                 np.float32), "R")]
    inputs = ["X", "W", "R", "", "", ""]
    if bias:
        inits.append(numpy_helper.from_array(
            r.uniform(-0.5, 0.5, (ndir, 2 * g * HID)).astype(np.float32), "B"))
        inputs[3] = "B"
    if seq_lens is not None:
        inits.append(numpy_helper.from_array(np.array(seq_lens, np.int32), "lens"))
        inputs[4] = "lens"
    feeds = {"X": r.uniform(-1, 1, x_shape).astype(np.float32)}
    graph_inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, x_shape)]
    state_names = ["h0", "c0"] if op == "lstm" else ["h0"]
    if states:
        inputs[5] = "h0"
        if op == "lstm":
            inputs.append("c0")
        for name in state_names:
            feeds[name] = r.uniform(-1, 1, s_shape).astype(np.float32)
            graph_inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, s_shape))
    if peepholes:
        inputs += [""] * (7 - len(inputs)) + ["P"]
        inits.append(numpy_helper.from_array(
            r.uniform(-0.5, 0.5, (ndir, 3 * HID)).astype(np.float32), "P"))
    while inputs[-1] == "":
        inputs.pop()
    outputs = ["Y", "Y_h", "Y_c"] if op == "lstm" else ["Y", "Y_h"]
    y_shape = [BATCH, seq, ndir, HID] if layout else [seq, ndir, BATCH, HID]
    node = helper.make_node(OP_NAMES[op], inputs, outputs, name=f"{op}1", hidden_size=HID,
                            direction=direction, layout=layout, **attrs)
    graph = helper.make_graph(
        [node], op, graph_inputs,
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, y_shape)]
        + [helper.make_tensor_value_info(o, TensorProto.FLOAT, s_shape) for o in outputs[1:]],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    onnx.checker.check_model(model)
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / f"{op}.onnx"
    onnx.save(model, str(path))
    return path, feeds


def _prepared(model, **load_options) -> Graph:
    g = compiler.load(model, **load_options)
    PassManager(compile_pipeline(get_target("tensorrt"))).run(g)
    return g


def _err(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> float:
    worst = 0.0
    for k, w in want.items():
        assert got[k].shape == w.shape, (k, got[k].shape, w.shape)
        worst = max(worst, float(np.abs(got[k].astype(np.float64) - w).max()))
    return worst


def _onnxruntime(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, feeds)))


CASES = {
    "forward_no_bias": {"bias": False},
    "reverse_states": {"direction": "reverse", "states": True},
    "bidirectional": {"direction": "bidirectional"},
    "bidirectional_states": {"direction": "bidirectional", "states": True},
    "layout1_bidirectional_states": {"direction": "bidirectional", "states": True,
                                     "layout": 1},
    "clip": {"states": True, "clip": 0.5},
    "full_sequence_lens": {"seq_lens": [SEQ] * BATCH, "direction": "bidirectional"},
}
EXTRA = {
    "lstm": {"peepholes": {"peepholes": True, "states": True, "direction": "bidirectional"},
             "clip_peepholes": {"peepholes": True, "states": True, "clip": 0.3},
             "input_forget": {"input_forget": 1, "states": True}},
    "gru": {"linear_before_reset": {"linear_before_reset": 1, "states": True,
                                    "direction": "bidirectional"}},
    "rnn": {"relu": {"activations": ["Relu"], "states": True}},
}
PARAMS = [pytest.param(op, kw, id=f"{op}-{name}")
          for op in ("lstm", "gru", "rnn")
          for name, kw in {**CASES, **EXTRA[op]}.items()]


@pytest.mark.parametrize("op,kw", PARAMS)
def test_onnx_recurrent_matches_reference_and_onnxruntime(op, kw, tmp_path):
    path, feeds = _model(op, tmp_path, **kw)
    g = _prepared(path)
    got = through_standin(g, feeds)
    err_ref = _err(got, reference(g, feeds))
    if kw.get("layout"):
        # onnxruntime runs layout 0 only: the same weights (drawn first, same seed) in a
        # layout-0 model, fed and read transposed.
        path0, _ = _model(op, tmp_path / "layout0", **{**kw, "layout": 0})
        want = _onnxruntime(path0, {k: v.transpose(1, 0, 2) for k, v in feeds.items()})
        want = {k: v.transpose(2, 0, 1, 3) if k == "Y" else v.transpose(1, 0, 2)
                for k, v in want.items()}
    else:
        want = _onnxruntime(path, feeds)
    err_ort = _err(got, want)
    print(f"{op} {kw}: vs reference {err_ref:.2e}, vs onnxruntime {err_ort:.2e}")
    assert err_ref <= ATOL
    assert err_ort <= ATOL


@pytest.mark.parametrize("op", ["lstm", "gru"])
def test_layers_carry_the_source_name_once_each(op, tmp_path):
    path, _ = _model(op, tmp_path, direction="bidirectional", states=True, layout=1)
    network, _ = build_network(_prepared(path), trt)  # type: ignore[arg-type]
    names = [layer.name for layer in network.layers if not layer.name.startswith("const/")]
    assert len(names) == len(set(names)), "layer names repeat"
    assert all(n.split("/")[0] == f"{op}1" for n in names), names
    # the input projection of both directions is one matrix multiply each, plus one per step
    mms = [n for n in names if n.endswith("xW") or n.endswith("hR") or "hR_zr" in n]
    assert len(mms) == 2 + 2 * SEQ, mms


@pytest.mark.parametrize("op,acts,alpha,beta", [
    ("lstm", ["HardSigmoid", "Softsign", "ScaledTanh"], [0.3, 1.5], [0.4, 0.7]),
    ("lstm", ["Sigmoid", "LeakyRelu", "Tanh"], [0.5], None),
    ("gru", ["LeakyRelu", "Elu", "Softplus", "Affine"], [0.1, 0.9, 0.5], [0.1]),
    ("gru", ["Sigmoid", "LeakyRelu"], [0.5], None),
    ("rnn", ["ThresholdedRelu", "Tanh"], [0.2], None),
])
def test_other_activations_match_the_reference_and_onnxruntime(op, acts, alpha, beta,
                                                               tmp_path):
    """activation_alpha/beta go in turn to the activations that take them, as onnxruntime
    reads them."""
    per_direction = {"lstm": 3, "gru": 2, "rnn": 1}[op]
    direction = "bidirectional" if len(acts) == 2 * per_direction else "forward"
    attrs = {"activations": acts, "activation_alpha": alpha}
    if beta is not None:
        attrs["activation_beta"] = beta
    path, feeds = _model(op, tmp_path, direction=direction, states=True, **attrs)
    g = _prepared(path)
    got = through_standin(g, feeds)
    err, err_ort = _err(got, reference(g, feeds)), _err(got, _onnxruntime(path, feeds))
    print(f"{op} {acts}: vs reference {err:.2e}, vs onnxruntime {err_ort:.2e}")
    assert err <= ATOL
    assert err_ort <= ATOL


def _fp16(g: Graph, feeds: dict[str, np.ndarray]) -> tuple[object, dict[str, np.ndarray]]:
    net, ctx = build_network(g, trt, TensorRTOptions(float16=True))  # type: ignore[arg-type]
    out = trt.execute(net, dict(feeds))
    return net, {v.name: out[ctx.tensors[v.name].name] for v in g.outputs}


@pytest.mark.parametrize("op", ["lstm", "gru", "rnn"])
def test_fp16_network_matches_the_float_reference(op, tmp_path):
    path, feeds = _model(op, tmp_path, direction="bidirectional", states=True, seq=8)
    g = _prepared(path)
    net, got = _fp16(g, feeds)
    want = reference(g, feeds)
    err = max(float(np.abs(got[k].astype(np.float64) - w).max() / np.abs(w).max())
              for k, w in want.items())
    print(f"{op} fp16 vs float reference: {err:.2e}")
    assert err <= FP16_TOL
    mms = [layer for layer in net.layers if layer.type == trt.LayerType.MATRIX_MULTIPLY]
    assert mms and all(m.get_input(0).dtype == trt.DataType.HALF for m in mms)
    assert all(got[k].dtype == np.float32 for k in got)


def test_a_half_model_builds_half_weights_and_states():
    """An LSTM whose graph is float16 (not the fp16 option): constants and the zero initial
    states take X's type. Measured 8.9e-4 vs the reference (which computes in float32 and
    rounds the outputs once); bound FP16_TOL."""
    r = np.random.default_rng(3)
    g = Graph("half_lstm")
    x = g.add_input("x", TensorType("f16", (SEQ, BATCH, IN)))
    w = g.add_const(r.uniform(-0.6, 0.6, (2, 4 * HID, IN)).astype(np.float16), "w")
    rr = g.add_const(r.uniform(-0.6, 0.6, (2, 4 * HID, HID)).astype(np.float16), "r")
    b = g.add_const(r.uniform(-0.5, 0.5, (2, 8 * HID)).astype(np.float16), "b")
    g.outputs = g.add_node("lstm", [x, w, rr, b], source=["lstm1"], num_outputs=3,
                           attrs={"hidden_size": HID, "direction": "bidirectional"}).outputs
    feeds = {"x": r.uniform(-1, 1, (SEQ, BATCH, IN)).astype(np.float16)}
    got, want = through_standin(g, feeds), reference(g, feeds)
    err = max(float(np.abs(got[k].astype(np.float64) - w).max() / np.abs(w).max())
              for k, w in want.items())
    print(f"half lstm vs reference: {err:.2e}")
    assert all(got[k].dtype == np.float16 for k in got)
    assert err <= FP16_TOL


def _refusal(op: str, tmp: Path, **kw) -> str:
    path, _ = _model(op, tmp, **kw)
    found = [p for p in problems(_prepared(path)) if p.op == op]
    assert len(found) == 1, found
    return found[0].reason


def test_too_long_a_sequence_is_refused_with_the_bound(tmp_path):
    assert f"unrolls at most {MAX_STEPS}" in _refusal("lstm", tmp_path, seq=MAX_STEPS + 1)


def test_ragged_sequence_lens_are_refused(tmp_path):
    assert "ragged" in _refusal("gru", tmp_path, seq_lens=[SEQ, SEQ - 1])


def test_weights_computed_at_run_time_are_refused():
    g = Graph("w_input")
    x = g.add_input("x", TensorType("f32", (SEQ, BATCH, IN)))
    w = g.add_input("w", TensorType("f32", (1, HID, IN)))
    r = g.add_const(np.zeros((1, HID, HID), np.float32), "r")
    g.outputs = g.add_node("rnn", [x, w, r], source=["rnn1"], num_outputs=2,
                           attrs={"hidden_size": HID}).outputs
    (problem,) = problems(g)
    assert "computed at run time" in problem.reason


def test_a_dynamic_batch_is_refused_naming_the_dim():
    g = Graph("dynamic_batch")
    x = g.add_input("x", TensorType("f32", (SEQ, "N", IN)))
    w = g.add_const(np.zeros((1, HID, IN), np.float32), "w")
    r = g.add_const(np.zeros((1, HID, HID), np.float32), "r")
    g.outputs = g.add_node("rnn", [x, w, r], source=["rnn1"], num_outputs=2,
                           attrs={"hidden_size": HID}).outputs
    (problem,) = problems(g, parse_shape_ranges([f"x:{SEQ}x1x{IN},{SEQ}x2x{IN}"]))
    assert problem.op == "rnn"
    assert ("dynamic dim 1 ('N') of %x reaches a recurrent op, which is unrolled over static "
            "shapes: TensorRT needs its size at build time here; fix it with --input-shape"
            ) in problem.reason


# -- torch ------------------------------------------------------------------------------------
# infercc's PyTorch frontend lowers nn.LSTM/nn.GRU/nn.RNN to matrix multiplies and gates (no
# recurrent IR op); torch's ONNX exporter writes them as ONNX LSTM/GRU/RNN nodes (gates
# reordered, biases split), which is the path these converters take for torch users.


def _torch_cases():
    torch = pytest.importorskip("torch")

    class Seq(torch.nn.Module):
        def __init__(self, kind: str, **kw) -> None:
            super().__init__()
            self.rnn = getattr(torch.nn, kind)(IN, HID, batch_first=True, **kw)

        def forward(self, x):
            return self.rnn(x)[0]

    return torch, {
        "lstm": lambda: Seq("LSTM"),
        "lstm_bidirectional_2_layers": lambda: Seq("LSTM", num_layers=2, bidirectional=True),
        "gru": lambda: Seq("GRU"),
        "gru_bidirectional": lambda: Seq("GRU", bidirectional=True),
        "rnn_relu": lambda: Seq("RNN", nonlinearity="relu"),
    }


@pytest.mark.parametrize("case", ["lstm", "lstm_bidirectional_2_layers", "gru",
                                  "gru_bidirectional", "rnn_relu"])
def test_torch_recurrent_modules_exported_to_onnx_match_torch(case, tmp_path):
    torch, cases = _torch_cases()
    torch.manual_seed(0)
    m = cases[case]().eval()
    x = torch.rand(BATCH, 7, IN, generator=torch.Generator().manual_seed(1)) * 2 - 1
    path = tmp_path / f"{case}.onnx"
    torch.onnx.export(m, (x,), str(path), input_names=["x"], output_names=["y"],
                      opset_version=14, dynamo=False)
    g = _prepared(path)
    assert {n.op for n in g.nodes} & {"lstm", "gru", "rnn"}, "the export has no rnn op"
    feeds = {"x": x.numpy()}
    got = through_standin(g, feeds)["y"]
    with torch.no_grad():
        want = m(x).numpy()
    err_torch = float(np.abs(got - want).max())
    err_ref = _err({"y": got}, {"y": reference(g, feeds)["y"]})
    print(f"torch {case}: vs torch {err_torch:.2e}, vs reference {err_ref:.2e}")
    assert err_torch <= ATOL and err_ref <= ATOL
