#!/usr/bin/env python3
"""The model zoo through the TensorRT target and the numpy stand-in for TensorRT, fp32/fp16/int8.

For each model (the cases of ``tests/support/onnx_zoo.py``) and precision this compiles with
``--target tensorrt`` (the engine build answered by the stand-in in
``tests/support/trt_standin``, not TensorRT), executes the network in numpy on one seeded
input and prints a Markdown table: model, source format, precision, layers emitted, max error
against the reference (fp32: the reference interpreter; fp16: the float reference; int8: the
fake-quant reference), against the source framework (fp32), SQNR against the float model
(int8), layers an fp16 network keeps in fp32, note. See ``tests/support/trt_zoo.py``.

    python3 bench/tensorrt_zoo.py                     # every model, every precision
    python3 bench/tensorrt_zoo.py --fast              # the cases of the default test run
    python3 bench/tensorrt_zoo.py --only ppocr_cls bvlc_lenet --precision int8
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.quiet import quiet_fds  # noqa: E402


def main() -> int:
    from tests.support.trt_zoo import PRECISIONS, Row, cases, run_case, table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", metavar="ID", default=[],
                    help="only these case ids (e.g. ppocr_cls examples/tiny_cnn.onnx)")
    ap.add_argument("--precision", nargs="+", choices=PRECISIONS, default=list(PRECISIONS),
                    help="precisions to run (default: all)")
    ap.add_argument("--fast", action="store_true", help="skip the slow cases")
    ap.add_argument("--seconds", action="store_true", help="add a column of seconds per row")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    known = {c.id for c in cases()}
    unknown = [i for i in args.only if i not in known]
    if unknown:
        ap.error(f"unknown case id {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    rows = []
    for case in cases():
        if (args.only and case.id not in args.only) or (args.fast and case.slow):
            continue
        for precision in args.precision:
            print(f"... {case.id} {precision}", file=sys.stderr, flush=True)
            with quiet_fds():
                try:
                    row = run_case(case, precision)
                except Exception as e:  # noqa: BLE001 - a crash is a row of the table, too
                    row = Row(case.id, case.source_format, precision,
                              note=f"**crashed**: {type(e).__name__}: "
                                   f"{str(e).splitlines()[0][:160] if str(e) else ''}")
            if args.seconds:
                row.note += f" ({row.seconds:.1f} s)"
            print(f"    {row}", file=sys.stderr, flush=True)
            rows.append(row)
    print(table(rows))
    return 0 if all(r.refused is not None or r.layers is not None for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
