"""compiler.layer_names: how a name on the command line picks layers."""

from __future__ import annotations

from compiler.ir.parser import parse_graph
from compiler.layer_names import is_pattern, matching, names_of

G = parse_graph("""
graph @g(%x: f32[1,4]) -> (f32[1,4]) {
  %a: f32[1,4] = relu(%x)  // model/block_1/relu
  %b: f32[1,4] = sigmoid(%a)  // model/block_2/act
  %c: f32[1,4] = tanh(%b)
  return %c
}
""")
A, B, C = [n for n in G.nodes if n.op != "const"]


def test_an_exact_name_is_a_source_layer_or_the_first_output():
    assert names_of(A) == {"model/block_1/relu", "a"}
    assert matching(A, ["model/block_1/relu", "b"]) == {"model/block_1/relu"}
    assert matching(C, ["c"]) == {"c"}
    assert matching(B, ["model/block_2"]) == set()  # a prefix is not a name


def test_wildcards_make_a_pattern():
    assert is_pattern("model/*") and is_pattern("a?") and is_pattern("[ab]")
    assert not is_pattern("model/block_1/relu")
    assert matching(A, ["model/*"]) == {"model/*"}
    assert matching(B, ["model/block_[2-3]/*", "*/relu"]) == {"model/block_[2-3]/*"}
    assert matching(C, ["model/*"]) == set() and matching(C, ["?"]) == {"?"}


def test_patterns_are_case_sensitive():
    assert matching(A, ["MODEL/*"]) == set()
