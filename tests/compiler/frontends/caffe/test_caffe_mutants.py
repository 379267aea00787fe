"""Seeded mutants of a real prototxt (and of its caffemodel) either load or raise an
InferccError: no other exception escapes load_caffe, whatever the damage."""

from __future__ import annotations

import logging
import random
import re
import traceback
from pathlib import Path

import pytest

from compiler.errors import InferccError
from compiler.frontends.caffe import load_caffe
from tests.conftest import model_path
from tests.support.caffe_nets import seeded_caffemodel

LENET = "caffe/bvlc/mnist_lenet.prototxt"
NUMBERS = ["0", "-1", "2", "3", "100000", "4294967295", "-2147483648", "1e40", "nan"]
VALUES = ["MAX", "AVE", "STOCHASTIC", "CEIL", "NOPE", "true", "7", "-3", '"x"', '""']
BLOBS = ["data", "conv1", "pool1", "ip1", "nowhere", ""]


def _mutate(lines: list[str], rng: random.Random) -> list[str]:
    """One random edit: drop/copy/swap a line, change a number, value or quoted name,
    nest an unknown field deeply, or cut the file short."""
    out = list(lines)
    if not out:  # cut to nothing by an earlier edit
        return out
    i = rng.randrange(len(out))
    op = rng.randrange(8)
    if op == 0:
        del out[i]
    elif op == 1:
        out.insert(i, out[rng.randrange(len(out))])
    elif op == 2:
        j = rng.randrange(len(out))
        out[i], out[j] = out[j], out[i]
    elif op == 3:
        out[i] = re.sub(r"-?\d+(\.\d+)?", rng.choice(NUMBERS), out[i], count=1)
    elif op == 4:
        out[i] = re.sub(r":\s*\S+", ": " + rng.choice(VALUES), out[i], count=1)
    elif op == 5:
        out[i] = re.sub(r'"[^"]*"', f'"{rng.choice(BLOBS)}"', out[i], count=1)
    elif op == 6:
        depth = rng.choice([10, 150, 250, 2000])
        out.insert(i, "fork_param { " * depth + "}" * depth)
    else:
        out = out[:i]
    return out


def _load_outcome(proto: Path, model: Path) -> str:
    try:
        load_caffe(proto, model)
    except InferccError:
        return "refused"
    except Exception as e:  # noqa: BLE001 - any other exception is the failure looked for
        frame = traceback.extract_tb(e.__traceback__)[-1]
        return f"{type(e).__name__} at {Path(frame.filename).name}:{frame.lineno}: {e}"[:300]
    return "loaded"


@pytest.fixture(scope="module")
def lenet_model(tmp_path_factory) -> Path:
    model = tmp_path_factory.mktemp("lenet") / "lenet.caffemodel"
    seeded_caffemodel(model_path(LENET), model, seed=0)
    return model


def test_prototxt_mutants_load_or_are_refused_cleanly(tmp_path, lenet_model, caplog):
    caplog.set_level(logging.ERROR)  # mutants with unknown fields warn; keep the log short
    lines = model_path(LENET).read_text().splitlines()
    rng = random.Random(20261203)
    outcomes: dict[str, list[int]] = {}
    for k in range(300):
        mutant = _mutate(lines, rng)
        if rng.random() < 0.3:
            mutant = _mutate(mutant, rng)
        proto = tmp_path / f"m{k}.prototxt"
        proto.write_text("\n".join(mutant) + "\n")
        outcomes.setdefault(_load_outcome(proto, lenet_model), []).append(k)
    crashes = {o: ks for o, ks in outcomes.items() if o not in ("loaded", "refused")}
    assert not crashes, crashes
    # the mutants reach both ends: many still load, many are refused
    assert len(outcomes["loaded"]) > 30 and len(outcomes["refused"]) > 100


def test_caffemodel_mutants_load_or_are_refused_cleanly(tmp_path, lenet_model):
    data = lenet_model.read_bytes()
    proto = model_path(LENET)
    rng = random.Random(7)
    outcomes: dict[str, list[int]] = {}
    for k in range(60):
        b = bytearray(data)
        if k % 3 == 0:
            b = b[: rng.randrange(len(b))]
        else:  # damage the structure (the head of the file and of each blob), not just values
            for _ in range(rng.randrange(1, 4)):
                b[rng.randrange(min(len(b), 4096))] = rng.randrange(256)
        model = tmp_path / f"m{k}.caffemodel"
        model.write_bytes(bytes(b))
        outcomes.setdefault(_load_outcome(proto, model), []).append(k)
    crashes = {o: ks for o, ks in outcomes.items() if o not in ("loaded", "refused")}
    assert not crashes, crashes
    assert len(outcomes.get("refused", [])) > 10
