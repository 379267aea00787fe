"""Malformed IR text is refused with IRParseError naming the line (and, for a file, the file).

One test per kind of damage that used to escape the parser as a lower-level exception
(UnicodeDecodeError, JSONDecodeError, binascii.Error, KeyError, IndexError, numpy's
ValueError / OverflowError ...), and a seeded mutation check over the whole text format.
"""

from __future__ import annotations

import base64

import numpy as np
import pytest

import compiler
from compiler.errors import InferccError
from compiler.ir import IRParseError, parse_graph, print_graph
from tests.support.ir_mutants import mutants, seed_texts
from tests.support.plugin_dists import run_cli

B64_3F = base64.b64encode(np.arange(3, dtype=np.float32).tobytes()).decode()


def _with_resource(entry: str, const: str = "%w: f32[3] = const dense_resource  // w") -> str:
    return (
        "graph @g(%x: f32[3]) -> (f32[3]) {\n"
        f"  {const}\n"
        "  %a: f32[3] = add(%x, %w)\n"
        "  return %a\n"
        "}\n"
        "resources {\n"
        f"  {entry}\n"
        "}\n"
    )


def _refused(text: str, *words: str) -> str:
    with pytest.raises(IRParseError) as e:
        parse_graph(text)
    msg = str(e.value)
    for w in words:
        assert w in msg, msg
    return msg


def test_the_well_formed_template_parses():
    # the bad texts below each break one thing of this one
    g = parse_graph(_with_resource(f'w: f32[3] "{B64_3F}"'))
    np.testing.assert_array_equal(g.nodes[0].attrs["value"], [0.0, 1.0, 2.0])


def test_invalid_utf8_is_refused_by_the_cli_naming_file_line_and_column(tmp_path):
    path = tmp_path / "bad.ir"
    path.write_bytes(b"graph @g(%x: f32[1]) -> (f32[1]) {\n  return %x \xff\n}\n")
    for command in ("inspect", "opt"):
        r = run_cli([command, str(path)])
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr
        assert f"{path}: line 2, column 13: byte 0xff is not UTF-8" in r.stderr


def test_a_byte_order_mark_is_allowed(tmp_path):
    path = tmp_path / "bom.ir"
    path.write_bytes(b"\xef\xbb\xbfgraph @g(%x: f32[1]) -> (f32[1]) {\n  return %x\n}\n")
    assert compiler.load(str(path)).name == "g"


def test_a_bad_escape_in_a_quoted_name_is_refused():
    _refused('graph @g(%"x\\u12": f32[1]) -> (f32[1]) {\n  return %x\n}\n',
             "line 1", "bad string literal")


def test_a_lone_surrogate_in_a_name_is_refused():
    _refused('graph @"\\ud800"(%x: f32[1]) -> (f32[1]) {\n  return %x\n}\n', "lone surrogate")


def test_a_control_character_in_a_string_attribute_is_refused():
    _refused('graph @g(%x: f32[1]) -> (f32[1]) {\n  %y: f32[1] = relu(%x) {s="a\tb"}\n'
             "  return %y\n}\n", "line 2", "bad string literal")


def test_a_broken_quoted_source_comment_is_refused():
    _refused('graph @g(%x: f32[1]) -> (f32[1]) {\n  %y: f32[1] = relu(%x)  // "a, "b\n'
             "  return %y\n}\n", "line 2", "bad source list")


@pytest.mark.parametrize("data, words", [
    ("AAAA\u00e9AAA", ["resource w", "bad base64"]),  # not ASCII
    ("AAAAAAA", ["resource w", "bad base64"]),  # padding
    ("AAA=", ["resource w", "not a whole number of float32 items"]),  # 2 bytes
    ("AAAAAAAAAAA=", ["resource w", "2 elements for type f32[3]"]),  # 8 bytes: 2 floats
])
def test_bad_base64_resource_data_is_refused(data, words):
    _refused(_with_resource(f'w: f32[3] "{data}"'), "line 7", *words)


def test_a_resource_with_a_symbolic_shape_is_refused():
    _refused(_with_resource(f'w: f32[N] "{B64_3F}"'), "resource w", "static shape")


def test_a_string_resource_of_the_wrong_length_is_refused():
    _refused(_with_resource('w: str[3] ["a", "b"]', "%w: str[3] = const dense_resource  // w"),
             "needs 3 elements, found 2")


@pytest.mark.parametrize("dim", ["1.5", "-1", "1e3"])
def test_a_non_integer_dimension_is_refused(dim):
    _refused(f"graph @g(%x: f32[{dim}]) -> (f32[1]) {{\n  return %x\n}}\n", "bad dimension", dim)


