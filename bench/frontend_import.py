#!/usr/bin/env python3
"""Import time and accuracy of every frontend next to its framework, in one run.

For each format, ``bench/frontends/<format>.py`` times the framework's own loading or
conversion of a model (torch.export, TFLiteConverter, cv2.dnn.readNetFromCaffe, LiteRT
Interpreter + allocate_tensors) against infercc's import of the same model, and compares one
forward pass of infercc's reference interpreter with the framework's output. This script runs
them all and prints one table; ratios, not absolute times, are the figures to read (the
machines are shared and noisy).

    python3 bench/frontend_import.py --runs 5 [--only pytorch,caffe]
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FORMATS = ("pytorch", "tensorflow", "caffe", "tflite")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", default=",".join(FORMATS))
    args = ap.parse_args()
    rows = []
    for fmt in args.only.split(","):
        mod = importlib.import_module(f"bench.frontends.{fmt}")
        takes_runs = "runs" in inspect.signature(mod.measure).parameters
        rows += mod.measure(runs=args.runs) if takes_runs else mod.measure()
    head = f"{'format':<11} {'model':<34} {'framework s':>11} {'infercc s':>10} {'ratio':>6} {'max abs err':>12} {'max rel err':>12}"
    print(head)
    print("-" * len(head))
    for r in rows:
        ratio = r["infercc_s"] / r["framework_s"] if r["framework_s"] else float("nan")
        print(
            f"{r['format']:<11} {r['model'][:34]:<34} {r['framework_s']:>11.3f} {r['infercc_s']:>10.3f} "
            f"{ratio:>6.2f} {r['max_abs_err']:>12.2e} {r['max_rel_err']:>12.2e}"
        )


if __name__ == "__main__":
    main()
