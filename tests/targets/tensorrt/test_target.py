"""The ``tensorrt`` target: registration, and emitting where TensorRT is not installed.

No engine is built against real TensorRT on this machine; here emitting must end in a
one-paragraph exit-2 error that says so, after the pre-flight, with nothing written.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from compiler.ir import Graph, TensorType
from targets import get_target, resolve_target, target_for_path
from targets.tensorrt.preflight import TensorRTUnsupportedError
from targets.tensorrt.target import TensorRTNotInstalledError, TensorRTTarget
from tests.conftest import REPO
from tests.support.onnx_models import write_convnet_onnx


def _relu_graph() -> Graph:
    g = Graph("tiny")
    x = g.add_input("x", TensorType("f32", (1, 4)))
    g.outputs = [g.add_node("relu", [x], source=["act"]).output]
    return g


def test_registered_with_engine_extensions():
    t = get_target("tensorrt")
    assert isinstance(t, TensorRTTarget)
    assert target_for_path("m.engine") == "tensorrt" and target_for_path("m.plan") == "tensorrt"
    assert resolve_target(None, "out/m.engine")[0] is t
    assert t.executor == "tensorrt"
    assert t.quant_spec.name == "tensorrt"
    assert str(t.options("tensorrt{workspace_mib=64}")) == "tensorrt{workspace_mib=64}"


@pytest.mark.parametrize("module", [None, types.ModuleType("tensorrt")],
                         ids=["not importable", "stubs only"])
def test_emit_without_tensorrt_is_a_clear_error(tmp_path, monkeypatch, module):
    monkeypatch.setitem(sys.modules, "tensorrt", module)
    out = tmp_path / "m.engine"
    with pytest.raises(TensorRTNotInstalledError) as e:
        TensorRTTarget().emit(_relu_graph(), output=out)
    assert "pip install tensorrt" in str(e.value) and "nothing was written" in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_preflight_runs_before_the_tensorrt_import(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    g = _relu_graph()
    g.outputs = [g.add_node("mish", [g.outputs[0]], source=["bad"]).output]
    with pytest.raises(TensorRTUnsupportedError, match="bad"):
        TensorRTTarget().emit(g, output=tmp_path / "m.engine")
    assert list(tmp_path.iterdir()) == []


def test_supports_answers_per_node():
    g = _relu_graph()
    t = TensorRTTarget()
    assert t.supports(g.nodes[0]) is None
    mish = g.add_node("mish", [g.outputs[0]])
    assert t.supports(mish) == "no TensorRT converter for this op"


def test_cli_compile_to_engine(tmp_path):
    """Where TensorRT imports, an engine is written; here, exit 2 and no file."""
    model = write_convnet_onnx(tmp_path / "net.onnx", batch=1)
    out = tmp_path / "net.engine"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "compiler.cli", "compile", str(model),
                           "-o", str(out)], capture_output=True, text=True, env=env,
                          timeout=300)
    if importlib.util.find_spec("tensorrt") is None:
        assert proc.returncode == 2, proc.stderr
        assert "cannot build a TensorRT engine here" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert not out.exists()
    else:  # a machine with TensorRT
        assert proc.returncode == 0, proc.stderr
        assert out.stat().st_size > 0


def test_engine_build_reaches_the_builder_with_a_strongly_typed_network(monkeypatch):
    """Through the stand-in (which builds no engine): the network and config get as far as
    build_serialized_network, with the workspace limit set and no precision flags (a
    strongly typed network refuses them)."""
    from targets.tensorrt.target import TensorRTOptions, build_engine
    from tests.support import trt_standin as trt

    seen = {}
    real = trt.Builder.build_serialized_network

    def spy(self, network, config):
        seen["workspace"] = config.get_memory_pool_limit(trt.MemoryPoolType.WORKSPACE)
        seen["outputs"] = network.num_outputs
        return real(self, network, config)

    monkeypatch.setattr(trt.Builder, "build_serialized_network", spy)
    with pytest.raises(trt.StandinError, match="build_serialized_network on the stand-in"):
        build_engine(_relu_graph(), trt, TensorRTOptions(workspace_mib=64))
    assert seen == {"workspace": 64 << 20, "outputs": 1}


def test_cli_preflight_names_the_dynamic_input_and_the_fix(tmp_path, capsys):
    from compiler.cli import main

    out = tmp_path / "tiny.engine"
    rc = main(["compile", str(REPO / "examples" / "models" / "tiny_cnn.onnx"), "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 2
    assert "graph 'tiny_cnn': 1 unsupported op type(s)" in err
    assert "--input-shape input:1x3x32x32" in err and "Nothing was written" in err
    assert not out.exists()


def test_cli_reports_fp32_and_sparse_layers(tmp_path, monkeypatch, capsys):
    """With a ``trt`` whose builder returns bytes (the stand-in's, patched), ``--float16``
    reaches the network and the summary names the layer kept fp32 and the 2:4 one."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from compiler.cli import main
    from targets.tensorrt import target as target_mod
    from tests.support import trt_standin as trt

    w = np.random.default_rng(0).standard_normal((16, 16, 3, 3)).astype(np.float32) * 1000
    w.reshape(16, 4, 4, 9)[:, :, :2] = 0  # 2 zeros in every 4 input channels: 2:4
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="big_conv", pads=[1, 1, 1, 1])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(w, "w")])
    model = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(model))
    seen = {}

    def build(self, network, config):
        config._check(network)  # refuses precision flags on a strongly typed network
        seen["sparse"] = config.get_flag(trt.BuilderFlag.SPARSE_WEIGHTS)
        seen["types"] = {layer.name: layer.get_output(0).dtype for layer in network.layers}
        return b"engine"

    monkeypatch.setattr(target_mod, "import_tensorrt", lambda: trt)
    monkeypatch.setattr(trt.Builder, "build_serialized_network", build)
    out = tmp_path / "m.engine"
    assert main(["compile", str(model), "--float16", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "fp32 layer big_conv: %y reaches" in text
    assert "sparse layer big_conv: weight [16, 16, 3, 3] is 2:4 along axis 1" in text
    assert out.read_bytes() == b"engine" and seen["sparse"]
    # The only compute layer is kept fp32: FLOAT throughout, so no cast is needed.
    assert seen["types"]["big_conv"] == trt.DataType.FLOAT
    assert not any(name.startswith("cast/") for name in seen["types"])
