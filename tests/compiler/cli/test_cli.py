"""The ``infercc`` command line: inspect, opt, passes, ops, and every error path.

Most tests call ``compiler.cli.main`` in-process (fast); the ones about tracebacks, plugin
passes and crash replay run ``python -m compiler.cli`` in a subprocess as a user would.
"""

from __future__ import annotations

import numpy as np
import pytest

from compiler.cli import main
from compiler.ir import Graph, TensorType, parse_graph, print_graph
from tests.support.plugin_dists import CRASH_ENTRY_POINTS, CRASH_PLUGIN, TINY_IR, run_cli, write_dist

SYMBOLIC_IR = """\
graph @sym(%x: f32[N,3]) -> (f32[N,3]) {
  %i: f32[N,3] = identity(%x)
  %d: f32[N,3] = dropout(%i)
  return %d
}
"""


@pytest.fixture
def tiny(tmp_path):
    p = tmp_path / "tiny.ir"
    p.write_text(TINY_IR)
    return p


@pytest.fixture(scope="module")
def crash_site(tmp_path_factory):
    site = tmp_path_factory.mktemp("crash_site")
    write_dist(site, "crash-plugin", CRASH_ENTRY_POINTS, CRASH_PLUGIN)
    return site


def run(capsys, *args):
    code = main(list(map(str, args)))
    out, err = capsys.readouterr()
    return code, out, err


# -- help and listings --------------------------------------------------------------------


@pytest.mark.parametrize("cmd", [[], ["inspect"], ["opt"], ["passes"], ["ops"]])
def test_help(capsys, cmd):
    code, out, _ = run(capsys, *cmd, "--help")
    assert code == 0
    assert "usage: infercc" in out


def test_opt_help_shows_default_pipeline(capsys):
    from passes import DEFAULT_PIPELINE

    _, out, _ = run(capsys, "opt", "--help")
    assert DEFAULT_PIPELINE in out.replace("\n", "")
    for flag in ("--print-ir-after", "--print-ir-after-change", "--dump-dir", "--timing",
                 "--no-verify", "--reproducer"):
        assert flag in out


def test_ops_lists_the_op_set(capsys):
    from compiler.ops.registry import all_schemas

    code, out, _ = run(capsys, "ops")
    assert code == 0
    for name, s in all_schemas().items():
        assert f"  {name}" in out
    assert "core:" in out
    code, out, _ = run(capsys, "ops", "dropout")
    assert code == 0
    assert "inputs:  x, ratio?, training_mode?" in out and "seed: int = 0" in out


def test_passes_lists_builtins(capsys):
    from passes import BUILTIN_PASSES

    code, out, _ = run(capsys, "passes")
    assert code == 0
    for name, target in BUILTIN_PASSES.items():
        assert name in out and target in out


# -- inspect ---------------------------------------------------------------------------------


def test_inspect_summary(capsys, tiny):
    code, out, _ = run(capsys, "inspect", tiny)
    assert code == 0
    assert "%x: f32[2,3]" in out and "%d: f32[2,3]" in out
    assert "nodes: 3 (2 ops, 1 constants)" in out
    hist = {ln.split()[0]: int(ln.split()[1]) for ln in out.split("op histogram:\n")[1]
            .split("parameters")[0].splitlines()}
    assert hist == {"const": 1, "identity": 1, "dropout": 1}
    # the one constant: 2x3 float32 = 6 elements, 24 bytes
    assert "parameters: 6 elements" in out and "24 bytes" in out
    assert "FLOPs: 0 " in out  # identity/dropout move data only
    assert "2 per multiply-accumulate" in out  # says what is counted


def test_inspect_show_ir_parses_back(capsys, tiny):
    code, out, _ = run(capsys, "inspect", tiny, "--show-ir")
    assert code == 0
    assert print_graph(parse_graph(out)) == print_graph(parse_graph(TINY_IR))


def test_inspect_input_shape_on_ir(capsys, tmp_path):
    p = tmp_path / "sym.ir"
    p.write_text(SYMBOLIC_IR)
    code, out, _ = run(capsys, "inspect", p, "--input-shape", "x:4x3")
    assert code == 0
    assert "%x: f32[4,3]" in out and "%d: f32[4,3]" in out


