"""Reading of Caffe nets: ``.prototxt``/``.caffemodel`` into layers, phase rules and blobs.

Both the current (``layer``) and the V1 (``layers``) formats are read; V1 enum layer types
are spelled as the current type names. Nothing here knows the IR.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ModelLoadError

@dataclass
class Layer:
    """One layer of either format, with the type spelled as in the current format."""

    name: str
    type: str
    bottom: list[str]
    top: list[str]
    msg: Any  # LayerParameter or V1LayerParameter: *_param fields are read from it
    index: int
    index_in_net: int = -1  # position among the active layers

    def param(self, field_name: str) -> Any:
        return getattr(self.msg, field_name)

    def has(self, field_name: str) -> bool:
        try:
            return self.msg.HasField(field_name)
        except ValueError:  # the V1 message lacks this parameter field
            return False


def read_net(source: Any, kind: str) -> tuple[Any, str]:
    """``(NetParameter, label)`` from a path or a NetParameter; ``kind`` is ``prototxt`` or
    ``caffemodel``. Missing or unreadable files raise ModelLoadError."""
    from . import proto as cp

    if isinstance(source, cp.NetParameter):
        return source, source.name or f"<caffe {kind}>"
    if not isinstance(source, (str, os.PathLike)):
        raise ModelLoadError(
            f"cannot read a Caffe {kind} from a {type(source).__name__}; pass a path or a "
            "caffe NetParameter")
    path = Path(source)
    if not path.exists():
        what = ".prototxt network definition" if kind == "prototxt" else ".caffemodel weights"
        raise ModelLoadError(f"{path}: no such file; check the path to the {what}")
    if path.is_dir():
        raise ModelLoadError(f"{path}: is a directory; pass the {kind} file inside it")
    net = cp.read_prototxt(path) if kind == "prototxt" else cp.read_caffemodel(path)
    return net, str(path)


def net_layers(net: Any) -> list[Layer]:
    """The net's layers in order, V1 ``layers`` converted to current type names."""
    from . import proto as cp

    out = []
    if cp.is_v1(net):
        for i, l in enumerate(net.layers):
            enum_name = cp.V1LayerParameter.LayerType.Name(l.type)
            t = cp.V1_TYPE_NAMES.get(enum_name, enum_name)
            out.append(Layer(l.name or f"layer{i}", t, list(l.bottom), list(l.top), l, i))
    else:
        for i, l in enumerate(net.layer):
            out.append(Layer(l.name or f"layer{i}", l.type, list(l.bottom), list(l.top), l, i))
    return out


def _rule_matches(rule: Any) -> bool:
    """Whether a NetStateRule holds for Caffe's default test state (TEST, level 0, no stages)."""
    from . import proto as cp

    if rule.HasField("phase") and rule.phase != cp.TEST:
        return False
    if rule.HasField("min_level") and rule.min_level > 0:
        return False
    if rule.HasField("max_level") and rule.max_level < 0:
        return False
    return len(rule.stage) == 0  # a required stage is never set; not_stage always passes


def active_at_test(layer: Layer) -> bool:
    """Whether the layer's include/exclude rules keep it in the TEST phase."""
    inc, exc = list(layer.msg.include), list(layer.msg.exclude)
    if inc:
        return any(_rule_matches(r) for r in inc)
    return not any(_rule_matches(r) for r in exc)


def layer_blobs(model: Any, label: str) -> dict[str, list[np.ndarray]]:
    """Layer name -> its blobs as float32 arrays (stored shapes, legacy 4-D included)."""
    from . import proto as cp

    out: dict[str, list[np.ndarray]] = {}
    for layer in net_layers(model):
        if len(layer.msg.blobs):
            out[layer.name] = [
                cp.blob_to_array(b, f"{label}: layer '{layer.name}' blob {i}").astype(np.float32, copy=False)
                for i, b in enumerate(layer.msg.blobs)
            ]
    return out


__all__ = ["Layer", "active_at_test", "layer_blobs", "net_layers", "read_net"]
