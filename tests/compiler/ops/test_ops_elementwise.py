"""Elementwise, activation, quantization and control-flow ops against onnxruntime.

Each case builds a one-node IR graph (inference runs in ``Graph.add_node``, the verifier
checks it), runs it on the reference interpreter, and compares with onnxruntime running the
equivalent single-node ONNX model (``onnx.reference.ReferenceEvaluator`` where onnxruntime
has no CPU kernel for that op/type). Every case also checks that the kernel's output dtype
and shape are exactly the inferred type.

Tolerances (measured with this file's inputs, onnx 1.23.2 / onnxruntime 1.32, x86-64):
integer, bool, comparison, rounding, cast and quantization results must match exactly.
float32 results: the largest error seen is |got - ref| / max(1, |ref|) = 2.6e-7 (one or two
ulps: onnxruntime's vectorized exp/tanh/erf/log differ from numpy's libm by a rounding);
the bound used is rtol=1e-5, atol=1e-6 (F32_TOL), about 4x above the worst case near zero
and 40x above it for |ref| > 1.
ReferenceEvaluator stands in for onnxruntime only for PRelu on int32 and Swish (opset 24),
which have no onnxruntime CPU kernel.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from compiler.interpreter import Interpreter
from compiler.ir.graph import Graph
from compiler.ir.types import DType, QuantParams, TensorType
from compiler.ir.verifier import verify
from compiler.ops.onnx_names import ir_name
from compiler.ops.registry import SchemaError, infer_types

OPSET = 25
F32_TOL = {"rtol": 1e-5, "atol": 1e-6}
RNG = np.random.default_rng(1234)

_ONNX_ELEM = {
    np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE,
    np.dtype(np.float16): TensorProto.FLOAT16, np.dtype(np.int8): TensorProto.INT8,
    np.dtype(np.uint8): TensorProto.UINT8, np.dtype(np.int16): TensorProto.INT16,
    np.dtype(np.uint16): TensorProto.UINT16, np.dtype(np.int32): TensorProto.INT32,
    np.dtype(np.int64): TensorProto.INT64, np.dtype(np.uint32): TensorProto.UINT32,
    np.dtype(np.uint64): TensorProto.UINT64, np.dtype(np.bool_): TensorProto.BOOL,
    np.dtype(object): TensorProto.STRING,
}


# -- harness -----------------------------------------------------------------------------------


def _elem(a: np.ndarray) -> int:
    return _ONNX_ELEM[np.asarray(a).dtype]


def onnx_model(op_type: str, inputs: list, attrs: dict, n_out: int = 1, consts: dict | None = None):
    """A one-node ONNX model; ``inputs`` entries are arrays or None (absent optional input)."""
    consts = consts or {}
    names, vis, inits = [], [], []
    for i, a in enumerate(inputs):
        if a is None:
            names.append("")
            continue
        n = f"in{i}"
        names.append(n)
        if i in consts:
            inits.append(onnx.numpy_helper.from_array(np.asarray(a), n))
        else:
            vis.append(helper.make_tensor_value_info(n, _elem(a), list(np.shape(a))))
    while names and names[-1] == "":
        names.pop()
    outs = [f"out{j}" for j in range(n_out)]
    node = helper.make_node(op_type, names, outs, **attrs)
    graph = helper.make_graph(
        [node], "g", vis, [onnx.ValueInfoProto(name=o) for o in outs], inits
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


def run_onnx(model, feeds: dict) -> list[np.ndarray]:
    """onnxruntime, or onnx's reference evaluator where onnxruntime has no kernel."""
    try:
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception as e:  # NOT_IMPLEMENTED: no CPU kernel for this op/type combination
        if "NOT_IMPLEMENTED" not in str(e) and "NotImplemented" not in type(e).__name__:
            raise
        from onnx.reference import ReferenceEvaluator

        return [np.asarray(r) for r in ReferenceEvaluator(model).run(None, feeds)]
    return sess.run(None, feeds)


def run_ir(op: str, inputs: list, attrs: dict, n_out: int = 1, consts: dict | None = None,
           shapes: dict | None = None):
    """Build, verify and interpret a one-node IR graph; returns (node, outputs)."""
    consts = consts or {}
    shapes = shapes or {}
    g = Graph("t")
    vals, feeds = [], {}
    for i, a in enumerate(inputs):
        if a is None:
            vals.append(None)
        elif i in consts:
            vals.append(g.add_const(np.asarray(a), f"c{i}"))
        else:
            a = np.asarray(a)
            t = TensorType(DType.from_numpy(a.dtype), shapes.get(i, a.shape))
            vals.append(g.add_input(f"in{i}", t))
            feeds[f"in{i}"] = a
    node = g.add_node(op, vals, attrs, num_outputs=n_out)
    g.outputs = list(node.outputs)
    verify(g)
    res = Interpreter(g).run(feeds)
    outs = [res[v.name] for v in node.outputs]
    for v, r in zip(node.outputs, outs):
        assert r.dtype == v.type.dtype.numpy, f"{op}: kernel gave {r.dtype}, inferred {v.type}"
        if v.type.is_static:
            assert tuple(r.shape) == v.type.shape, f"{op}: kernel gave shape {r.shape}, inferred {v.type}"
    return node, outs


