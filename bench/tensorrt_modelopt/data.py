"""The three models of the ModelOpt comparison as float ONNX files, with real-ish data.

Every case gives one float ONNX file (fixed input shape, what both quantizers read), a
calibration set and a disjoint held-out set, preprocessed the way the model expects, as
float32 ``[N, C, H, W]`` arrays.

* ``effnet``: the pretrained ImageNet EfficientNet-Lite0 (``tests/support/models_torch``'s
  module with the shared state dict), written by infercc's ONNX target from the torch
  module (constant pads, BN folded, ReLU6 as Clip; ``torch.onnx.export`` leaves the
  SAME-padding arithmetic as ~500 shape ops). Images: the photos and crops of
  ``bench/int8/data.py`` (calibration photos and held-out photos disjoint), NCHW, ``(x/255
  - 0.5)/0.5``. The float file must give top-1 285 on ``chelsea`` and 967 on ``coffee``
  (the first two held-out images) or ``RuntimeError`` is raised.
* ``ppocr_cls``: PP-OCR's text-direction classifier (``ch_ppocr_mobile_v2.0_cls_infer.onnx``)
  at 1x3x48x192; ``ppocr_det``: PP-OCRv4's text detector (``ch_PP-OCRv4_det_infer.onnx``) at
  1x3x320x320. Both are re-written by infercc's ONNX target with that input shape (the
  source files keep weights as ``Constant`` nodes and a dynamic batch). Data: text lines
  rendered with PIL's bundled font onto crops of real photos (scikit-image), half of the
  classifier's lines turned 180 degrees (what it detects), plus line-shaped crops of real
  photographed text (``skimage.data.page()`` for calibration, ``skimage.data.text()`` held out). The
  calibration and held-out sets use different photos, words and seeds. Preprocessing as
  PaddleOCR does on a BGR image: cls resizes to 48 high keeping the aspect ratio (at most
  192 wide), ``(x/255 - 0.5)/0.5``, zero-pads to 192 on the right; det resizes to 320x320
  and normalizes with the ImageNet mean/std.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.zoo import ZOO

RAPIDOCR = ZOO / "onnx" / "rapidocr"
CLS_SHAPE = (1, 3, 48, 192)
DET_SHAPE = (1, 3, 320, 320)
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)

CALIB_WORDS = ("invoice total amount paid receipt market street station north river "
               "coffee bread milk price discount member number date time open close "
               "exit entrance parking floor room 2026 14:30 No.17 $12.50").split()
HELD_WORDS = ("welcome library museum hotel garden bridge ticket office platform train "
              "bus stop road west east south city centre hospital school phone email "
              "address 1984 08:15 A-42 EUR 7.99").split()


@dataclass
class Case:
    name: str
    float_onnx: Path
    calibration: np.ndarray  # [N, C, H, W] float32
    held_out: np.ndarray     # [M, C, H, W] float32
    kind: str                # "classifier" or "detector"
    note: str


def _photos(names: list[str]) -> list[np.ndarray]:
    """uint8 RGB photos of scikit-image by name (grayscale ones stacked to RGB)."""
    from skimage import data as skdata

    out = []
    for n in names:
        img = getattr(skdata, n)()
        if n == "stereo_motorcycle":
            img = img[0]
        if img.ndim == 2:
            img = np.stack([img] * 3, -1)
        out.append(np.ascontiguousarray(img[..., :3]).astype(np.uint8))
    return out


CALIB_PHOTOS = ["astronaut", "rocket", "coffee", "camera"]
HELD_PHOTOS = ["chelsea", "stereo_motorcycle", "coins", "immunohistochemistry"]


def _crop(rng: np.random.Generator, img: np.ndarray, h: int, w: int,
          smallest: float = 0.3) -> np.ndarray:
    """A random crop of ``img`` with aspect ``w/h`` (side ``smallest`` to 1 of the largest
    that fits), resized to ``h x w``."""
    import cv2

    ih, iw = img.shape[:2]
    scale = rng.uniform(smallest, 1.0) * min(ih / h, iw / w)
    ch, cw = max(int(h * scale), 4), max(int(w * scale), 4)
    t, l = int(rng.integers(0, ih - ch + 1)), int(rng.integers(0, iw - cw + 1))
    return cv2.resize(img[t:t + ch, l:l + cw], (w, h), interpolation=cv2.INTER_AREA)


def _line(rng: np.random.Generator, words: tuple[str, ...] | list[str], size: int
          ) -> tuple[str, object]:
    from PIL import ImageFont

    k = int(rng.integers(1, 5))
    text = " ".join(str(w) for w in rng.choice(words, k))
    return text, ImageFont.load_default(size=size)


def _draw_text(rng: np.random.Generator, canvas: np.ndarray, words, size: int,
               xy: tuple[int, int]) -> np.ndarray:
    """``canvas`` (uint8 RGB) with one line of text at ``xy`` in a color contrasting with
    the background under it."""
    from PIL import Image, ImageDraw

    text, font = _line(rng, words, size)
    im = Image.fromarray(canvas)
    draw = ImageDraw.Draw(im)
    l, t, r, b = draw.textbbox(xy, text, font=font)
    patch = canvas[max(t, 0):max(b, 1), max(l, 0):max(r, 1)]
    bright = float(patch.mean()) if patch.size else 128.0
    base = rng.integers(0, 70, 3) if bright > 110 else rng.integers(185, 256, 3)
    if rng.random() < 0.3:  # a plate behind the text, as on signs and labels
        plate = tuple(int(v) for v in (255 - base))
        draw.rectangle((l - 3, t - 3, r + 3, b + 3), fill=plate)
    draw.text(xy, text, font=font, fill=tuple(int(v) for v in base))
    return np.asarray(im)


def _cls_line(rng: np.random.Generator, photos: list[np.ndarray], words) -> np.ndarray:
    """One uint8 RGB text-line image (about 3:1 to 8:1), upside down half of the time."""
    size = int(rng.integers(22, 40))
    h = int(size * rng.uniform(1.3, 1.7))
    w = int(h * rng.uniform(3.0, 8.0))
    bg = _crop(rng, photos[int(rng.integers(len(photos)))], h, w)
    img = _draw_text(rng, bg, words, size, (int(rng.integers(0, max(h // 4, 1))),
                                            int((h - size) * 0.3)))
    return img[::-1, ::-1] if rng.random() < 0.5 else img


def cls_preprocess(img_rgb: np.ndarray) -> np.ndarray:
    """PaddleOCR's classifier preprocessing of one uint8 RGB line -> ``[3, 48, 192]``."""
    import cv2

    _, h_in, w_in = CLS_SHAPE[1:]
    bgr = np.ascontiguousarray(img_rgb[..., ::-1])
    h, w = bgr.shape[:2]
    rw = min(w_in, int(math.ceil(h_in * w / h)))
    x = cv2.resize(bgr, (rw, h_in)).astype(np.float32).transpose(2, 0, 1) / 255.0
    x = (x - 0.5) / 0.5
    out = np.zeros(CLS_SHAPE[1:], np.float32)
    out[:, :, :rw] = x
    return out


