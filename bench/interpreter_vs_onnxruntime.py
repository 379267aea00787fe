#!/usr/bin/env python3
"""ResNet-50 (batch 1, 224x224, seeded random weights): infercc's interpreter vs onnxruntime.

The network is the real ResNet-50 v1.5 topology (7x7/2 stem, 3x3/2 max pool, 3-4-6-3
bottleneck blocks with the stride on the 3x3 conv, projection shortcuts, global average pool,
1000-way FC) with batch norm folded into conv biases, as exported inference models have it.
It is built twice from the same arrays: as an ONNX model with ``onnx.helper`` (run by
onnxruntime) and directly as an IR graph with ``Graph.add_node`` (run by
``compiler.interpreter.Interpreter``). Two IR variants are timed: one node per ONNX node
(conv, relu, add separate) and one with relu fused into conv/add through the ``activation``
attribute, as the fuse-activation pass leaves it.

    python3 bench/interpreter_vs_onnxruntime.py --runs 10 --threads 2

``--threads`` is the thread count of the multi-threaded rows (onnxruntime's intra-op pool
and the BLAS pool numpy's matmul uses); the single-thread rows pin both to one thread.
The rows are timed round-robin (one run of each in turn) so background load on a shared
machine hits them alike; each row's median is printed with its ratio to onnxruntime.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from compiler.interpreter import Interpreter  # noqa: E402
from compiler.ir import Graph, TensorType  # noqa: E402

STAGES = [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]  # (width, blocks, stride)


class _Net:
    """Records ResNet-50's layers once; emits them as ONNX nodes or IR nodes."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.layers: list[tuple] = []  # (kind, name, inputs, params)
        self.weights: dict[str, np.ndarray] = {}
        self._n = 0

    def _name(self, base: str) -> str:
        self._n += 1
        return f"{base}{self._n}"

    def conv(self, x: str, cin: int, cout: int, k: int, stride: int, relu: bool) -> str:
        name = self._name("conv")
        # He-scaled weights (halved) keep activations O(1) through 50 layers
        w = self.rng.standard_normal((cout, cin, k, k)).astype(np.float32)
        w *= np.float32(0.5 * np.sqrt(2.0 / (cin * k * k)))
        b = (0.05 * self.rng.standard_normal(cout)).astype(np.float32)
        self.weights[name + ".w"], self.weights[name + ".b"] = w, b
        p = k // 2
        self.layers.append(("conv", name, [x], dict(k=k, stride=stride, pad=p)))
        if relu:
            return self.relu(name)
        return name

    def relu(self, x: str) -> str:
        name = self._name("relu")
        self.layers.append(("relu", name, [x], {}))
        return name

    def build(self) -> str:
        x = self.conv("input", 3, 64, 7, 2, relu=True)
        name = self._name("maxpool")
        self.layers.append(("maxpool", name, [x], {}))
        x, cin = name, 64
        for width, blocks, stride in STAGES:
            for i in range(blocks):
                s = stride if i == 0 else 1
                y = self.conv(x, cin, width, 1, 1, relu=True)
                y = self.conv(y, width, width, 3, s, relu=True)
                y = self.conv(y, width, width * 4, 1, 1, relu=False)
                sc = self.conv(x, cin, width * 4, 1, s, relu=False) if i == 0 else x
                add = self._name("add")
                self.layers.append(("add", add, [y, sc], {}))
                x, cin = self.relu(add), width * 4
        gap = self._name("gap")
        self.layers.append(("gap", gap, [x], {}))
        flat = self._name("flatten")
        self.layers.append(("flatten", flat, [gap], {}))
        fc = "logits"
        self.weights["fc.w"] = (self.rng.standard_normal((1000, cin)) / np.sqrt(cin)).astype(np.float32)
        self.weights["fc.b"] = np.zeros(1000, np.float32)
        self.layers.append(("fc", fc, [flat], {}))
        return fc

    # -- ONNX ------------------------------------------------------------------------------
    def to_onnx(self) -> onnx.ModelProto:
        nodes = []
        for kind, name, ins, p in self.layers:
            if kind == "conv":
                nodes.append(helper.make_node(
                    "Conv", [ins[0], name + ".w", name + ".b"], [name], name=name,
                    kernel_shape=[p["k"]] * 2, strides=[p["stride"]] * 2, pads=[p["pad"]] * 4))
            elif kind == "relu":
                nodes.append(helper.make_node("Relu", ins, [name], name=name))
            elif kind == "maxpool":
                nodes.append(helper.make_node("MaxPool", ins, [name], name=name, kernel_shape=[3, 3],
                                              strides=[2, 2], pads=[1, 1, 1, 1]))
            elif kind == "add":
                nodes.append(helper.make_node("Add", ins, [name], name=name))
            elif kind == "gap":
                nodes.append(helper.make_node("GlobalAveragePool", ins, [name], name=name))
            elif kind == "flatten":
                nodes.append(helper.make_node("Flatten", ins, [name], name=name, axis=1))
            elif kind == "fc":
                nodes.append(helper.make_node("Gemm", [ins[0], "fc.w", "fc.b"], [name], name=name,
                                              transB=1))
        inits = [numpy_helper.from_array(v, k) for k, v in self.weights.items()]
        g = helper.make_graph(
            nodes, "resnet50",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 224, 224])],
            [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1000])],
            inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        m.ir_version = 8
        onnx.checker.check_model(m)
        return m

    # -- IR --------------------------------------------------------------------------------
    def to_ir(self, fuse_relu: bool) -> Graph:
        g = Graph("resnet50")
        vals = {"input": g.add_input("input", TensorType("f32", (1, 3, 224, 224)))}
        consts = {k: g.add_const(v, k.replace(".", "_")) for k, v in self.weights.items()}
        relu_of = {}  # relu name -> its single producer, when fused
        producer_kind = {name: kind for kind, name, _, _ in self.layers}
        for kind, name, ins, p in self.layers:
            if kind == "relu" and fuse_relu and producer_kind[ins[0]] in ("conv", "add"):
                vals[name] = vals[ins[0]]
                relu_of[ins[0]] = name
                continue
            args = [vals[i] for i in ins]
            act = {"activation": "relu"} if fuse_relu and self._feeds_relu(name) else {}
            if kind == "conv":
                node = g.add_node("conv", [args[0], consts[name + ".w"], consts[name + ".b"]],
                                  {"kernel_shape": [p["k"]] * 2, "strides": [p["stride"]] * 2,
                                   "pads": [p["pad"]] * 4, **act}, names=[name])
            elif kind == "relu":
                node = g.add_node("relu", args, names=[name])
            elif kind == "maxpool":
                node = g.add_node("max_pool", args, {"kernel_shape": [3, 3], "strides": [2, 2],
                                                     "pads": [1, 1, 1, 1]}, names=[name])
            elif kind == "add":
                node = g.add_node("add", args, act, names=[name])
            elif kind == "gap":
                node = g.add_node("global_avg_pool", args, names=[name])
            elif kind == "flatten":
                node = g.add_node("flatten", args, {"axis": 1}, names=[name])
            else:
                node = g.add_node("gemm", [args[0], consts["fc.w"], consts["fc.b"]],
                                  {"transB": 1}, names=[name])
            vals[name] = node.output
        g.outputs = [vals["logits"]]
        return g

    def _feeds_relu(self, name: str) -> bool:
        return any(kind == "relu" and ins[0] == name for kind, _, ins, _ in self.layers)


