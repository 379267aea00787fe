"""ONNX backend node tests through the ONNX frontend and the reference interpreter.

``onnx.backend.test.loader.load_model_tests(kind="node")`` builds every node test case of
the installed onnx package in memory: a model, input arrays and the expected outputs that
ONNX's own reference produced. :func:`run_case` imports a case with
:func:`compiler.frontends.onnx.load_onnx`, checks the graph with the verifier, runs it on
:class:`compiler.interpreter.Interpreter` and compares like ONNX's backend runner does
(same output count and shapes, exact dtypes, ``assert_allclose`` at the case's rtol/atol).

A case is ``passed``, ``failed`` (import, verification, run or comparison failed; the
detail says which) or ``unsupported`` (the model uses an op type without an IR schema).
Both ``tests/compiler/frontends/onnx/test_onnx_node_conformance.py`` and
``bench/onnx_conformance.py`` use this.
"""

from __future__ import annotations

import contextlib
import re
import signal
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PASSED, FAILED, UNSUPPORTED = "passed", "failed", "unsupported"
CASE_TIME_LIMIT_S = 30  # a case running longer is a failure (a kernel stuck in a loop)


@dataclass
class CaseResult:
    name: str
    status: str
    op: str  # the op type the case is about (see primary_op)
    op_types: tuple[str, ...] = ()
    detail: str = ""
    seconds: float = 0.0
    unsupported: tuple[str, ...] = field(default_factory=tuple)


def load_cases(pattern: str | None = None) -> list[Any]:
    """The node test cases (optionally those whose name matches the regex ``pattern``)."""
    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        cases = load_model_tests(kind="node")
    if pattern:
        rx = re.compile(pattern)
        cases = [c for c in cases if rx.search(c.name)]
    return cases


def model_op_types(model: Any) -> tuple[str, ...]:
    from .importer import walk_nodes

    seen: dict[str, None] = {}
    for n in walk_nodes(model.graph):
        key = n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}"
        seen.setdefault(key, None)
    return tuple(seen)


_ALL_OPS: list[str] | None = None


def primary_op(name: str, op_types: Sequence[str]) -> str:
    """The ONNX op a case tests, from its name (``test_reduce_sum_...`` -> ReduceSum)."""
    global _ALL_OPS
    key = name.replace("_", "").lower()
    plain = [t for t in op_types if t != "Constant"]
    if len(set(plain)) == 1:
        return plain[0]

    def longest(cands: Iterable[str]) -> str | None:
        best = None
        for t in cands:
            if key.startswith("test" + t.split(".")[-1].lower()) and (best is None or len(t) > len(best)):
                best = t
        return best

    hit = longest(op_types)
    if hit:
        return hit
    if _ALL_OPS is None:
        import onnx.defs

        _ALL_OPS = sorted({s.name for s in onnx.defs.get_all_schemas_with_history()})
    hit = longest(_ALL_OPS)
    return hit or (plain[0] if plain else (op_types[0] if op_types else "?"))


class _Timeout(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: int):
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def on_alarm(signum, frame):
        raise _Timeout()

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def run_case(case: Any, time_limit_s: int = CASE_TIME_LIMIT_S) -> CaseResult:
    """Import, verify, run and compare one node test case."""
    from ...errors import UnsupportedOpsError
    from ...interpreter import Interpreter
    from ...ir.verifier import verify
    from .importer import load_onnx

    ops = model_op_types(case.model)
    res = CaseResult(case.name, FAILED, primary_op(case.name, ops), ops)
    t0 = time.perf_counter()
    stage = "import"
    try:
        with _time_limit(time_limit_s), warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                graph = load_onnx(case.model)
            except UnsupportedOpsError as e:
                res.status = UNSUPPORTED
                res.unsupported = tuple(sorted(e.unsupported))
                res.detail = f"no IR op for {', '.join(res.unsupported)}"
                return res
            stage = "verify"
            verify(graph)
            stage = "run"
            interp = Interpreter(graph)
            init = {t.name for t in case.model.graph.initializer}
            names = [vi.name for vi in case.model.graph.input if vi.name not in init]
            for inputs, ref_outputs in case.data_sets:
                feeds = {n: _to_array(x) for n, x in zip(names, inputs)}
                got = interp.run(feeds)
                outs = [got[v.name] for v in graph.outputs]
                stage = "compare"
                refs = [_ir_storage(_to_array(r), v) for r, v in zip(ref_outputs, graph.outputs)]
                compare_outputs(refs, outs, case.rtol, case.atol)
                stage = "run"
        res.status = PASSED
    except _Timeout:
        res.detail = f"{stage}: took longer than {time_limit_s} s"
    except AssertionError as e:
        res.detail = f"{stage}: " + " ".join(str(e).split())[:300]
    except Exception as e:
        res.detail = f"{stage}: {type(e).__name__}: " + " ".join(str(e).split())[:300]
    finally:
        res.seconds = time.perf_counter() - t0
    return res


def _to_array(x: Any) -> Any:
    import onnx
    from onnx import numpy_helper

    if isinstance(x, onnx.TensorProto):
        return numpy_helper.to_array(x)
    return x


def _ir_storage(ref: Any, v: Any) -> Any:
    """Expected int4/uint4 arrays in the IR's storage dtype (i4/u4 values live in int8/uint8
    arrays); the values themselves are compared unchanged."""
    if isinstance(ref, np.ndarray) and ref.dtype.name in ("int4", "uint4") and v.type.dtype.value in ("i4", "u4"):
        return ref.astype(v.type.dtype.numpy)
    return ref


def compare_outputs(expected: Sequence[Any], got: Sequence[Any], rtol: float, atol: float) -> None:
    """ONNX's backend runner's comparison (``assert_similar_outputs``)."""
    np.testing.assert_equal(len(got), len(expected), err_msg="number of outputs")
    for i, (ref, out) in enumerate(zip(expected, got)):
        if isinstance(ref, (list, tuple)):
            if not isinstance(out, (list, tuple)):
                raise AssertionError(f"output {i}: expected a sequence, got {type(out).__name__}")
            compare_outputs(ref, out, rtol, atol)
            continue
        out = np.asarray(out)
        np.testing.assert_array_equal(out.shape, ref.shape, err_msg=f"output {i} has incorrect shape")
        if ref.dtype == object:
            np.testing.assert_array_equal(out, ref)
            continue
        np.testing.assert_equal(out.dtype, ref.dtype, err_msg=f"output {i} dtype")
        r = rtol
        if out.dtype.name == "bfloat16":
            r = max(rtol, 2**-6)
            out, ref = out.astype(np.float32), ref.astype(np.float32)
        np.testing.assert_allclose(out, ref, rtol=r, atol=atol, err_msg=f"output {i}")


def run_cases(cases: Iterable[Any], progress: Any = None) -> list[CaseResult]:
    out = []
    for c in cases:
        out.append(run_case(c))
        if progress is not None:
            progress(out[-1])
    return out


def by_op(results: Iterable[CaseResult]) -> dict[str, Counter]:
    table: dict[str, Counter] = defaultdict(Counter)
    for r in results:
        table[r.op][r.status] += 1
    return dict(sorted(table.items()))


def totals(results: Iterable[CaseResult]) -> Counter:
    return Counter(r.status for r in results)


def load_expected_failures(path: str | Path) -> dict[str, str]:
    """``test_name  # reason`` lines -> {name: reason}; blank lines and ``#`` lines skipped."""
    out: dict[str, str] = {}
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, _, reason = line.partition("#")
        out[name.strip()] = reason.strip()
    return out
