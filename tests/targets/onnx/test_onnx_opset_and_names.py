"""ONNX target: names onnxruntime's optimizers generate, the opset and the IR version.

The oracle for "loads" is onnxruntime 1.32 itself, opened with default SessionOptions (all
graph optimisations on), which is where the name collision shows; numbers are compared with
infercc's reference interpreter on the same IR (bit-exact for these shape ops: measured 0).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from compiler.interpreter import run_graph
from compiler.ir import Graph, TensorType
from targets import get_target
from targets.onnx.exporter import (
    ORT_GENERATED_NAMES,
    ORT_OPSET,
    OnnxExportError,
    default_opset,
    export_onnx,
    ir_version_for,
    ort_generated,
)
from targets.onnx.runtime import OnnxruntimeExecutor


def _session(model):
    return ort.InferenceSession(model.SerializeToString(), ort.SessionOptions(),
                                providers=["CPUExecutionProvider"])


def _qkv_graph(axes_name: str = "squeeze_axes", split_name: str = "splits") -> Graph:
    """Three scalar-index Gathers of one tensor (an attention's q/k/v), beside constants
    named like the initializers onnxruntime's GatherSliceToSplitFusion creates."""
    f32 = "f32"
    g = Graph("qkv")
    x = g.add_input("x", TensorType(f32, (3, 4)))
    r = g.add_node("relu", [x], out_types=[TensorType(f32, (3, 4))], names=["r"]).output
    outs = []
    for i in range(3):
        idx = g.add_const(np.array(i, np.int64), f"idx{i}")
        outs.append(g.add_node("gather", [r, idx], {"axis": 0},
                               out_types=[TensorType(f32, (4,))], names=[f"q{i}"]).output)
    axes = g.add_const(np.array([0], np.int64), axes_name)
    u = g.add_node("unsqueeze", [outs[0], axes], out_types=[TensorType(f32, (1, 4))],
                   names=[split_name]).output
    g.outputs = [u, outs[1], outs[2]]
    return g


def test_values_named_like_ort_initializers_are_renamed_and_load():
    """Before the exporter avoided these names, this model failed to open ("Attempt to
    replace the existing tensor") while loading fine with optimisations off."""
    g = _qkv_graph()
    renamed: dict[str, str] = {}
    m = export_onnx(g, renamed=renamed)
    assert renamed == {"squeeze_axes": "squeeze_axes_1"}  # "splits" is an output: kept
    names = {t.name for t in m.graph.initializer} | {o for n in m.graph.node for o in n.output}
    assert "squeeze_axes" not in names and "squeeze_axes_1" in names
    x = np.arange(12, dtype=np.float32).reshape(3, 4) - 5
    got = _session(m).run(None, {"x": x})
    want = run_graph(g, {"x": x})
    for v, a in zip(g.outputs, got):
        np.testing.assert_array_equal(a, want[v.name])


def test_the_collision_is_real():
    """The same model written with the colliding name (the exporter bypassed by renaming
    the initializer back) fails in onnxruntime: the rename is what makes it load."""
    m = export_onnx(_qkv_graph())
    for t in m.graph.initializer:
        if t.name == "squeeze_axes_1":
            t.name = "squeeze_axes"
    for n in m.graph.node:
        n.input[:] = ["squeeze_axes" if i == "squeeze_axes_1" else i for i in n.input]
    with pytest.raises(Exception, match="Attempt to replace the existing tensor"):
        _session(m)


def test_ort_generated_names():
    assert ort_generated("squeeze_axes") and ort_generated("splits_token_3")
    assert not ort_generated("squeeze_axes_1") and not ort_generated("x_token_1")
    assert "squeeze_axes" in ORT_GENERATED_NAMES


def test_renamed_values_are_captured_and_mapped():
    g = _qkv_graph()
    ex = OnnxruntimeExecutor(g, capture=["squeeze_axes", "q0"])
    x = np.ones((3, 4), np.float32)
    res = ex.run({"x": x}, capture=["squeeze_axes", "q0"])
    np.testing.assert_array_equal(res.captured["squeeze_axes"], [0])
    np.testing.assert_array_equal(res.captured["q0"], np.ones(4, np.float32))
    emitted = get_target("onnx").emit(g)
    assert emitted.tensor_map["squeeze_axes"].name == "squeeze_axes_1"
    assert emitted.tensor_map["q0"].name == "q0"


# -- opset and IR version ---------------------------------------------------------------------


@pytest.mark.parametrize("opset", [13, 14, 17, 18, 21])
def test_ir_version_follows_the_opset(opset):
    m = export_onnx(_qkv_graph(), opset=opset)
    assert [o.version for o in m.opset_import if o.domain == ""] == [opset]
    # onnx.helper.VERSION_TABLE: (release, IR version, ai.onnx opset, ...)
    want = min(row[1] for row in onnx.helper.VERSION_TABLE if row[2] >= opset)
    assert m.ir_version == want == ir_version_for(opset)
    x = np.ones((3, 4), np.float32)
    _session(m).run(None, {"x": x})


def test_default_opset_follows_the_source():
    g = _qkv_graph()
    assert default_opset(g) == ORT_OPSET == 21  # no source opset
    g.metadata["onnx_opset"] = "17"
    assert default_opset(g) == 17
    assert [o.version for o in export_onnx(g).opset_import] == [17]
    g.metadata["onnx_opset"] = "11"  # below 13: not kept
    assert default_opset(g) == 21
    g.metadata["onnx_opset"] = "25"  # past what onnxruntime runs every op of
    assert default_opset(g) == 21


def _layer_norm_graph() -> Graph:
    f32 = "f32"
    g = Graph("ln")
    x = g.add_input("x", TensorType(f32, (2, 8)))
    w = g.add_const(np.ones(8, np.float32), "w")
    b = g.add_const(np.zeros(8, np.float32), "b")
    y = g.add_node("layer_norm", [x, w, b], {"axis": -1, "epsilon": 1e-5},
                   out_types=[TensorType(f32, (2, 8))], names=["y"], source=["norm1"]).output
    g.outputs = [y]
    return g


def test_requested_opset_without_the_op_names_it():
    with pytest.raises(OnnxExportError) as e:
        export_onnx(_layer_norm_graph(), opset=13)
    msg = str(e.value)
    assert "LayerNormalization" in msg and "norm1" in msg and "opset >= 17" in msg


def test_source_opset_that_cannot_express_the_graph_falls_back(caplog):
    g = _layer_norm_graph()
    g.metadata["onnx_opset"] = "13"  # e.g. a pass fused a LayerNormalization (opset 17)
    with caplog.at_level(logging.WARNING, logger="targets.onnx.exporter"):
        m = export_onnx(g)
    assert [o.version for o in m.opset_import] == [ORT_OPSET]
    assert any("LayerNormalization" in r.getMessage() for r in caplog.records)


def test_types_only_changes_lower_without_an_adapter():
    """Relu 14 only widened Relu's types; onnx.version_converter has no 14 -> 13 adapter,
    so the exporter writes the node unchanged at 13 (the checker confirms f32 is allowed)."""
    m = export_onnx(_qkv_graph(), opset=13)
    assert [n.op_type for n in m.graph.node][0] == "Relu"
    assert all(n.domain == "" for n in m.graph.node)
    assert [(o.domain, o.version) for o in m.opset_import] == [("", 13)]


def _pad_graph(mode: str) -> Graph:
    g = Graph("pad")
    x = g.add_input("x", TensorType("f32", (2, 3)))
    pads = g.add_const(np.array([0, 1, 0, 2], np.int64), "pads")
    g.outputs = [g.add_node("pad", [x, pads], {"mode": mode},
                            out_types=[TensorType("f32", (2, 6))], names=["y"]).output]
    return g


def test_a_node_without_the_later_inputs_is_written_at_the_older_opset():
    """Pad 18 added an optional ``axes`` input; a Pad that does not use it is a Pad-13
    (onnx.version_converter has no 18 -> 17 adapter for Pad at all)."""
    g = _pad_graph("reflect")
    g.metadata["onnx_opset"] = "15"
    m = export_onnx(g)
    assert [o.version for o in m.opset_import] == [15]
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    (got,) = _session(m).run(None, {"x": x})
    np.testing.assert_array_equal(got, run_graph(g, {"x": x})["y"])
    np.testing.assert_array_equal(got, np.pad(x, [(0, 0), (1, 2)], mode="reflect"))


def test_an_attribute_value_of_a_later_opset_is_not_written_earlier():
    """mode="wrap" exists from Pad 19 on: at 18 it is refused, naming Pad."""
    with pytest.raises(OnnxExportError, match="Pad"):
        export_onnx(_pad_graph("wrap"), opset=18)
    m = export_onnx(_pad_graph("wrap"), opset=19)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    (got,) = _session(m).run(None, {"x": x})
    np.testing.assert_array_equal(got, np.pad(x, [(0, 0), (1, 2)], mode="wrap"))