def check(onnx_op: str, inputs: list, attrs: dict | None = None, *, n_out: int = 1,
          consts: dict | None = None, tol: dict | None = None, ir_attrs: dict | None = None):
    """Run both and compare; exact unless ``tol`` is given (or float output -> F32_TOL)."""
    attrs = attrs or {}
    model = onnx_model(onnx_op, inputs, attrs, n_out, consts)
    feeds = {f"in{i}": np.asarray(a) for i, a in enumerate(inputs)
             if a is not None and i not in (consts or {})}
    want = run_onnx(model, feeds)
    _, got = run_ir(ir_name(onnx_op), inputs, ir_attrs if ir_attrs is not None else attrs, n_out, consts)
    for w, g_ in zip(want, got):
        w = np.asarray(w)
        assert g_.dtype == w.dtype or (w.dtype.kind in "OUS" and g_.dtype == object), (g_.dtype, w.dtype)
        assert g_.shape == w.shape
        if w.dtype.kind == "f":
            np.testing.assert_allclose(g_, w, **(tol or F32_TOL))
        else:
            np.testing.assert_array_equal(g_, w)
    return got


def rand(shape, dtype=np.float32, lo=-3.0, hi=3.0):
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return RNG.uniform(lo, hi, shape).astype(dt)
    if dt.kind == "b":
        return RNG.random(shape) < 0.5
    lo_i = max(int(lo), np.iinfo(dt).min)
    hi_i = min(int(hi), np.iinfo(dt).max)
    return RNG.integers(lo_i, hi_i + 1, shape).astype(dt)


# broadcasting pair used by binary ops: [3,1,5] with [4,1] -> [3,4,5]
SA, SB = (3, 1, 5), (4, 1)


# -- binary arithmetic -----------------------------------------------------------------------


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int64, np.uint8])
def test_arith(op, dtype):
    a = rand(SA, dtype, -50, 50)
    b = rand(SB, dtype, -9, 9)
    if op == "Div":
        b[b == 0] = 3  # integer division by zero is undefined
        if np.dtype(dtype).kind == "i":
            b[0, 0] = -4  # negative divisor: checks truncation toward zero
    check(op, [a, b])


@pytest.mark.parametrize("act,onnx_act", [("relu", ("Relu", {})), ("relu6", ("Clip", {"min": 0.0, "max": 6.0})),
                                          ("relu_n1_to_1", ("Clip", {"min": -1.0, "max": 1.0})),
                                          ("tanh", ("Tanh", {})), ("sigmoid", ("Sigmoid", {}))])
def test_fused_activation(act, onnx_act):
    a, b = rand(SA, lo=-8, hi=8), rand(SB, lo=-8, hi=8)
    # reference: Add followed by the activation, as two ONNX nodes
    nodes = [helper.make_node("Add", ["a", "b"], ["s"])]
    op, bounds = onnx_act
    inits = []
    if op == "Clip":
        inits = [onnx.numpy_helper.from_array(np.float32(bounds["min"]), "lo"),
                 onnx.numpy_helper.from_array(np.float32(bounds["max"]), "hi")]
        nodes.append(helper.make_node("Clip", ["s", "lo", "hi"], ["y"]))
    else:
        nodes.append(helper.make_node(op, ["s"], ["y"]))
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("a", TensorProto.FLOAT, SA),
                                      helper.make_tensor_value_info("b", TensorProto.FLOAT, SB)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    want = run_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)]), {"a": a, "b": b})[0]
    _, got = run_ir("add", [a, b], {"activation": act})
    np.testing.assert_allclose(got[0], want, **F32_TOL)
    with pytest.raises(SchemaError, match="activation"):
        run_ir("mul", [a, b], {"activation": "gelu"})


@pytest.mark.parametrize("xdt,ydt", [(np.float32, np.float32), (np.float32, np.int64),
                                     (np.int32, np.int32), (np.int64, np.float32)])
def test_pow(xdt, ydt):
    x = rand(SA, xdt, 1, 4) if np.dtype(xdt).kind == "f" else rand(SA, xdt, -5, 5)
    y = rand(SB, ydt, -2, 3) if np.dtype(ydt).kind == "f" else rand(SB, ydt, 0, 4)
    got = check("Pow", [x, y])
    assert got[0].dtype == np.dtype(xdt)  # the base's type


