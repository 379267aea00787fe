"""Dimensions TFLite's int32 shapes cannot hold: a clean refusal, nothing written."""

from __future__ import annotations

import pytest

from compiler.ir import parse_graph
from targets import get_target
from targets.tflite.emit import emit
from targets.tflite.errors import TfliteEmitError
from tests.support.plugin_dists import run_cli

BIG = 2**31  # one more than the largest int32

BIG_IR = f"""\
graph @big(%x: f32[1,{BIG}]) -> (f32[1,{BIG}]) {{
  %y: f32[1,{BIG}] = relu(%x)  // layer.act
  return %y
}}
"""

FITS_IR = BIG_IR.replace(str(BIG), str(BIG - 1))


def test_emit_refuses_a_dim_over_int32_naming_value_and_dim():
    with pytest.raises(TfliteEmitError) as e:
        emit(parse_graph(BIG_IR))
    msg = str(e.value)
    assert f"%x has a dimension of {BIG}" in msg
    assert f"relu (layer layer.act): %y has a dimension of {BIG}" in msg


def test_supports_gives_the_same_reason_as_the_emitter():
    g = parse_graph(BIG_IR)
    [node] = [n for n in g.nodes if n.op == "relu"]
    reason = get_target("tflite").supports(node)
    assert reason is not None and f"dimension of {BIG}" in reason
    with pytest.raises(TfliteEmitError) as e:
        emit(parse_graph(BIG_IR))
    assert reason in str(e.value)


def test_the_largest_int32_dim_is_not_refused_for_its_size():
    g = parse_graph(FITS_IR)
    [node] = [n for n in g.nodes if n.op == "relu"]
    assert get_target("tflite").supports(node) is None


def test_cli_compile_exits_2_and_writes_nothing(tmp_path):
    model = tmp_path / "big.ir"
    model.write_text(BIG_IR)
    out = tmp_path / "big.tflite"
    r = run_cli(["compile", str(model), "-o", str(out), "-p", "", "--no-run"])
    assert r.returncode == 2, r.stderr
    assert f"dimension of {BIG}" in r.stderr and "cannot emit graph @big as TFLite" in r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists()
