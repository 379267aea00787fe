"""The runtime layer: executors, capture of intermediate values, the registry, errors.

Each executor is checked against an oracle that shares no code with it: onnxruntime's own
``InferenceSession`` on the original ``.onnx`` file (not infercc's export), and
``ai_edge_litert``'s interpreter called directly. The model is examples/models/tiny_cnn.onnx
(conv+bn+relu, depthwise conv+bn+relu6, pointwise conv, pooling, gemm, softmax); after the
default pipeline its IR value ``%c1`` (the depthwise conv with bn and relu6 folded in) is
the original model's ``r1``.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import compiler
from compiler.runtime import (
    BUILTIN_EXECUTORS,
    ExecutorError,
    RunResult,
    executor_names,
    open_executor,
    reset_registry,
)

from tests.conftest import REPO

TINY_CNN = REPO / "examples" / "models" / "tiny_cnn.onnx"
NHWC = (0, 2, 3, 1)  # the TFLite emitter's physical order of a 4-d NCHW activation


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)


@pytest.fixture(scope="module")
def source(x) -> dict[str, np.ndarray]:
    """onnxruntime on the original file, with the intermediate ``r1`` as an extra output."""
    import onnx
    import onnxruntime as ort

    m = onnx.load(str(TINY_CNN))
    m.graph.output.append(onnx.helper.make_tensor_value_info("r1", onnx.TensorProto.FLOAT,
                                                             None))
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    probs, r1 = sess.run(["probs", "r1"], {"input": x})
    return {"probs": probs, "r1": r1}


@pytest.fixture(scope="module")
def compiled():
    pytest.importorskip("ai_edge_litert")
    return compiler.compile(TINY_CNN, "tflite")


# -- each executor against an independent run ---------------------------------------------
# Tolerances: float32 kernels of different libraries differ in summation order only;
# measured max |diff| 2e-7 on probs and 1e-6 on %c1 (values of order 1).
ATOL = 1e-5


def test_reference_executor(x, source):
    g = compiler.load(TINY_CNN)
    ex = open_executor("reference", g)
    assert ex.input_names == ["input"] and ex.output_names == ["probs"]
    r = ex.run({"input": x}, capture=["r1", "input"])
    assert isinstance(r, RunResult) and list(r.outputs) == ["probs"]
    assert list(r.captured) == ["r1", "input"]
    np.testing.assert_allclose(r.outputs["probs"], source["probs"], rtol=0, atol=ATOL)
    np.testing.assert_allclose(r.captured["r1"], source["r1"], rtol=0, atol=ATOL)
    np.testing.assert_array_equal(r.captured["input"], x)


def test_onnxruntime_executor(x, source, compiled):
    ex = open_executor("onnxruntime", compiled.graph, capture=["c1"])
    r = ex.run({"input": x}, capture=["c1"])
    np.testing.assert_allclose(r.outputs["probs"], source["probs"], rtol=0, atol=ATOL)
    np.testing.assert_allclose(r.captured["c1"], source["r1"], rtol=0, atol=ATOL)
    assert ex.run({"input": x}).captured == {}  # captured only when asked


def test_onnxruntime_batches_and_channel_sums(x, compiled):
    g = compiled.graph
    ex = open_executor("onnxruntime", g, capture=["c1", "c2"], channel_sums=["c1"],
                       batch=True)
    assert ex.batchable and ex.channel_sum_names == ["c1"]
    xs = np.random.default_rng(1).standard_normal((3, 3, 32, 32)).astype(np.float32)
    stacked = ex.run({"input": xs}, capture=["c1"])
    for i in range(3):
        one = ex.run({"input": xs[i:i + 1]}, capture=["c1"])
        np.testing.assert_allclose(stacked.captured["c1"][i:i + 1], one.captured["c1"],
                                   rtol=0, atol=ATOL)
    # the sums onnxruntime computes beside the model, against numpy over the capture
    want = stacked.captured["c1"].astype(np.float64).sum(axis=(2, 3))
    assert stacked.channel_sums["c1"].shape == (3, 16)
    np.testing.assert_allclose(stacked.channel_sums["c1"], want, rtol=1e-5, atol=1e-4)
    fixed = open_executor("onnxruntime", g)
    assert not fixed.batchable  # batching is opt-in


def test_onnxruntime_reused_outputs_alternate(x, compiled):
    """With reuse_outputs, run n+1 does not overwrite run n (two sets alternate)."""
    ex = open_executor("onnxruntime", compiled.graph, reuse_outputs=True)
    x2 = x * 0.5
    want1 = open_executor("onnxruntime", compiled.graph).run({"input": x}).outputs["probs"]
    ex.run({"input": x})  # the first run chooses the preallocated shapes
    a = ex.run({"input": x}).outputs["probs"]
    b = ex.run({"input": x2}).outputs["probs"]
    assert a is not b
    np.testing.assert_array_equal(a, want1)


def _litert_direct(data: bytes, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """probs and the tensor "c1" from ai_edge_litert itself (builtin kernels, all kept)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=data, experimental_preserve_all_tensors=True,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    c1 = next(d["index"] for d in it.get_tensor_details() if d["name"] == "c1")
    return it.get_tensor(it.get_output_details()[0]["index"]), it.get_tensor(c1)


