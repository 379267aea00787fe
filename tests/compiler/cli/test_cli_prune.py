"""`infercc compile --prune OPTIONS`: the prune pass joins the compile pipeline after the
clean-ups and fusions and before calibrate/quantize; the written file holds the pruned
weights (read back with onnx), the summary and --json carry the prune table, and a bad
spec is refused before the model loads."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from compiler.cli import main
from tests.conftest import REPO

TINY = str(REPO / "examples" / "models" / "tiny_cnn.onnx")
DIGITS = str(REPO / "examples" / "models" / "digits_cnn.keras")
DIGITS_DATA = str(REPO / "examples" / "data" / "digits_train.npz")


def _weights(path) -> dict[str, np.ndarray]:
    """Conv and Gemm weights (input 1) of an ONNX file, read with onnx itself."""
    m = onnx.load(str(path))
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    return {n.name or n.output[0]: inits[n.input[1]] for n in m.graph.node
            if n.op_type in ("Conv", "Gemm") and n.input[1] in inits}


def test_prune_to_onnx_writes_the_sparsity(tmp_path, capsys):
    out = tmp_path / "tiny.onnx"
    assert main(["compile", TINY, "--input-shape", "input:1x3x32x32",
                 "--prune", "sparsity=0.5,min_size=0", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    dense = _weights(TINY)
    pruned = _weights(out)
    assert len(pruned) == len(dense) == 4
    for name, w in pruned.items():
        assert (w == 0).mean() == pytest.approx(0.5, abs=0.5 / w.size + 1e-9), name
    assert all((w == 0).mean() < 0.05 for w in dense.values())  # the source is dense
    assert "pruned 4 of 4 layer(s): sparsity 0.500" in text
    assert "MACs removed of" in text  # static shapes: counted


def test_prune_json_carries_the_table(tmp_path, capsys):
    out = tmp_path / "tiny.onnx"
    assert main(["compile", TINY, "--input-shape", "input:1x3x32x32", "--json",
                 "--prune", "sparsity=0.5,min_size=0,exclude=classifier.fc", "-o", str(out)]) == 0
    rep = json.loads(capsys.readouterr().out)
    pr = rep["pruning"]
    rows = {r["layer"]: r for r in pr["layers"]}
    assert rows["classifier.fc"]["skipped"].startswith("excluded")
    assert pr["pruned"] == sum(not r["skipped"] for r in pr["layers"]) >= 1
    assert pr["macs_removed"] == sum(r["macs_removed"] for r in pr["layers"]
                                     if not r["skipped"]) > 0
    assert pr["output_sqnr_db"] is None and pr["samples"] == 0  # no --calibration
    assert "prune{" in rep["pipeline"]
    # what the JSON says is what the file holds
    zeros = {n: float((w == 0).mean()) for n, w in _weights(out).items()}
    assert sorted(zeros.values())[-pr["pruned"]:] == pytest.approx(
        sorted(r["sparsity"] for r in pr["layers"] if not r["skipped"]), abs=1e-6)


def test_prune_with_calibration_without_int8_corrects_biases(tmp_path, capsys):
    out = tmp_path / "d.onnx"
    assert main(["compile", DIGITS, "--input-shape", "digits:1x8x8x1", "--json",
                 "--prune", "sparsity=0.5,bias_correction=true",
                 "--calibration", DIGITS_DATA, "-o", str(out)]) == 0
    pr = json.loads(capsys.readouterr().out)["pruning"]
    done = [r for r in pr["layers"] if not r["skipped"]]
    assert [r["layer"] for r in done] == ["conv2", "conv3"]  # conv1, logits < min_size
    assert all(r["bias_corrected"] for r in done)
    assert pr["samples"] == 32 and pr["output_sqnr_db"] > 5


def test_prune_runs_before_calibrate_with_int8(tmp_path, capsys):
    out = tmp_path / "d.tflite"
    assert main(["compile", DIGITS, "--input-shape", "digits:1x8x8x1", "--json", "--no-run",
                 "--int8", "--calibration", DIGITS_DATA, "--prune", "pattern=2:4",
                 "-o", str(out)]) == 0
    rep = json.loads(capsys.readouterr().out)
    names = [p.split("{")[0] for p in rep["pipeline"].replace("{allowed=[", "{").split(",")
             if not p.endswith("]}") and p]
    assert names.index("fuse-batchnorm") < names.index("prune") \
        < names.index("calibrate") < names.index("quantize")
    assert rep["pruning"]["pruned"] == 2 and rep["pruning"]["sparsity"] == 0.5


def test_prune_2_4_for_tensorrt_qualifies(tmp_path, capsys):
    from compiler import load
    from targets.tensorrt.sparsity import verdicts

    out = tmp_path / "d.trt.onnx"
    assert main(["compile", DIGITS, "--input-shape", "digits:1x8x8x1", "--target",
                 "tensorrt", "--prune", "pattern=2:4", "-o", str(out)]) == 0
    assert "pruned 2 of 4 layer(s)" in capsys.readouterr().out
    ok = {v.layer: v.ok for v in verdicts(load(str(out)))}
    assert ok == {"conv1_1": False, "conv2": True, "conv3": True, "logits": False}
    # and by onnx's own reading: 2 zeros in every 4 input channels of conv2 and conv3
    convs = [w for w in _weights(out).values() if w.ndim == 4 and w.shape[1] >= 16]
    assert len(convs) == 2
    for w in convs:
        groups = np.moveaxis(w, 1, -1).reshape(-1, 4)
        assert ((groups == 0).sum(axis=1) >= 2).all()


@pytest.mark.parametrize("spec, says", [
    ("sparsity=2", "sparsity=2"),
    ("spars=0.5", "unknown option 'spars'"),
    ("pattern=3:2", "pattern"),
    ("sparsity=0.5},dce{", "prune"),
    ("bias_correction=true", "needs sample data"),
])
def test_bad_prune_spec_exits_2_before_loading(tmp_path, capsys, spec, says):
    missing = tmp_path / "no_such_model.onnx"  # a load would fail naming this file
    assert main(["compile", str(missing), "--prune", spec, "-o",
                 str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err
    assert says in err and "no_such_model" not in err
    assert not (tmp_path / "x.onnx").exists()


def test_prune_and_a_pipeline_prune_exclude_each_other(tmp_path, capsys):
    assert main(["compile", str(tmp_path / "none.onnx"), "-p", "fold-constants,prune",
                 "--prune", "sparsity=0.3", "-o", str(tmp_path / "x.onnx")]) == 2
    assert "own prune pass" in capsys.readouterr().err