# ONNX Mod on floats requires fmod=1
@pytest.mark.parametrize("fmod,dtype", [(0, np.int32), (1, np.int32), (0, np.int64), (1, np.int64),
                                        (1, np.float32)])
def test_mod(fmod, dtype):
    a = rand(SA, dtype, -20, 20)
    b = rand(SB, dtype, -7, 7)
    b[b == 0] = 5
    check("Mod", [a, b], {"fmod": fmod})


@pytest.mark.parametrize("op", ["Max", "Min", "Sum", "Mean"])
@pytest.mark.parametrize("n", [1, 3])
def test_variadic(op, n):
    shapes = [(2, 3, 4), (3, 1), (4,)][:n]
    dtypes = [np.float32] + ([np.int32] if op in ("Max", "Min") else [])
    for dt in dtypes:
        check(op, [rand(s, dt, -10, 10) for s in shapes])


@pytest.mark.parametrize("op", ["Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"])
@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_compare(op, dtype):
    a, b = rand(SA, dtype, -3, 3), rand(SB, dtype, -3, 3)
    a = np.round(a) if np.dtype(dtype).kind == "f" else a  # make equality happen
    b = np.round(b) if np.dtype(dtype).kind == "f" else b
    got = check(op, [a, b])
    assert got[0].dtype == np.bool_


@pytest.mark.parametrize("op", ["And", "Or", "Xor"])
def test_logic(op):
    check(op, [rand(SA, bool), rand(SB, bool)])


def test_not_and_where():
    check("Not", [rand((3, 4), bool)])
    for dt in (np.float32, np.int64):
        check("Where", [rand((3, 1, 5), bool), rand((4, 1), dt), rand((1, 5), dt)])


@pytest.mark.parametrize("op", ["BitwiseAnd", "BitwiseOr", "BitwiseXor"])
@pytest.mark.parametrize("dtype", [np.int32, np.uint8])
def test_bitwise(op, dtype):
    check(op, [rand(SA, dtype, 0, 200), rand(SB, dtype, 0, 200)])


def test_bitwise_not_and_shift():
    check("BitwiseNot", [rand((3, 4), np.int32, -100, 100)])
    check("BitwiseNot", [rand((3, 4), np.uint8, 0, 255)])
    for d in ("LEFT", "RIGHT"):
        for dt in (np.uint8, np.uint32):
            check("BitShift", [rand(SA, dt, 0, 255), rand(SB, dt, 0, 7)], {"direction": d})


# -- unary math ------------------------------------------------------------------------------

UNARY_DOMAINS = {
    "Neg": (-5, 5), "Abs": (-5, 5), "Sqrt": (0, 9), "Exp": (-5, 5), "Log": (0.01, 9),
    "Reciprocal": (0.5, 4), "Floor": (-5, 5), "Ceil": (-5, 5), "Sign": (-3, 3), "Erf": (-3, 3),
    "Sin": (-5, 5), "Cos": (-5, 5), "Tan": (-1.4, 1.4), "Asin": (-0.99, 0.99), "Acos": (-0.99, 0.99),
    "Atan": (-5, 5), "Sinh": (-4, 4), "Cosh": (-4, 4), "Asinh": (-5, 5), "Acosh": (1.01, 6),
    "Atanh": (-0.95, 0.95),
}


@pytest.mark.parametrize("op", sorted(UNARY_DOMAINS))
def test_unary_float(op):
    lo, hi = UNARY_DOMAINS[op]
    x = rand((2, 3, 7), np.float32, lo, hi)
    if op == "Sign":
        x[0, 0, :3] = 0
    check(op, [x])


@pytest.mark.parametrize("op", ["Neg", "Abs", "Sign"])
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.int8])
def test_unary_int(op, dtype):
    check(op, [rand((4, 5), dtype, -20, 20)])


def test_round_half_to_even():
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49999997, 1.2, -3.7], np.float32)
    check("Round", [x])


def test_isnan_isinf():
    x = np.array([1.0, np.nan, np.inf, -np.inf, 0.0, -2.0], np.float32)
    check("IsNaN", [x])
    for neg in (0, 1):
        for pos in (0, 1):
            check("IsInf", [x], {"detect_negative": neg, "detect_positive": pos})


def test_clip():
    x = rand((3, 4, 5), np.float32, -5, 5)
    lo, hi = np.float32(-1.5), np.float32(2.0)
    check("Clip", [x, lo, hi])
    check("Clip", [x, lo])
    check("Clip", [x, None, hi])
    check("Clip", [x])
    check("Clip", [x, np.float32(3), np.float32(1)])  # min > max: every value becomes max
    xi = rand((3, 4), np.int32, -50, 50)
    check("Clip", [xi, np.int32(-7), np.int32(9)])


