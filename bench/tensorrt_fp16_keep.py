#!/usr/bin/env python3
"""basic-pitch nmp.onnx as an fp16 TensorRT network with layers kept in fp32 by name.

Built fp16, nmp is about 1e-2 off float: its front end computes a constant-Q transform
(a chain of reflect-padded stride-2 low-pass convolutions that decimate the audio, 18 CQT
filter convolutions, magnitudes) and the log of it, normalized by its minimum and maximum,
which follow the spectrogram's noise floor; half rounding anywhere in that front end raises
the floor. The automatic error check (``targets/tensorrt/precision.py``) flags the log but
cannot fix it by keeping its producers. This compiles nmp for TensorRT with ``float16`` and
``keep_float`` patterns (``--keep-float 'model_1/cq_t2010v2_1/*'``) naming the layers whose
source layer lies under each prefix below, through the stand-in (``tests/support/trt_zoo.py``
``run_case``, as the zoo runs fp16), and prints the error against the float reference
(max |fp16 - float| over the largest reference output) on seeded uniform inputs.

    python3 bench/tensorrt_fp16_keep.py            # seeds 0 1 2
    python3 bench/tensorrt_fp16_keep.py --seeds 0
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.quiet import quiet_fds  # noqa: E402

CASE = "basic_pitch_nmp.onnx"
#: what is kept fp32: --keep-float names and patterns ("*" keeps every layer)
SETS = {
    "nothing": (),
    "CQT front end": ("model_1/cq_t2010v2_1/*",),
    "CQT front end + normalized log": ("model_1/cq_t2010v2_1/*", "model_1/normalized_log_1/*"),
    "every layer": ("*",),
}


def main() -> int:
    from tests.support.trt_zoo import cases, run_case

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2],
                    help="seeds of the compared inputs (default: 0 1 2)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    case = next(c for c in cases() if c.id == CASE)
    print(f"| kept in fp32 | layers kept | {' | '.join(f'seed {s}' for s in args.seeds)} |")
    print(f"|---|---|{'---|' * len(args.seeds)}")
    for label, names in SETS.items():
        errs = []
        for seed in args.seeds:
            with quiet_fds():
                row = run_case(case, "fp16", keep_float=names, seed=seed)
            if row.err_ref is None:
                print(f"{label}: {row.refused or row.note}", file=sys.stderr)
                return 1
            errs.append(f"{row.err_ref:.2g}")
            kept = row.fp32_kept
        print(f"| {label} (`{' '.join(names) or '-'}`) | {kept} | {' | '.join(errs)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
