#!/usr/bin/env python3
"""Which tensors a clipping method helps or hurts: one tensor at a time.

For one bench model (``bench/int8/data.py``) and calibration size, every activation that the
int8 model quantizes with its own range gets ``--method``'s range while all others keep
minmax; each such model is emitted to .tflite and run in LiteRT on the held-out data. The
table gives, per tensor, the method's range against the observed one and the logit SQNR and
top-1 agreement with the float model, next to the all-minmax and all-method models.

    python3 bench/int8_method_ablation.py --model fer --samples 32 --method entropy

This is a diagnostic, not a goal: it is how docs/quantization.md's account of where entropy
and percentile lose on FER was measured.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="fer", help="digits, fer or effnet")
    ap.add_argument("--samples", type=int, default=32)
    ap.add_argument("--method", default="entropy", help="entropy, percentile or mse")
    args = ap.parse_args(argv)

    from bench.int8.data import CASES
    from bench.quiet import quiet_fds
    from compiler.compile import _load
    from compiler.debug.evaluate import evaluate_many
    from compiler.debug.metrics import sqnr_db, top1_agreement
    from compiler.pass_manager import PassContext, PassManager, parse_pipeline
    from compiler.quantization import rewrite as q
    from compiler.quantization.calibration import calibrate
    from targets import get_target
    from targets.tflite.lower import emit_tflite

    case = CASES[args.model]()
    ref = np.asarray(case.model.predict(case.eval_x, batch_size=64, verbose=0), np.float32)
    ref = ref.reshape(len(ref), -1)
    # the pipeline compile(int8=True) runs before calibrate and quantize
    pipeline = parse_pipeline(get_target("tflite").default_pipeline(int8=True))

    def optimized():
        with quiet_fds():
            g = _load(case.model, "tflite", None, {})
        PassManager(pipeline).run(g, PassContext())
        return g

    calib = case.calibration[:args.samples]
    stats = calibrate(optimized(), [calib[i:i + 1] for i in range(len(calib))], progress=False)

    # The planner asks _range for each tensor's range under the run's method; restricting
    # the method to one tensor is a diagnostic the library has no option for.
    own_range = q._Planner._range
    only: list[str | None] = [None]

    def one_tensor_range(self, v):
        if only[0] is None or v.name == only[0]:
            return own_range(self, v)
        method, self.method = self.method, "minmax"
        try:
            return own_range(self, v)
        finally:
            self.method = method

    q._Planner._range = one_tensor_range
    models: dict[str, bytes] = {}
    used: dict[str, tuple[float, float]] = {}
    base = optimized()
    summary = q.quantize_graph(base.copy(), stats, method="minmax")
    names = [n for n in summary.params if n in stats.tensors]
    for label, method, tensor in ([("all minmax", "minmax", None)]
                                  + [(n, args.method, n) for n in names]
                                  + [(f"all {args.method}", args.method, None)]):
        only[0] = tensor
        g = base.copy()
        qp = q.quantize_graph(g, stats, method=method).params
        if tensor is not None:  # the range the int8 model uses, after the minmax rules
            scale, zp = qp[tensor].scale[0], qp[tensor].zero_point[0]
            used[tensor] = (scale * (-128 - zp), scale * (127 - zp))
        models[label] = emit_tflite(g, None)
    results = evaluate_many(models, {"x": case.eval_x})
    print(f"{args.model}, {args.samples} calibration samples, {args.method} on one tensor "
          f"at a time (minmax elsewhere); SQNR/agreement of the logits against float Keras")
    print(f"{'tensor':56s} {'SQNR dB':>8s} {'agree':>8s}  int8 range (observed)")
    for label, r in results.items():
        extra = ""
        if label in used:
            ts = stats[label]
            lo, hi = used[label]
            extra = f"[{lo:.3g}, {hi:.3g}] ([{ts.min:.3g}, {ts.max:.3g}])"
        print(f"{label[:56]:56s} {sqnr_db(ref, r.logits):8.2f} "
              f"{top1_agreement(ref, r.logits) * 100:7.2f}%  {extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
