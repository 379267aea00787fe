#!/usr/bin/env python3
"""Run the ONNX backend node tests through infercc's ONNX frontend and interpreter.

Prints passed / failed / unsupported per op and in total.

    python3 bench/onnx_conformance.py                 # the whole table
    python3 bench/onnx_conformance.py -k conv -v      # cases matching a regex, with details
    python3 bench/onnx_conformance.py --failed        # only ops with failures, with reasons
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from compiler.frontends.onnx import conformance as oc

EXPECTED = (Path(__file__).resolve().parent.parent / "tests" / "compiler" / "frontends" / "onnx"
            / "onnx_node_expected_failures.txt")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("-k", "--pattern", help="only cases whose name matches this regex")
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per failed case")
    ap.add_argument("--failed", action="store_true", help="only list ops with failures")
    ap.add_argument("--unsupported", action="store_true", help="list the unsupported op types")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    cases = oc.load_cases(args.pattern)
    t1 = time.perf_counter()
    results = oc.run_cases(cases)
    t2 = time.perf_counter()
    expected = oc.load_expected_failures(EXPECTED) if EXPECTED.exists() else {}

    table = oc.by_op(results)
    print(f"{'op':36s} {'passed':>7s} {'failed':>7s} {'unsupp':>7s}")
    for op, c in table.items():
        if args.failed and not c[oc.FAILED]:
            continue
        print(f"{op:36s} {c[oc.PASSED]:7d} {c[oc.FAILED]:7d} {c[oc.UNSUPPORTED]:7d}")
    tot = oc.totals(results)
    print(f"{'TOTAL':36s} {tot[oc.PASSED]:7d} {tot[oc.FAILED]:7d} {tot[oc.UNSUPPORTED]:7d}"
          f"   ({len(results)} cases)")
    listed = sum(1 for r in results if r.status == oc.FAILED and r.name in expected)
    print(f"failed and listed as expected: {listed}; failed and not listed: {tot[oc.FAILED] - listed}")
    supported_ops = sum(1 for c in table.values() if c[oc.PASSED] or c[oc.FAILED])
    print(f"op types with at least one supported case: {supported_ops} of {len(table)}")
    print(f"build {t1 - t0:.1f} s, run {t2 - t1:.1f} s")
    if args.verbose:
        for r in results:
            if r.status == oc.FAILED:
                tag = "expected" if r.name in expected else "NEW"
                print(f"  [{tag}] {r.name} [{r.op}]: {r.detail}")
    if args.unsupported:
        from collections import Counter

        c = Counter(op for r in results for op in r.unsupported)
        print("unsupported op types (cases):", ", ".join(f"{k} ({v})" for k, v in sorted(c.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