# -- cast ------------------------------------------------------------------------------------

_CAST_TO = {
    np.float32: TensorProto.FLOAT, np.float64: TensorProto.DOUBLE, np.float16: TensorProto.FLOAT16,
    np.int32: TensorProto.INT32, np.int64: TensorProto.INT64, np.int8: TensorProto.INT8,
    np.uint8: TensorProto.UINT8, np.bool_: TensorProto.BOOL,
}


@pytest.mark.parametrize("src", [np.float32, np.float64, np.int32, np.int64, np.uint8, np.bool_])
@pytest.mark.parametrize("dst", list(_CAST_TO))
def test_cast(src, dst):
    if np.dtype(src).kind == "f":
        x = rand((3, 5), src, -100, 100)
        if np.dtype(dst).kind == "u":
            x = np.abs(x)  # negative floats to unsigned are undefined in ONNX
        x[0, 0] = 0.0
    else:
        x = rand((3, 5), src, -100, 100) if np.dtype(src).kind != "b" else rand((3, 5), bool)
    check("Cast", [x], {"to": _CAST_TO[dst]})


def test_cast_ir_spelling_and_like():
    x = rand((2, 3), np.float32, -9, 9)
    _, got = run_ir("cast", [x], {"to": "i32"})
    assert got[0].dtype == np.int32
    np.testing.assert_array_equal(got[0], x.astype(np.int32))
    check("CastLike", [x, np.zeros((1,), np.int16)])
    with pytest.raises(SchemaError, match="float8e4m3fn"):
        run_ir("cast", [x], {"to": TensorProto.FLOAT8E4M3FN})


def test_cast_strings():
    x = np.array([1e20, 1e-7, np.nan, np.inf, -np.inf, 123456789, 0.1, 0.3333333, 12345.678, 100],
                 np.float32)
    check("Cast", [x], {"to": TensorProto.STRING})
    check("Cast", [np.array([True, False])], {"to": TensorProto.STRING})
    check("Cast", [np.array([-3, 7], np.int32)], {"to": TensorProto.STRING})
    s = np.array(["1.5", "-2e3", "INF", "-INF", "NaN", "+INF", "100"], dtype=object)
    check("Cast", [s], {"to": TensorProto.FLOAT})
    check("Cast", [np.array(["12", "-3", "0"], dtype=object)], {"to": TensorProto.INT32})


# -- activations -----------------------------------------------------------------------------

ACTIVATIONS = [
    ("Relu", {}), ("LeakyRelu", {}), ("LeakyRelu", {"alpha": 0.2}), ("Sigmoid", {}),
    ("HardSigmoid", {}), ("HardSigmoid", {"alpha": 0.5, "beta": 0.3}), ("HardSwish", {}),
    ("Tanh", {}), ("Gelu", {}), ("Gelu", {"approximate": "tanh"}), ("Elu", {}),
    ("Elu", {"alpha": 0.5}), ("Selu", {}), ("Selu", {"alpha": 1.5, "gamma": 2.0}), ("Celu", {}),
    ("Celu", {"alpha": 2.0}), ("Softplus", {}), ("Softsign", {}), ("Mish", {}), ("Swish", {}),
    ("Swish", {"alpha": 0.7}), ("ThresholdedRelu", {}), ("ThresholdedRelu", {"alpha": 0.5}),
    ("Shrink", {}), ("Shrink", {"bias": 1.5, "lambd": 1.0}),
]


@pytest.mark.parametrize("op,attrs", ACTIVATIONS, ids=[f"{o}-{i}" for i, (o, _) in enumerate(ACTIVATIONS)])
def test_activation_float(op, attrs):
    x = rand((2, 3, 11), np.float32, -6, 6)
    x[0, 0, :4] = [0.0, -0.0, 1.0, -1.0]
    check(op, [x], attrs)


def test_activation_int():
    check("Relu", [rand((3, 4), np.int32, -9, 9)])
    check("Relu", [rand((3, 4), np.int8, -9, 9)])
    check("Shrink", [rand((3, 4), np.int32, -9, 9)], {"bias": 2.0, "lambd": 3.0})


@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_prelu(dtype):
    x = rand((2, 3, 4, 5), dtype, -9, 9)
    for slope_shape in [(3, 1, 1), (5,), (1,), (2, 3, 4, 5)]:
        check("PRelu", [x, rand(slope_shape, dtype, -2, 2) if np.dtype(dtype).kind == "f" else rand(slope_shape, dtype, -3, 3)])


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("axis", [0, 1, -1, -2])
def test_softmax_family(op, axis):
    x = rand((3, 4, 6), np.float32, -8, 8)
    x[1, 2, :2] = 5.0  # a tie: hardmax takes the first maximum
    check(op, [x], {"axis": axis})