def test_litert_executor_and_capture(x, source, compiled):
    probs, c1_nhwc = _litert_direct(compiled.data, x)
    assert c1_nhwc.shape == (1, 16, 16, 16)
    plain = open_executor("litert", compiled.data)
    assert plain.input_names == ["input"] and plain.output_names == ["probs"]
    r = plain.run({"input": x})
    np.testing.assert_allclose(r.outputs["probs"], probs, rtol=0, atol=1e-6)
    np.testing.assert_allclose(r.outputs["probs"], source["probs"], rtol=0, atol=ATOL)
    # without a tensor map, capture names are TFLite tensor names, physical order
    np.testing.assert_array_equal(plain.run({"input": x}, ["c1"]).captured["c1"], c1_nhwc)
    # with one, IR names and IR order: the same value as onnxruntime's %c1
    mapped = open_executor("litert", compiled.data,
                           tensor_map={"c1": {"tensor": "c1", "perm": NHWC}})
    got = mapped.run({"input": x}, capture=["c1"]).captured["c1"]
    assert got.shape == (1, 16, 16, 16)
    ort_c1 = open_executor("onnxruntime", compiled.graph, capture=["c1"]).run(
        {"input": x}, ["c1"]).captured["c1"]
    np.testing.assert_allclose(got, ort_c1, rtol=0, atol=ATOL)
    np.testing.assert_allclose(got, source["r1"], rtol=0, atol=ATOL)
    # a tensor map entry may also be a tensor index with a perm, or a bare name
    idx = next(d["index"] for d in plain.interpreter.get_tensor_details() if d["name"] == "c1")
    by_index = open_executor("litert", compiled.data, tensor_map={"c1": (idx, NHWC)})
    np.testing.assert_array_equal(by_index.run({"input": x}, ["c1"]).captured["c1"], got)


def test_litert_op_counts_and_timing(x, compiled):
    ex = open_executor("litert", compiled.data)
    counts = ex.op_counts()
    assert counts["DEPTHWISE_CONV_2D"] == 1 and counts["CONV_2D"] == 2
    ex.run({"input": x})
    assert ex.last_invoke_ms > 0


def test_litert_quantization_of_inputs_and_outputs():
    from targets.tflite.runtime import dequantize, quantize_input

    d = {"name": "x", "dtype": np.int8, "quantization": (0.5, 3)}
    # x / 0.5 + 3, rounded half to even, saturated to [-128, 127]
    got = quantize_input(np.array([0.25, 0.75, -1.0, 100.0, -100.0], np.float32), d)
    np.testing.assert_array_equal(got, np.array([3, 5, 1, 127, -128], np.int8))
    ints = np.array([[3, 5], [-1, 7]], np.int8)
    per_tensor = dequantize(ints, {"quantization": (0.5, 3)})
    np.testing.assert_array_equal(per_tensor, [[0.0, 1.0], [-2.0, 2.0]])
    per_axis = dequantize(ints, {"quantization_parameters": {
        "scales": np.array([1.0, 0.25]), "zero_points": np.array([0, 1]),
        "quantized_dimension": 1}})
    np.testing.assert_array_equal(per_axis, [[3.0, 1.0], [-1.0, 1.5]])
    assert per_axis.dtype == np.float32


# -- the registry ---------------------------------------------------------------------------
def test_builtin_names():
    assert set(BUILTIN_EXECUTORS) == {"reference", "onnxruntime", "onnxruntime-model", "litert",
                                      "tensorrt"}
    assert {"reference", "onnxruntime", "litert"} <= set(executor_names())


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ExecutorError) as e:
        open_executor("onnxruntim", None)
    msg = str(e.value)
    assert "unknown executor 'onnxruntim'" in msg and "did you mean 'onnxruntime'" in msg
    assert "litert" in msg and "reference" in msg


def test_unknown_option_names_the_executor(compiled):
    with pytest.raises(ExecutorError, match="executor 'reference' .*'bogus'"):
        open_executor("reference", compiled.graph, bogus=1)


@pytest.fixture
def fresh_registry():
    """The registry re-reads entry points now and after the test (its table is cached)."""
    reset_registry()
    yield
    reset_registry()


