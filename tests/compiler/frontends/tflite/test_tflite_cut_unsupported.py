"""``load_tflite(cut_unsupported=True)``: ops infercc cannot lower are cut out and the rest
of the model loads, computing what LiteRT computes around the cut."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.errors import UnsupportedOpsError
from compiler.frontends.tflite import load_tflite
from compiler.runtime import open_executor
from tests.conftest import model_path

SELFIE = "tflite/mediapipe/selfie_segmentation.tflite"


def test_without_the_option_the_custom_op_is_refused():
    with pytest.raises(UnsupportedOpsError, match="Convolution2DTransposeBias"):
        load_tflite(model_path(SELFIE))


def _custom_op_weights(path) -> tuple[np.ndarray, np.ndarray]:
    """The float16 kernel [1, 2, 2, 16] (OHWI) and bias [1] of the model's
    Convolution2DTransposeBias, read from the flatbuffer with LiteRT's schema."""
    from ai_edge_litert import schema_py_generated as schema

    m = schema.ModelT.InitFromPackedBuf(path.read_bytes(), 0)
    sg = m.subgraphs[0]
    by_name = {sg.tensors[i].name.decode(): sg.tensors[i] for i in range(len(sg.tensors))}

    def data(name):
        t = by_name[name]
        return np.frombuffer(bytes(m.buffers[t.buffer].data), np.float16).astype(
            np.float32).reshape(list(t.shape))

    return data("segment/Kernel"), data("segment/Bias")


def test_the_cut_graph_computes_what_litert_computes_around_the_cut():
    """LiteRT runs the whole model (XNNPACK has the custom kernel, so its intermediates are
    not kept); the cut graph, with the custom op done in numpy between its two halves, must
    give LiteRT's output."""
    pytest.importorskip("ai_edge_litert")
    path = model_path(SELFIE)
    g = load_tflite(path, cut_unsupported=True)
    assert [v.name for v in g.inputs] == ["input_1", "segment"]
    assert g.metadata["cut_inputs"] == "segment"
    assert g.metadata["cut_outputs"] == "add_13__xeno_compat__1"
    from skimage import data

    # a photo of a person (scikit-image's astronaut, 256x256 RGB in [0, 1]): the mask
    # spans 0..1, so a wrong custom op shows (kernel axes swapped: max |err| 0.93)
    x = (data.astronaut()[::2, ::2][:256, :256].astype(np.float32) / 255)[None]
    lite = open_executor("litert", str(path))
    (want,) = lite.run({lite.input_names[0]: x}).outputs.values()
    ref = open_executor("reference", g)
    a = ref.run({"input_1": x, "segment": np.zeros((1, 256, 256, 1), np.float32)}
                ).outputs["add_13__xeno_compat__1"]
    # the custom op's options are padding SAME, stride 2x2; with a 2x2 kernel every output
    # pixel takes exactly one input pixel: y[2i+ky, 2j+kx] = a[i, j, :] . K[ky, kx, :] + b
    k, b = _custom_op_weights(path)
    seg = np.einsum("nijc,ykc->niyjk", a, k[0]).reshape(1, 256, 256, 1) + b
    got = ref.run({"input_1": x, "segment": seg.astype(np.float32)}).outputs["activation_10"]
    # float16 weights dequantized alike, XNNPACK summing in its own order: measured max
    # |err| 6.8e-5 on the mask
    np.testing.assert_allclose(got, want, atol=5e-4)
