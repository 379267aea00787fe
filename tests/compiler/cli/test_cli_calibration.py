"""`infercc compile --int8 --calibration FILE.py:NAME`: calibration data from the user's own
script, in TFLiteConverter's representative_dataset form or as an onnxruntime
CalibrationDataReader, giving the statistics the .npz gives; bad references are refused
before the model loads."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from compiler.cli import main
from compiler.quantization.statistics import CalibrationStats
from tests.support.onnx_models import write_fixed_batch_onnx

SCRIPT = '''
    import numpy as np
    from onnxruntime.quantization import CalibrationDataReader

    DATA = np.load({data!r})["x"]

    def representative_dataset():  # as written for tf.lite.TFLiteConverter
        for i in range(len(DATA)):
            yield [DATA[i].astype(np.float32)]

    class Reader(CalibrationDataReader):  # as written for onnxruntime's quantize_static
        def __init__(self):
            self.rows = iter(DATA)

        def get_next(self):
            x = next(self.rows, None)
            return None if x is None else {{"x": x}}

    NOT_DATA = 3
'''


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("calibration_script")
    path, data = write_fixed_batch_onnx(d / "m.onnx", d / "cal.npz", samples=12)
    script = d / "cal_data.py"
    script.write_text(textwrap.dedent(SCRIPT.format(data=str(data))))
    return path, data, script


def _stats(args, tmp_path, name, capsys):
    out = tmp_path / f"{name}.npz"
    rc = main(["compile", *args, "--save-calibration", str(out), "-o",
               str(tmp_path / f"{name}.tflite"), "--no-run", "-q"])
    assert rc == 0, capsys.readouterr().err
    return CalibrationStats.load(out)


def test_script_conventions_give_the_npz_statistics(model, tmp_path, capsys):
    path, data, script = model
    want = _stats([str(path), "--int8", "--calibration", str(data)], tmp_path, "npz", capsys)
    for name in ("representative_dataset", "Reader"):
        got = _stats([str(path), "--int8", "--calibration", f"{script}:{name}"], tmp_path,
                     name, capsys)
        assert got.num_samples == want.num_samples == 12
        assert list(got.tensors) == list(want.tensors)
        for n in want.tensors:
            assert np.array_equal(got[n].hist, want[n].hist), (name, n)
            assert (got[n].min, got[n].max) == (want[n].min, want[n].max), (name, n)


@pytest.mark.parametrize("ref, words", [
    ("{script}:nope", "defines no 'nope' (it defines representative_dataset, Reader)"),
    ("{script}:NOT_DATA", "NOT_DATA is a int"),
    ("{dir}/missing.py:f", "no such file"),
    ("{script}:not a name", "is not a Python name"),
])
def test_bad_script_references_are_refused_before_loading(model, tmp_path, capsys, ref,
                                                           words):
    _, _, script = model
    # the model does not exist: a flag error must come first, without a load attempt
    rc = main(["compile", str(tmp_path / "absent.onnx"), "--int8", "--calibration",
               ref.format(script=script, dir=tmp_path), "-o", str(tmp_path / "x.tflite")])
    err = capsys.readouterr().err
    assert rc == 2 and words in err and "absent.onnx" not in err, err
    assert not (tmp_path / "x.tflite").exists()


def test_report_and_save_paths_are_checked_before_loading(model, tmp_path, capsys):
    _, data, _ = model
    (tmp_path / "afile").write_text("")
    for flag, value, words in (("--report", tmp_path / "afile", "a file is in the way"),
                               ("--save-calibration", tmp_path / "no" / "s.npz",
                                "no such directory")):
        rc = main(["compile", str(tmp_path / "absent.onnx"), "--int8", "--calibration",
                   str(data), flag, str(value), "-o", str(tmp_path / "x.tflite")])
        err = capsys.readouterr().err
        assert rc == 2 and words in err and "absent.onnx" not in err, err