def test_inspect_params_match_onnx_initializers(capsys, tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 5)).astype(np.float32)
    b = np.arange(7, dtype=np.int64)
    g = helper.make_graph(
        [helper.make_node("Identity", ["w"], ["w_out"]), helper.make_node("Identity", ["b"],
                                                                           ["b_out"]),
         helper.make_node("Dropout", ["x"], ["y"])],
        "params",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("w_out", TensorProto.FLOAT, [4, 5]),
         helper.make_tensor_value_info("b_out", TensorProto.INT64, [7])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    path = tmp_path / "params.onnx"
    onnx.save(model, path)
    # independent count: straight from the ONNX initializers
    inits = [numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer]
    code, out, err = run(capsys, "inspect", path)
    assert code == 0, err
    assert f"parameters: {sum(a.size for a in inits):,} elements" in out
    assert f"{sum(a.nbytes for a in inits):,} bytes" in out


def _conv_graph():
    """conv / grouped conv / conv_transpose / gemm / matmul nodes with declared types."""
    g = Graph("flops")
    f = lambda *s: TensorType("f32", s)  # noqa: E731
    x = g.add_input("x", f(1, 3, 32, 32))
    w1 = g.add_const(np.zeros((16, 3, 3, 3), np.float32), "w1")
    c1 = g.add_node("conv", [x, w1, None], {"pads": [1, 1, 1, 1], "strides": [2, 2]},
                    out_types=[f(1, 16, 16, 16)], names=["conv"]).output
    w2 = g.add_const(np.zeros((16, 1, 3, 3), np.float32), "w2")
    c2 = g.add_node("conv", [c1, w2, None], {"pads": [1, 1, 1, 1], "group": 16},
                    out_types=[f(1, 16, 16, 16)], names=["dwconv"]).output
    w3 = g.add_const(np.zeros((16, 8, 2, 2), np.float32), "w3")
    c3 = g.add_node("conv_transpose", [c2, w3, None], {"strides": [2, 2]},
                    out_types=[f(1, 8, 32, 32)], names=["conv_transpose"]).output
    a = g.add_input("a", f(2, 4, 5))
    bm = g.add_input("bm", f(5, 6))
    m = g.add_node("matmul", [a, bm], out_types=[f(2, 4, 6)], names=["matmul"]).output
    ga = g.add_input("ga", f(5, 3))  # transA: A is [K, M]
    gb = g.add_input("gb", f(5, 7))
    gm = g.add_node("gemm", [ga, gb, None], {"transA": 1}, out_types=[f(3, 7)], names=["gemm"]).output
    g.outputs = [c3, m, gm]
    return g


def test_flops_match_torch_flop_counter():
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    from compiler.stats import model_stats, node_flops

    g = _conv_graph()
    ours = {n.outputs[0].name: node_flops(n) for n in g.nodes if n.op != "const"}

    def torch_flops(fn):
        with FlopCounterMode(display=False) as fc:
            fn()
        return fc.get_total_flops()

    z = torch.zeros
    expected = {
        "conv": torch_flops(lambda: torch.nn.functional.conv2d(
            z(1, 3, 32, 32), z(16, 3, 3, 3), stride=2, padding=1)),
        "dwconv": torch_flops(lambda: torch.nn.functional.conv2d(
            z(1, 16, 16, 16), z(16, 1, 3, 3), padding=1, groups=16)),
        "conv_transpose": torch_flops(lambda: torch.nn.functional.conv_transpose2d(
            z(1, 16, 16, 16), z(16, 8, 2, 2), stride=2)),
        "matmul": torch_flops(lambda: z(2, 4, 5) @ z(5, 6)),
        "gemm": torch_flops(lambda: z(5, 3).T @ z(5, 7)),
    }
    assert {k: v[0] for k, v in ours.items()} == expected
    st = model_stats(g)
    assert st.flops == sum(expected.values()) and st.macs * 2 == st.flops
    assert st.params == 16 * 27 + 16 * 9 + 16 * 32


# -- opt --------------------------------------------------------------------------------------


def test_opt_writes_ir_with_data_atomically(capsys, tmp_path):
    g = parse_graph(TINY_IR)
    w = np.linspace(0, 1, 100, dtype=np.float32).reshape(10, 10)  # big: goes to resources
    g.add_const(w, "big", before=g.nodes[0])
    src = tmp_path / "in.ir"
    src.write_text(print_graph(g, with_data=True))
    out = tmp_path / "o" / "out.ir"
    code, stdout, err = run(capsys, "opt", src, "-p", "", "-o", out)
    assert code == 0, err
    assert stdout == f"infercc: wrote {out} (4 -> 4 nodes after 0 passes, 0 ms)\n"
    back = parse_graph(out.read_text())
    np.testing.assert_array_equal(back.value("big").const_value, w)
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.ir"]  # no temp files left


def test_opt_without_output_prints_ir(capsys, tiny):
    code, out, _ = run(capsys, "opt", tiny, "-p", "")
    assert code == 0
    assert parse_graph(out).name == "tiny"


def test_opt_onnx_output(capsys, tmp_path, tiny):
    pytest.importorskip("targets.onnx.exporter")
    import onnx
    import onnxruntime as ort

    out = tmp_path / "out.onnx"
    code, _, err = run(capsys, "opt", tiny, "-p", "", "-o", out)
    assert code == 0, err
    model = onnx.load(out)
    onnx.checker.check_model(model)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, {"x": x})
    np.testing.assert_array_equal(y, x)  # identity + inference dropout


