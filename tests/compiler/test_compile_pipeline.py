"""Quantization runs through the pass manager: the calibrate pass, artifact requirements
checked before any pass runs, and compile --int8 observed by instruments and reproducers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import compiler
from compiler.cli import main
from compiler.errors import PassFailure, PipelineError
from compiler.pass_manager import (
    PassContext,
    PassInstrument,
    PassManager,
    read_reproducer_pipeline,
)

from tests.conftest import REPO

TINY_CNN = REPO / "examples" / "models" / "tiny_cnn.onnx"


@pytest.fixture(scope="module")
def samples():
    rng = np.random.default_rng(0)
    return rng.random((6, 1, 3, 32, 32), dtype=np.float32)


@pytest.fixture(scope="module")
def cal_npz(samples, tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("cal") / "cal.npz"
    np.savez(p, input=samples)
    return p


def _optimized():
    return compiler.compile(TINY_CNN, "onnx").graph


class _Seen(PassInstrument):
    def __init__(self) -> None:
        self.started: list[str] = []

    def before_pass(self, p, index, graph) -> None:
        self.started.append(p.name)


# -- requirements --------------------------------------------------------------------------


def test_a_missing_artifact_is_refused_before_any_pass_runs():
    g = _optimized()
    before = compiler.print_graph(g)
    seen = _Seen()
    with pytest.raises(PipelineError) as e:
        PassManager("dce,quantize", [seen]).run(g, PassContext())
    msg = str(e.value)
    assert "pass 'quantize' (pass 2 of 2) needs the 'calibration' artifact" in msg
    assert "put 'calibrate' before it" in msg and "artifacts['calibration']" in msg
    assert seen.started == [] and compiler.print_graph(g) == before


def test_an_earlier_producer_or_given_artifact_or_stats_file_satisfies_it(samples, tmp_path):
    g = _optimized()
    ctx = PassContext(options={"calibration": list(samples)})
    PassManager("calibrate,quantize").run(g, ctx)
    stats = ctx.artifacts["calibration"]
    assert stats.num_samples == len(samples) and ctx.artifacts["quantization"].num_quantized > 0
    assert any(n.op == "quantize" for n in g.nodes)
    g2 = _optimized()
    PassManager("quantize").run(g2, PassContext(artifacts={"calibration": stats}))
    assert compiler.print_graph(g2) == compiler.print_graph(g)
    saved = tmp_path / "stats.npz"
    stats.save(saved)
    g3 = _optimized()
    PassManager(f"quantize{{stats={saved}}}").run(g3, PassContext())
    assert compiler.print_graph(g3) == compiler.print_graph(g)


def test_calibrate_leaves_the_graph_unchanged_and_needs_data():
    g = _optimized()
    before = compiler.print_graph(g)
    report = PassManager("calibrate").run(g, PassContext(options={"calibration": [
        np.zeros((1, 3, 32, 32), np.float32)]}))
    assert compiler.print_graph(g) == before
    assert not report.records[0].modified and report.records[0].stats["samples"] == 1
    with pytest.raises(PassFailure, match="no calibration data"):
        PassManager("calibrate").run(g, PassContext())


# -- compile(int8=True) is one pipeline ----------------------------------------------------


def test_int8_compile_runs_calibrate_and_quantize_as_passes(samples, tmp_path):
    r = compiler.compile(TINY_CNN, int8=True, calibration=list(samples))
    names = [rec.name for rec in r.records]
    assert names[-2:] == ["calibrate", "quantize"]
    assert r.pipeline.endswith(",calibrate,quantize")
    assert "fuse-activation{allowed=[relu,relu6,relu_n1_to_1]}" in r.pipeline
    assert {"load", "optimize", "calibrate", "quantize", "emit"} <= set(r.timings)
    quantize_ms = next(rec.time_ms for rec in r.records if rec.name == "quantize")
    assert r.timings["quantize"] == pytest.approx(quantize_ms / 1e3)
    # saved statistics replace the calibrate pass
    saved = tmp_path / "stats.npz"
    r.calibration.save(saved)
    again = compiler.compile(TINY_CNN, int8=True, calibration=saved,
                             pipeline=None, method="minmax")
    assert [rec.name for rec in again.records][-2:] == ["dce", "quantize"]
    assert "calibrate" not in again.timings and again.data == r.data


def test_int8_options_reach_the_quantize_pass(samples):
    r = compiler.compile(TINY_CNN, int8=True, calibration=list(samples), method="percentile",
                         percentile=99.9, keep_float=["features.0.conv"])
    assert r.pipeline.endswith(
        'quantize{method=percentile,percentile=99.9,keep_float=[features.0.conv]}')
    assert r.quantization.num_float >= 1


def test_a_crash_inside_quantize_writes_a_reproducer(samples, tmp_path, monkeypatch):
    from passes.quantization import quantize as q

    def boom(*args, **kwargs):
        raise RuntimeError("planted failure")

    monkeypatch.setattr(q, "quantize_graph", boom)
    repro = tmp_path / "crash.ir"
    with pytest.raises(PassFailure, match="pass 'quantize' .*planted failure") as e:
        compiler.compile(TINY_CNN, int8=True, calibration=list(samples), reproducer=repro)
    assert e.value.reproducer == repro and repro.exists()
    text = repro.read_text()
    assert read_reproducer_pipeline(text) == "quantize"
    assert "quantize(" not in text.split("\n", 1)[1]  # the float IR before the pass


# -- CLI -----------------------------------------------------------------------------------


def test_cli_int8_dump_dir_covers_calibrate_and_quantize(cal_npz, tmp_path, capsys):
    dumps = tmp_path / "dumps"
    rc = main(["compile", str(TINY_CNN), "--int8", "--calibration", str(cal_npz), "--no-run",
               "-o", str(tmp_path / "m.tflite"), "--dump-dir", str(dumps), "-q"])
    assert rc == 0, capsys.readouterr().err
    files = sorted(p.name for p in dumps.iterdir())
    assert files[0] == "000_input.ir" and files[-2:] == ["010_calibrate.ir", "011_quantize.ir"]
    assert "= quantize(" not in (dumps / "010_calibrate.ir").read_text()
    assert "= quantize(" in (dumps / "011_quantize.ir").read_text()


def test_cli_print_ir_after_quantize_shows_the_qdq_ir(cal_npz, tmp_path, capsys):
    rc = main(["compile", str(TINY_CNN), "--int8", "--calibration", str(cal_npz), "--no-run",
               "-o", str(tmp_path / "m.tflite"), "--print-ir-after", "quantize", "--timing",
               "-q"])
    err = capsys.readouterr().err
    assert rc == 0, err
    printed = err.split("IR after quantize", 1)[1]
    assert "= quantize(" in printed and "= dequantize(" in printed
    assert "IR after dce" not in err
    phases = next(line for line in err.splitlines() if line.startswith("phases:"))
    assert "calibrate " in phases and "quantize " in phases
    rc = main(["compile", str(TINY_CNN), "-o", str(tmp_path / "f.tflite"),
               "--print-ir-after", "quantize"])
    assert rc == 2 and "--print-ir-after quantize: not in the pipeline" in \
        capsys.readouterr().err


def test_cli_crash_in_quantize_names_the_reproducer(cal_npz, tmp_path, capsys, monkeypatch):
    from passes.quantization import quantize as q

    monkeypatch.setattr(q, "quantize_graph", lambda *a, **k: 1 / 0)
    repro = tmp_path / "repro.ir"
    rc = main(["compile", str(TINY_CNN), "--int8", "--calibration", str(cal_npz),
               "-o", str(tmp_path / "m.tflite"), "--reproducer", str(repro), "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and "ZeroDivisionError" in err and str(repro) in err
    assert read_reproducer_pipeline(repro.read_text()) == "quantize"
    assert not (tmp_path / "m.tflite").exists()


def test_a_pipeline_with_its_own_quantize_is_run_as_given(samples):
    feeds = list(samples)
    own = "remove-identity,fuse-batchnorm,dce,calibrate,quantize{method=entropy}"
    r = compiler.compile(TINY_CNN, int8=True, calibration=feeds, pipeline=own)
    assert r.pipeline == own
    assert r.quantization.num_quantized > 0
    with pytest.raises(PipelineError, match="'quantize' .*needs the 'calibration' artifact"):
        compiler.compile(TINY_CNN, int8=True, calibration=feeds, pipeline="dce,quantize")


def test_a_bad_io_dtype_is_a_target_option_error():
    from targets import TargetOptionError

    with pytest.raises(TargetOptionError, match="io_dtype"):
        compiler.compile("no-such-model.onnx", int8=True, calibration=[np.zeros(1)],
                         io_dtype="int16")