# -- quantization ----------------------------------------------------------------------------


@pytest.mark.parametrize("zdt", [np.uint8, np.int8, np.uint16, np.int16])
def test_quantize_per_tensor(zdt):
    x = rand((2, 3, 8), np.float32, -30, 30)
    x[0, 0, :4] = [0.25, 0.75, -0.25, -0.75]  # exact halves of the scale below: ties to even
    scale = np.float32(0.5)
    zp = np.asarray(3, zdt)
    check("QuantizeLinear", [x, scale, zp])
    check("QuantizeLinear", [x * 300, scale, zp])  # saturates


def test_quantize_variants():
    x = rand((2, 4, 6), np.float32, -10, 10)
    check("QuantizeLinear", [x, np.float32(0.1)])  # no zero point: uint8
    check("QuantizeLinear", [x, np.float32(0.1)], {"output_dtype": TensorProto.INT8})
    scales = np.array([0.1, 0.05, 0.2, 0.3], np.float32)
    zps = np.array([0, -3, 5, 10], np.int8)
    check("QuantizeLinear", [x, scales, zps], {"axis": 1})  # per-axis
    check("QuantizeLinear", [x, rand((6,), np.float32, 0.05, 0.2), np.zeros(6, np.uint8)], {"axis": -1})
    bs = rand((2, 4, 3), np.float32, 0.05, 0.3)  # blocked along axis 2, block 2
    bz = rand((2, 4, 3), np.int8, -5, 5)
    check("QuantizeLinear", [x, bs, bz], {"axis": 2, "block_size": 2})


def test_dequantize():
    q8 = rand((2, 4, 6), np.int8, -128, 127)
    check("DequantizeLinear", [q8, np.float32(0.05), np.int8(-4)])
    check("DequantizeLinear", [rand((2, 4, 6), np.uint8, 0, 255), np.float32(0.05), np.uint8(128)])
    check("DequantizeLinear", [rand((5,), np.int32, -10**6, 10**6), np.float32(0.001)])
    check("DequantizeLinear", [q8, rand((4,), np.float32, 0.01, 0.1), rand((4,), np.int8, -3, 3)], {"axis": 1})
    bs = rand((2, 4, 2), np.float32, 0.01, 0.1)
    check("DequantizeLinear", [q8, bs, rand((2, 4, 2), np.int8, -3, 3)], {"axis": 2, "block_size": 3})
    check("DequantizeLinear", [rand((3, 4), np.int16, -30000, 30000), np.float32(0.01), np.int16(7)])


def test_dynamic_quantize():
    for x in (rand((3, 7), np.float32, -2, 5), rand((4,), np.float32, 1, 3), rand((2, 2), np.float32, -4, -1)):
        check("DynamicQuantizeLinear", [x], n_out=3)


def test_quantize_infers_quant_params():
    x = rand((2, 4, 6), np.float32)
    node, _ = run_ir("quantize", [x, np.float32(0.1), np.int8(-3)], {}, consts={1: 0, 2: 0})
    assert node.output.type == TensorType(DType.I8, (2, 4, 6), QuantParams.per_tensor(np.float32(0.1), -3))
    s = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
    node, _ = run_ir("quantize", [x, s, np.zeros(4, np.uint8)], {"axis": -2}, consts={1: 0, 2: 0})
    assert node.output.type.quant == QuantParams.per_axis(s, [0, 0, 0, 0], 1)
    node, _ = run_ir("quantize", [x, s, np.zeros(4, np.uint8)], {"axis": 1})  # not constant
    assert node.output.type.quant is None and node.output.type.dtype == DType.U8
    with pytest.raises(SchemaError, match="per-axis scale has 3 entries"):
        run_ir("quantize", [x, s[:3]], {"axis": 1})


def test_fake_quant_round_trip():
    # quantize -> dequantize on the interpreter is fake quantization: error <= scale / 2
    x = rand((64,), np.float32, -5, 5)
    g = Graph("fq")
    xi = g.add_input("x", TensorType(DType.F32, ("N",)))
    s, z = g.add_const(np.float32(0.05), "s"), g.add_const(np.int8(0), "z")
    q = g.add_node("quantize", [xi, s, z]).output
    y = g.add_node("dequantize", [q, s, z]).output
    g.outputs = [y]
    verify(g)
    assert str(q.type) == "i8[N] q(0.05000000074505806,0)" and y.type == TensorType(DType.F32, ("N",))
    out = Interpreter(g).run({"x": x})[y.name]
    assert np.max(np.abs(out - x)) <= 0.025 + 1e-7


# -- inference -------------------------------------------------------------------------------


def _val(g: Graph, name: str, dtype: DType, shape):
    return g.add_input(name, TensorType(dtype, shape))


