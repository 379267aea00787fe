"""Target quantization specs (compiler/quantization/spec.py) and the quantize pass asking them.

The spec unit tests build their own spec (no target); the TFLite tests check the two facts
the TFLite spec fixes: space_to_depth (no TFLite lowering) is not quantized for TFLite, and
div (an int8 MUL by the reciprocal in TFLite) is, end to end in LiteRT.
"""

from __future__ import annotations

import numpy as np
import pytest

from compiler.interpreter import Interpreter
from compiler.ir import Graph, TensorType, verify
from compiler.quantization.spec import QuantSpec, QuantSpecError, spec_for
from compiler.quantization import QuantizeError, calibrate, quantize_graph

f32 = lambda *s: TensorType("f32", s)  # noqa: E731


def _node(op, n_inputs=1, attrs=None, const=()):
    g = Graph("one")
    ins = []
    for i in range(n_inputs):
        if i in const:
            ins.append(g.add_const(np.full((1, 4), 2.0, np.float32), f"c{i}"))
        else:
            ins.append(g.add_input(f"x{i}", f32(1, 4)))
    return g.add_node(op, ins, attrs or {}, out_types=[f32(1, 4)], names=["y"])


# -- QuantSpec on its own --------------------------------------------------------------------
SPEC = QuantSpec(
    name="toy",
    ops=frozenset({"add", "div", "relu", "sigmoid", "reshape"}),
    same_scale=frozenset({"reshape"}),
    fixed_output={"sigmoid": (0.5, 3)},
    fused_activations=frozenset({"", "relu"}),
    const_inputs={"div": (1,)},
)


def test_quantizes_asks_ops_fused_activation_and_const_inputs():
    assert SPEC.quantizes(_node("relu"))
    assert not SPEC.quantizes(_node("tanh"))  # not in ops
    assert SPEC.quantizes(_node("add", 2, {"activation": "relu"}))
    assert not SPEC.quantizes(_node("add", 2, {"activation": "tanh"}))
    assert SPEC.quantizes(_node("div", 2, const=(1,)))
    assert not SPEC.quantizes(_node("div", 2))  # divisor is an activation
    any_act = QuantSpec("any", ops=frozenset({"add"}))
    assert any_act.quantizes(_node("add", 2, {"activation": "tanh"}))


def test_fixed_and_check():
    assert SPEC.fixed("sigmoid") == (0.5, 3) and SPEC.fixed("relu") is None
    SPEC.check()
    with pytest.raises(QuantSpecError, match="exp: not a quantizable op"):
        QuantSpec("bad", ops=frozenset({"exp"})).check()
    with pytest.raises(QuantSpecError, match="relu: fixed output parameters but quant_role"):
        QuantSpec("bad", ops=frozenset({"relu"}), fixed_output={"relu": (1.0, 0)}).check()
    with pytest.raises(QuantSpecError, match="reshape: has a parameter rule but is not in ops"):
        QuantSpec("bad", ops=frozenset({"relu"}), same_scale=frozenset({"reshape"})).check()
    with pytest.raises(QuantSpecError, match="add: both quantized"):
        QuantSpec("bad", ops=frozenset({"add"}), residual_inputs=frozenset({"add"})).check()
    with pytest.raises(QuantSpecError, match="group_channels=0"):
        QuantSpec("bad", ops=frozenset({"conv"}), group_channels=0).check()


def test_spec_for_finds_target_specs_by_name():
    from targets.tensorrt.quant_spec import QUANT_SPEC as TRT
    from targets.tflite.quant_spec import QUANT_SPEC as TFL

    assert spec_for("tflite") is TFL and spec_for("tensorrt") is TRT
    for spec in (TFL, TRT):
        spec.check()
    assert TRT.symmetric_activations and not TFL.symmetric_activations
    with pytest.raises(QuantSpecError, match="no quantization spec named 'nope'"):
        spec_for("nope")
    with pytest.raises(QuantSpecError):
        spec_for("../x")


