"""Caffe nets the tests write themselves (shared by the proto and frontend tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from google.protobuf import text_format

from compiler.frontends.caffe import proto as cp
from tests.conftest import model_path


def v1_lenet(tmp_path: Path, w: dict[str, list[np.ndarray]], batch: int) -> tuple[Path, Path]:
    """LeNet in the V1 format (``layers``, enum types, input/input_dim, 4-D legacy blobs)."""
    deploy = cp.read_prototxt(model_path("caffe/bvlc/mnist_lenet.prototxt"))
    v1_types = {v: k for k, v in cp.V1_TYPE_NAMES.items()}
    text_net, bin_net = cp.NetParameter(name="LeNet"), cp.NetParameter(name="LeNet")
    text_net.input.append("data")
    text_net.input_dim.extend([batch, 1, 28, 28])
    for l in deploy.layer:
        if l.type == "Input":
            continue
        kind = cp.V1LayerParameter.LayerType.Value(v1_types[l.type])
        v1 = text_net.layers.add(name=l.name, type=kind)
        v1.bottom.extend(l.bottom)
        v1.top.extend(l.top)
        for fd, value in l.ListFields():
            if fd.name.endswith("_param"):
                getattr(v1, fd.name).CopyFrom(value)
        if l.name in w:
            b1 = bin_net.layers.add(name=l.name, type=kind)
            for a in w[l.name]:
                dims = (1,) * (4 - a.ndim) + a.shape
                blob = b1.blobs.add(num=dims[0], channels=dims[1], height=dims[2], width=dims[3])
                blob.data.extend(a.ravel().tolist())
    proto, model = tmp_path / "v1.prototxt", tmp_path / "v1.caffemodel"
    proto.write_text(text_format.MessageToString(text_net))
    cp.write_caffemodel(bin_net, model)
    return proto, model
