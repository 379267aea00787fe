"""Targets: the lazy registry, plugin targets, typed options, extension inference, per-node
support and the tensor map of what was emitted."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import compiler
from compiler.cli import main
from compiler.errors import InferccError
from targets import (
    DeployedTensor,
    TargetMismatchError,
    TargetOptionError,
    UnknownTargetError,
    get_target,
    parse_target_options,
    resolve_target,
    target_for_path,
)
from tests.support.plugin_dists import REPO, TINY_IR, run_cli, write_dist

TINY_CNN = REPO / "examples" / "models" / "tiny_cnn.onnx"


# -- registry ----------------------------------------------------------------------------------


def test_importing_and_listing_targets_imports_no_emitter():
    code = ("import sys, targets; names = targets.target_names(); "
            "heavy = [m for m in sys.modules if m.startswith(('targets.tflite', 'targets.onnx', 'targets.tensorrt'))]; "
            "print(names, heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, env={"PYTHONPATH": str(REPO)}, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['tflite', 'onnx', 'tensorrt'] []"


def test_unknown_target_suggests_the_close_name():
    with pytest.raises(UnknownTargetError, match="did you mean 'tflite'.*tflite, onnx"):
        get_target("tflit")
    assert get_target("TFLite").name == "tflite"


def test_extensions_select_targets():
    assert target_for_path("a/model.onnx") == "onnx"
    assert target_for_path("model.TFLITE") == "tflite"
    assert target_for_path("model.bin") is None and target_for_path("model") is None


def test_resolve_target_follows_the_extension_and_refuses_a_mismatch():
    assert resolve_target(None, "m.onnx")[0].name == "onnx"
    assert resolve_target(None, None)[0].name == "tflite"
    assert resolve_target("tflite{float16=true}", "m.tflite")[1] == "tflite{float16=true}"
    with pytest.raises(TargetMismatchError, match="target 'onnx''s extension '.onnx'.*m.tflite"):
        resolve_target("tflite", "out/m.onnx")
    with pytest.raises(TargetMismatchError, match="cannot tell the target.*'.bin'"):
        resolve_target(None, "m.bin")
    # an extension no target owns is written as asked when the target is named
    assert resolve_target("onnx", "m.bin")[0].name == "onnx"


# -- options -----------------------------------------------------------------------------------


def test_options_parse_typed_from_strings_and_keywords():
    tflite = get_target("tflite")
    opts = parse_target_options(tflite, "tflite{float16=true, io_dtype=int8}")
    assert (opts.float16, opts.io_dtype) == (True, "int8")
    assert str(opts) == "tflite{float16=true,io_dtype=int8}"
    assert tflite.options().float16 is False
    assert tflite.options("tflite{float16=yes}", io_dtype="int8").io_dtype == "int8"
    assert get_target("onnx").options(opset=18).opset == 18


@pytest.mark.parametrize("target, spec, words", [
    ("tflite", "tflite{float16=maybe}", "option 'float16'.*not a bool"),
    ("tflite", "tflite{io_dtype=int16}", "not one of float, int8"),
    ("tflite", "tflite{fp16=true}", "unknown option 'fp16'.*float16: bool"),
    ("onnx", "onnx{opset=x}", "option 'opset'"),
])
def test_bad_option_strings_name_the_option(target, spec, words):
    with pytest.raises(TargetOptionError, match=words):
        get_target(target).options(spec)


def test_an_option_of_another_target_is_refused_with_the_valid_ones():
    with pytest.raises(TargetOptionError, match="float16: not an option of target 'onnx'.*opset"):
        get_target("onnx").options(float16=True)
    with pytest.raises(InferccError, match="float16"):
        compiler.compile(TINY_CNN, "onnx", float16=True)


# -- pipelines, hints, support -----------------------------------------------------------------


def test_tflite_int8_pipeline_fuses_only_the_relu_family():
    tflite, onnx = get_target("tflite"), get_target("onnx")
    assert "fuse-activation{allowed=[relu,relu6,relu_n1_to_1]}" in tflite.default_pipeline(True)
    assert "allowed" not in tflite.default_pipeline(False)
    assert onnx.default_pipeline(False) == tflite.default_pipeline(False)


def test_load_hints_leave_the_layout_to_compile():
    # the interface layout is compile()'s layout option (the source's own by default),
    # the same for every target
    for name in ("tflite", "onnx"):
        assert get_target(name).load_hints("model.keras") == {}
        assert get_target(name).load_hints(str(TINY_CNN)) == {}


def _nonzero_graph(tmp_path):
    from tests.support.onnx_models import write_nonzero_onnx

    src = tmp_path / "nonzero.onnx"
    write_nonzero_onnx(src)
    return compiler.load(src)


def test_supports_answers_per_node_as_the_emitters_decide(tmp_path):
    g = _nonzero_graph(tmp_path)
    tflite, onnx = get_target("tflite"), get_target("onnx")
    by_op = {n.op: n for n in g.nodes}
    assert tflite.supports(by_op["relu"]) is None
    why = tflite.supports(by_op["nonzero"])
    assert why == "no TFLite lowering for a i64 nonzero"
    assert onnx.supports(by_op["nonzero"]) is None  # ONNX has NonZero
    with pytest.raises(InferccError) as refused:  # and the emitter gives the same reason
        tflite.emit(g)
    assert f"nonzero (layer where_positive): {why}" in str(refused.value)
    # every node of a graph the emitter writes is supported
    cnn = compiler.compile(TINY_CNN, "tflite").graph
    assert [n.op for n in cnn.nodes if tflite.supports(n) is not None] == []


def test_int8_is_offered_by_tflite_and_tensorrt_only():
    assert get_target("tflite").supports_int8 and not get_target("onnx").supports_int8
    assert get_target("tensorrt").supports_int8
    with pytest.raises(InferccError, match="TFLite/TensorRT-only.*'onnx'"):
        compiler.compile("no-such-model.onnx", "onnx", int8=True, calibration=[np.zeros(1)])


# -- emitting and the tensor map ---------------------------------------------------------------


def _tensor_details(data: bytes) -> dict[int, dict]:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=data)
    return {d["index"]: d for d in it.get_tensor_details()}


def test_tflite_tensor_map_points_at_the_deployed_tensors():
    r = compiler.compile(TINY_CNN, output=None)
    assert r.target == "tflite" and r.emitted.data == r.data
    tmap, details = r.tensor_map, _tensor_details(r.data)
    g = r.graph
    inp = g.inputs[0]
    assert tmap[inp.name].perm == (0, 1, 2, 3) and tmap[inp.name].dtype == "float32"
    conv_outs = [n.output for n in g.nodes if n.op == "conv"]
    assert conv_outs
    for v in conv_outs + list(g.inputs) + list(g.outputs):
        t = tmap[v.name]
        d = details[t.index]
        assert d["name"] == t.name
        want = [1 if not isinstance(x, int) else x for x in v.type.shape]
        assert list(d["shape"]) == [want[a] for a in t.perm]
    # conv results stay in NHWC inside the model
    assert {tmap[v.name].perm for v in conv_outs} == {(0, 2, 3, 1)}


def test_int8_tensor_map_carries_the_quantization(tmp_path):
    rng = np.random.default_rng(0)
    feeds = [rng.random((1, 3, 32, 32), dtype=np.float32) for _ in range(4)]
    r = compiler.compile(TINY_CNN, int8=True, calibration=feeds)
    q = [v for v in r.graph.values() if v.type.quant is not None and v.name in r.tensor_map
         and not v.is_const]
    assert q
    details = _tensor_details(r.data)
    for v in q:
        t = r.tensor_map[v.name]
        assert t.quantized and t.dtype == "int8"
        scale, zp = details[t.index]["quantization"]
        assert t.scale == (pytest.approx(scale),) and t.zero_point == (zp,)
        assert t.scale[0] == pytest.approx(float(np.ravel(v.type.quant.scale)[0]))


def test_output_extension_selects_onnx_which_onnxruntime_runs(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    out = tmp_path / "m.onnx"
    r = compiler.compile(TINY_CNN, output=out)
    assert r.target == "onnx" and out.read_bytes()[:4] != b"TFL3"
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).random((1, 3, 32, 32), dtype=np.float32)
    (got,) = sess.run(None, {sess.get_inputs()[0].name: x})
    want = compiler.run_graph(r.graph, {r.graph.inputs[0].name: x})
    np.testing.assert_allclose(got, next(iter(want.values())), atol=1e-5)
    assert r.tensor_map[r.graph.outputs[0].name] == DeployedTensor(
        name=r.graph.outputs[0].name, perm=(0, 1), dtype="float32")


def test_compile_refuses_a_target_extension_mismatch_before_loading(tmp_path):
    with pytest.raises(TargetMismatchError):
        compiler.compile("no-such-model.onnx", "tflite", output=tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())


# -- CLI ---------------------------------------------------------------------------------------


def test_cli_targets_lists_targets_and_options(capsys):
    assert main(["targets"]) == 0
    out = capsys.readouterr().out
    assert "tflite  -  " in out and "onnx  -  " in out
    assert "extensions: .tflite" in out and "executor: litert" in out
    assert "float16: bool = false" in out and "io_dtype: {float|int8} = float" in out
    assert "opset: int | None = none" in out
    assert main(["targets", "onnx"]) == 0
    assert "tflite" not in capsys.readouterr().out
    assert main(["targets", "onx"]) == 2
    assert "did you mean 'onnx'" in capsys.readouterr().err


def test_cli_compile_follows_the_extension(tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert main(["compile", str(TINY_CNN), "-o", str(out), "-q"]) == 0
    assert "target onnx" in capsys.readouterr().out
    import onnx

    onnx.checker.check_model(onnx.load(out))


def test_cli_target_extension_mismatch_exits_2_with_one_paragraph(tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert main(["compile", str(TINY_CNN), "--target", "tflite", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "m.tflite" in err and "'onnx'" in err
    assert not out.exists()


# -- plugin targets ----------------------------------------------------------------------------

TEXT_TARGET = {
    "text_target/__init__.py": '''
        from dataclasses import dataclass
        from pathlib import Path
        from typing import ClassVar

        from compiler.ir import print_graph
        from targets import EmitResult, Target, TargetOptions

        @dataclass
        class TextOptions(TargetOptions):
            name: ClassVar[str] = "ir-text"
            with_data: bool = False

        class IrTextTarget(Target):
            name = "ir-text"
            summary = "The IR as text (test target)"
            extensions = (".irt",)
            Options = TextOptions

            def emit(self, graph, options=None, output=None):
                opts = options or self.Options()
                data = print_graph(graph, with_data=opts.with_data).encode()
                if output is not None:
                    Path(output).write_bytes(data)
                return EmitResult(data, {}, self.name, Path(output) if output else None)
    ''',
}


def test_plugin_target_is_listed_and_selected_by_its_extension(tmp_path):
    site = tmp_path / "site"
    write_dist(site, "text-target", {"ir-text": "text_target:IrTextTarget"}, TEXT_TARGET,
               group="infercc.targets")
    listed = run_cli(["targets", "ir-text"], site)
    assert listed.returncode == 0, listed.stderr
    assert "The IR as text" in listed.stdout and "with_data: bool = false" in listed.stdout
    assert "plugin distribution 'text-target'" in listed.stdout
    model = tmp_path / "tiny.ir"
    model.write_text(TINY_IR)
    out = tmp_path / "tiny.irt"
    done = run_cli(["compile", str(model), "-o", str(out), "-t", "ir-text{with_data=true}"],
                   site)
    assert done.returncode == 0, done.stderr
    assert "target ir-text" in done.stdout and "LiteRT" not in done.stdout
    assert list(compiler.parse_graph(out.read_text()).outputs[0].type.shape) == [2, 3]


def test_plugin_target_shadowing_a_builtin_names_both(tmp_path):
    site = tmp_path / "site"
    write_dist(site, "bad-target", {"onnx": "text_target:IrTextTarget"}, TEXT_TARGET,
               group="infercc.targets")
    r = run_cli(["targets"], site)
    assert r.returncode == 2
    assert "defined twice" in r.stderr and "builtin (targets.onnx.target:OnnxTarget)" in r.stderr
    assert "plugin distribution 'bad-target'" in r.stderr
