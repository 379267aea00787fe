"""Sparse weight tensors of the TFLite target (``sparse_weights`` = none | densify | fc_blocks).

Models: a conv net (3x3 conv 16->64, relu, 1x1 conv 64->128) and a dense net (gemm 256->512,
relu, gemm 512->64), their weights magnitude-pruned here with numpy (50% / 90% of values, or
90% of 1x4 blocks along the reduction axis for the fully-connected case). Oracles: LiteRT runs
the dense emission of the same graph (an implementation independent of the sparse encoder),
and infercc's TFLite frontend decodes the sparse tensors back (its decoder predates the
encoder). Measured (ai-edge-litert 2.x, x86): densify output bit-identical to dense; the sparse
FULLY_CONNECTED kernel (no DENSIFY) sums in another order than XNNPACK's dense one: max |diff|
5.7e-6 on outputs of max |y| ~ 60 (relative 1e-7); bound 1e-5 relative. Sizes at 90%:
densify 0.14x (dense net) and 0.18x (conv net) of the dense file; bound 0.3x.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import compiler
import passes
from compiler.pass_manager import PassManager
from targets.tflite.emit import emit
from targets.tflite.sparse_tensors import encode
from targets.tflite.target import TFLiteOptions

pytest.importorskip("ai_edge_litert")
from tests.support.oracles import run_litert_list  # noqa: E402
from tests.support.tflite_model import op_names, unpack  # noqa: E402


def _magnitude(w: np.ndarray, frac: float) -> np.ndarray:
    """``w`` with its ``frac`` smallest-magnitude values set to zero."""
    flat = np.abs(w).ravel()
    k = int(round(frac * flat.size))
    out = w.copy().ravel()
    out[np.argsort(flat, kind="stable")[:k]] = 0
    return out.reshape(w.shape)


def _blocks(w_nk: np.ndarray, frac: float) -> np.ndarray:
    """``w_nk`` ([out, in]) with its ``frac`` smallest-L1 1x4 blocks (along ``in``) zeroed."""
    b = w_nk.copy().reshape(w_nk.shape[0], -1, 4)
    norms = np.abs(b).sum(axis=2).ravel()
    k = int(round(frac * norms.size))
    flat = b.reshape(-1, 4)
    flat[np.argsort(norms, kind="stable")[:k]] = 0
    return flat.reshape(w_nk.shape)


def _save(path: Path, nodes, inputs, outputs, inits) -> Path:
    import onnx
    from onnx import helper, numpy_helper

    g = helper.make_graph(nodes, path.stem, inputs, outputs,
                          [numpy_helper.from_array(a, n) for n, a in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, path)
    return path


def _dense_net(path: Path, prune) -> tuple[Path, dict[str, np.ndarray]]:
    from onnx import TensorProto, helper

    r = np.random.default_rng(0)
    w = {"w1": prune(r.standard_normal((512, 256)).astype(np.float32)),
         "w2": prune(r.standard_normal((64, 512)).astype(np.float32))}
    inits = {**w, "b1": r.standard_normal(512).astype(np.float32),
             "b2": r.standard_normal(64).astype(np.float32)}
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], transB=1),
             helper.make_node("Relu", ["h"], ["hr"]),
             helper.make_node("Gemm", ["hr", "w2", "b2"], ["y"], transB=1)]
    return _save(path, nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 256])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])], inits), w


def _conv_net(path: Path, prune) -> tuple[Path, dict[str, np.ndarray]]:
    from onnx import TensorProto, helper

    r = np.random.default_rng(1)
    w = {"w1": prune(r.standard_normal((64, 16, 3, 3)).astype(np.float32)),
         "w2": prune(r.standard_normal((128, 64, 1, 1)).astype(np.float32))}
    inits = {**w, "b1": r.standard_normal(64).astype(np.float32),
             "b2": r.standard_normal(128).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["cr"]),
             helper.make_node("Conv", ["cr", "w2", "b2"], ["y"])]
    return _save(path, nodes,
                 [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 12, 12])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 128, 12, 12])],
                 inits), w


def _graph(path: Path):
    g = compiler.load(str(path))
    PassManager(passes.DEFAULT_PIPELINE).run(g)
    return g


def _inputs(data: bytes, seed: int = 0) -> list[np.ndarray]:
    r = np.random.default_rng(seed)
    sg = unpack(data).subgraphs[0]
    return [r.standard_normal(list(sg.tensors[i].shape)).astype(np.float32)
            for i in sg.inputs]


def _read_back(data: bytes, tmp_path: Path) -> list[np.ndarray]:
    """The 2-D / 4-D float constants infercc's TFLite frontend reads from ``data``."""
    p = tmp_path / "back.tflite"
    p.write_bytes(data)
    g = compiler.load(str(p))
    out = []
    for n in g.nodes:
        c = n.outputs[0].const_value if n.outputs else None
        if c is not None and np.asarray(c).ndim in (2, 4) and np.asarray(c).dtype == np.float32:
            out.append(np.asarray(c))
    return out


