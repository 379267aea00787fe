"""Mutated model files, through ``infercc inspect`` and ``infercc compile``, end in a result or
a clean error: never a traceback, a crash, a hang, a memory blow-up or a half-written file.

Each format gets ``INFERCC_FUZZ_COUNT`` mutants (default :data:`DEFAULT_COUNT`, sized so the
whole run stays within about five minutes on a 2-core machine) in the default suite and
10,000 under ``-m slow``, which keeps failing mutants in ``tests/fuzz/regressions/`` (three
per distinct failure).
Every kept reproducer is replayed by the default suite. The driver's classification is
checked first, on stand-in entry points that end each way a run can end.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import model_path
from tests.fuzz import driver, formats
from tests.fuzz.driver import FAILURES, classify, run_forked, run_inline, spawn
from tests.fuzz.run import table

#: mutants per format in the default suite; the bounded run's budget (see docs/fuzzing.md)
DEFAULT_COUNT = {"onnx": 300, "tflite": 300, "prototxt": 300, "caffemodel": 300, "keras": 150,
                 "pt2": 100, "ir": 300}
SLOW_COUNT = 10_000
#: formats with kept reproducers
KEPT = [f for f in formats.FORMATS if any(driver.regression_dir(f).glob("*.json"))]
#: shared models each format's seeds include (the in-repo seeds need no check)
SHARED_SEEDS = {
    "onnx": formats.ONNX_SHARED, "tflite": formats.TFLITE_SHARED,
    "prototxt": formats.CAFFE_GENERATED + list(formats.CAFFE_REAL),
    "caffemodel": formats.CAFFE_GENERATED, "keras": formats.KERAS_SHARED, "pt2": [], "ir": [],
}


def _count(fmt: str) -> int:
    return int(os.environ.get("INFERCC_FUZZ_COUNT", DEFAULT_COUNT[fmt]))


def _failures(results: list[dict]) -> str:
    return "\n".join(
        f"#{r['index']} {r['outcome']} in {r['command']} ({r['what']} of {r['seed']}, "
        f"sha {r['sha']}): {r['detail']}" for r in results if r["outcome"] in FAILURES)


# -- the driver's classification ------------------------------------------------------------


def _entry(kind: str):
    """A stand-in for the CLI's main that ends the way ``kind`` names."""

    def entry(argv: list[str]) -> int:
        path = argv[1]
        if kind == "ok":
            return 0
        if kind == "clean":
            os.write(2, f"infercc: error: {path}: not a model\n".encode())
            return 2
        if kind == "unclear":
            os.write(2, b"infercc: error: something is wrong\n")
            return 2
        if kind == "long":
            os.write(2, (f"infercc: error: {path}: bad\n" + "detail\n" * 20).encode())
            return 2
        if kind == "internal":
            os.write(2, b"infercc: error: internal error: KeyError: 'x'\n")
            return 1
        if kind == "traceback":
            raise KeyError("escaped")
        if kind == "memory":
            return len(bytearray(8 * 2**30))  # over the 3 GiB cap, under what the OS would refuse
        if kind == "partial":
            Path("out.onnx").write_bytes(b"half")
            os.write(2, f"infercc: error: {path}: failed while writing\n".encode())
            return 2
        if kind == "crash":
            os.kill(os.getpid(), signal.SIGSEGV)
        if kind == "hang":
            time.sleep(60)
        raise AssertionError(kind)

    return entry


@pytest.mark.parametrize("kind, expected", [
    ("ok", "ok"), ("clean", "clean"), ("unclear", "unclear"), ("long", "unclear"),
    ("internal", "traceback"), ("traceback", "traceback"), ("memory", "memory"),
    ("partial", "partial"), ("crash", "crash"), ("hang", "hang"),
])
def test_a_forked_run_is_classified_by_how_it_ended(tmp_path, kind, expected):
    folder = tmp_path / "m"
    folder.mkdir()
    model = str(folder / "model.onnx")
    run = run_forked(_entry(kind), ["inspect", model], folder, timeout=2)
    assert classify(run, [model], str(folder / "out.onnx")) == expected, run


@pytest.mark.parametrize("kind, expected", [
    ("ok", "ok"), ("clean", "clean"), ("unclear", "unclear"), ("traceback", "traceback"),
    ("memory", "memory"), ("partial", "partial"),
])
def test_an_inline_run_is_classified_and_leaves_the_process_as_it_was(tmp_path, kind, expected):
    folder = tmp_path / "m"
    folder.mkdir()
    model = str(folder / "model.onnx")
    import resource

    cwd, limit = os.getcwd(), resource.getrlimit(resource.RLIMIT_AS)
    run = run_inline(_entry(kind), ["inspect", model], folder, timeout=20)
    assert classify(run, [model], str(folder / "out.onnx")) == expected, run
    assert (os.getcwd(), resource.getrlimit(resource.RLIMIT_AS)) == (cwd, limit)


