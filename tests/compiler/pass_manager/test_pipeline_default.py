"""The name ``default`` inside a pipeline string: the default pipeline's passes, in place."""

from __future__ import annotations

import pytest

from compiler.errors import PipelineError
from compiler.pass_manager import parse_pipeline
from passes import DEFAULT_PIPELINE
from targets import get_target
from tests.support.plugin_dists import TINY_IR, run_cli


def _names(pipeline) -> list[str]:
    return [p.name for p in pipeline]


def test_default_alone_is_the_builtin_default_pipeline():
    expected = [n.strip() for n in DEFAULT_PIPELINE.split(",")]
    assert _names(parse_pipeline("default")) == expected


def test_default_is_spliced_where_it_stands():
    expected = [n.strip() for n in DEFAULT_PIPELINE.split(",")]
    got = parse_pipeline("cse, default ,dce{}")
    assert _names(got) == ["cse", *expected, "dce"]


def test_the_caller_says_what_default_means():
    got = parse_pipeline("default,quantize{method=entropy}", default="fold-constants,dce")
    assert _names(got) == ["fold-constants", "dce", "quantize"]
    assert got[2].method == "entropy"


def test_default_takes_no_options():
    with pytest.raises(PipelineError, match="'default' stands for the default pipeline and "
                                            "takes no options"):
        parse_pipeline("dce,default{x=1}")


def test_a_broken_default_is_reported_against_default():
    with pytest.raises(PipelineError, match=r"pass 'default'.*does not parse.*no-such-pass"):
        parse_pipeline("dce,default", default="no-such-pass")


def test_compile_pipeline_expands_default_to_the_targets_int8_pipeline():
    from compiler.compile import compile_pipeline

    tflite = get_target("tflite")
    got = compile_pipeline(tflite, "default,dce", int8=True)
    expected = _names(parse_pipeline(tflite.default_pipeline(True), default=""))
    assert _names(got) == [*expected, "dce", "calibrate", "quantize"]
    # the int8 default differs from the float one in fuse-activation's options
    fuse = next(p for p in got if p.name == "fuse-activation")
    assert "relu6" in fuse.allowed and "tanh" not in fuse.allowed


def test_cli_opt_runs_default_plus_a_pass(tmp_path):
    model = tmp_path / "tiny.ir"
    model.write_text(TINY_IR)
    r = run_cli(["opt", str(model), "-p", "default,cse", "--timing"])
    assert r.returncode == 0, r.stderr
    table = r.stderr
    for name in [n.strip() for n in DEFAULT_PIPELINE.split(",")] + ["cse"]:
        assert f"  {name} " in table
