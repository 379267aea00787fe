"""`infercc inspect` on what people inspect (unsupported ops, a .prototxt without weights,
dynamic shapes) and the `--json` output of inspect and compile."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import onnx

from tests.conftest import REPO, model_path

TINY = REPO / "examples" / "models" / "tiny_cnn.onnx"

INSPECT_KEYS = {"model", "graph", "metadata", "weights", "inputs", "outputs", "nodes", "ops",
                "constants", "op_histogram", "flops_by_op", "parameters", "parameter_bytes",
                "flops", "macs", "shapes_resolved", "uncounted", "open_inputs", "input_shapes",
                "unsupported"}
TENSOR_KEYS = {"name", "shape", "dtype", "type", "cut"}


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "compiler.cli", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=600)


def cli_json(*args: str) -> dict:
    p = cli(*args, "--json")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_inspect_json_has_the_documented_keys_and_onnx_parameter_count():
    rep = cli_json("inspect", TINY, "--input-shape", "input:1x3x32x32")
    assert set(rep) == INSPECT_KEYS
    assert all(set(t) == TENSOR_KEYS for t in rep["inputs"] + rep["outputs"])
    assert rep["inputs"][0]["shape"] == [1, 3, 32, 32]
    m = onnx.load(str(TINY))
    want = sum(int(onnx.numpy_helper.to_array(t).size) for t in m.graph.initializer)
    assert rep["parameters"] == want
    assert rep["flops"] > 0 and rep["unsupported"] == {} and rep["weights"] == "loaded"


def test_inspect_selfie_segmentation_lists_the_custom_op_and_counts_the_rest():
    model = model_path("tflite/mediapipe/selfie_segmentation.tflite")
    p = cli("inspect", model)
    assert p.returncode == 0, p.stderr
    assert "custom:Convolution2DTransposeBias: segment" in p.stdout
    assert "FLOPs: 0 " not in p.stdout and "op histogram:" in p.stdout
    rep = cli_json("inspect", model)
    assert rep["unsupported"] == {"custom:Convolution2DTransposeBias": ["segment"]}
    assert rep["flops"] > 0 and rep["op_histogram"]["conv"] > 10
    # the op's output feeds the rest, so it is the cut's input, typed as the file declares
    cut = [t for t in rep["inputs"] if t["cut"]]
    assert [(t["name"], t["shape"]) for t in cut] == [("segment", [1, 256, 256, 1])]
    # the custom op's own weights (float16 behind a DEQUANTIZE) are the only constants left
    # out; LiteRT's tensor table gives every constant's elements
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(str(model))
    ops = it._get_ops_details()
    custom_in = {i for op in ops if op["op_name"] == "Convolution2DTransposeBias"
                 for i in op["inputs"]}
    custom_in |= {i for op in ops if op["op_name"] == "DEQUANTIZE"
                  and set(op["outputs"]) <= custom_in for i in op["inputs"]}
    consumed = {i for op in ops for i in op["inputs"]}
    produced = {i for op in ops for i in op["outputs"]} | {d["index"] for d in
                                                          it.get_input_details()}
    consts = {i for i in consumed - produced if i >= 0}
    rest = [i for i in consts - custom_in]
    details = {d["index"]: d for d in it.get_tensor_details()}
    want = sum(int(details[i]["shape"].prod()) for i in rest)
    assert rep["parameters"] == want


def test_inspect_prototxt_without_weights_counts_alexnet():
    proto = model_path("caffe/bvlc/bvlc_alexnet_deploy.prototxt")
    p = cli("inspect", proto)
    assert p.returncode == 0, p.stderr
    assert "weights: none" in p.stdout
    rep = cli_json("inspect", proto)
    assert rep["weights"] == "none"
    # AlexNet's layers as the prototxt declares them (conv2, conv4, conv5 in two groups)
    convs = [(96, 3, 11), (256, 48, 5), (384, 256, 3), (384, 192, 3), (256, 192, 3)]
    fcs = [(4096, 256 * 6 * 6), (4096, 4096), (1000, 4096)]
    want = sum(o * i * k * k + o for o, i, k in convs) + sum(o * i + o for o, i in fcs)
    assert rep["parameters"] == want == 60_965_224
    assert rep["inputs"][0]["shape"] == [10, 3, 227, 227]
    # conv1's MACs alone: 10 images x 96 x 55 x 55 outputs x 3 x 11 x 11
    assert rep["macs"] > 10 * 96 * 55 * 55 * 3 * 11 * 11


def test_inspect_dynamic_shapes_note_then_flops_with_input_shape():
    model = model_path("onnx/rapidocr/ch_PP-OCRv4_det_infer.onnx")
    p = cli("inspect", model)
    assert p.returncode == 0, p.stderr
    assert "the inputs x have open dims" in p.stdout
    assert "--input-shape" in p.stdout and "x:1x3x224x224" in p.stdout
    small = cli_json("inspect", model, "--input-shape", "x:1x3x320x320")
    big = cli_json("inspect", model, "--input-shape", "x:1x3x640x640")
    assert small["uncounted"] == [] and big["uncounted"] == []
    # a fully convolutional net: 4x the pixels, 4x the FLOPs (to 1%: resize and the head)
    assert abs(big["flops"] / small["flops"] - 4) < 0.04


def test_compile_json_and_summary_name_the_interface(tmp_path):
    out = tmp_path / "tiny.tflite"
    rep = cli_json("compile", TINY, "-o", out)
    assert set(rep) >= {"output", "size", "target", "passes", "pipeline", "inputs",
                        "outputs", "timings_s", "report"}
    assert rep["target"] == "tflite" and rep["size"] == out.stat().st_size
    (inp,) = rep["inputs"]
    assert set(inp) == {"name", "shape", "dtype", "layout"}
    assert inp["name"] == "input" and inp["dtype"] == "float32"
    # the ONNX model's NCHW interface is kept by the TFLite target
    assert inp["layout"] == "NCHW" and inp["shape"][1:] == [3, 32, 32]
    p = cli("compile", TINY, "-o", tmp_path / "t2.tflite")
    assert p.returncode == 0, p.stderr
    assert "  input input: float32[" in p.stdout and "  output probs: float32[" in p.stdout


def test_json_with_show_ir_is_refused(tmp_path):
    for args in (["inspect", TINY], ["compile", TINY, "-o", tmp_path / "t.tflite"]):
        p = cli(*args, "--json", "--show-ir")
        assert p.returncode == 2 and "--json" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "t.tflite").exists()


def test_inspect_onnx_with_an_unsupported_op_counts_the_rest(tmp_path):
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], name="conv0"),
         helper.make_node("Det", ["c"], ["d"], name="det0")], "conv_det",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("d", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")])
    model = tmp_path / "conv_det.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(model))
    rep = cli_json("inspect", model)
    assert rep["unsupported"] == {"Det": ["det0"]}
    # the conv alone: 4 x 6 x 6 outputs, 3 x 3 x 3 MACs each
    assert rep["macs"] == 4 * 6 * 6 * 27 and rep["parameters"] == 4 * 27
    assert [t["name"] for t in rep["outputs"] if t["cut"]] == ["c"]
    p = cli("compile", model, "-o", tmp_path / "o.tflite")  # compiling still refuses it
    assert p.returncode == 2 and "Det: det0" in p.stderr


def test_flops_after_shape_resolution_agree_across_converters():
    """basic-pitch's network converted by tf2onnx and by the TF converter: the shapes its
    reshapes compute are resolved, and both files count the same FLOPs."""
    shape = "1x43844x1"
    onnx_rep = cli_json("inspect", model_path("onnx/basic-pitch/nmp.onnx"),
                        "--input-shape", f"serving_default_input_2:0:{shape}")
    tfl_rep = cli_json("inspect", model_path("tflite/basic-pitch/nmp.tflite"),
                       "--input-shape", f"input_2:{shape}")
    for rep in (onnx_rep, tfl_rep):
        assert rep["shapes_resolved"] is True and rep["uncounted"] == []
    # measured: 1,052,195,260 both (before resolution: 80.3 M and 983.4 M)
    assert onnx_rep["flops"] == tfl_rep["flops"] > 10**9
