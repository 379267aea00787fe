"""compile's LiteRT run report on a model that cannot run at the sizes LiteRT gives it."""

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