def test_broadcast_inference_symbolic():
    g = Graph("s")
    a = _val(g, "a", DType.F32, ("N", 3, 1))
    b = _val(g, "b", DType.F32, (4,))
    c = _val(g, "c", DType.F32, (1, "M"))
    d = _val(g, "d", DType.F32, ("N", 1, 1))
    u = _val(g, "u", DType.F32, None)
    assert infer_types("add", [a, b], {})[0].shape == ("N", 3, 4)
    assert infer_types("mul", [a, c], {})[0].shape == ("N", 3, "M")
    assert infer_types("sub", [a, d], {})[0].shape == ("N", 3, 1)
    assert infer_types("where", [_val(g, "k", DType.BOOL, (3, 1)), a, b], {})[0] == TensorType(DType.F32, ("N", 3, 4))
    assert infer_types("max", [a, b, c], {})[0].shape == ("N", 3, 4)  # "M" may be 1
    assert infer_types("max", [a, c], {})[0].shape == ("N", 3, "M")
    assert infer_types("add", [c, _val(g, "e", DType.F32, ("K",))], {})[0].shape == (1, "?")
    assert infer_types("equal", [a, b], {})[0] == TensorType(DType.BOOL, ("N", 3, 4))
    assert infer_types("add", [a, u], {})[0] == TensorType(DType.F32, None)
    assert infer_types("relu", [a], {})[0] == TensorType(DType.F32, ("N", 3, 1))
    assert infer_types("softmax", [a], {"axis": 1})[0].shape == ("N", 3, 1)
    assert infer_types("cast", [a], {"to": TensorProto.INT64})[0] == TensorType(DType.I64, ("N", 3, 1))
    assert infer_types("prelu", [a, _val(g, "p", DType.F32, (3, 1))], {})[0].shape == ("N", 3, 1)
    assert infer_types("dynamic_quantize", [a], {}, num_outputs=3)[0] == TensorType(DType.U8, ("N", 3, 1))


def test_inference_errors():
    g = Graph("e")
    a = _val(g, "a", DType.F32, (2, 3))
    i = _val(g, "i", DType.I32, (2, 3))
    with pytest.raises(SchemaError, match="input 1 is i32"):
        infer_types("add", [a, i], {})
    with pytest.raises(SchemaError, match="do not broadcast"):
        infer_types("mul", [a, _val(g, "b", DType.F32, (4,))], {})
    with pytest.raises(SchemaError, match="axis 2 is out of range"):
        infer_types("softmax", [a], {"axis": 2})
    with pytest.raises(SchemaError, match="not supported"):
        infer_types("sqrt", [i], {})


# -- control flow ----------------------------------------------------------------------------


def _branch(name: str, op: str, shape_y) -> Graph:
    """A branch graph over captures (x, y) returning (op(x, y), x)."""
    b = Graph(name)
    x = b.add_input("x", TensorType(DType.F32, (2, 3)))
    y = b.add_input("y", TensorType(DType.F32, shape_y))
    r = b.add_node(op, [x, y]).output
    n = b.add_node("neg", [x]).output
    b.outputs = [r, n]
    return b


