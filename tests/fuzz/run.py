"""``python3 -m tests.fuzz.run``: fuzz infercc's model formats and print the table per format.

    python3 -m tests.fuzz.run                                   # every format, 300 mutants each
    python3 -m tests.fuzz.run --format onnx --count 10000 --save-failures
    python3 -m tests.fuzz.run --replay                          # the kept reproducers only
    python3 -m tests.fuzz.run --format ir --index 41 -v          # one mutant, with its stderr

Mutant ``k`` of a format is the same on every run (see :func:`tests.fuzz.formats.mutant`);
``--save-failures`` keeps each failing one in ``tests/fuzz/regressions/<format>/``, which the
default test suite replays. Exit status 1 when any run failed (traceback, crash, hang,
memory, partial).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

from tests.fuzz.driver import DEFAULT_MEM_MB, DEFAULT_TIMEOUT, FAILURES, OUTCOMES, spawn
from tests.fuzz.formats import FORMATS

COLUMNS = ("runs", *OUTCOMES)


def table(results: dict[str, list[dict]]) -> str:
    """A Markdown table: per format the number of runs and of each outcome."""
    lines = ["| format | " + " | ".join(COLUMNS) + " | seconds |",
             "|---|" + "---:|" * (len(COLUMNS) + 1)]
    for fmt, rs in results.items():
        c = Counter(r["outcome"] for r in rs)
        secs = sum(r["seconds"] for r in rs)
        lines.append(f"| {fmt} | {len(rs)} | " + " | ".join(str(c[o]) for o in OUTCOMES)
                     + f" | {secs:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m tests.fuzz.run", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--format", action="append", choices=sorted(FORMATS),
                   help="a format to fuzz (repeatable; default: all)")
    p.add_argument("--count", type=int, default=300, help="mutants per format (default 300)")
    p.add_argument("--start", type=int, default=0, help="index of the first mutant")
    p.add_argument("--index", type=int, action="append", default=[],
                   help="run only mutant INDEX (repeatable)")
    p.add_argument("--replay", action="store_true", help="run the kept reproducers instead")
    p.add_argument("--save-failures", action="store_true",
                   help="keep failing mutants in tests/fuzz/regressions/<format>/")
    p.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT, help="seconds per command")
    p.add_argument("--mem-mb", type=int, default=DEFAULT_MEM_MB,
                   help="address space a command may add, in MiB")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="print every run that did not end ok or clean, with its stderr")
    a = p.parse_args(argv)
    results: dict[str, list[dict]] = {}
    failed = 0
    t0 = time.monotonic()
    for fmt in a.format or list(FORMATS):
        def show(r: dict) -> None:
            if r["outcome"] in FAILURES or (a.verbose and r["outcome"] not in ("ok", "clean")):
                print(f"{r['format']} #{r['index']} {r['outcome']} ({r['command']}, "
                      f"{r['what']} of {r['seed']}, sha {r['sha']}):\n    "
                      + r["detail"].replace("\n", "\n    "), file=sys.stderr)

        results[fmt] = spawn(fmt, a.count, start=a.start, replay=a.replay, indices=a.index,
                             save=a.save_failures, timeout=a.timeout, mem_mb=a.mem_mb,
                             on_result=show)
        failed += sum(r["outcome"] in FAILURES for r in results[fmt])
    print(table(results))
    print(f"\n{sum(map(len, results.values()))} runs in {time.monotonic() - t0:.0f} s "
          f"wall; {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
