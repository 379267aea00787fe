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
* ``effnet``: the shared pretrained ImageNet EfficientNet-Lite0 (PyTorch weights ported to
  Keras by ``bench/int8/efficientnet_lite0.py``, checked against a torch forward on
  ``chelsea`` / ``coffee`` before use; logits output). Images: the color photos of natural
  scenes that ship with scikit-image and scikit-learn, split BY PHOTO. Calibration photos:
  ``astronaut``, ``rocket``, ``stereo_motorcycle`` (left and right views), sklearn ``china``;
  held-out photos: ``chelsea``, ``coffee``, sklearn ``flower``. Samples are deterministic
  (seeded) random square crops (side 40-100 % of the photo's short side), mirrored with
  probability 1/2, resized to 224x224 (area averaging), preprocessed ``(x/255 - 0.5)/0.5``;
  the pool cycles through the calibration photos (256 samples); the held-out set is the
  three whole photos (squashed to 224x224) plus ``EFFNET_EVAL_CROPS`` crops each. ImageNet
  labels are not known for the crops, so top-1 agreement with the float model and logits
  SQNR are reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.zoo import ZOO

REPO = Path(__file__).resolve().parents[2]
SHARED = ZOO


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


EFFNET_POOL = 256
EFFNET_EVAL_CROPS = 63  # per held-out photo, plus the whole photo: 3 x 64 = 192 images


def _photo_crops(photos: list[np.ndarray], n: int, seed: int) -> np.ndarray:
    """``n`` uint8 224x224 crops cycling through ``photos`` (deterministic for ``seed``)."""
    from bench.int8.efficientnet_lite0 import to_input

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img = photos[i % len(photos)]
        h, w = img.shape[:2]
        side = round(float(rng.uniform(0.4, 1.0)) * min(h, w))
        top = int(rng.integers(0, h - side + 1))
        left = int(rng.integers(0, w - side + 1))
        out.append(to_input(img, (top, left, side, side), flip=bool(rng.random() < 0.5)))
    return np.stack(out)


def effnet_images(pool: int = EFFNET_POOL,
                  eval_crops: int = EFFNET_EVAL_CROPS) -> tuple[np.ndarray, np.ndarray]:
    """The EfficientNet-Lite0 calibration pool and held-out set (module doc) as uint8
    ``[N, 224, 224, 3]`` RGB: ``pool`` crops of the calibration photos; the three held-out
    photos whole plus ``eval_crops`` crops of each."""
    from skimage import data as skdata
    from sklearn.datasets import load_sample_images

    from bench.int8.efficientnet_lite0 import to_input

    sk = load_sample_images()
    sample = {Path(f).stem: img for f, img in zip(sk.filenames, sk.images)}
    left, right, _ = skdata.stereo_motorcycle()
    calib_photos = [skdata.astronaut(), skdata.rocket(), left, right, sample["china"]]
    eval_photos = [skdata.chelsea(), skdata.coffee(), sample["flower"]]
    held = np.concatenate([np.stack([to_input(p) for p in eval_photos]),
                           _photo_crops(eval_photos, 3 * eval_crops, seed=1)])
    return _photo_crops(calib_photos, pool, seed=0), held


def _effnet() -> Case:
    from bench.int8.efficientnet_lite0 import load_verified, preprocess

    model, report = load_verified()  # raises if the port disagrees with torch
    print("# " + report, flush=True)
    pool_u8, held_u8 = effnet_images()
    pool, held = preprocess(pool_u8), preprocess(held_u8)
    return Case("effnet", model, pool, preprocess(held), None,
                f"EfficientNet-Lite0 ImageNet, 224x224 RGB in [-1,1]; calibration crops of 5 "
                f"photos (astronaut, rocket, motorcycle L/R, china), {len(held)} held-out "
                f"images from 3 other photos (chelsea, coffee, flower), logits")


CASES: dict[str, Callable[[], Case]] = {"digits": _digits, "fer": _fer, "effnet": _effnet}
