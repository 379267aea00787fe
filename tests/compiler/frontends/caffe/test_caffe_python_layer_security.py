"""A Caffe ``Python`` layer names a module to import; infercc never imports it.

The module planted next to the network (and on ``sys.path``) creates a marker file when
imported. Loading the network reports the layer as unsupported, and the marker stays absent.
"""

from __future__ import annotations

import sys

import pytest

from compiler.errors import UnsupportedOpsError
from compiler.frontends.caffe import load_caffe

NET = """name: "n"
input: "data"
input_shape { dim: 1 dim: 3 dim: 4 dim: 4 }
layer { name: "py" type: "Python" bottom: "data" top: "out"
  python_param { module: "planted_layer" layer: "Planted" param_str: "x" } }
"""


def test_python_layer_is_refused_and_its_module_never_imported(tmp_path, monkeypatch):
    marker = tmp_path / "PAYLOAD_RAN"
    (tmp_path / "planted_layer.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nclass Planted:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    net = tmp_path / "net.prototxt"
    net.write_text(NET)
    with pytest.raises(UnsupportedOpsError) as ei:
        load_caffe(net)
    assert "Python" in str(ei.value) and "py" in str(ei.value)
    assert not marker.exists() and "planted_layer" not in sys.modules
    __import__("planted_layer")  # the payload is live: importing the module runs it
    assert marker.exists()
    del sys.modules["planted_layer"]
