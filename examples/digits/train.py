#!/usr/bin/env python3
"""Train the small digits CNN of the README's INT8 job and write its model and data files.

Data: scikit-learn's ``load_digits()`` (1,797 real 8x8 handwritten digits, shipped inside
the package, no download). Pixels 0..16 are scaled to [0, 1] and laid out NHWC
``[N, 8, 8, 1]`` float32. A fixed stratified split (80 % train / 20 % test,
``random_state=0``) gives 1,437 training and 360 held-out images.

Model (Keras, NHWC): conv 3x3x16 ReLU -> conv 3x3x32 ReLU -> max pool 2x2 -> conv 3x3x32
ReLU -> global average pool -> dense 10. The output is **logits** (no softmax) so the
float-vs-int8 comparison can measure the signal-to-noise ratio of the logits; the class is
their argmax. About 15 k parameters; trains in a few seconds on 2 CPU cores.

Writes (``--out-dir``, default the ``examples/`` folder):

* ``models/digits_cnn.keras``
* ``data/digits_train.npz`` and ``data/digits_test.npz``: one array keyed by the model's
  input name as infercc imports it (``compiler.load(model).inputs[0].name``), shape
  ``[N, 8, 8, 1]`` float32, plus ``labels`` (int64 ``[N]``); compressed. This is the format
  ``infercc compile --calibration`` and :func:`compiler.debug.evaluate.evaluate_tflite` read.

Seeds are fixed and TensorFlow's deterministic ops are on, so a rerun reproduces the same
weights on the same TensorFlow build (and the same accuracy; the figure printed at the end
is the float model's accuracy on the held-out split).

    python3 examples/digits/train.py            # ~5 s; prints the test accuracy
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

EXAMPLES = Path(__file__).resolve().parent.parent
REPO = EXAMPLES.parent
SEED = 0
TEST_FRACTION = 0.2


def load_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): NHWC float32 in [0, 1] and int64 labels."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0)[..., None]  # [1797, 8, 8, 1]
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=TEST_FRACTION, stratify=y,
                                              random_state=SEED)
    return x_tr, y_tr, x_te, y_te


def build_model():
    import keras
    from keras import layers

    inp = keras.Input((8, 8, 1), name="digits")
    h = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(inp)
    h = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(h)
    h = layers.MaxPooling2D(2, name="pool")(h)
    h = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv3")(h)
    h = layers.GlobalAveragePooling2D(name="gap")(h)
    out = layers.Dense(10, name="logits")(h)
    return keras.Model(inp, out, name="digits_cnn")


def train(epochs: int = 40, verbose: int = 0):
    """Train on the fixed split; returns (model, split, test accuracy of the float model)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    x_tr, y_tr, x_te, y_te = load_split()
    model = build_model()
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x_tr, y_tr, batch_size=32, epochs=epochs, shuffle=True, verbose=verbose)
    logits = model.predict(x_te, batch_size=256, verbose=0)
    acc = float(np.mean(np.argmax(logits, axis=1) == y_te))
    return model, (x_tr, y_tr, x_te, y_te), acc


def input_name(model_path: Path) -> str:
    """The model's (single) input name as infercc imports it."""
    sys.path.insert(0, str(REPO))
    import compiler

    graph = compiler.load(str(model_path), layout="NHWC")
    if len(graph.inputs) != 1:
        raise SystemExit(f"{model_path}: expected one input, infercc sees {len(graph.inputs)}")
    return graph.inputs[0].name


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out-dir", type=Path, default=EXAMPLES,
                    help="writes models/digits_cnn.keras and data/digits_{train,test}.npz "
                         "under it (default: %(default)s)")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--verbose", type=int, default=0, help="Keras fit verbosity")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    model, (x_tr, y_tr, x_te, y_te), acc = train(args.epochs, args.verbose)
    model_path = args.out_dir / "models" / "digits_cnn.keras"
    model_path.parent.mkdir(parents=True, exist_ok=True)
    # Save an uncompiled copy: the optimizer state would triple the file for nothing.
    clean = build_model()
    clean.set_weights(model.get_weights())
    clean.save(model_path)
    name = input_name(model_path)
    data_dir = args.out_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    for split, x, y in (("train", x_tr, y_tr), ("test", x_te, y_te)):
        np.savez_compressed(data_dir / f"digits_{split}.npz", **{name: x, "labels": y})
    print(f"trained {model.count_params()} parameters in {time.perf_counter() - t0:.1f} s; "
          f"float test accuracy {acc:.4f} on {len(y_te)} held-out digits")
    print(f"wrote {model_path} ({model_path.stat().st_size} bytes), "
          f"{data_dir / 'digits_train.npz'} ({len(y_tr)} samples), "
          f"{data_dir / 'digits_test.npz'} ({len(y_te)} samples); input name {name!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
