"""The ONNX frontend: old-opset normalization, symbolic dims, provenance, control flow with
closure conversion, and the errors users see for unsupported ops and bad files.

Numbers are checked against onnxruntime (an independent implementation) running the very
same ONNX model; the IR structure is checked against what the ONNX model states.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from compiler.errors import ModelLoadError, UnsupportedOpsError
from compiler.frontends import load
from compiler.frontends.onnx import load_onnx
from compiler.interpreter import Interpreter
from compiler.ir import verify

ort = pytest.importorskip("onnxruntime")

F = TensorProto.FLOAT
# float32 kernels of two implementations differ by rounding only: measured max |diff| on
# these tiny models is < 1e-6; 1e-5 leaves headroom without hiding real errors
ATOL = 1e-5


def make_model(nodes, inputs, outputs, opset, initializers=(), name="m", extra_opsets=()):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(initializers))
    ops = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in extra_opsets]
    model = helper.make_model(graph, opset_imports=ops, producer_name="infercc-tests")
    model.ir_version = min(model.ir_version, 8)
    return model


def run_ort(model, feeds):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def run_ir(graph, feeds):
    verify(graph)
    got = Interpreter(graph).run(feeds)
    return [got[v.name] for v in graph.outputs]


def assert_matches_ort(model, feeds, graph=None):
    graph = graph or load_onnx(model)
    want = run_ort(model, feeds)
    got = run_ir(graph, feeds)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, atol=ATOL, rtol=ATOL)
    return graph


def canonical(graph):
    """Structure of a graph with constant inputs compared by value, not by name."""
    out = []
    for n in graph.nodes:
        if n.op == "const":
            continue
        ins = []
        for v in n.inputs:
            if v is None:
                ins.append(None)
            elif v.is_const:
                c = np.asarray(v.const_value)
                ins.append(("const", str(c.dtype), c.tolist()))
            else:
                ins.append(v.name)
        attrs = {k: (a.tolist() if isinstance(a, np.ndarray) else a) for k, a in sorted(n.attrs.items())}
        out.append((n.op, ins, attrs, [(v.name, str(v.type)) for v in n.outputs]))
    return out


# -- old opsets ------------------------------------------------------------------------------


def _tiny(opset):
    """The same computation written in opset 11 (attributes) and opset 18 (inputs)."""
    x = helper.make_tensor_value_info("x", F, [2, 6, 4])
    y1 = helper.make_tensor_value_info("y1", F, None)
    y2 = helper.make_tensor_value_info("y2", F, None)
    y3 = helper.make_tensor_value_info("y3", F, None)
    inits = []
    if opset >= 13:

        def axes(name, vals):
            inits.append(numpy_helper.from_array(np.array(vals, np.int64), name))
            return [name]

        unsq = helper.make_node("Unsqueeze", ["x"] + axes("ax_u", [0]), ["u"], name="unsq")
        sq = helper.make_node("Squeeze", ["u"] + axes("ax_s", [0]), ["s"], name="sq")
        red = helper.make_node("ReduceSum", ["s"] + axes("ax_r", [2]), ["r"], keepdims=1, name="red")
        split = helper.make_node("Split", ["r"] + axes("sp", [2, 4]), ["a", "b"], axis=1, name="split")
        mean = helper.make_node("ReduceMean", ["a"] + axes("ax_m", [1]), ["y1"], keepdims=0, name="mean")
    else:
        unsq = helper.make_node("Unsqueeze", ["x"], ["u"], axes=[0], name="unsq")
        sq = helper.make_node("Squeeze", ["u"], ["s"], axes=[0], name="sq")
        red = helper.make_node("ReduceSum", ["s"], ["r"], axes=[2], keepdims=1, name="red")
        split = helper.make_node("Split", ["r"], ["a", "b"], axis=1, split=[2, 4], name="split")
        mean = helper.make_node("ReduceMean", ["a"], ["y1"], axes=[1], keepdims=0, name="mean")
    relu = helper.make_node("Relu", ["b"], ["y2"], name="relu")
    clip_min = numpy_helper.from_array(np.array(0.5, np.float32), "lo")
    inits.append(clip_min)
    clip = helper.make_node("Clip", ["x", "lo"], ["y3"], name="clip")
    return make_model([unsq, sq, red, split, mean, relu, clip], [x], [y1, y2, y3], opset, inits)


def test_opset11_and_opset18_import_to_equal_ir():
    g11 = load_onnx(_tiny(11))
    g18 = load_onnx(_tiny(18))
    verify(g11)
    verify(g18)
    assert canonical(g11) == canonical(g18)
    # and both compute what onnxruntime computes on the opset 11 model
    x = np.random.default_rng(0).standard_normal((2, 6, 4)).astype(np.float32)
    assert_matches_ort(_tiny(11), {"x": x}, g11)
    assert_matches_ort(_tiny(18), {"x": x}, g18)


def test_old_softmax_flattens_at_axis():
    # before opset 13, Softmax normalizes over all dims from `axis` on (here 1 and 2)
    x = helper.make_tensor_value_info("x", F, [2, 3, 4])
    y = helper.make_tensor_value_info("y", F, None)
    for op in ("Softmax", "LogSoftmax", "Hardmax"):
        model = make_model([helper.make_node(op, ["x"], ["y"], axis=1, name="sm")], [x], [y], 11)
        xv = np.random.default_rng(1).standard_normal((2, 3, 4)).astype(np.float32)
        g = assert_matches_ort(model, {"x": xv})
        assert g.outputs[0].name == "y"
        assert all(n.source == ("sm",) for n in g.nodes)


def test_opset9_and_10_forms_match_onnxruntime():
    rng = np.random.default_rng(2)
    x = helper.make_tensor_value_info("x", F, [1, 2, 3, 4])
    y = helper.make_tensor_value_info("y", F, None)
    xv = rng.standard_normal((1, 2, 3, 4)).astype(np.float32)
    cases = [
        (9, helper.make_node("Slice", ["x"], ["y"], starts=[0, 1], ends=[1, 3], axes=[2, 3])),
        (10, helper.make_node("Pad", ["x"], ["y"], pads=[0, 0, 1, 2, 0, 0, 0, 1], value=1.5)),
        (10, helper.make_node("Clip", ["x"], ["y"], min=-0.5, max=0.25)),
        (10, helper.make_node("Dropout", ["x"], ["y"], ratio=0.3)),
    ]
    for opset, node in cases:
        model = make_model([node], [x], [y], opset)
        assert_matches_ort(model, {"x": xv})
    # Upsample (opset 9) becomes resize with asymmetric, floor indexing
    sc = numpy_helper.from_array(np.array([1, 1, 2, 3], np.float32), "scales")
    model = make_model([helper.make_node("Upsample", ["x", "scales"], ["y"], mode="nearest")], [x], [y], 9, [sc])
    g = assert_matches_ort(model, {"x": xv})
    assert [n.op for n in g.nodes if n.op != "const"] == ["resize"]


def test_resize_opset11_empty_roi_and_scales_become_missing_inputs():
    x = helper.make_tensor_value_info("x", F, [1, 1, 2, 3])
    y = helper.make_tensor_value_info("y", F, None)
    roi = numpy_helper.from_array(np.zeros(0, np.float32), "roi")
    scales = numpy_helper.from_array(np.zeros(0, np.float32), "scales")
    sizes = numpy_helper.from_array(np.array([1, 1, 4, 5], np.int64), "sizes")
    node = helper.make_node("Resize", ["x", "roi", "scales", "sizes"], ["y"], mode="linear",
                            coordinate_transformation_mode="half_pixel")
    model = make_model([node], [x], [y], 11, [roi, scales, sizes])
    g = assert_matches_ort(model, {"x": np.arange(6, dtype=np.float32).reshape(1, 1, 2, 3)})
    (r,) = g.find("resize")
    assert r.inputs[1] is None and r.inputs[2] is None and r.inputs[3].name == "sizes"


# -- dims, names, provenance ------------------------------------------------------------------


def _named_model():
    x = helper.make_tensor_value_info("input", F, ["N", 3, None, 8])
    y = helper.make_tensor_value_info("out", F, ["N", 3, None, 8])
    w = numpy_helper.from_array(np.full((1,), 2.0, np.float32), "scale.weight")
    nodes = [
        helper.make_node("Mul", ["input", "scale.weight"], ["scaled"], name="block1/mul"),
        helper.make_node("Relu", ["scaled"], ["out"]),  # unnamed node
    ]
    return make_model(nodes, [x], [y], 17, [w])


def test_symbolic_and_missing_dims():
    g = load_onnx(_named_model())
    (x,) = g.inputs
    assert x.name == "input" and x.type.shape == ("N", 3, "?", 8)
    assert g.outputs[0].type.shape == ("N", 3, "?", 8)
    g2 = load_onnx(_named_model(), input_shapes={"input": (1, 3, 5, 8)})
    assert g2.inputs[0].type.shape == (1, 3, 5, 8)
    assert g2.outputs[0].type.shape == (1, 3, 5, 8)
    with pytest.raises(ModelLoadError, match="input_shapes names nope"):
        load_onnx(_named_model(), input_shapes={"nope": (1,)})


def test_provenance_and_names_are_kept():
    g = load_onnx(_named_model(), name="named")
    assert g.name == "named"
    by_op = {n.op: n for n in g.nodes}
    assert by_op["const"].output.name == "scale.weight"
    assert by_op["mul"].source == ("block1/mul",) and by_op["mul"].output.name == "scaled"
    assert by_op["relu"].source == ("out",)  # unnamed: the first output name
    assert [v.name for v in g.outputs] == ["out"]


def test_constant_node_forms():
    y = [helper.make_tensor_value_info(n, t, None) for n, t in
         [("f", F), ("fs", F), ("i", TensorProto.INT64), ("is", TensorProto.INT64), ("t", F)]]
    nodes = [
        helper.make_node("Constant", [], ["f"], value_float=1.5, name="cf"),
        helper.make_node("Constant", [], ["fs"], value_floats=[1.0, 2.5]),
        helper.make_node("Constant", [], ["i"], value_int=7),
        helper.make_node("Constant", [], ["is"], value_ints=[3, 4, 5]),
        helper.make_node("Constant", [], ["t"], value=numpy_helper.from_array(np.eye(2, dtype=np.float32))),
    ]
    model = make_model(nodes, [], y, 13)
    g = load_onnx(model)
    verify(g)
    vals = {n.output.name: n.attrs["value"] for n in g.nodes}
    assert vals["f"].dtype == np.float32 and vals["f"].shape == () and vals["f"] == 1.5
    assert vals["fs"].tolist() == [1.0, 2.5] and vals["i"].dtype == np.int64
    assert vals["is"].tolist() == [3, 4, 5] and np.array_equal(vals["t"], np.eye(2))
    assert g.nodes[0].source == ("cf",)
    want = run_ort(model, {})
    for got, w in zip(run_ir(g, {}), want):
        np.testing.assert_array_equal(got, w)


# -- control flow ---------------------------------------------------------------------------


def _if_model():
    """If whose branches read different outer values, one of them through a nested If."""
    x = helper.make_tensor_value_info("x", F, [3])
    c = helper.make_tensor_value_info("c", TensorProto.BOOL, [])
    y = helper.make_tensor_value_info("y", F, [3])
    a = numpy_helper.from_array(np.array([1.0, 2.0, 3.0], np.float32), "a")
    b = numpy_helper.from_array(np.array([10.0, 20.0, 30.0], np.float32), "b")
    out = lambda n: helper.make_tensor_value_info(n, F, [3])
    then_g = helper.make_graph([helper.make_node("Add", ["x", "a"], ["t"])], "then", [], [out("t")])
    inner_then = helper.make_graph([helper.make_node("Mul", ["x", "b"], ["it"])], "ithen", [], [out("it")])
    inner_else = helper.make_graph([helper.make_node("Sub", ["x", "a"], ["ie"])], "ielse", [], [out("ie")])
    else_g = helper.make_graph(
        [helper.make_node("If", ["c"], ["e"], then_branch=inner_then, else_branch=inner_else, name="inner_if")],
        "else", [], [out("e")],
    )
    node = helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g, name="outer_if")
    return make_model([node], [c, x], [y], 16, [a, b])


def test_if_closure_conversion():
    model = _if_model()
    g = load_onnx(model)
    verify(g)
    (node,) = g.find("if")
    then_g, else_g = node.attrs["then_branch"], node.attrs["else_branch"]
    captured = [v.name for v in node.inputs[1:]]
    assert sorted(captured) == ["a", "b", "c", "x"]  # c: the nested If reads it
    # both branches take exactly the captured values, in the node's order
    assert [v.type for v in then_g.inputs] == [v.type for v in node.inputs[1:]]
    assert [v.type for v in else_g.inputs] == [v.type for v in node.inputs[1:]]
    (inner,) = else_g.find("if")
    assert inner.source == ("inner_if",)
    assert all(v.graph is else_g for v in inner.inputs)
    xv = np.array([1.0, -2.0, 0.5], np.float32)
    for cond in (True, False):
        assert_matches_ort(model, {"c": np.array(cond), "x": xv}, g)


def test_loop_with_captured_value():
    # y = x + sum_{i<M} w * i ; the body reads the outer initializer w
    x = helper.make_tensor_value_info("x", F, [2])
    M = helper.make_tensor_value_info("M", TensorProto.INT64, [])
    y = helper.make_tensor_value_info("y", F, [2])
    w = numpy_helper.from_array(np.array([0.5, -1.0], np.float32), "w")
    body = helper.make_graph(
        [
            helper.make_node("Cast", ["i"], ["fi"], to=F),
            helper.make_node("Mul", ["w", "fi"], ["step"]),
            helper.make_node("Add", ["acc", "step"], ["acc_out"]),
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
        ],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc", F, [2])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", F, [2])],
    )
    node = helper.make_node("Loop", ["M", "", "x"], ["y"], body=body, name="loop")
    model = make_model([node], [M, x], [y], 16, [w])
    g = load_onnx(model)
    (lp,) = g.find("loop")
    assert lp.inputs[-1].name == "w" and len(lp.attrs["body"].inputs) == 4
    assert_matches_ort(model, {"M": np.array(4, np.int64), "x": np.array([1.0, 2.0], np.float32)}, g)


# -- errors ---------------------------------------------------------------------------------


def test_unsupported_ops_are_listed_all_at_once():
    x = helper.make_tensor_value_info("x", F, [2])
    y = helper.make_tensor_value_info("y", F, None)
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="ok"),
        helper.make_node("Foo", ["r"], ["f1"], name="foo_1"),
        helper.make_node("Foo", ["f1"], ["f2"]),  # unnamed: reported by its output
        helper.make_node("FusedConv", ["f2"], ["m"], domain="com.microsoft", name="fused"),
        helper.make_node("Bar", ["m"], ["y"], name="bar"),
    ]
    model = make_model(nodes, [x], [y], 17, extra_opsets=[("com.microsoft", 1)])
    with pytest.raises(UnsupportedOpsError) as info:
        load_onnx(model)
    err = info.value
    assert err.unsupported == {"Foo": ["foo_1", "f2"], "com.microsoft.FusedConv": ["fused"], "Bar": ["bar"]}
    text = str(err)
    for s in ("3 unsupported op type(s)", "Foo: foo_1, f2", "com.microsoft.FusedConv: fused", "Bar: bar"):
        assert s in text


def test_unused_ml_opset_import_is_fine():
    model = _named_model()
    model.opset_import.append(helper.make_opsetid("ai.onnx.ml", 2))
    verify(load_onnx(model))


def test_missing_and_corrupt_files(tmp_path):
    missing = tmp_path / "nope.onnx"
    with pytest.raises(ModelLoadError, match="nope.onnx: no such file"):
        load_onnx(missing)
    with pytest.raises(ModelLoadError, match="nope.onnx"):
        load(str(missing))
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage that is not a protobuf \xff\xff\xff")
    with pytest.raises(ModelLoadError, match="bad.onnx: .*re-export or re-download"):
        load_onnx(bad)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(ModelLoadError, match="empty.onnx: the file holds no ONNX graph"):
        load(empty)
    # a truncated real model
    data = _named_model().SerializeToString()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="cut.onnx"):
        load_onnx(cut)
    with pytest.raises(ModelLoadError, match="directory"):
        load_onnx(tmp_path)


def test_loads_from_path_and_model_proto_alike(tmp_path):
    model = _named_model()
    p = tmp_path / "m.onnx"
    onnx.save(model, str(p))
    from compiler.ir import print_graph

    assert print_graph(load(p), with_data=True) == print_graph(load(model), with_data=True)


def test_scan_with_captured_value():
    # running sum over rows of x, each row scaled by the outer initializer s
    x = helper.make_tensor_value_info("x", F, [4, 2])
    init = helper.make_tensor_value_info("init", F, [2])
    total = helper.make_tensor_value_info("total", F, [2])
    ys = helper.make_tensor_value_info("ys", F, [4, 2])
    s = numpy_helper.from_array(np.array([2.0, -1.0], np.float32), "s")
    body = helper.make_graph(
        [helper.make_node("Mul", ["row", "s"], ["scaled"]),
         helper.make_node("Add", ["acc", "scaled"], ["acc_out"]),
         helper.make_node("Identity", ["acc_out"], ["y"])],
        "scan_body",
        [helper.make_tensor_value_info("acc", F, [2]), helper.make_tensor_value_info("row", F, [2])],
        [helper.make_tensor_value_info("acc_out", F, [2]), helper.make_tensor_value_info("y", F, [2])],
    )
    node = helper.make_node("Scan", ["init", "x"], ["total", "ys"], body=body, num_scan_inputs=1, name="scan")
    model = make_model([node], [init, x], [total, ys], 16, [s])
    g = load_onnx(model)
    (sc,) = g.find("scan")
    assert sc.attrs["num_captures"] == 1 and sc.inputs[-1].name == "s"
    feeds = {"init": np.array([0.5, 0.0], np.float32), "x": np.arange(8, dtype=np.float32).reshape(4, 2)}
    assert_matches_ort(model, feeds, g)


def test_declared_types_fill_in_where_inference_cannot():
    # NonZero's output length depends on the data; the model's value_info names the dim
    x = helper.make_tensor_value_info("x", F, [3, 4])
    y = helper.make_tensor_value_info("y", TensorProto.INT64, [2, "nnz"])
    model = make_model([helper.make_node("NonZero", ["x"], ["y"])], [x], [y], 13)
    g = load_onnx(model)
    assert g.outputs[0].type.shape == (2, "nnz")
    xv = np.array([[0, 1, 0, 2], [3, 0, 0, 0], [0, 0, 4, 0]], np.float32)
    assert_matches_ort(model, {"x": xv}, g)
