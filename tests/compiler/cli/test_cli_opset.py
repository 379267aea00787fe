"""``infercc compile --opset N``: the ONNX opset (and IR version) of the written model.

Written models are opened in onnxruntime with default options and compared with
onnxruntime on the source model (tiny_cnn: measured max |diff| 6e-8 on softmax outputs;
bound 1e-6).
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from compiler.cli import main
from compiler.ir import Graph, TensorType, print_graph
from tests.conftest import REPO

TINY = REPO / "examples" / "models" / "tiny_cnn.onnx"  # opset 17


def run(capsys, *args):
    code = main(list(map(str, args)))
    out, err = capsys.readouterr()
    return code, out, err


def _opset_and_ir(path):
    m = onnx.load(str(path))
    return [o.version for o in m.opset_import if o.domain == ""], m.ir_version


def _matches_source(path):
    src = ort.InferenceSession(str(TINY), providers=["CPUExecutionProvider"])
    got = ort.InferenceSession(str(path), ort.SessionOptions(),
                               providers=["CPUExecutionProvider"])
    i = src.get_inputs()[0]
    shape = [d if isinstance(d, int) else 1 for d in i.shape]
    x = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    want = src.run(None, {i.name: x})
    have = got.run(None, {got.get_inputs()[0].name: x})
    for a, b in zip(have, want):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_default_keeps_the_source_opset(capsys, tmp_path):
    out = tmp_path / "t.onnx"
    code, _, err = run(capsys, "compile", TINY, "-o", out)
    assert code == 0, err
    assert _opset_and_ir(out) == ([17], 8)
    _matches_source(out)


@pytest.mark.parametrize("opset,ir", [(13, 7), (18, 8), (21, 10)])
def test_opset_flag(capsys, tmp_path, opset, ir):
    out = tmp_path / "t.onnx"
    code, _, err = run(capsys, "compile", TINY, "-o", out, "--opset", opset)
    assert code == 0, err
    assert _opset_and_ir(out) == ([opset], ir)
    _matches_source(out)


def test_target_option_is_the_same_option(capsys, tmp_path):
    out = tmp_path / "t.onnx"
    code, _, err = run(capsys, "compile", TINY, "-o", out, "-t", "onnx{opset=18}")
    assert code == 0, err
    assert _opset_and_ir(out) == ([18], 8)


def test_opset_with_another_target_is_refused(capsys, tmp_path):
    out = tmp_path / "t.tflite"
    code, _, err = run(capsys, "compile", TINY, "-o", out, "--opset", 17)
    assert code == 2
    assert "--opset" in err and "tflite" in err and "Traceback" not in err
    assert not out.exists()


def test_unknown_opset_is_refused(capsys, tmp_path):
    out = tmp_path / "t.onnx"
    code, _, err = run(capsys, "compile", TINY, "-o", out, "--opset", 99)
    assert code == 2
    assert "opset 99" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_opset_without_the_op_names_it(capsys, tmp_path):
    g = Graph("ln")
    x = g.add_input("x", TensorType("f32", (2, 8)))
    w = g.add_const(np.ones(8, np.float32), "w")
    b = g.add_const(np.zeros(8, np.float32), "b")
    g.outputs = [g.add_node("layer_norm", [x, w, b], {"axis": -1, "epsilon": 1e-5},
                            out_types=[TensorType("f32", (2, 8))], names=["y"]).output]
    src = tmp_path / "ln.ir"
    src.write_text(print_graph(g))
    out = tmp_path / "ln.onnx"
    code, _, err = run(capsys, "compile", src, "-o", out, "--opset", 13)
    assert code == 2
    assert "LayerNormalization" in err and "opset >= 17" in err and "Traceback" not in err
    assert not out.exists()
