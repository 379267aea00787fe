#!/usr/bin/env python3
"""Caffe import time: OpenCV's ``cv2.dnn.readNetFromCaffe`` vs infercc's ``load_caffe``.

Models: the real open_nsfw ResNet-50-1by2 (prototxt + caffemodel from
../shared/models/caffe) and BVLC GoogLeNet with seeded weights (written to a temporary
.caffemodel with the same seeding the tests use). Both importers parse the same two files;
the timed span is the read plus the net set-up each does (for OpenCV: readNetFromCaffe;
for infercc: load_caffe, which also runs shape inference on every node). The median of
``--runs`` runs, alternated between the two, is reported. The errors compare one forward
pass (batch 1, seeded input; open_nsfw on a real photo) of infercc's reference interpreter
with OpenCV's: max |diff| and that divided by max |OpenCV output| over the net's outputs.

    python3 bench/frontends/caffe.py --runs 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(REPO))

from compiler.frontends.caffe import load_caffe
from compiler.interpreter import Interpreter
from tests.conftest import MODELS


def _photo_input() -> np.ndarray:
    import cv2
    import skimage.data

    bgr = cv2.resize(skimage.data.chelsea()[:, :, ::-1].astype(np.float32), (224, 224))
    return (bgr - np.array([104, 117, 123], np.float32)).transpose(2, 0, 1)[None].copy()


def _measure_one(label: str, proto: Path, model: Path, x: np.ndarray, runs: int) -> dict:
    import cv2

    fw, ours = [], []
    for _ in range(runs):  # alternate so background load hits both alike
        t = time.perf_counter()
        net = cv2.dnn.readNetFromCaffe(str(proto), str(model))
        fw.append(time.perf_counter() - t)
        t = time.perf_counter()
        g = load_caffe(proto, model, input_shapes={"data": list(x.shape)})
        ours.append(time.perf_counter() - t)
    names = [v.name for v in g.outputs]
    got = Interpreter(g).run({"data": x})
    net.setInput(x)
    ref = net.forward(net.getUnconnectedOutLayersNames())
    abs_err = rel_err = 0.0
    for n, r in zip(names, ref):
        r = np.asarray(r, np.float64).reshape(got[n].shape)
        d = float(np.abs(got[n] - r).max())
        abs_err = max(abs_err, d)
        rel_err = max(rel_err, d / max(float(np.abs(r).max()), 1e-30))
    return {"format": "caffe", "model": label, "framework_s": statistics.median(fw),
            "infercc_s": statistics.median(ours), "max_abs_err": abs_err, "max_rel_err": rel_err}


def measure(runs: int = 5) -> list[dict]:
    """One row per model: median import times and the output error of one forward pass."""
    rows = []
    nsfw = MODELS / "caffe/open_nsfw"
    rows.append(_measure_one("open_nsfw ResNet-50-1by2", nsfw / "deploy.prototxt",
                             nsfw / "resnet_50_1by2_nsfw.caffemodel", _photo_input(), runs))
    from tests.support.caffe_nets import seeded_caffemodel

    proto = MODELS / "caffe/bvlc/bvlc_googlenet_deploy.prototxt"
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "googlenet.caffemodel"
        seeded_caffemodel(proto, model, seed=0)
        x = np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype(np.float32)
        rows.append(_measure_one("BVLC GoogLeNet (seeded)", proto, model, x, runs))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    rows = measure(args.runs)
    print(f"{'model':28} {'cv2 read (s)':>12} {'infercc (s)':>12} {'ratio':>7} "
          f"{'max abs err':>12} {'max rel err':>12}")
    for r in rows:
        print(f"{r['model']:28} {r['framework_s']:12.4f} {r['infercc_s']:12.4f} "
              f"{r['infercc_s'] / r['framework_s']:7.2f} {r['max_abs_err']:12.3g} "
              f"{r['max_rel_err']:12.3g}")


if __name__ == "__main__":
    main()