def _sparse_tensors(data: bytes) -> list:
    return [t for t in unpack(data).subgraphs[0].tensors if t.sparsity is not None]


NETS = {"dense": _dense_net, "conv": _conv_net}


@pytest.mark.parametrize("net", ["dense", "conv"])
@pytest.mark.parametrize("frac", [0.5, 0.9])
def test_densify_mode_matches_dense_emission(net, frac, tmp_path):
    path, weights = NETS[net](tmp_path / f"{net}.onnx", lambda w: _magnitude(w, frac))
    g = _graph(path)
    dense = emit(g).data
    sparse = emit(g, sparse_weights="densify").data
    assert len(_sparse_tensors(sparse)) == 2
    assert op_names(unpack(sparse)).count("DENSIFY") == 2
    xs = _inputs(dense)
    for a, b in zip(run_litert_list(dense, xs), run_litert_list(sparse, xs)):
        np.testing.assert_array_equal(a, b)  # DENSIFY rebuilds the same weights exactly
    if frac == 0.9:  # weights dominate both files; measured 0.14x (dense) / 0.18x (conv)
        assert len(sparse) <= 0.3 * len(dense), (len(sparse), len(dense))
    # read back by infercc's frontend (which returns conv weights to OIHW): the pruned
    # weights exactly
    back = _read_back(sparse, tmp_path)
    for w in weights.values():
        assert any(b.shape == w.shape and np.array_equal(b, w) for b in back)


def test_fc_blocks_mode_runs_sparse_kernel(tmp_path):
    path, weights = _dense_net(tmp_path / "fc.onnx", lambda w: _blocks(w, 0.9))
    g = _graph(path)
    dense = emit(g).data
    sparse = emit(g, sparse_weights="fc_blocks").data
    model = unpack(sparse)
    assert "DENSIFY" not in op_names(model)
    ts = _sparse_tensors(sparse)
    assert len(ts) == 2
    for t in ts:  # LiteRT's 1x4 block layout
        assert list(t.sparsity.blockMap) == [1]
        assert [int(m.format) for m in t.sparsity.dimMetadata] == [0, 1, 0]
        assert t.sparsity.dimMetadata[2].denseSize == 4
    fc_versions = {model.operatorCodes[op.opcodeIndex].version
                   for op, name in zip(model.subgraphs[0].operators, op_names(model))
                   if name == "FULLY_CONNECTED"}
    assert fc_versions == {8}
    xs = _inputs(dense, seed=3)
    for a, b in zip(run_litert_list(dense, xs), run_litert_list(sparse, xs)):
        assert np.isfinite(b).all()
        # measured relative max |diff| 1e-7 (another summation order than XNNPACK)
        assert np.abs(a - b).max() <= 1e-5 * np.abs(a).max()
    back = _read_back(sparse, tmp_path)
    for w in weights.values():
        assert any(b.shape == w.shape and np.array_equal(b, w) for b in back)


def test_fc_blocks_leaves_conv_weights_dense(tmp_path):
    path, _ = _conv_net(tmp_path / "conv.onnx", lambda w: _magnitude(w, 0.9))
    g = _graph(path)
    assert emit(g, sparse_weights="fc_blocks").data == emit(g).data