@pytest.mark.parametrize("rc, stderr, expected", [
    (-signal.SIGALRM, "", "hang"), (-signal.SIGSEGV, "", "crash"), (-signal.SIGKILL, "", "memory"),
    (-signal.SIGABRT, "terminate called after throwing an instance of 'std::bad_alloc'", "memory"),
    (3, "", "crash"),
])
def test_a_worker_that_died_in_a_mutant_is_recorded_against_it(rc, stderr, expected):
    start = {"start": 7, "pos": 2, "seed": "s", "what": "flip_bytes", "sha": "ab", "file": "f",
             "root": "r"}
    r = driver._death(start, "keras", rc, stderr)
    assert (r["index"], r["outcome"]) == (7, expected)


def test_reproducers_are_kept_three_per_distinct_failure(tmp_path, monkeypatch):
    monkeypatch.setattr(driver, "REGRESSIONS", tmp_path)
    seed = formats.Seed("s", b"", "model.onnx")

    def fail(i: int, message: str) -> driver.Result:
        stderr = f"infercc: error: internal error: {message} /tmp/m{i}/model.onnx at {i}\n"
        return driver.Result("onnx", i, "s", "flip_bytes", "traceback", "inspect", 1, stderr,
                             f"{i:016x}", 0.1, driver.signature("traceback", stderr))

    kept = [driver.save_failure("onnx", seed, bytes([i]), fail(i, "KeyError: 'x'")) for i in range(5)]
    kept.append(driver.save_failure("onnx", seed, b"other", fail(9, "IndexError: list")))
    assert [p is not None for p in kept] == [True, True, True, False, False, True]
    notes = driver.regressions("onnx")
    assert len(notes) == 4 and all(Path(n["path"]).suffix == ".onnx" for n in notes)


# -- the mutants ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cheap_seeds(tmp_path_factory):
    """Seeds of the formats whose framework is cheap to import here."""
    root = tmp_path_factory.mktemp("seeds")
    return {name: formats.FORMATS[name].seeds(root) for name in ("onnx", "tflite", "prototxt",
                                                                  "caffemodel", "keras", "pt2", "ir")}


def test_mutant_k_of_a_format_is_a_function_of_k(cheap_seeds):
    fmt = formats.FORMATS["prototxt"]
    seeds = cheap_seeds["prototxt"]
    first = [formats.mutant(fmt, seeds, k) for k in range(20)]
    again = [formats.mutant(fmt, seeds, k) for k in range(20)]
    assert [(s.name, d, w) for s, d, w in first] == [(s.name, d, w) for s, d, w in again]
    assert len({d for _, d, _ in first}) == 20
    assert all(d != s.data for s, d, _ in first)


@pytest.mark.parametrize("name", list(formats.FORMATS))
def test_every_structural_mutator_edits_every_seed(cheap_seeds, name):
    # a mutator that raised would be replaced by a byte flip in the fuzz run, unseen
    import random

    fmt = formats.FORMATS[name]
    smallest = sorted(cheap_seeds[name], key=lambda s: len(s.data))[:2]
    for fn in formats.structural_mutators(fmt):
        changed = sum(fn(seed.data, random.Random(f"{i}")) != seed.data
                      for seed in smallest for i in range(16))
        assert changed >= 1, fn.__name__


# -- the fuzz runs --------------------------------------------------------------------------


def _check_seeds(fmt: str) -> None:
    for rel in SHARED_SEEDS[fmt]:
        model_path(rel)


@pytest.fixture(scope="module")
def bounded_runs(request) -> dict[str, list[dict]]:
    """The bounded run of every format this session selected, two workers at a time (a
    worker is mostly one busy process; two keep a 2-core machine busy)."""
    chosen = [item.callspec.params["fmt"] for item in request.session.items
              if getattr(item, "originalname", "") == "test_mutants_end_in_a_result_or_a_clean_error"]
    for fmt in chosen:
        _check_seeds(fmt)
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {fmt: pool.submit(spawn, fmt, _count(fmt)) for fmt in chosen}
    return {fmt: f.result() for fmt, f in futures.items()}


@pytest.mark.parametrize("fmt", list(formats.FORMATS))
def test_mutants_end_in_a_result_or_a_clean_error(fmt, bounded_runs, capsys):
    results = bounded_runs[fmt]
    with capsys.disabled():
        print("\n" + table({fmt: results}))
    assert len(results) == _count(fmt)
    assert not _failures(results), _failures(results)
    counts = Counter(r["outcome"] for r in results)
    # the mutations must bite, and must not all destroy the file
    assert counts["clean"] + counts["unclear"] >= len(results) // 4, counts
    assert counts["ok"] >= 1, counts


@pytest.mark.parametrize("fmt", KEPT)
def test_kept_reproducers_end_in_a_result_or_a_clean_error(fmt):
    _check_seeds(fmt)
    kept = driver.regressions(fmt)
    results = spawn(fmt, 0, replay=True)
    assert len(results) == len(kept)
    assert not _failures(results), _failures(results)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(formats.FORMATS))
def test_ten_thousand_mutants_end_in_a_result_or_a_clean_error(fmt, capsys):
    _check_seeds(fmt)
    results = spawn(fmt, SLOW_COUNT, start=DEFAULT_COUNT[fmt], save=True)
    with capsys.disabled():
        print("\n" + table({fmt: results}))
    assert not _failures(results), _failures(results)