@pytest.mark.parametrize("value, words", [
    ("dense<f32[3] [1.0, 2.0]>", ["needs 3 elements, found 2"]),
    ('dense<f32[2] [1.0, "x"]>', ["holds a string"]),
    ("dense<i8[2] [1, 300]>", ["does not fit its type i8[2]"]),
    ("dense<f32[N] [1.0]>", ["static shape"]),
    ("dense<f32[99999999999999999999] [1.0]>", ["found 1"]),
])
def test_a_dense_value_that_does_not_fit_its_type_is_refused(value, words):
    _refused(f"graph @g() -> (f32[3]) {{\n  %w: f32[3] = const {value}  // w\n  return %w\n}}\n",
             "line 2", *words)


def test_quantization_with_unequal_scales_and_zero_points_is_refused():
    _refused("graph @g(%x: i8[2] q(axis=0:[0.1,0.2],[0])) -> (i8[2]) {\n  return %x\n}\n",
             "2 scales but 1 zero points")


@pytest.mark.parametrize("q", ["q(0.1,0.5)", "q(0.1,inf)", "q(axis=0:[0.1],[1.5])", 'q("s",0)'])
def test_quantization_with_a_non_integer_zero_point_or_bad_scale_is_refused(q):
    _refused(f"graph @g(%x: i8[2] {q}) -> (i8[2]) {{\n  return %x\n}}\n", "line 1", "expected a")


@pytest.mark.parametrize("parts, words", [
    ('data="AACAPw==" indices="AAAAAA=="', ["lacks indptr"]),
    ('data="AACAPw==" indices="AAAAAA==" indptr="AAAAAAEAAAABAAAAAQAAAAEAAAA=" extra="AA=="',
     ["no part 'extra'"]),
    # one entry in column 0 whose row index is 7 in a 4x4 matrix
    ('data="AACAPw==" indices="BwAAAA==" indptr="AAAAAAEAAAABAAAAAQAAAAEAAAA="',
     ["do not form a f32[4,4] matrix"]),
])
def test_an_inconsistent_sparse_resource_is_refused(parts, words):
    text = ("graph @g(%x: f32[4,4]) -> (f32[4,4]) {\n"
            "  %w: f32[4,4] = const dense_resource  // w\n"
            "  %a: f32[4,4] = add(%x, %w)\n  return %a\n}\n"
            f"resources {{\n  w: csc f32[4,4] {parts}\n}}\n")
    _refused(text, "resource w", *words)


def test_a_sparse_resource_needs_a_static_2d_type():
    _refused(_with_resource('w: csc f32[3] data="AA=="'), "static 2-D type")


@pytest.mark.parametrize("cut", [
    "graph @g(%x: f32[3]) -> (f32[3]) {\n  %w: f32[3] = const dense_resource",
    "graph @g(%x: f32[3]) -> (f32[3]) {\n  %w: f32[3] = const dense_resource<",
    "graph @g(%x: f32[3] q(",
    "graph @g(%x: f32[3]) -> (f32[3]) {\n  meta",
    'graph @g(%x: f32[3]) -> (f32[3]) {\n  return %x\n}\nresources {\n  w: csc f32[2,2] data=',
])
def test_text_cut_short_reports_the_end_of_input(cut):
    _refused(cut, "end of input")


def test_seeded_mutants_of_every_construct_fail_only_cleanly(tmp_path):
    """300 byte flips, cuts and token edits of real IR texts: none may escape as a crash."""
    seeds = seed_texts()
    for text in seeds:  # the seeds themselves round-trip
        assert print_graph(parse_graph(text), with_data=True) == print_graph(
            parse_graph(print_graph(parse_graph(text), with_data=True)), with_data=True)
    path = tmp_path / "m.ir"
    crashes, refused = [], 0
    for i, data in enumerate(mutants(seeds, 300, seed=11)):
        path.write_bytes(data)
        try:
            compiler.load(str(path))
        except InferccError as e:
            assert str(path) in str(e)
            refused += 1
        except Exception as e:  # noqa: BLE001 - the point is to catch whatever escapes
            crashes.append(f"mutant {i}: {type(e).__name__}: {e}")
    assert not crashes, "\n".join(crashes[:20])
    assert refused > 150  # the mutations do damage most texts


@pytest.mark.parametrize("value", ["[" * 5000 + "]" * 5000, "[" * 65 + "]" * 65])
def test_attribute_values_nested_too_deep_are_refused(value):
    _refused("graph @g(%x: f32[1]) -> (f32[1]) {\n"
             f"  %y: f32[1] = relu(%x) {{a={value}}}\n  return %y\n}}\n", "nest deeper than 64")


def test_attribute_values_nested_to_the_limit_parse():
    g = parse_graph("graph @g(%x: f32[1]) -> (f32[1]) {\n"
                    f"  %y: f32[1] = relu(%x) {{a={'[' * 63}1{']' * 63}}}\n  return %y\n}}\n")
    a = g.nodes[0].attrs["a"]
    for _ in range(63):
        (a,) = a
    assert a == 1