def _interleaved(rows: list[tuple[str, int, object]], runs: int) -> tuple[list[float], list]:
    """Median ms of each row's callable, timing the rows round-robin.

    Interleaving makes background load (other processes on a shared machine) hit every row
    alike instead of whichever row happened to run while it lasted.
    """
    from threadpoolctl import threadpool_limits

    outs = []
    for _, threads, fn in rows:
        with threadpool_limits(limits=max(threads, 1)):
            outs.append(fn())  # warm-up, and the result compared below
    times: list[list[float]] = [[] for _ in rows]
    for _ in range(runs):
        for k, (_, threads, fn) in enumerate(rows):
            with threadpool_limits(limits=max(threads, 1)):
                t0 = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t0)
    return [statistics.median(t) * 1e3 for t in times], outs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=10, help="timed runs per row (median reported)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="threads of the multi-threaded rows (default: all cores)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    net = _Net(args.seed)
    net.build()
    model = net.to_onnx().SerializeToString()
    x = np.random.default_rng(args.seed + 1).standard_normal((1, 3, 224, 224)).astype(np.float32)
    n_conv = sum(1 for k, *_ in net.layers if k == "conv")
    print(f"ResNet-50: {n_conv} convs, {sum(v.size for v in net.weights.values()) / 1e6:.1f} M "
          f"parameters, input 1x3x224x224, median of {args.runs} interleaved runs "
          f"(cpu_count {os.cpu_count()}, numpy {np.__version__}, onnxruntime {ort.__version__})")

    rows: list[tuple[str, int, object]] = []
    for label, threads in (("onnxruntime, 1 thread", 1),
                           (f"onnxruntime, {args.threads} threads (intra_op)", args.threads),
                           ("onnxruntime, default threads", 0)):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.log_severity_level = 3
        sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
        rows.append((label, threads, lambda s=sess: s.run(None, {"input": x})[0]))
    for fuse in (False, True):
        it = Interpreter(net.to_ir(fuse))
        tag = "relu fused" if fuse else "one node per ONNX node"
        for threads in (1, args.threads):
            label = f"interpreter ({tag}), {threads} thread{'s' if threads > 1 else ''}"
            rows.append((label, threads, lambda it=it: it.run({"input": x})["logits"]))
    medians, outs = _interleaved(rows, args.runs)
    results = {label: out for (label, _, _), out in zip(rows, outs)}
    rows = [(label, threads, ms) for (label, threads, _), ms in zip(rows, medians)]

    ort1 = rows[0][2]
    ortn = rows[1][2]
    print(f"\n{'runtime':58s} {'median ms':>10s} {'/ ort 1t':>9s} {'/ ort same t':>13s}")
    for label, threads, ms in rows:
        same = ort1 if threads == 1 else ortn
        print(f"{label:58s} {ms:10.1f} {ms / ort1:9.2f} {ms / same:13.2f}")
    ref = results[rows[0][0]]
    print(f"\nmax |logit| {np.abs(ref).max():.3g}")
    for label, out in results.items():
        if label == rows[0][0]:
            continue
        d = np.abs(out - ref)
        print(f"max abs diff vs onnxruntime 1 thread: {d.max():.3g}  ({label})")
    same_top = all(int(np.argmax(o)) == int(np.argmax(ref)) for o in results.values())
    print(f"top-1 class identical across all rows: {same_top}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
