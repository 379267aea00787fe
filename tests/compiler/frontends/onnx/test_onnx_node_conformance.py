"""Conformance: the ONNX backend node tests through the ONNX frontend and the interpreter.

Every case of ``onnx.backend.test.loader.load_model_tests(kind="node")`` (the installed
onnx's own cases, with the expected outputs ONNX's reference produced) is imported, verified,
run on the reference interpreter and compared at the case's own rtol/atol
(``compiler.frontends.onnx.conformance``). Cases using an op type without an IR schema are
``unsupported`` and not judged here; ``bench/onnx_conformance.py`` prints the full table.

The assertions: every case whose op types are all supported passes unless it is listed in
``onnx_node_expected_failures.txt`` beside this file (with its reason), and every listed case
still fails, so the list cannot go stale.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.frontends.onnx import conformance as oc

EXPECTED_FAILURES = Path(__file__).with_name("onnx_node_expected_failures.txt")


@pytest.fixture(scope="module")
def results() -> dict[str, oc.CaseResult]:
    return {r.name: r for r in oc.run_cases(oc.load_cases())}


@pytest.fixture(scope="module")
def expected() -> dict[str, str]:
    return oc.load_expected_failures(EXPECTED_FAILURES)


def _fmt(rs) -> str:
    return "\n".join(f"  {r.name} [{r.op}]: {r.detail}" for r in rs)


def test_cases_were_built(results):
    # onnx 1.23 builds 1,884 node cases; far fewer means the loader broke, not that we pass
    assert len(results) > 1500


def test_supported_cases_pass(results, expected):
    bad = [r for r in results.values() if r.status == oc.FAILED and r.name not in expected]
    assert not bad, f"{len(bad)} supported node test case(s) fail:\n{_fmt(bad)}"


def test_expected_failures_still_fail(results, expected):
    unknown = sorted(n for n in expected if n not in results)
    assert not unknown, f"listed in {EXPECTED_FAILURES.name} but not a node test: {unknown}"
    stale = [results[n] for n in expected if results[n].status != oc.FAILED]
    assert not stale, (
        f"listed in {EXPECTED_FAILURES.name} but no longer failing (remove them):\n"
        + "\n".join(f"  {r.name}: {r.status}" for r in stale)
    )


def test_expected_failures_have_reasons(expected):
    assert all(reason for reason in expected.values()), "every listed case needs '# reason'"
