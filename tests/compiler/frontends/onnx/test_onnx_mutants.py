"""Seeded mutants of a real ONNX model are loaded or refused cleanly, never crash.

300 variants of silero-vad (its ``If`` subgraphs give the control-flow paths something to
chew on), each one protobuf field edit or a few flipped bytes (``tests.support.onnx_mutants``),
go through the loading the CLI does (``load_model``: import and verification). Each must
either load or raise an :class:`~compiler.errors.InferccError` whose message names the file,
is not empty and is short (a paragraph, not a dump).
"""

from __future__ import annotations

import onnx

from compiler.cli.common import load_model
from compiler.errors import InferccError
from tests.conftest import model_path
from tests.support.onnx_mutants import mutants

MUTANTS = 300
SEED = 11
# a refusal is one paragraph; a verification failure adds its first node and one IR line
# either side, and a count of the rest
MAX_LINES = 7


def test_mutants_load_or_are_refused_cleanly(tmp_path):
    model = onnx.load(str(model_path("onnx/silero-vad/silero_vad_16k_op15.onnx")))
    path = tmp_path / "mutant.onnx"
    bad: list[str] = []
    refused = 0
    for desc, data in mutants(model, MUTANTS, SEED):
        path.write_bytes(data)
        try:
            load_model(str(path))
        except InferccError as e:
            refused += 1
            msg = str(e).strip()
            if str(path) not in msg or len(msg) <= len(str(path)) + 2:
                bad.append(f"{desc}: message does not name the file or says nothing: {msg!r}")
            elif len(msg.splitlines()) > MAX_LINES:
                bad.append(f"{desc}: {len(msg.splitlines())}-line message: {msg[:300]!r}")
        except Exception as e:  # anything else is a crash the user would see as a bug
            bad.append(f"{desc}: {type(e).__name__}: {e}")
    assert not bad, "\n".join(bad)
    # the mutations must bite: most field edits break the model
    assert refused >= MUTANTS // 3, refused