def det_preprocess(img_rgb: np.ndarray) -> np.ndarray:
    """PaddleOCR's detector preprocessing of one uint8 RGB image -> ``[3, 320, 320]``."""
    import cv2

    bgr = np.ascontiguousarray(img_rgb[..., ::-1])
    x = cv2.resize(bgr, DET_SHAPE[:1:-1]).astype(np.float32) / 255.0
    return ((x - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1).astype(np.float32)


def _cls_set(n: int, seed: int, photos: list[str], words, real: np.ndarray) -> np.ndarray:
    """``n`` preprocessed lines: 3/4 rendered, 1/4 line-shaped crops (20-48 px high) of the
    photographed text ``real``; half of each kind upside down."""
    rng = np.random.default_rng(seed)
    imgs = _photos(photos)
    n_real = n // 4
    lines = [_cls_line(rng, imgs, words) for _ in range(n - n_real)]
    rgb = np.stack([real] * 3, -1)
    for _ in range(n_real):
        h = int(rng.integers(20, 49))
        crop = _crop(rng, rgb, h, int(h * rng.uniform(3, 8)))
        lines.append(crop[::-1, ::-1] if rng.random() < 0.5 else crop)
    order = rng.permutation(len(lines))
    return np.stack([cls_preprocess(lines[i]) for i in order])


def _det_image(rng: np.random.Generator, photos: list[np.ndarray], words) -> np.ndarray:
    side = DET_SHAPE[2]
    img = _crop(rng, photos[int(rng.integers(len(photos)))], side, side)
    for _ in range(int(rng.integers(3, 9))):
        size = int(rng.integers(14, 36))
        img = _draw_text(rng, img, words, size, (int(rng.integers(0, side // 2)),
                                                 int(rng.integers(0, side - size))))
    return img


def _det_set(n: int, seed: int, photos: list[str], words, real: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(seed)
    imgs = _photos(photos)
    n_real = n // 4
    real_rgb = np.stack([real] * 3, -1)
    out = [_det_image(rng, imgs, words) for _ in range(n - n_real)]
    out += [_crop(rng, real_rgb, DET_SHAPE[2], DET_SHAPE[3], 0.8) for _ in range(n_real)]
    return np.stack([det_preprocess(x) for x in out])


def _write_float(src: Path, shape: tuple[int, ...], out: Path) -> Path:
    import compiler

    if not src.exists():
        raise FileNotFoundError(f"{src} is missing")
    compiler.compile(str(src), "onnx", output=str(out), input_shapes={"x": list(shape)})
    return out


def ppocr_cls(tmp: Path, n_cal: int, n_held: int) -> Case:
    from skimage import data as skdata

    f = _write_float(RAPIDOCR / "ch_ppocr_mobile_v2.0_cls_infer.onnx", CLS_SHAPE,
                     tmp / "ppocr_cls.onnx")
    cal = _cls_set(n_cal, 0, CALIB_PHOTOS, CALIB_WORDS, skdata.page())
    held = _cls_set(n_held, 1, HELD_PHOTOS, HELD_WORDS, skdata.text())
    return Case("PP-OCR cls", f, cal, held, "classifier",
                "1x3x48x192; rendered text lines on photo crops + real text crops, half "
                "turned 180 degrees; 2-class softmax output")


def ppocr_det(tmp: Path, n_cal: int, n_held: int) -> Case:
    from skimage import data as skdata

    f = _write_float(RAPIDOCR / "ch_PP-OCRv4_det_infer.onnx", DET_SHAPE, tmp / "ppocr_det.onnx")
    cal = _det_set(n_cal, 2, CALIB_PHOTOS, CALIB_WORDS, skdata.page())
    held = _det_set(n_held, 3, HELD_PHOTOS, HELD_WORDS, skdata.text())
    return Case("PP-OCRv4 det", f, cal, held, "detector",
                "1x3x320x320; photos with rendered text + crops of photographed text; "
                "sigmoid probability map output")


def effnet(tmp: Path, n_cal: int, n_held: int) -> Case:
    import onnxruntime as ort
    import torch

    import compiler
    from bench.int8.data import effnet_images
    from bench.int8.efficientnet_lite0 import EXPECTED_TOP1, WEIGHTS, preprocess
    from tests.support.models_torch import EfficientNetLite0

    if not WEIGHTS.exists():
        raise FileNotFoundError(f"{WEIGHTS} is missing")
    m = EfficientNetLite0()
    m.load_state_dict(torch.load(WEIGHTS, map_location="cpu", weights_only=True), strict=True)
    m.eval()
    f = tmp / "efficientnet_lite0.onnx"
    compiler.compile(m, "onnx", output=str(f), example_inputs=(torch.zeros(1, 3, 224, 224),))
    crops = max(n_held // 3 - 1, 0)
    pool, held = effnet_images(pool=n_cal, eval_crops=crops)
    cal = np.ascontiguousarray(preprocess(pool).transpose(0, 3, 1, 2))
    held = np.ascontiguousarray(preprocess(held).transpose(0, 3, 1, 2))
    sess = ort.InferenceSession(str(f), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    top1 = [int(sess.run(None, {name: held[i:i + 1]})[0].argmax()) for i in range(2)]
    if top1 != list(EXPECTED_TOP1.values()):
        raise RuntimeError(f"the float EfficientNet-Lite0 ONNX gives top-1 {top1} on "
                           f"{list(EXPECTED_TOP1)}, expected {list(EXPECTED_TOP1.values())}")
    return Case("EfficientNet-Lite0", f, cal, held, "classifier",
                "ImageNet, 1x3x224x224; calibration crops of 5 photos, held-out: chelsea, "
                "coffee, flower whole + crops; logits output (float top-1 on chelsea/coffee "
                "285/967 checked)")


CASES: dict[str, Callable[[Path, int, int], Case]] = {
    "effnet": effnet, "cls": ppocr_cls, "det": ppocr_det}