# -- the pass asks the spec ------------------------------------------------------------------
def _chain(rng):
    """conv -> space_to_depth -> div by 4 -> relu -> conv."""
    g = Graph("chain")
    x = g.add_input("x", f32(1, 2, 4, 4))
    w1 = g.add_const(rng.standard_normal((4, 2, 1, 1)).astype(np.float32), "w1")
    a = g.add_node("conv", [x, w1, None], {}, names=["a"]).output
    b = g.add_node("space_to_depth", [a], {"blocksize": 2}, names=["b"]).output
    four = g.add_const(np.float32(4.0), "four")
    c = g.add_node("div", [b, four], {}, names=["c"]).output
    d = g.add_node("relu", [c], {}, names=["d"]).output
    w2 = g.add_const(rng.standard_normal((3, 16, 1, 1)).astype(np.float32), "w2")
    g.outputs = [g.add_node("conv", [d, w2, None], {}, names=["e"]).output]
    verify(g)
    return g


@pytest.fixture(scope="module")
def chain():
    rng = np.random.default_rng(0)
    g = _chain(rng)
    xs = [rng.standard_normal((1, 2, 4, 4)).astype(np.float32) for _ in range(8)]
    return g, calibrate(g, xs, progress=False), xs


def test_tflite_does_not_quantize_space_to_depth_but_quantizes_div(chain):
    g, st, _ = chain
    s = quantize_graph(g.copy(), st, scheme="tflite")
    assert "space_to_depth" not in s.quantized_ops and "b" in s.float_nodes
    assert s.quantized_ops.get("div") == 1
    assert set(s.params) == {"x", "a", "b", "c", "d", "e"}  # quantized ops' outputs too
    # TensorRT: Q/DQ only in front of its quantized ops (the convs): x and d, not a or e
    t = quantize_graph(g.copy(), st, scheme="tensorrt")
    assert t.quantized_ops == {"conv": 2} and set(t.params) == {"x", "d"}


def test_quantize_graph_takes_a_spec(chain):
    g, st, xs = chain
    only_conv = QuantSpec("convs", ops=frozenset({"conv"}), symmetric_activations=True)
    q = g.copy()
    s = quantize_graph(q, st, spec=only_conv)
    assert s.quantized_ops == {"conv": 2} and s.scheme == "convs"
    assert all(qp.zero_point == (0,) for qp in s.params.values())
    ref, got = Interpreter(g).run({"x": xs[0]})["e"], Interpreter(q).run({"x": xs[0]})["e"]
    assert np.abs(got - ref).max() < 0.05 * np.abs(ref).max()
    with pytest.raises(QuantizeError, match="scheme 'nope'"):
        quantize_graph(g.copy(), st, scheme="nope")


def test_tflite_int8_ops_are_the_spec():
    from targets.tflite.quant_spec import QUANT_SPEC
    from targets.tflite.quantized import INT8_OPS

    assert INT8_OPS == QUANT_SPEC.ops | {"identity"}
    assert "space_to_depth" not in INT8_OPS and "div" in QUANT_SPEC.ops


def test_quantized_div_runs_as_int8_mul_in_litert():
    pytest.importorskip("ai_edge_litert")
    from targets.tflite.lower import emit_tflite
    from tests.support.oracles import op_counts, run_litert

    rng = np.random.default_rng(1)
    g = Graph("divnet")
    x = g.add_input("x", f32(1, 3, 6, 6))
    w = g.add_const(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    a = g.add_node("conv", [x, w, None], {"pads": [1, 1, 1, 1]}, names=["a"]).output
    six = g.add_const(np.float32(6.0), "six")
    g.outputs = [g.add_node("div", [a, six], {}, names=["y"]).output]
    xs = [rng.standard_normal((1, 3, 6, 6)).astype(np.float32) for _ in range(8)]
    st = calibrate(g, xs, progress=False)
    q = g.copy()
    s = quantize_graph(q, st)
    assert s.quantized_ops == {"conv": 1, "div": 1}
    data = emit_tflite(q)
    ops = op_counts(data)
    assert ops.get("MUL") == 1 and "DIV" not in ops  # int8 MUL by 1/6, no float DIV
    ref = Interpreter(q).run({"x": xs[0]})["y"]
    got = run_litert(data, {"x": xs[0]})["y"]
    step = s.params["y"].scale[0]
    assert np.abs(got - ref).max() <= 2 * step


def test_spec_for_asks_the_target_registry():
    # A registered target answers with its own spec; one that does not quantize says so.
    from targets import get_target

    assert spec_for("tflite") is get_target("tflite").quant_spec
    with pytest.raises(QuantSpecError, match="'onnx' does not quantize"):
        spec_for("onnx")
