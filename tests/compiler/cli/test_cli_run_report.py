"""compile's run reports: LiteRT's on a model that cannot run at the sizes LiteRT gives it;
the TensorRT engine's feed shapes (a dynamic input at its range's opt shape) and, once the
engine is written, a run the engine refuses as a ``(not run: ...)`` line. No engine runs
here: the executor is replaced by one that refuses shapes outside the profile, as
TensorRT's ``set_input_shape`` does, so only the report's own choices are tested."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tests.support.plugin_dists import run_cli


def _reshape_fits_no_batch_of_one(path):
    """x[N, 6] -> Reshape [-1, 4]: 6N elements fit rows of 4 only for even N."""
    shape = numpy_helper.from_array(np.array([-1, 4], np.int64), "shape")
    g = helper.make_graph(
        [helper.make_node("Reshape", ["x", "shape"], ["y"], name="rows_of_four")], "odd",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])], [shape])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)


def test_a_model_that_cannot_run_at_batch_one_is_a_clean_error(tmp_path):
    src, out = tmp_path / "odd.onnx", tmp_path / "odd.tflite"
    _reshape_fits_no_batch_of_one(src)
    r = run_cli(["compile", str(src), "-o", str(out)])
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    assert "neither can infercc's reference interpreter" in r.stderr
    assert "rows_of_four" in r.stderr and "Nothing was written" in r.stderr
    assert not out.exists()
    # --no-run writes the file as asked (LiteRT is not consulted)
    r = run_cli(["compile", str(src), "-o", str(out), "--no-run"])
    assert r.returncode == 0 and out.is_file(), r.stderr
    # and at a size it runs at, the report runs
    r = run_cli(["compile", str(src), "-o", str(out), "--input-shape", "x:2x6"])
    assert r.returncode == 0, r.stderr
    assert "output y: [3, 4] float32" in r.stdout


class _ProfiledExecutor:
    """Runs nothing; refuses a feed outside ``lo..hi`` on dim 0 with the ExecutorError the
    tensorrt executor raises there, else answers one float32 output of the feed's shape."""

    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi, self.shapes = lo, hi, []

    def run(self, feeds):
        from compiler.runtime import ExecutorError
        from compiler.runtime.base import RunResult

        (x,) = feeds.values()
        self.shapes.append(x.shape)
        if not self.lo <= x.shape[0] <= self.hi:
            raise ExecutorError(f"model.engine: input x of shape {list(x.shape)} is outside "
                                "the engine's optimization profile (declared [-1, 3], -1 "
                                "dynamic)")
        return RunResult(outputs={"y": np.zeros(x.shape, np.float32)}, captured={})


def _engine_report(monkeypatch, shape, ranges, ex):
    from compiler.cli import compile as compile_cli
    from compiler.cli import running
    from targets.tensorrt import runtime

    monkeypatch.setattr(runtime, "unavailable_reason", lambda: None)
    model = running.RunnableModel("model.engine", "tensorrt",
                                  [running.InputSpec("x", shape, np.dtype(np.float32))], [],
                                  lambda capture: ex)
    monkeypatch.setattr(running, "prepare", lambda path, executor=None: model)
    return compile_cli._engine_run_report("model.engine", ranges)


def test_the_engine_report_feeds_a_dynamic_input_at_its_opt_shape(monkeypatch):
    from targets.tensorrt.profile import parse_shape_ranges

    ex = _ProfiledExecutor(2, 8)
    lines = _engine_report(monkeypatch, (None, 3), parse_shape_ranges(["x:2x3,4x3,8x3"]), ex)
    assert set(ex.shapes) == {(4, 3)}  # opt, not the batch of 1 the profile refuses
    assert lines[0].startswith("  TensorRT run (seeded random inputs): ")
    assert lines[1:] == ["  output y: [4, 3] float32"]


def test_an_engine_refusing_the_report_run_is_a_not_run_line(monkeypatch):
    lines = _engine_report(monkeypatch, (5, 3), {}, _ProfiledExecutor(2, 4))
    assert lines == ["  (not run: model.engine: input x of shape [5, 3] is outside the "
                     "engine's optimization profile (declared [-1, 3], -1 dynamic))"]
    # an open dim the report has no size for (no range): said, not raised
    lines = _engine_report(monkeypatch, (1, None), {}, _ProfiledExecutor(1, 1))
    assert len(lines) == 1 and lines[0].startswith("  (not run: input x has open dims [1,?]")
