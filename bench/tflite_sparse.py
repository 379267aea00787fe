#!/usr/bin/env python3
"""Sparse TFLite weights: file size, load time and latency in LiteRT for each
``sparse_weights`` mode (none, densify, fc_blocks) on magnitude-pruned seeded models.

Models (ONNX, built here, seeded): ``fc`` = one gemm 1280 -> 1000 (the shape of a
MobileNet classifier head; 1x4 blocks along the reduction axis zeroed by L1 norm) and
``conv`` = 3x3 conv 16 -> 64, relu, 1x1 conv 64 -> 128 on 12x12 (values zeroed by
magnitude). Each file is loaded (``Interpreter(...)`` + ``allocate_tensors``, median of
``--runs``) and run on one seeded input (median of ``--runs`` x 200 invokes, one thread,
LiteRT's default XNNPACK delegate on). Ratios are against the dense file of the same model;
the machine is shared, so read the ratios, not the absolute times.

    python3 bench/tflite_sparse.py --sparsity 0.5,0.8,0.9 --runs 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MODES = ("none", "densify", "fc_blocks")


def _prune_values(w: np.ndarray, frac: float) -> np.ndarray:
    out = w.copy().ravel()
    out[np.argsort(np.abs(out), kind="stable")[:int(round(frac * out.size))]] = 0
    return out.reshape(w.shape)


def _prune_blocks(w: np.ndarray, frac: float) -> np.ndarray:
    b = w.copy().reshape(-1, 4)
    b[np.argsort(np.abs(b).sum(1), kind="stable")[:int(round(frac * len(b)))]] = 0
    return b.reshape(w.shape)


def _model(kind: str, frac: float, path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    r = np.random.default_rng(0)
    vi = helper.make_tensor_value_info
    if kind == "fc":
        inits = {"w": _prune_blocks(r.standard_normal((1000, 1280)).astype(np.float32), frac)}
        nodes = [helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)]
        io = [vi("x", TensorProto.FLOAT, [1, 1280])], [vi("y", TensorProto.FLOAT, [1, 1000])]
    else:
        inits = {"w1": _prune_values(r.standard_normal((64, 16, 3, 3)).astype(np.float32), frac),
                 "w2": _prune_values(r.standard_normal((128, 64, 1, 1)).astype(np.float32), frac)}
        nodes = [helper.make_node("Conv", ["x", "w1"], ["c"], pads=[1, 1, 1, 1]),
                 helper.make_node("Relu", ["c"], ["cr"]),
                 helper.make_node("Conv", ["cr", "w2"], ["y"])]
        io = ([vi("x", TensorProto.FLOAT, [1, 16, 12, 12])],
              [vi("y", TensorProto.FLOAT, [1, 128, 12, 12])])
    g = helper.make_graph(nodes, kind, *io,
                          [numpy_helper.from_array(a, n) for n, a in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, path)
    return path


def _measure(data: bytes, runs: int) -> tuple[float, float, np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    loads = []
    for _ in range(runs):
        t0 = time.perf_counter()
        it = Interpreter(model_content=data, num_threads=1)
        it.allocate_tensors()
        loads.append(time.perf_counter() - t0)
    d = it.get_input_details()[0]
    x = np.random.default_rng(1).standard_normal(d["shape"]).astype(np.float32)
    it.set_tensor(d["index"], x)
    it.invoke()
    lat = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for _ in range(200):
            it.invoke()
        lat.append((time.perf_counter() - t0) / 200)
    return statistics.median(loads), statistics.median(lat), \
        it.get_tensor(it.get_output_details()[0]["index"])


def main(argv: list[str] | None = None) -> int:
    import compiler
    import passes
    from compiler.pass_manager import PassManager
    from targets.tflite.emit import emit

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sparsity", default="0.5,0.8,0.9")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    print("model  zeros  mode       size (ratio)        load ratio  latency ratio  max|diff|")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("fc", "conv"):
            for frac in (float(s) for s in args.sparsity.split(",")):
                g = compiler.load(str(_model(kind, frac, Path(tmp) / f"{kind}.onnx")))
                PassManager(passes.DEFAULT_PIPELINE).run(g)
                base = None
                for mode in MODES:
                    # threshold 0: store every eligible weight sparse, to see the payoff
                    data = emit(g, sparse_weights=mode, sparse_threshold=0.0).data
                    load, lat, y = _measure(data, args.runs)
                    if base is None:
                        base = (len(data), load, lat, y)
                    print(f"{kind:5}  {frac:4.0%}   {mode:9}  {len(data):8d} "
                          f"({len(data) / base[0]:.2f}x)   {load / base[1]:6.2f}x     "
                          f"{lat / base[2]:6.2f}x        {np.abs(y - base[3]).max():.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
