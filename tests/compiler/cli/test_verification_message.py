"""A model that imports but fails IR verification is reported in a few lines: the first
failing node with one IR line either side, and how many more problems there are."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from compiler.cli.app import main
from compiler.ir import VerificationError


def _bad_conv_chain(n: int):
    """``n`` convs whose weights expect 5 input channels on a 3-channel tensor; the declared
    value types let the import go through, so only verification sees the mismatch."""
    F = TensorProto.FLOAT
    nodes, prev = [], "x"
    for i in range(n):
        nodes.append(helper.make_node("Conv", [prev, "w"], [f"c{i}"], name=f"conv{i}"))
        prev = f"c{i}"
    g = helper.make_graph(
        nodes, "chain", [helper.make_tensor_value_info("x", F, [1, 3, 4, 4])],
        [helper.make_tensor_value_info(prev, F, [1, 3, 4, 4])],
        initializer=[numpy_helper.from_array(np.zeros((3, 5, 1, 1), np.float32), "w")],
        value_info=[helper.make_tensor_value_info(f"c{i}", F, [1, 3, 4, 4]) for i in range(n - 1)],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_many_failing_nodes_give_a_short_message(tmp_path, capsys):
    path = tmp_path / "chain.onnx"
    onnx.save(_bad_conv_chain(30), path)
    assert main(["inspect", str(path)]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert str(path) in lines[0] and "30 problem(s)" in lines[0]
    assert "conv0" in lines[1] and "5 x group 1" in lines[1]
    assert sum(">>" in line for line in lines) == 1
    assert lines[-1] == "... and 29 more problem(s)"
    assert len(lines) == 6  # header, the node, three IR lines, the count
    assert "conv7" not in err


def test_a_message_without_problem_blocks_is_kept_whole():
    e = VerificationError("graph @g failed verification (1 problem(s)):", [])
    assert e.summary() == "graph @g failed verification (1 problem(s)):"