def test_opt_default_pipeline(capsys, tiny):
    from passes import BUILTIN_PASSES, DEFAULT_PIPELINE
    import importlib

    for name in DEFAULT_PIPELINE.split(","):
        mod = BUILTIN_PASSES[name].split(":")[0]
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError:
            pytest.skip(f"builtin pass module {mod} is not written yet")
    code, out, err = run(capsys, "opt", tiny, "--timing")
    assert code == 0, err
    for name in DEFAULT_PIPELINE.split(","):
        assert name in err  # each pass has a timing row
    g = parse_graph(out)
    ops = [n.op for n in g.nodes]
    assert "identity" not in ops and "const" not in ops  # removed, and the dead const dropped
    from compiler.interpreter import Interpreter

    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    (y,) = Interpreter(g).run({"x": x}).values()
    np.testing.assert_array_equal(y, x)  # the model is the identity function before and after


def test_opt_verbose_and_quiet(capsys, tiny):
    _, _, err = run(capsys, "-v", "opt", tiny, "-p", "")
    assert "infercc: INFO: ran 0 pass(es)" in err
    _, _, err = run(capsys, "opt", tiny, "-p", "", "-q")
    assert err == ""


# -- errors: exit 2, a message naming what and where, no traceback ------------------------


def _bad_ir(tmp_path, text, name="bad.ir"):
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    "case",
    ["missing", "directory", "corrupt_onnx", "unknown_op", "parse_error", "bad_pipeline",
     "unknown_pass", "unknown_option", "bad_output", "print_after_unknown", "bad_shape",
     "unknown_input_shape", "unknown_format"],
)
def test_user_errors_exit_2(capsys, tmp_path, tiny, case):
    if case == "missing":
        args, expect = ["inspect", tmp_path / "nope.onnx"], ["nope.onnx", "no such file"]
    elif case == "directory":
        args, expect = ["inspect", tmp_path], [str(tmp_path), "directory"]
    elif case == "corrupt_onnx":
        p = tmp_path / "corrupt.onnx"
        p.write_bytes(b"\x08\x07this is not a protobuf\xff\xff\xff")
        args, expect = ["inspect", p], ["corrupt.onnx", "not a valid ONNX model"]
    elif case == "unknown_op":
        p = _bad_ir(tmp_path, TINY_IR.replace("dropout(%i)", "frobnicate(%i)"))
        args, expect = ["opt", p, "-p", ""], ["bad.ir", "unknown op 'frobnicate'", "layer.drop"]
    elif case == "parse_error":
        p = _bad_ir(tmp_path, TINY_IR.replace("identity(%x)", "identity(%nope)"))
        args, expect = ["inspect", p], ["bad.ir", "line 3", "%nope is used before it is defined"]
    elif case == "bad_pipeline":
        args, expect = ["opt", tiny, "-p", "nop{"], ["bad pipeline", "position"]
    elif case == "unknown_pass":
        args, expect = ["opt", tiny, "-p", "remove-identiti"], [
            "unknown pass 'remove-identiti'", "did you mean 'remove-identity'"]
    elif case == "unknown_option":
        args, expect = ["opt", tiny, "-p", "dce{bogus=1}"], ["pass 'dce'", "option 'bogus'"]
        from passes import BUILTIN_PASSES
        import importlib

        try:
            importlib.import_module(BUILTIN_PASSES["dce"].split(":")[0])
        except ModuleNotFoundError:
            expect = ["pass 'dce'", "cannot be loaded"]
    elif case == "bad_output":
        args, expect = ["opt", tiny, "-p", "", "-o", tmp_path / "x.txt"], [
            "x.txt", "unknown output format"]
    elif case == "print_after_unknown":
        args, expect = ["opt", tiny, "-p", "", "--print-ir-after", "dce"], [
            "--print-ir-after dce", "not in the pipeline"]
    elif case == "bad_shape":
        args, expect = ["inspect", tiny, "--input-shape", "1x3"], ["--input-shape", "NAME:DIMS"]
    elif case == "unknown_input_shape":
        args, expect = ["inspect", tiny, "--input-shape", "y:2x3"], ["tiny.ir", "inputs are x"]
    else:
        p = tmp_path / "model.xyz"
        p.write_bytes(b"")
        args, expect = ["inspect", p], ["model.xyz", "unrecognised model format"]
    code, out, err = run(capsys, *args)
    assert code == 2, (out, err)
    assert err.startswith("infercc: error: ")
    assert "Traceback" not in err
    for e in expect:
        assert e in err, (e, err)


