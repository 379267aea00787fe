#!/usr/bin/env python3
"""Does every model of the zoo, compiled to .onnx, load in onnxruntime with default options?

For each model (the cases of ``tests/support/onnx_zoo.py``: the shared ONNX, TFLite, Caffe,
Keras, SavedModel and PyTorch models, torch modules written in the tests, and the bundled
examples) this compiles to .onnx with the default pipeline, opens the result in
``onnxruntime.InferenceSession`` with default ``SessionOptions``, runs one seeded input and
prints a Markdown table: model, source format, opset in/out, loads in ORT (y/n, or refused
by infercc), max error against the source framework (relative to the output's magnitude;
see the support module), note.

    python3 bench/onnx_zoo_loads.py            # every model (a few minutes on 2 cores)
    python3 bench/onnx_zoo_loads.py --fast     # the cases of the default test run
    python3 bench/onnx_zoo_loads.py -k bvlc    # ids containing "bvlc"
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.quiet import quiet_fds  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="skip the slow cases")
    ap.add_argument("-k", metavar="TEXT", help="only cases whose id contains TEXT")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    from tests.support.onnx_zoo import Row, cases, run_case, table

    rows = []
    for case in cases():
        if (args.fast and case.slow) or (args.k and args.k not in case.id):
            continue
        print(f"... {case.id}", file=sys.stderr, flush=True)
        with quiet_fds():
            try:
                rows.append(run_case(case))
            except Exception as e:  # noqa: BLE001 - a crash is a row of the table, too
                rows.append(Row(case.id, case.source_format, "?", "?", False, None,
                                f"crashed: {type(e).__name__}: {str(e).splitlines()[0][:120]}"))
    print(table(rows))
    return 0 if all(r.loads is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
