"""targets/tensorrt/build_log.py: the layers TensorRT reports sparse or int8 after a build.

The log lines and the inspector JSON below are those TensorRT's developer guide shows
("Structured Sparsity" and "Engine Inspector" sections); no TensorRT ran here, so the parsers
are checked on the documented formats and the engine build's wiring through the stand-in.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from targets.tensorrt.build_log import BuildLog, int8_layers, recording_logger, sparse_layers
from tests.support import trt_standin as trt

# the developer guide's example of the builder's sparsity lines (INFO)
GUIDE_SPARSITY = [
    ("INFO", "(Sparsity) Layers eligible for sparse math: conv1, conv2, conv3"),
    ("INFO", "(Sparsity) TRT inference plan picked sparse implementation for layers: "
             "conv2, conv3"),
]


def _layer(name, kind, fmt_in, fmt_out):
    return {"Name": name, "LayerType": kind,
            "Inputs": [{"Name": f"{name}_in", "Dimensions": [16, 512, 28, 28],
                        "Format/Datatype": fmt_in}],
            "Outputs": [{"Name": f"{name}_out", "Dimensions": [16, 256, 28, 28],
                         "Format/Datatype": fmt_out}]}


INT8_FMT = "Thirty-two wide channel vectorized row major Int8 format."  # the guide's example
FLOAT_FMT = "Row major linear FP32 format"


def test_sparse_layers_reads_the_builders_sparsity_lines():
    record = BuildLog([("WARNING", "unrelated"), *GUIDE_SPARSITY])
    assert sparse_layers(record) == (["conv1", "conv2", "conv3"], ["conv2", "conv3"])
    assert sparse_layers(BuildLog([("INFO", "no sparsity here")])) == ([], [])


def test_int8_layers_lists_computing_layers_with_an_int8_tensor():
    info = json.dumps({"Layers": [
        _layer("conv1 + relu1", "CaskConvolution", INT8_FMT, INT8_FMT),
        _layer("Reformatting CopyNode for Input Tensor 0 to conv1", "Reformat", FLOAT_FMT,
               INT8_FMT),
        _layer("fc", "CaskGemmMatrixMultiply", FLOAT_FMT, FLOAT_FMT),
        _layer("conv2", "CaskConvolution", INT8_FMT, FLOAT_FMT),
    ], "Bindings": ["x", "y"]})
    assert int8_layers(info) == [("conv1 + relu1", INT8_FMT), ("conv2", INT8_FMT)]


def test_int8_layers_says_so_when_the_answer_is_not_json(caplog):
    with caplog.at_level(logging.WARNING, logger="targets.tensorrt.build_log"):
        assert int8_layers("conv1 + relu1 [Int8]") == []
    assert "not JSON" in caplog.text


def test_the_recording_logger_keeps_up_to_info_and_passes_warnings_on(caplog):
    logger, record = recording_logger(trt)  # type: ignore[arg-type]
    assert isinstance(logger, trt.ILogger)
    sev = trt.ILogger.Severity
    with caplog.at_level(logging.DEBUG, logger="targets.tensorrt.build_log"):
        for level, msg in [(sev.VERBOSE, "tactic timing"), (sev.INFO, GUIDE_SPARSITY[1][1]),
                           (sev.WARNING, "weights are not used"), (sev.ERROR, "conv1: bad")]:
            logger.log(level, msg)
    assert [m for _, m in record.lines] == [GUIDE_SPARSITY[1][1], "weights are not used",
                                            "conv1: bad"]
    assert record.errors() == ["conv1: bad"]
    assert sparse_layers(record)[1] == ["conv2", "conv3"]
    warned = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.WARNING]
    assert warned == [("WARNING", "TensorRT: weights are not used"), ("ERROR", "TensorRT: conv1: bad")]


def test_the_engine_build_asks_for_detailed_layer_information_and_records_the_log(caplog):
    """Through the stand-in: the builder gets the recording logger, the config DETAILED
    profiling verbosity (what the int8 report reads); the stand-in's runtime reads back no
    engine, so the build says it could not list int8 layers instead of listing none."""
    import compiler
    from compiler.ir.parser import parse_graph
    from tests.support.trt_zoo import standin_engine_build

    g = parse_graph("""
graph @g(%x: f32[1,4]) -> (f32[1,4]) {
  %y: f32[1,4] = relu(%x)  // act
  return %y
}
""")
    with standin_engine_build() as recorded, \
            caplog.at_level(logging.WARNING, logger="targets.tensorrt.target"):
        result = compiler.compile(g, "tensorrt")
    assert recorded.config.profiling_verbosity == trt.ProfilingVerbosity.DETAILED
    assert isinstance(recorded.logger, trt.ILogger)
    assert "could not be read back to list its int8 layers" in caplog.text
    assert not [n for n in result.emitted.layer_notes if n[0] in ("int8", "sparse tactic")]
    out = trt.execute(recorded.network, {"x": np.array([[-1, 2, -3, 4]], np.float32)})
    np.testing.assert_array_equal(next(iter(out.values())), [[0, 2, 0, 4]])


@pytest.mark.parametrize("text", ["[]", '{"Layers": "none"}', '{"Layers": [1, {"Name": "x"}]}'])
def test_int8_layers_takes_odd_answers_without_a_traceback(text):
    assert int8_layers(text) == []
