"""compiler.compile(..., prune=...): the options as a string or a mapping configure the same
pass; where it goes in the pipeline; calibration data feeds it with and without int8."""

from __future__ import annotations

import numpy as np
import pytest

import compiler
from compiler.compile import compile_pipeline, prune_pass
from passes.sparsity.prune import PruneError
from targets import get_target
from tests.conftest import REPO

TINY = str(REPO / "examples" / "models" / "tiny_cnn.onnx")
DIGITS = str(REPO / "examples" / "models" / "digits_cnn.keras")
DIGITS_DATA = REPO / "examples" / "data" / "digits_train.npz"


def test_string_and_mapping_give_the_same_pass():
    a = prune_pass("sparsity=0.3,pattern=1x4,exclude=[a;b*],bias_correction=true")
    b = prune_pass({"sparsity": 0.3, "pattern": "1x4", "exclude": ["a", "b*"],
                    "bias_correction": True})
    assert a == b and a.exclude == ["a", "b*"] and a.sparsity == 0.3
    assert prune_pass("") == prune_pass({}) == prune_pass("prune{}")


@pytest.mark.parametrize("bad", ["sparsity=1", {"pattern": "5:4"}, {"nope": 1}, 0.5,
                                 "sparsity=0.5},dce{"])
def test_bad_options_are_prune_errors(bad):
    with pytest.raises(PruneError):
        prune_pass(bad)


def test_prune_goes_before_calibrate_and_quantize():
    tgt = get_target("tflite")
    names = [p.name for p in compile_pipeline(tgt, int8=True, prune="sparsity=0.5")]
    assert names[-3:] == ["prune", "calibrate", "quantize"]
    names = [p.name for p in compile_pipeline(tgt, "fold-constants,quantize,dce",
                                              int8=True, prune={})]
    assert names == ["fold-constants", "prune", "quantize", "dce"]
    names = [p.name for p in compile_pipeline(tgt, prune="")]
    assert names[-1] == "prune" and "fuse-batchnorm" in names
    with pytest.raises(PruneError, match="own prune"):
        compile_pipeline(tgt, "prune,dce", prune="")


def test_compile_returns_the_table_and_the_graph_holds_it():
    r = compiler.compile(TINY, "onnx", input_shapes={"input": [1, 3, 32, 32]},
                         prune={"sparsity": 0.25, "min_size": 0})
    assert r.pruning is not None and len(r.pruning.pruned) == 4
    assert "prune" in r.timings
    for node in r.graph.nodes:
        if node.op in ("conv", "gemm"):
            w = np.asarray(node.inputs[1].const_value)
            assert (w == 0).mean() == pytest.approx(0.25, abs=1 / w.size + 1e-9)
    assert compiler.compile(TINY, "onnx").pruning is None


def test_bias_correction_without_data_is_refused_before_loading(tmp_path):
    with pytest.raises(PruneError, match="needs sample data"):
        compiler.compile(tmp_path / "missing.onnx", "onnx",
                         prune="bias_correction=true")


def test_one_shot_data_feeds_both_prune_and_calibrate():
    """A generator is read once; prune (bias correction, SQNR) and calibrate both see it."""
    x = np.load(DIGITS_DATA)["digits"][:16].astype(np.float32)
    gen = ({"digits": x[i:i + 1]} for i in range(len(x)))
    r = compiler.compile(DIGITS, "tflite", input_shapes={"digits": [1, 8, 8, 1]}, int8=True,
                         calibration=gen, prune="bias_correction=true")
    assert r.pruning.num_samples == 16 and r.calibration.num_samples == 16
    assert all(row.bias_corrected for row in r.pruning.pruned)