def test_no_traceback_in_a_real_process(tmp_path, tiny):
    p = tmp_path / "corrupt.onnx"
    p.write_bytes(b"garbage")
    r = run_cli(["inspect", str(p)])
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "corrupt.onnx" in r.stderr
    r = run_cli(["opt", str(tiny), "-p", "no-such-pass"])
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = run_cli(["--debug", "inspect", str(p)])
    assert r.returncode == 2 and "Traceback" in r.stderr  # --debug shows it


# -- crash reproducers through the CLI ------------------------------------------------------


def test_crash_writes_reproducer_and_replays(tmp_path, tiny, crash_site):
    repro = tmp_path / "repro.ir"
    r = run_cli(["opt", str(tiny), "-p", "drop-identity,crash-on-dropout{message=kaput}",
                 "--reproducer", str(repro), "-o", str(tmp_path / "never.ir")], crash_site)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert "pass 'crash-on-dropout{message=kaput}' (pass 2 of 2) failed" in r.stderr
    assert "ValueError: kaput at %d" in r.stderr
    assert str(repro) in r.stderr
    assert not (tmp_path / "never.ir").exists()
    text = repro.read_text()
    assert text.splitlines()[0] == (
        "// infercc-reproducer: pipeline=crash-on-dropout{message=kaput}")
    # the IR from before the failing pass: drop-identity already ran
    assert [n.op for n in parse_graph(text).nodes] == ["const", "dropout"]

    # replay with the recorded pipeline (no -p): the same failure
    again = tmp_path / "again.ir"
    r = run_cli(["opt", str(repro), "--reproducer", str(again)], crash_site)
    assert r.returncode == 2
    assert "crash-on-dropout{message=kaput}" in r.stderr and "ValueError: kaput at %d" in r.stderr
    assert again.read_text() == text  # the replay reproduces the same reproducer
    # an explicit pipeline wins over the recorded one
    r = run_cli(["opt", str(repro), "-p", "crash-on-dropout{message=other}"], crash_site)
    assert r.returncode == 2 and "ValueError: other at %d" in r.stderr
    r = run_cli(["opt", str(repro), "-p", "drop-identity", "-o", str(tmp_path / "ok.ir")],
                crash_site)
    assert r.returncode == 0, r.stderr
    # --debug shows the original traceback
    r = run_cli(["--debug", "opt", str(repro)], crash_site)
    assert r.returncode == 2 and "Traceback" in r.stderr and "in run" in r.stderr


