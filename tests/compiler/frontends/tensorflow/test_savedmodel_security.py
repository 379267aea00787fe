"""SavedModels and Keras files must not run code planted in them.

Each test saves a small model whose loading through TF's own loaders writes a marker file
(``tf.io.write_file`` in a TF1 ``main_op``, in a TF2 resource's creator and initializer, or
a Python ``Lambda`` layer in a ``.keras`` / ``.h5`` file), loads it with infercc, and
asserts the marker does not exist afterwards. Then the same file is loaded with TF's own
loader to show the payload is live (the marker appears), so its absence is not an accident
of a broken payload. Where infercc can load the model without the payload, the outputs are
checked against the model's own arithmetic.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402

from compiler.errors import ModelLoadError  # noqa: E402
from compiler.frontends.tensorflow import load_tensorflow  # noqa: E402
from compiler.interpreter import run_graph  # noqa: E402

ROOT = Path(__file__).resolve().parents[4]
W = np.array([[1.0, -2.0], [0.5, 3.0], [2.0, 0.25]], np.float32)


def _tf1_main_op(path: Path, marker: Path, use_resource: bool = False) -> None:
    """A TF1 SavedModel y = x @ w (w a VariableV2, or a resource variable) whose main_op
    writes ``marker``."""
    with tf.Graph().as_default() as g, tf.compat.v1.Session(graph=g) as sess:
        x = tf.compat.v1.placeholder(tf.float32, [None, 3], name="x")
        w = tf.compat.v1.get_variable("scope/w", initializer=W, use_resource=use_resource)
        y = tf.identity(tf.matmul(x, w), name="y")
        sess.run(tf.compat.v1.global_variables_initializer())
        payload = tf.io.write_file(str(marker), "main_op ran")
        sig = tf.compat.v1.saved_model.predict_signature_def({"x": x}, {"y": y})
        b = tf.compat.v1.saved_model.Builder(str(path))
        b.add_meta_graph_and_variables(sess, ["serve"], signature_def_map={"serving_default": sig},
                                       main_op=tf.group(payload))
        b.save()


class _Payload(tf.saved_model.experimental.TrackableResource):
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)
        super().__init__()

    def _create_resource(self):
        tf.io.write_file(self.marker + ".create", "creator ran")
        return tf.raw_ops.VarHandleOp(dtype=tf.float32, shape=[], shared_name="payload")

    def _initialize(self):
        tf.io.write_file(self.marker + ".init", "initializer ran")
        return tf.raw_ops.AssignVariableOp(resource=self.resource_handle, value=1.0)


def _tf2_resource(path: Path, marker: Path) -> None:
    """A TF2 SavedModel y = x @ w whose resource creator and initializer write markers."""
    m = tf.Module()
    m.w = tf.Variable(W)
    m.payload = _Payload(marker)
    m.f = tf.function(lambda x: {"y": tf.matmul(x, m.w)},
                      input_signature=[tf.TensorSpec([None, 3], tf.float32)])
    tf.saved_model.save(m, str(path), signatures={"serving_default": m.f})


def _markers(marker: Path) -> list[Path]:
    return [p for p in (marker, Path(str(marker) + ".create"), Path(str(marker) + ".init")) if p.exists()]


def _check_matmul(graph) -> None:
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    out = run_graph(graph, {graph.inputs[0].name: x})[graph.outputs[0].name]
    np.testing.assert_allclose(out, x @ W, rtol=1e-6, atol=1e-6)


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "compiler.cli", *args], capture_output=True,
                          text=True, env=env, timeout=300, cwd=ROOT)


@pytest.mark.parametrize("use_resource", [False, True])
def test_tf1_main_op_is_not_run(tmp_path, use_resource):
    path, marker = tmp_path / "tf1", tmp_path / "PAYLOAD_RAN"
    _tf1_main_op(path, marker, use_resource)
    assert not marker.exists()
    graph = load_tensorflow(path, input_shapes={"x": [2, 3]})
    assert not _markers(marker), "infercc ran the SavedModel's main_op"
    _check_matmul(graph)
    # the payload is live: TF's TF1 loader runs it
    with tf.Graph().as_default() as g, tf.compat.v1.Session(graph=g) as sess:
        tf.compat.v1.saved_model.loader.load(sess, ["serve"], str(path))
    assert marker.exists()


def test_tf2_resource_initializers_are_not_run(tmp_path):
    path, marker = tmp_path / "tf2", tmp_path / "PAYLOAD_RAN"
    _tf2_resource(path, marker)
    for p in _markers(marker):  # tf.saved_model.save traces (and may run) them while saving
        p.unlink()
    graph = load_tensorflow(path, input_shapes={"x": [2, 3]})
    assert not _markers(marker), "infercc ran a resource creator or initializer"
    _check_matmul(graph)
    tf.saved_model.load(str(path))  # the payload is live: TF2's loader runs both
    assert len(_markers(marker)) == 2


def test_cli_inspect_tf1_main_op(tmp_path):
    path, marker = tmp_path / "tf1", tmp_path / "PAYLOAD_RAN"
    _tf1_main_op(path, marker)
    res = _cli("inspect", str(path), "--input-shape", "x:2,3")
    assert not marker.exists(), "infercc inspect ran the SavedModel's main_op"
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr, res.stderr


def _lambda_model(marker: Path):
    # a Python lambda, which Keras stores as bytecode; it opens the marker when called
    payload = eval(f"lambda t: (open({str(marker)!r}, 'w').close(), t)[1]")  # noqa: S307
    inp = keras.Input((3,), name="x")
    out = keras.layers.Lambda(payload, name="evil")(keras.layers.Dense(2, name="d")(inp))
    return keras.Model(inp, out)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras_lambda_refused_in_safe_mode(tmp_path, suffix):
    marker = tmp_path / "PAYLOAD_RAN"
    model = _lambda_model(marker)
    path = tmp_path / f"evil{suffix}"
    model.save(str(path))
    marker.unlink()  # building the model called the layer once
    with pytest.raises(ModelLoadError) as ei:
        load_tensorflow(path)
    msg = str(ei.value)
    assert str(path) in msg and "safe mode" in msg and "Lambda" in msg, msg
    assert "\n" not in msg, msg
    assert not marker.exists(), "infercc deserialized and ran a Lambda layer"
    keras.models.load_model(str(path), compile=False, safe_mode=False)  # the payload is live
    assert marker.exists()


def test_keras_config_gadget_refused(tmp_path):
    """A layer entry of config.json that names an arbitrary callable (os.system) instead
    of a Keras class is refused without being called."""
    import json
    import zipfile

    marker = tmp_path / "PAYLOAD_RAN"
    inp = keras.Input((3,), name="x")
    ok = tmp_path / "ok.keras"
    keras.Model(inp, keras.layers.Dense(2, name="d")(inp)).save(str(ok))
    with zipfile.ZipFile(ok) as z:
        files = {n: z.read(n) for n in z.namelist()}
    cfg = json.loads(files["config.json"])
    cfg["config"]["layers"][1].update(module="os", class_name="system", registered_name=None,
                                      config=f"touch {marker}")
    files["config.json"] = json.dumps(cfg).encode()
    evil = tmp_path / "gadget.keras"
    with zipfile.ZipFile(evil, "w") as z:
        for n, d in files.items():
            z.writestr(n, d)
    with pytest.raises(ModelLoadError) as ei:
        load_tensorflow(evil)
    assert str(evil) in str(ei.value)
    assert not marker.exists(), "a config gadget ran"
