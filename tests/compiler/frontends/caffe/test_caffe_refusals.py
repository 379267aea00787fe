"""Malformed Caffe input is refused with one clean error naming the file and the layer,
blob or line: layers whose bottoms/tops do not fit their type, missing types, text nested
past MAX_NESTING, enum numbers outside their enum, and blob shapes that cannot hold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from compiler.errors import InferccError, ModelLoadError
from compiler.frontends.caffe import CaffeImportError, load_caffe
from compiler.frontends.caffe import proto as cp
from tests.support.plugin_dists import run_cli

CONV_BODY = "convolution_param { num_output: 2 kernel_size: 3 }"


def net_text(*layers: str) -> str:
    return ('name: "n"\nlayer { name: "data" type: "Input" top: "data" '
            "input_param { shape { dim: 1 dim: 1 dim: 8 dim: 8 } } }\n" + "\n".join(layers))


def conv_weights(path: Path, names: list[str]) -> Path:
    """A caffemodel with [2, 1, 3, 3] weights and [2] bias for each conv in ``names``."""
    net = cp.NetParameter(name="n")
    for name in names:
        l = net.layer.add(name=name, type="Convolution")
        l.blobs.extend([cp.array_to_blob(np.ones((2, 1, 3, 3), np.float32)),
                        cp.array_to_blob(np.zeros(2, np.float32))])
    cp.write_caffemodel(net, path)
    return path


def test_layers_without_bottoms_are_all_named_in_one_clean_cli_error(tmp_path):
    # The three lowerings that indexed their first bottom unchecked, in one net.
    proto = tmp_path / "nobottom.prototxt"
    proto.write_text(net_text(
        f'layer {{ name: "c1" type: "Convolution" top: "c1" {CONV_BODY} }}',
        'layer { name: "p1" type: "Pooling" top: "p1" pooling_param { pool: MAX kernel_size: 2 } }',
        'layer { name: "fc" type: "InnerProduct" top: "fc" inner_product_param { num_output: 3 } }',
    ))
    model = conv_weights(tmp_path / "nobottom.caffemodel", ["c1"])
    r = run_cli(["inspect", str(proto), "--weights", str(model)])
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert str(proto) in r.stderr
    assert "3 layer(s)" in r.stderr
    for name, kind in [("c1", "Convolution"), ("p1", "Pooling"), ("fc", "InnerProduct")]:
        assert f"'{name}' ({kind}) has 0 bottoms (needs 1)" in r.stderr


def test_a_layer_without_top_is_refused_naming_it(tmp_path):
    proto = tmp_path / "notop.prototxt"
    proto.write_text(net_text(
        f'layer {{ name: "c1" type: "Convolution" bottom: "data" {CONV_BODY} }}'))
    model = conv_weights(tmp_path / "notop.caffemodel", ["c1"])
    with pytest.raises(CaffeImportError, match=r"notop.prototxt: 1 layer.*'c1' \(Convolution\) "
                                               r"has 0 tops \(needs 1\)"):
        load_caffe(proto, model)


@pytest.mark.parametrize("layer_text, expected", [
    ('layer { name: "e" type: "Eltwise" bottom: "data" top: "e" }',
     r"'e' \(Eltwise\) has 1 bottoms \(needs at least 2\)"),
    ('layer { name: "cr" type: "Crop" bottom: "data" top: "cr" }',
     r"'cr' \(Crop\) has 1 bottoms \(needs 2\)"),
    ('layer { name: "s" type: "Scale" bottom: "data" bottom: "data" bottom: "data" top: "s" }',
     r"'s' \(Scale\) has 3 bottoms \(needs 1 to 2\)"),
    ('layer { name: "r" type: "ReLU" bottom: "data" top: "a" top: "b" }',
     r"'r' \(ReLU\) has 2 tops \(needs 1\)"),
    ('layer { name: "in2" type: "Input" bottom: "data" top: "x" }',
     r"'in2' \(Input\) has 1 bottoms \(needs 0\)"),
    ('layer { name: "untyped" bottom: "data" top: "u" }', r"'untyped' has no type"),
])
def test_bottom_top_counts_and_types_are_checked_before_lowering(tmp_path, layer_text, expected):
    proto = tmp_path / "counts.prototxt"
    proto.write_text(net_text(layer_text))
    with pytest.raises(CaffeImportError, match=expected):
        load_caffe(proto)


def test_counts_that_fit_still_load(tmp_path):
    # MAX pooling may write its mask as a second top; Split and Slice take any number of tops.
    proto = tmp_path / "fit.prototxt"
    proto.write_text(net_text(
        'layer { name: "p" type: "Pooling" bottom: "data" top: "p" top: "mask" '
        'pooling_param { pool: MAX kernel_size: 2 stride: 2 } }',
        'layer { name: "sp" type: "Split" bottom: "p" top: "a" top: "b" top: "c" }',
        'layer { name: "e" type: "Eltwise" bottom: "a" bottom: "b" bottom: "c" top: "e" }',
    ))
    g = load_caffe(proto)
    assert [v.type.shape for v in g.outputs] == [(1, 1, 4, 4)]


def _nested(depth: int) -> str:
    # an unknown field (a Caffe fork's parameter) may nest freely; protobuf skips it recursively
    return "fork_param { " * depth + "}" * depth


@pytest.mark.parametrize("depth", [cp.MAX_NESTING + 1, 250, 5000])
def test_deep_nesting_is_refused_with_file_and_line(tmp_path, depth):
    proto = tmp_path / "deep.prototxt"
    proto.write_text(net_text(f'layer {{ name: "r" type: "ReLU" bottom: "data" top: "r"\n'
                              f'{_nested(depth)} }}'))
    # line 1: name, 2: the input layer, 3: the ReLU, 4: its nested field
    with pytest.raises(ModelLoadError, match=rf"deep.prototxt:4: .*more than {cp.MAX_NESTING} deep "
                                             "at line 4"):
        cp.read_prototxt(proto)
    model = conv_weights(tmp_path / "deep.caffemodel", ["unused"])
    r = run_cli(["inspect", str(proto), "--weights", str(model)])
    assert r.returncode == 2 and "Traceback" not in r.stderr and "deep.prototxt:4" in r.stderr


def test_nesting_up_to_the_limit_loads_and_quoted_or_commented_braces_do_not_count(tmp_path):
    # the layer itself is one level, so the unknown field may take MAX_NESTING - 1 more
    text = net_text(
        f'layer {{ name: "r" type: "ReLU" bottom: "data" top: "r" {_nested(cp.MAX_NESTING - 1)} }}',
        '# {{{{ ' + "{" * 500,
        'layer { name: "s" type: "Sigmoid" bottom: "r" top: "s" '
        f'fork_param {{ note: "{"{" * 500}" other: \'<<<\' }} }}',
    )
    net = cp.parse_prototxt(text)
    assert [l.name for l in net.layer] == ["data", "r", "s"]


def test_an_enum_number_outside_its_enum_is_a_parse_error_naming_the_line(tmp_path):
    proto = tmp_path / "enum.prototxt"
    proto.write_text(net_text('layer { name: "p" type: "Pooling" bottom: "data" top: "p"\n'
                              "pooling_param { pool: 7 kernel_size: 2 } }"))
    with pytest.raises(ModelLoadError, match=r"enum.prototxt:4:\d+: .*PoolMethod.* no value with "
                                             "number 7"):
        load_caffe(proto)


@pytest.mark.parametrize("dims, data, expected", [
    ([2, -1, 3, 3], 18, r"layer 'c1' blob 0: blob shape \[2, -1, 3, 3\] has a negative dimension"),
    # 2**32 * 2**32 wraps to 0 in int64; an empty blob must not pass for such a shape
    ([2**32, 2**32], 0, r"layer 'c1' blob 0: blob holds 0 values but its shape "
                        rf"\[{2**32}, {2**32}\] needs {2**64}"),
    ([2, 1, 3, 3], 17, r"layer 'c1' blob 0: blob holds 17 values but its shape \[2, 1, 3, 3\] "
                       "needs 18"),
])
def test_blob_sizes_must_match_their_declared_shape(tmp_path, dims, data, expected):
    net = cp.NetParameter(name="n")
    blob = net.layer.add(name="c1", type="Convolution").blobs.add()
    blob.shape.dim.extend(dims)
    blob.data.extend([1.0] * data)
    model = tmp_path / "w.caffemodel"
    cp.write_caffemodel(net, model)
    proto = tmp_path / "w.prototxt"
    proto.write_text(net_text(f'layer {{ name: "c1" type: "Convolution" bottom: "data" top: "c1" '
                              f"{CONV_BODY} }}"))
    with pytest.raises(ModelLoadError, match="w.caffemodel: " + expected):
        load_caffe(proto, model)


def test_legacy_4d_blob_with_a_negative_field_is_refused(tmp_path):
    blob = cp.BlobProto(num=-2, channels=-1, height=3, width=3)
    blob.data.extend([0.0] * 18)
    with pytest.raises(ModelLoadError, match=r"b7: blob shape \[-2, -1, 3, 3\] has a negative"):
        cp.blob_to_array(blob, "b7")


def test_a_declared_negative_input_dim_is_refused_naming_the_input(tmp_path):
    proto = tmp_path / "neg.prototxt"
    proto.write_text('name: "n"\ninput: "data"\ninput_dim: 1 input_dim: -3 input_dim: 8 '
                     'input_dim: 8\nlayer { name: "r" type: "ReLU" bottom: "data" top: "r" }\n')
    with pytest.raises(CaffeImportError, match=r"neg.prototxt: input 'data': declared shape "
                                               r"\[1, -3, 8, 8\] .*negative dimension"):
        load_caffe(proto)
    # a shape given by the caller replaces the declared one
    g = load_caffe(proto, input_shapes={"data": [1, 3, 8, 8]})
    assert g.inputs[0].type.shape == (1, 3, 8, 8)


def test_a_declared_zero_input_dim_is_refused_naming_the_input(tmp_path):
    # found by the fuzz suite (tests/fuzz/regressions/prototxt/53f858a53c7b76f6.prototxt):
    # a batch of 0 went through to a .tflite that LiteRT refused to load (exit 1)
    proto = tmp_path / "zero.prototxt"
    proto.write_text(net_text(f'layer {{ name: "c1" type: "Convolution" bottom: "data" '
                              f'top: "c1" {CONV_BODY} }}').replace("dim: 1 dim: 1", "dim: 0 dim: 1"))
    conv_weights(tmp_path / "zero.caffemodel", ["c1"])
    r = run_cli(["compile", str(proto), "-o", str(tmp_path / "zero.tflite")])
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert (f"{proto}: layer 'data' (Input): declared shape [0, 1, 8, 8] of input blob 'data' "
            "has a zero dimension") in r.stderr
    assert not (tmp_path / "zero.tflite").exists()


def test_deeply_nested_binary_caffemodel_is_a_clean_error():
    # 100000 nested groups of an unknown field: upb's depth limit, not Python recursion
    start, end = bytes([0x93, 0x03]), bytes([0x94, 0x03])  # field 50, start/end group
    with pytest.raises(InferccError, match="deep.caffemodel: not a valid Caffe model"):
        cp.parse_caffemodel(start * 100000 + end * 100000, "deep.caffemodel")