def test_replaying_a_reproducer_writes_no_new_one(tmp_path, tiny, crash_site, monkeypatch):
    repro = tmp_path / "repro.ir"
    r = run_cli(["opt", str(tiny), "-p", "crash-on-dropout{message=kaput}",
                 "--reproducer", str(repro)], crash_site)
    assert r.returncode == 2 and repro.is_file(), r.stderr
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))  # where a default reproducer would go
    r = run_cli(["opt", str(repro)], crash_site)
    assert r.returncode == 2 and "ValueError: kaput at %d" in r.stderr
    assert list(temp.iterdir()) == [] and "reproducer" not in r.stderr, r.stderr
    # nor does compiling one
    r = run_cli(["compile", str(repro), "-p", "crash-on-dropout{message=kaput}",
                 "-o", str(tmp_path / "never.onnx")], crash_site)
    assert r.returncode == 2 and "ValueError: kaput at %d" in r.stderr, r.stderr
    assert list(temp.iterdir()) == [] and not (tmp_path / "never.onnx").exists(), r.stderr
    # a model that is not a reproducer still gets one in the temp directory
    r = run_cli(["opt", str(tiny), "-p", "crash-on-dropout{message=kaput}"], crash_site)
    assert r.returncode == 2
    assert [p.name.startswith("infercc-reproducer-") for p in temp.iterdir()] == [True]


def test_instrument_flags(tmp_path, tiny, crash_site):
    dumps = tmp_path / "dumps"
    r = run_cli(["opt", str(tiny), "-p", "drop-identity,drop-identity", "--print-ir-after-change",
                 "--dump-dir", str(dumps), "--dump-data", "--timing"], crash_site)
    assert r.returncode == 0, r.stderr
    # printed once: the second drop-identity finds nothing to remove
    assert r.stderr.count("// ----- IR after drop-identity") == 1
    assert "(pass 1/2, " in r.stderr and " ms, 3 -> 2 nodes) -----" in r.stderr
    assert "===== pass timing and statistics =====" in r.stderr
    assert "removed=1" in r.stderr and "removed=0" in r.stderr
    assert sorted(p.name for p in dumps.iterdir()) == [
        "000_input.ir", "001_drop-identity.ir", "002_drop-identity.ir"]
    for p in dumps.iterdir():  # --dump-data makes each dump loadable
        parse_graph(p.read_text())
    r = run_cli(["opt", str(tiny), "-p", "drop-identity", "--print-ir-after", "drop-identity",
                 "-o", str(tmp_path / "o.ir")], crash_site)
    assert r.returncode == 0 and r.stderr.count("IR after drop-identity") == 1


def test_inspect_tiny_cnn_macs_match_torch(capsys):
    """MACs of the example CNN (conv, depthwise, pointwise, gemm) against torch's counter."""
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    from compiler.errors import UnsupportedOpsError
    from compiler.stats import model_stats
    from compiler.cli import load_model
    from tests.conftest import REPO

    path = REPO / "examples" / "models" / "tiny_cnn.onnx"
    try:
        g = load_model(str(path), {"input": [1, 3, 32, 32]})
    except UnsupportedOpsError as e:  # the op set is still growing
        pytest.skip(f"ops not implemented yet: {sorted(e.unsupported)}")
    st = model_stats(g)
    F = torch.nn.functional
    z = torch.zeros
    with FlopCounterMode(display=False) as fc:  # same layers, same shapes
        y = F.conv2d(z(1, 3, 32, 32), z(16, 3, 3, 3), stride=2, padding=1)
        y = F.conv2d(y, z(16, 1, 3, 3), padding=1, groups=16)
        y = F.conv2d(y, z(32, 16, 1, 1), z(32))
        F.linear(y.mean((2, 3)), z(10, 32), z(10))
    assert 2 * st.macs == fc.get_total_flops()
    code, out, _ = run(capsys, "inspect", path, "--input-shape", "input:1x3x32x32")
    assert code == 0
    assert f"MACs: {st.macs:,}" in out
    assert "not counted" not in out  # every node has static shapes