@pytest.mark.parametrize("net", ["dense", "conv"])
def test_default_mode_writes_no_sparse_tensor(net, tmp_path):
    path, _ = NETS[net](tmp_path / f"{net}.onnx", lambda w: _magnitude(w, 0.9))
    g = _graph(path)
    data = emit(g).data
    assert not _sparse_tensors(data)
    assert "DENSIFY" not in op_names(unpack(data))
    assert emit(g, sparse_weights="none").data == data


def test_fc_blocks_default_keeps_weights_below_break_even_dense(tmp_path):
    # 50% zero blocks: the sparse kernel ran at 0.44x the dense speed (module doc of
    # targets.tflite.sparse_tensors), so the default threshold (0.8) keeps them dense
    path, _ = _dense_net(tmp_path / "fc.onnx", lambda w: _blocks(w, 0.5))
    g = _graph(path)
    assert not _sparse_tensors(emit(g, sparse_weights="fc_blocks").data)
    assert len(_sparse_tensors(emit(g, sparse_weights="fc_blocks",
                                    sparse_threshold=0.5).data)) == 2


def test_threshold_keeps_denser_weights_dense(tmp_path):
    path, _ = _dense_net(tmp_path / "fc.onnx", lambda w: _magnitude(w, 0.5))
    g = _graph(path)
    assert not _sparse_tensors(emit(g, sparse_weights="densify", sparse_threshold=0.6).data)


def test_encode_indices_use_the_narrowest_type():
    from ai_edge_litert import schema_py_generated as schema

    w = np.zeros((2, 300), np.float32)
    w[0, 299] = w[1, 3] = 1.0
    values, sp = encode(w)
    np.testing.assert_array_equal(values, [1.0, 1.0])
    csr = sp.dimMetadata[1]
    assert csr.arrayIndicesType == schema.SparseIndexVector.Uint16Vector  # 299 > 255
    assert csr.arraySegmentsType == schema.SparseIndexVector.Uint8Vector
    np.testing.assert_array_equal(csr.arrayIndices.values, [299, 3])
    np.testing.assert_array_equal(csr.arraySegments.values, [0, 1, 2])


def test_options_refuse_unknown_mode():
    with pytest.raises(ValueError, match="sparse_weights"):
        TFLiteOptions(sparse_weights="csr")
    with pytest.raises(ValueError, match="sparse_threshold"):
        TFLiteOptions(sparse_threshold=1.5)


def test_densify_mode_stores_ir_sparse_constants_below_threshold(tmp_path):
    import scipy.sparse

    path, weights = _dense_net(tmp_path / "fc.onnx", lambda w: _magnitude(w, 0.3))
    g = _graph(path)
    dense = emit(g).data
    gemm = next(n for n in g.nodes if n.op == "gemm")
    const = gemm.inputs[1].producer
    const.attrs["value"] = scipy.sparse.csc_matrix(np.asarray(const.attrs["value"]))
    sparse = emit(g, sparse_weights="densify").data  # 30% zeros < the 0.5 default
    assert len(_sparse_tensors(sparse)) == 1  # the scipy.sparse weight only
    xs = _inputs(dense, seed=5)
    for a, b in zip(run_litert_list(dense, xs), run_litert_list(sparse, xs)):
        np.testing.assert_array_equal(a, b)
    back = _read_back(sparse, tmp_path)
    assert any(b.shape == weights["w1"].shape and np.array_equal(b, weights["w1"])
               for b in back)


def test_densify_mode_with_float16_matches_float16_emission(tmp_path):
    path, _ = _conv_net(tmp_path / "conv.onnx", lambda w: _magnitude(w, 0.9))
    g = _graph(path)
    dense = emit(g, float16=True).data
    sparse = emit(g, float16=True, sparse_weights="densify").data
    ts = _sparse_tensors(sparse)
    assert len(ts) == 2 and all(t.type == 1 for t in ts)  # float16 values, as MediaPipe's
    names = op_names(unpack(sparse))
    assert names.count("DENSIFY") == 2
    xs = _inputs(dense, seed=7)
    for a, b in zip(run_litert_list(dense, xs), run_litert_list(sparse, xs)):
        np.testing.assert_array_equal(a, b)
    assert len(sparse) <= 0.5 * len(dense)  # measured 0.25x of the float16 file
