"""``load_caffe(..., placeholder_weights=True)``: a deploy prototxt without its caffemodel
loads with the structure, shapes, parameter counts and FLOPs the real weights give."""

from __future__ import annotations

import pytest

from compiler.errors import ModelLoadError
from compiler.frontends import load
from compiler.frontends.caffe import load_caffe
from compiler.ir.verifier import verify
from compiler.stats import model_stats
from tests.conftest import model_path
from tests.support.caffe_nets import seeded_caffemodel


@pytest.mark.parametrize("name", ["bvlc_googlenet_deploy", "mnist_lenet"])
def test_placeholder_weights_give_the_stats_of_real_weights(tmp_path, name):
    proto = model_path(f"caffe/bvlc/{name}.prototxt")
    weights = tmp_path / "w.caffemodel"
    seeded_caffemodel(proto, weights, seed=0)  # written from the prototxt by the test
    real = load_caffe(proto, weights)
    bare = load_caffe(proto, placeholder_weights=True)
    verify(bare)
    assert bare.metadata["weights"] == "none" and "weights" not in real.metadata
    assert [str(v.type) for v in bare.inputs] == [str(v.type) for v in real.inputs]
    assert [str(v.type) for v in bare.outputs] == [str(v.type) for v in real.outputs]
    a, b = model_stats(real), model_stats(bare)
    assert (b.params, b.param_bytes, b.flops, b.macs) == (a.params, a.param_bytes, a.flops,
                                                          a.macs)
    assert b.op_histogram == a.op_histogram and not b.uncounted


def test_without_the_option_a_missing_caffemodel_is_refused(tmp_path):
    lonely = tmp_path / "net.prototxt"
    lonely.write_text(model_path("caffe/bvlc/mnist_lenet.prototxt").read_text())
    with pytest.raises(ModelLoadError, match="no .caffemodel beside"):
        load(lonely)
    g = load(lonely, placeholder_weights=True)
    assert g.metadata["weights"] == "none"
