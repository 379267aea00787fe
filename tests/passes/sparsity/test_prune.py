"""The ``prune`` pass in pipelines and the CLI, its 2:4 output against TensorRT's eligibility
check and polygraphy's ``SparsityPruner``, and its table and bias correction on the digits
CNN (examples/models/digits_cnn.keras, trained on sklearn's real digits).

Figures: ``python3 -m pytest tests/passes/sparsity/test_prune.py -q -s`` prints them.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import compiler
import passes
from compiler.interpreter import Interpreter
from compiler.ir import Graph, TensorType
from compiler.pass_manager import PassContext, PassManager
from passes.sparsity.report import prune_report
from targets.tensorrt.sparsity import verdicts

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
DIGITS = os.path.join(ROOT, "examples", "models", "digits_cnn.keras")


def _trt_graph() -> Graph:
    """A conv, a matmul and a transB gemm whose weights have TensorRT-eligible shapes."""
    r = np.random.default_rng(0)
    g = Graph("t")
    x = g.add_input("x", TensorType("f32", (1, 32, 8, 8)))
    y = g.add_input("y", TensorType("f32", (4, 32)))
    c = g.add_node("conv", [x, g.add_const(r.standard_normal((16, 32, 3, 3), np.float32), "cw")],
                   {"group": 1, "pads": [1, 1, 1, 1]}, source=["conv"]).output
    m = g.add_node("matmul", [y, g.add_const(r.standard_normal((32, 16), np.float32), "mw")],
                   source=["mm"]).output
    t = g.add_node("gemm", [y, g.add_const(r.standard_normal((16, 32), np.float32), "gw")],
                   {"transB": 1}, source=["gemm_t"]).output
    g.outputs = [c, m, t]
    return g


def test_2_4_output_is_tensorrt_eligible_and_polygraphy_sparse(tmp_path):
    import onnx
    from polygraphy.tools.sparse import SparsityPruner

    from targets.onnx.exporter import export_onnx

    g = _trt_graph()
    assert not any(v.ok for v in verdicts(g))
    ctx = PassContext()
    PassManager("prune{pattern=2:4,min_size=0},dce").run(g, ctx)
    assert [r.sparsity for r in ctx.artifacts["pruning"].rows] == [0.5, 0.5, 0.5]
    found = {v.layer: v for v in verdicts(g)}
    assert {k: v.ok for k, v in found.items()} == {"conv": True, "mm": True, "gemm_t": True}

    path = tmp_path / "pruned.onnx"
    export_onnx(g, path)
    checker = SparsityPruner(onnx.load(str(path)))
    with np.errstate(over="ignore"):  # its float64 max sentinel cast to float32
        checker.check()
    weights = {n.input(1).name for n in g.nodes if n.op in ("conv", "matmul", "gemm")}
    assert set(checker.sparse_tensors) == weights


def test_pipeline_string_options_reach_the_pass():
    g = _trt_graph()
    ctx = PassContext()
    PassManager("prune{sparsity=0.25,pattern=1x4,exclude=mm;gemm*,min_size=0}").run(g, ctx)
    t = ctx.artifacts["pruning"]
    assert t.row("conv").sparsity == 0.25 and t.row("conv").pattern == "1x4"
    assert t.row("mm").skipped == "excluded (mm)"
    assert t.row("gemm_t").skipped == "excluded (gemm*)"
    # conv: 16 x 32 x 3 x 3 weights, 8 x 8 outputs per channel, a quarter removed
    assert t.row("conv").macs == 16 * 8 * 8 * 32 * 9
    assert t.row("conv").macs_removed == 16 * 8 * 8 * 32 * 9 // 4


@pytest.mark.parametrize("pipeline,fragment", [
    ("prune{sparsity=1.5}", "sparsity=1.5"),
    ("prune{pattern=3:2}", "pattern='3:2'"),
    ("prune{scope=global,pattern=2:4}", "use scope=layer"),
    ("prune{bias_correction=true}", "needs sample data"),
])
def test_cli_bad_option_exits_2(pipeline, fragment):
    env = {**os.environ, "PYTHONPATH": ROOT}
    p = subprocess.run([sys.executable, "-m", "compiler.cli", "opt",
                        os.path.join(ROOT, "examples", "models", "tiny_cnn.onnx"), "-p",
                        pipeline], capture_output=True, text=True, env=env, cwd=ROOT)
    assert p.returncode == 2, p.stderr
    assert fragment in p.stderr and "Traceback" not in p.stderr


def _digits(name: str, n: int) -> list[np.ndarray]:
    """Real sklearn digits from examples/data, NHWC in the file, as the NCHW input the
    loaded graph takes."""
    d = np.load(os.path.join(ROOT, "examples", "data", name))["digits"][:n]
    return [x[None].transpose(0, 3, 1, 2) for x in d]


@pytest.fixture(scope="module")
def digits_graph():
    g = compiler.load(DIGITS, input_shapes={"digits": [1, 8, 8, 1]})
    PassManager(passes.DEFAULT_PIPELINE).run(g)
    return g


def _agreement(a: Graph, b: Graph, xs: list[np.ndarray]) -> float:
    ia, ib = Interpreter(a), Interpreter(b)
    name, out = a.inputs[0].name, a.outputs[0].name
    same = [np.argmax(ia.run({name: x})[out]) == np.argmax(ib.run({name: x})[out]) for x in xs]
    return float(np.mean(same))


def test_digits_table_and_bias_correction(digits_graph):
    calib, held = _digits("digits_train.npz", 32), _digits("digits_test.npz", 128)
    res = {}
    for bc in (False, True):
        g = digits_graph.copy()
        ctx = PassContext(options={"calibration": calib})
        PassManager(f"prune{{sparsity=0.5,bias_correction={str(bc).lower()}}}").run(g, ctx)
        t = ctx.artifacts["pruning"]
        # conv1 (144 weights) and the head (320) are under min_size; conv2, conv3 pruned
        assert [r.layer for r in t.pruned] == ["conv2", "conv3"]
        assert [r.sparsity for r in t.pruned] == [0.5, 0.5]
        # conv2: 32 x 16 x 9 weights at 8 x 8 positions; conv3: 32 x 32 x 9 at 4 x 4
        assert [r.macs_removed for r in t.pruned] == [32 * 16 * 9 * 64 // 2,
                                                      32 * 32 * 9 * 16 // 2]
        assert all(0 < r.sqnr_db < 60 for r in t.pruned)
        assert all(r.bias_corrected == bc for r in t.pruned)
        held_t = prune_report(digits_graph, g, held, max_samples=None)
        res[bc] = (held_t.output_sqnr_db, _agreement(digits_graph, g, held))
    print(f"\ndigits CNN, 50% unstructured, 128 held-out digits: logit SQNR / top-1 agreement "
          f"{res[False][0]:.2f} dB / {res[False][1]:.3f} plain, "
          f"{res[True][0]:.2f} dB / {res[True][1]:.3f} with bias correction")
    assert res[True][0] > res[False][0] + 1.0