def _onnx_if_model():
    # the same computation in ONNX form: branches refer to the outer x, y implicitly
    def branch(name, op):
        return helper.make_graph(
            [helper.make_node(op, ["x", "y"], [f"{name}_r"]), helper.make_node("Neg", ["x"], [f"{name}_n"])],
            name, [], [helper.make_tensor_value_info(f"{name}_r", TensorProto.FLOAT, None),
                       helper.make_tensor_value_info(f"{name}_n", TensorProto.FLOAT, None)])

    node = helper.make_node("If", ["c"], ["r", "n"], then_branch=branch("then", "Add"),
                            else_branch=branch("else", "Mul"))
    g = helper.make_graph([node], "g", [
        helper.make_tensor_value_info("c", TensorProto.BOOL, []),
        helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
        helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("r", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("n", TensorProto.FLOAT, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])


def test_if_against_onnxruntime():
    g = Graph("main")
    c = g.add_input("c", TensorType(DType.BOOL, ()))
    x = g.add_input("x", TensorType(DType.F32, (2, 3)))
    y = g.add_input("y", TensorType(DType.F32, (3,)))
    node = g.add_node("if", [c, x, y], {"then_branch": _branch("then", "add", (3,)),
                                         "else_branch": _branch("else", "mul", (3,))}, num_outputs=2)
    g.outputs = list(node.outputs)
    verify(g)
    assert [v.type for v in node.outputs] == [TensorType(DType.F32, (2, 3))] * 2
    sess = ort.InferenceSession(_onnx_if_model().SerializeToString(), providers=["CPUExecutionProvider"])
    xv, yv = rand((2, 3)), rand((3,))
    for cond in (True, False):
        feeds = {"c": np.array(cond), "x": xv, "y": yv}
        want = sess.run(None, feeds)
        got = Interpreter(g).run(feeds)
        for v, w in zip(node.outputs, want):
            np.testing.assert_allclose(got[v.name], w, **F32_TOL)


def test_if_inference_merges_dims():
    g = Graph("main")
    c = g.add_input("c", TensorType(DType.BOOL, (1,)))
    x = g.add_input("x", TensorType(DType.F32, (2, 3)))
    y = g.add_input("y", TensorType(DType.F32, (1,)))
    then_b = _branch("then", "add", (3,))  # then: add(x:[2,3], y:[3]) -> [2,3]
    else_b = Graph("else")
    ex = else_b.add_input("x", TensorType(DType.F32, (2, 3)))
    else_b.add_input("y", TensorType(DType.F32, (1,)))
    r = else_b.add_node("reduce_sum", [ex, else_b.add_const(np.array([1]), "ax")], {"keepdims": 1}).output
    else_b.outputs = [r, else_b.add_node("neg", [ex]).output]  # r: [2,1]
    types = infer_types("if", [c, x, y], {"then_branch": then_b, "else_branch": else_b})
    assert types == [TensorType(DType.F32, (2, "?")), TensorType(DType.F32, (2, 3))]
    bad = _branch("bad", "add", (3,))
    bad.outputs = bad.outputs[:1]
    with pytest.raises(SchemaError, match="then_branch returns 2 values, else_branch 1"):
        infer_types("if", [c, x, y], {"then_branch": then_b, "else_branch": bad})


def test_loop_against_onnxruntime():
    # carried: acc += x * i ; scan output: acc after each step ; stops when acc.sum() > limit
    body = Graph("body")
    it = body.add_input("i", TensorType(DType.I64, ()))
    body.add_input("cond", TensorType(DType.BOOL, ()))
    acc = body.add_input("acc", TensorType(DType.F32, (3,)))
    x = body.add_input("x", TensorType(DType.F32, (3,)))
    fi = body.add_node("cast", [it], {"to": TensorProto.FLOAT}).output
    nxt = body.add_node("add", [acc, body.add_node("mul", [x, fi]).output]).output
    s = body.add_node("reduce_sum", [nxt], {"keepdims": 0}).output
    go = body.add_node("less", [s, body.add_const(np.float32(40.0), "limit")]).output
    body.outputs = [go, nxt, body.add_node("identity", [nxt]).output]

    g = Graph("main")
    m = g.add_input("M", TensorType(DType.I64, ()))
    c = g.add_input("c", TensorType(DType.BOOL, ()))
    a0 = g.add_input("a0", TensorType(DType.F32, (3,)))
    xv = g.add_input("x", TensorType(DType.F32, (3,)))
    node = g.add_node("loop", [m, c, a0, xv], {"body": body, "num_captures": 1}, num_outputs=2)
    g.outputs = list(node.outputs)
    verify(g)
    assert [v.type for v in node.outputs] == [TensorType(DType.F32, (3,)), TensorType(DType.F32, ("?", 3))]

    ob = helper.make_graph(
        [helper.make_node("Cast", ["i"], ["fi"], to=TensorProto.FLOAT),
         helper.make_node("Mul", ["x", "fi"], ["xi"]), helper.make_node("Add", ["acc", "xi"], ["nxt"]),
         helper.make_node("ReduceSum", ["nxt"], ["s"], keepdims=0),
         helper.make_node("Less", ["s", "limit"], ["go"]), helper.make_node("Identity", ["nxt"], ["sc"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info(n, t, None) for n, t in
         (("go", TensorProto.BOOL), ("nxt", TensorProto.FLOAT), ("sc", TensorProto.FLOAT))],
        [onnx.numpy_helper.from_array(np.float32(40.0), "limit")])
    og = helper.make_graph(
        [helper.make_node("Loop", ["M", "c", "a0"], ["fin", "scan"], body=ob)], "g",
        [helper.make_tensor_value_info("M", TensorProto.INT64, []),
         helper.make_tensor_value_info("c", TensorProto.BOOL, []),
         helper.make_tensor_value_info("a0", TensorProto.FLOAT, [3]),
         helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("fin", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("scan", TensorProto.FLOAT, None)])
    sess = ort.InferenceSession(helper.make_model(og, opset_imports=[helper.make_opsetid("", OPSET)]).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    for trip, cond in ((10, True), (3, True), (0, True), (10, False)):
        feeds = {"M": np.array(trip, np.int64), "c": np.array(cond), "a0": rand((3,), lo=0, hi=1),
                 "x": rand((3,), lo=0.5, hi=2)}
        want = sess.run(None, feeds)
        got = Interpreter(g).run(feeds)
        for v, w in zip(node.outputs, want):
            assert got[v.name].shape == w.shape
            np.testing.assert_allclose(got[v.name], w, **F32_TOL)


def test_scan_against_onnxruntime():
    # running sum over the rows of x (reversed direction), scan output stacked on axis 1
    body = Graph("body")
    st = body.add_input("st", TensorType(DType.F32, (4,)))
    row = body.add_input("row", TensorType(DType.F32, (4,)))
    w = body.add_input("w", TensorType(DType.F32, (4,)))
    nxt = body.add_node("add", [st, body.add_node("mul", [row, w]).output]).output
    body.outputs = [nxt, body.add_node("identity", [nxt]).output]
    g = Graph("main")
    s0 = g.add_input("s0", TensorType(DType.F32, (4,)))
    xs = g.add_input("xs", TensorType(DType.F32, ("T", 4)))
    wv = g.add_input("w", TensorType(DType.F32, (4,)))
    attrs = {"body": body, "num_scan_inputs": 1, "num_captures": 1, "scan_input_directions": [1],
             "scan_output_axes": [1]}
    node = g.add_node("scan", [s0, xs, wv], attrs, num_outputs=2)
    g.outputs = list(node.outputs)
    verify(g)
    assert node.outputs[1].type == TensorType(DType.F32, (4, "T"))

    ob = helper.make_graph(
        [helper.make_node("Mul", ["row", "w"], ["rw"]), helper.make_node("Add", ["st", "rw"], ["nxt"]),
         helper.make_node("Identity", ["nxt"], ["y"])], "body",
        [helper.make_tensor_value_info("st", TensorProto.FLOAT, [4]),
         helper.make_tensor_value_info("row", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("nxt", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    og = helper.make_graph(
        [helper.make_node("Scan", ["s0", "xs"], ["fin", "ys"], body=ob, num_scan_inputs=1,
                          scan_input_directions=[1], scan_output_axes=[1])], "g",
        [helper.make_tensor_value_info("s0", TensorProto.FLOAT, [4]),
         helper.make_tensor_value_info("xs", TensorProto.FLOAT, ["T", 4]),
         helper.make_tensor_value_info("w", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("fin", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("ys", TensorProto.FLOAT, None)])
    sess = ort.InferenceSession(helper.make_model(og, opset_imports=[helper.make_opsetid("", OPSET)]).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    feeds = {"s0": rand((4,)), "xs": rand((5, 4)), "w": rand((4,))}
    want = sess.run(None, feeds)
    got = Interpreter(g).run(feeds)
    for v, wnt in zip(node.outputs, want):
        np.testing.assert_allclose(got[v.name], wnt, **F32_TOL)


# -- float16 / bfloat16 ----------------------------------------------------------------------

F16_OPS = ["Neg", "Abs", "Sqrt", "Exp", "Log", "Reciprocal", "Floor", "Ceil", "Round", "Sign",
           "Erf", "Sin", "Cos", "Tanh", "Relu", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish",
           "Gelu", "Elu", "Selu", "Softplus", "Softsign", "Mish", "Softmax", "LogSoftmax"]


@pytest.mark.parametrize("op", F16_OPS)
def test_float16(op):
    # f16 kernels compute in f32 and round once, as onnxruntime's f16 kernels do: every
    # case measured matched exactly; the bound allows one f16 ulp (rtol=atol=1e-3)
    x = rand((3, 16), np.float16, 0.05, 4) if op in ("Sqrt", "Log") else rand((3, 16), np.float16, -4, 4)
    check(op, [x], tol={"rtol": 1e-3, "atol": 1e-3})


def test_bfloat16_keeps_dtype():
    # onnxruntime has few bf16 CPU kernels: this checks the kernels' dtype against inference
    # and their values against float32 onnxruntime: worst seen 2.8e-3 relative, within bf16's
    # half-ulp rounding (2^-8 = 3.9e-3); bound rtol=2^-7, atol=2^-8
    import ml_dtypes

    x32 = rand((4, 8), np.float32, -3, 3)
    x = x32.astype(ml_dtypes.bfloat16)
    for op in ("Sigmoid", "Gelu", "Softmax", "Exp", "Add"):
        ins = [x, x] if op == "Add" else [x]
        _, got = run_ir(ir_name(op), ins, {})
        assert got[0].dtype == ml_dtypes.bfloat16
        want = run_onnx(onnx_model(op, [x.astype(np.float32)] * len(ins), {}), {f"in{i}": x.astype(np.float32) for i in range(len(ins))})[0]
        np.testing.assert_allclose(got[0].astype(np.float32), want, rtol=2 ** -7, atol=2 ** -8)