def _write_plugin(site: Path, entry: str, module: str) -> None:
    (site / "infercc_fake_executor.py").write_text(textwrap.dedent(module))
    info = site / "infercc_fake_executor-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: infercc-fake-executor\n"
                                   "Version: 0.1\n")
    (info / "entry_points.txt").write_text(f"[infercc.executors]\n{entry}\n")


def test_plugin_executor_through_an_entry_point(tmp_path, monkeypatch, fresh_registry):
    _write_plugin(tmp_path, "double = infercc_fake_executor:Double", """
        import numpy as np
        from compiler.runtime import RunResult

        class Double:
            input_names = ["x"]
            output_names = ["y"]

            def __init__(self, model, *, factor=2.0):
                self.factor = factor

            def run(self, feeds, capture=()):
                return RunResult({"y": np.asarray(feeds["x"]) * self.factor})
        """)
    monkeypatch.syspath_prepend(str(tmp_path))
    reset_registry()
    monkeypatch.delitem(sys.modules, "infercc_fake_executor", raising=False)
    assert "double" in executor_names()
    ex = open_executor("double", None, factor=3.0)
    np.testing.assert_array_equal(ex.run({"x": np.array([1.0, 2.0])}).outputs["y"], [3.0, 6.0])


def test_plugin_shadowing_a_builtin_is_an_error(tmp_path, monkeypatch, fresh_registry):
    _write_plugin(tmp_path, "litert = infercc_fake_executor:Nothing", "Nothing = None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reset_registry()
    with pytest.raises(ExecutorError, match="'litert' is defined twice: by builtin .* and "
                                            "by plugin distribution 'infercc-fake-executor'"):
        executor_names()


def test_broken_plugin_is_named(tmp_path, monkeypatch, fresh_registry):
    _write_plugin(tmp_path, "broken = infercc_fake_executor:Broken",
                  "raise ImportError('no npu')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reset_registry()
    monkeypatch.delitem(sys.modules, "infercc_fake_executor", raising=False)
    with pytest.raises(ExecutorError, match="executor 'broken' from plugin distribution "
                                            "'infercc-fake-executor'.*ImportError: no npu"):
        open_executor("broken", None)


# -- errors ---------------------------------------------------------------------------------
def test_wrong_feeds_are_named_by_every_executor(x, compiled):
    for ex in (open_executor("reference", compiled.graph),
               open_executor("onnxruntime", compiled.graph),
               open_executor("litert", compiled.data)):
        with pytest.raises(ExecutorError, match=r"missing \['input'\], unexpected \['x'\]"):
            ex.run({"x": x})


def test_capture_errors(x, compiled):
    with pytest.raises(ExecutorError, match="has no values named \\['nope'\\]"):
        open_executor("reference", compiled.graph).run({"input": x}, ["nope"])
    ort = open_executor("onnxruntime", compiled.graph)
    with pytest.raises(ExecutorError, match="\\['c1'\\] were not named in capture="):
        ort.run({"input": x}, ["c1"])
    with pytest.raises(ExecutorError, match="onnxruntime cannot run @tiny_cnn: the graph has "
                                            "no values named \\['nope'\\]"):
        open_executor("onnxruntime", compiled.graph, capture=["nope"])
    with pytest.raises(ExecutorError, match="no tensor named 'nope' to capture \\(IR value "
                                            "names need tensor_map=\\)"):
        open_executor("litert", compiled.data).run({"input": x}, ["nope"])


def test_model_errors(tmp_path, compiled):
    with pytest.raises(ExecutorError, match="runs an IR Graph, not bytes"):
        open_executor("reference", compiled.data)
    with pytest.raises(ExecutorError, match="runs an IR Graph, not bytes"):
        open_executor("onnxruntime", compiled.data)
    with pytest.raises(ExecutorError, match="runs a .tflite path or bytes, not Graph"):
        open_executor("litert", compiled.graph)
    with pytest.raises(ExecutorError, match="LiteRT cannot load the model"):
        open_executor("litert", b"not a flatbuffer")
    with pytest.raises(ExecutorError, match="does not exist"):
        open_executor("litert", tmp_path / "missing.tflite")
    with pytest.raises(ExecutorError, match="tensor map entry %c1 names tensor 'nope'"):
        open_executor("litert", compiled.data, tensor_map={"c1": "nope"})


def test_onnxruntime_run_failure_names_shapes(compiled):
    ex = open_executor("onnxruntime", compiled.graph)
    with pytest.raises(ExecutorError, match="@tiny_cnn \\(input shapes \\{'input': \\(1, 4, "
                                            "32, 32\\)\\}\\) failed in onnxruntime") as e:
        ex.run({"input": np.zeros((1, 4, 32, 32), np.float32)})
    assert e.value.reason.startswith(("Fail", "InvalidArgument", "RuntimeException"))
