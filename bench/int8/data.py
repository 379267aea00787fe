"""Real models and real data for the INT8 benchmark.

Every case yields a float Keras model (NHWC), a calibration pool (float32 ``[N, H, W, C]``,
real images, already preprocessed the way the model expects) and a held-out evaluation set
(disjoint from the pool) with labels when the data has them.

* ``digits``: ``examples/models/digits_cnn.keras`` (trained by ``examples/digits/train.py``);
  calibration pool = ``examples/data/digits_train.npz`` (1,437 real digits, in file order,
  which is the shuffled stratified split), evaluation = ``digits_test.npz`` (360, labelled).
* ``fer``: the shared mini-Xception emotion classifier (``keras/fer/emotion_model.hdf5``),
  cut before its final softmax so the comparison reads logits (``predictions`` is a
  softmax activation layer; argmax, hence top-1, is unchanged). Images: the 100 real faces of
  ``skimage.data.lfw_subset()`` (25x25 grayscale in [0, 1]), resized bilinearly to 64x64
  and mapped to [-1, 1] (``x / 255 - 0.5) * 2`` on 0..255 pixels, the preprocessing the
  model was trained with). Faces 0-49 (and their mirror images, plus 4-pixel-shifted
  crops, when more than 100 samples are asked for) form the calibration pool; faces 50-99
  and their mirror images (100 images) are the held-out set. No emotion labels exist for
  them, so only agreement with the float model and SQNR are reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(__file__).resolve().parents[3] / "shared" / "models"


@dataclass
class Case:
    name: str
    model: Any  # a Keras model
    calibration: np.ndarray  # [N, H, W, C] float32 pool; the first n samples are used
    eval_x: np.ndarray
    eval_labels: np.ndarray | None
    note: str


def _digits() -> Case:
    import keras

    path = REPO / "examples" / "models" / "digits_cnn.keras"
    model = keras.models.load_model(path, compile=False)
    tr = np.load(REPO / "examples" / "data" / "digits_train.npz")
    te = np.load(REPO / "examples" / "data" / "digits_test.npz")
    key = next(k for k in tr.files if k != "labels")
    return Case("digits", model, tr[key].astype(np.float32), te[key].astype(np.float32),
                te["labels"], "sklearn digits, [0,1], 360 held-out labelled")


def _faces(images: np.ndarray, shifts: bool) -> np.ndarray:
    from skimage.transform import resize

    out = []
    for img in images:
        variants = [img, img[:, ::-1]]
        for v in variants:
            out.append(resize(v, (64, 64), order=1, anti_aliasing=False))
    if shifts:  # 4-pixel shifted crops (edge-padded) of the originals and their mirrors
        for img in images:
            for v in (img, img[:, ::-1]):
                big = resize(v, (64, 64), order=1, anti_aliasing=False)
                for dy, dx in ((4, 4), (-4, 4), (4, -4), (-4, -4)):
                    out.append(np.roll(np.pad(big, 4, mode="edge"), (dy, dx), (0, 1))[4:68, 4:68])
    x = np.stack(out).astype(np.float32)  # [0, 1]
    return ((x - 0.5) * 2.0)[..., None]  # == (pixel / 255 - 0.5) * 2 on 0..255 pixels


def _fer() -> Case:
    import keras
    from skimage.data import lfw_subset

    path = SHARED / "keras" / "fer" / "emotion_model.hdf5"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing")
    full = keras.models.load_model(path, compile=False)
    if full.layers[-1].get_config().get("activation") != "softmax":
        raise RuntimeError("fer: expected the last layer to be the softmax activation")
    logits = keras.Model(full.inputs, full.layers[-2].output, name="fer_logits")
    faces = lfw_subset()[:100]  # the first 100 images are faces, the rest non-faces
    pool = _faces(faces[:50], shifts=True)  # 500 images
    # order the pool so that the first 100 are the 50 originals and their mirror images
    held = _faces(faces[50:], shifts=False)  # 100 images
    return Case("fer", logits, pool, held, None,
                "LFW faces 64x64 gray in [-1,1], 100 held-out (50 faces + mirrors), logits")


CASES: dict[str, Callable[[], Case]] = {"digits": _digits, "fer": _fer}
