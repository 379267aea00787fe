"""Calibration samples from a directory of images, with a stated preprocessing recipe.

``ImageFolder(path, input, recipe)`` yields one array per image, shaped like the graph input
``input`` with a batch of 1. Every image file under ``path`` (recursively, sorted by path;
extensions in :data:`IMAGE_EXTENSIONS`, others ignored) goes through:

1. read with OpenCV (``cv2.imread``, imported lazily; 8- or 16-bit, any channel count),
2. convert to the recipe's ``color`` (``rgb``, ``bgr`` or ``gray``; an alpha channel is
   dropped); a 1-channel input always gets gray,
3. resize to the input's H x W (``cv2.resize``, bilinear, aspect ratio not kept) unless the
   image already has that size,
4. ``x = (pixel * scale - mean) / std`` in float32, ``mean``/``std`` per channel (one value
   or one per channel, in the recipe's color order),
5. lay out as NCHW or NHWC, told by the input's shape (channels of 1 or 3 at axis 1 -> NCHW,
   at axis 3 -> NHWC; ``layout=`` overrides), add the batch axis, cast to the input's dtype.

Recipe string: comma-separated ``key=value`` (lists separated by ``;`` or spaces), e.g.
``"color=rgb,scale=1/255,mean=0.485;0.456;0.406,std=0.229;0.224;0.225"``. The default,
:data:`DEFAULT_RECIPE`, is ``color=rgb,scale=1/255,mean=0,std=1`` (RGB in [0, 1]).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from compiler.ir.graph import Value
from compiler.ir.types import TensorType

from .statistics import CalibrationError

log = logging.getLogger(__name__)

DEFAULT_RECIPE = "color=rgb,scale=1/255,mean=0,std=1"
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp",
                              ".pgm", ".ppm", ".pbm"})
_KEYS = ("color", "scale", "mean", "std", "layout", "size")


@dataclass(frozen=True)
class Recipe:
    """Preprocessing of one image (see the module docstring)."""

    color: str = "rgb"
    scale: float = 1.0 / 255.0
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    layout: str = "auto"          # auto | nchw | nhwc
    size: tuple[int, int] | None = None  # (H, W) when the input's are not static

    def __str__(self) -> str:
        parts = [f"color={self.color}", f"scale={self.scale:g}",
                 "mean=" + ";".join(f"{m:g}" for m in self.mean),
                 "std=" + ";".join(f"{s:g}" for s in self.std)]
        if self.layout != "auto":
            parts.append(f"layout={self.layout}")
        if self.size:
            parts.append(f"size={self.size[0]}x{self.size[1]}")
        return ",".join(parts)


def _number(text: str, key: str, recipe: str) -> float:
    try:
        if "/" in text:
            a, b = text.split("/", 1)
            return float(a) / float(b)
        return float(text)
    except (ValueError, ZeroDivisionError):
        raise CalibrationError(f"preprocessing recipe {recipe!r}: {key}={text!r} is not a "
                               "number (write e.g. 0.5 or 1/255)") from None


def parse_recipe(text: str | Recipe | None) -> Recipe:
    """A :class:`Recipe` from ``key=value,...`` (None or "" -> :data:`DEFAULT_RECIPE`)."""
    if isinstance(text, Recipe):
        return text
    text = (text or "").strip() or DEFAULT_RECIPE
    kw: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, val = part.partition("=")
        key, val = key.strip().lower(), val.strip()
        if not sep or key not in _KEYS:
            raise CalibrationError(f"preprocessing recipe {text!r}: bad item {part!r}; use "
                                   f"key=value with keys {', '.join(_KEYS)} (default "
                                   f"{DEFAULT_RECIPE!r})")
        if key == "color":
            if val.lower() not in ("rgb", "bgr", "gray"):
                raise CalibrationError(f"preprocessing recipe {text!r}: color={val!r}; use rgb, "
                                       "bgr or gray")
            kw["color"] = val.lower()
        elif key == "scale":
            kw["scale"] = _number(val, key, text)
        elif key in ("mean", "std"):
            vals = tuple(_number(v, key, text) for v in val.replace(";", " ").split())
            if not vals or len(vals) not in (1, 3):
                raise CalibrationError(f"preprocessing recipe {text!r}: {key} needs 1 or 3 "
                                       "values")
            if key == "std" and any(v == 0 for v in vals):
                raise CalibrationError(f"preprocessing recipe {text!r}: std must be nonzero")
            kw[key] = vals
        elif key == "layout":
            if val.lower() not in ("auto", "nchw", "nhwc"):
                raise CalibrationError(f"preprocessing recipe {text!r}: layout={val!r}; use "
                                       "auto, nchw or nhwc")
            kw["layout"] = val.lower()
        else:  # size
            try:
                h, w = (int(v) for v in val.lower().split("x"))
            except ValueError:
                raise CalibrationError(f"preprocessing recipe {text!r}: size={val!r}; write "
                                       "HxW, e.g. 224x224") from None
            kw["size"] = (h, w)
    return Recipe(**kw)


def _cv2():
    try:
        import cv2
    except ImportError:
        raise CalibrationError("reading calibration images needs OpenCV: pip install "
                               "opencv-python-headless (or give arrays / an .npz instead)"
                               ) from None
    return cv2


def list_images(path: str | os.PathLike) -> list[Path]:
    """Image files under ``path`` (recursively), sorted; an error if there are none."""
    p = Path(path)
    if not p.is_dir():
        raise CalibrationError(f"calibration image directory {p} does not exist or is no "
                               "directory")
    files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise CalibrationError(f"calibration image directory {p} holds no image files "
                               f"({', '.join(sorted(IMAGE_EXTENSIONS))})")
    return files


class ImageFolder:
    """The images under ``path`` as calibration samples for one image-like graph input.

    ``input`` is the graph input (a :class:`Value`, which also gives the feed name) or its
    :class:`TensorType`; rank 4 with 1 or 3 channels at axis 1 (NCHW) or 3 (NHWC). Iterating
    yields ``{name: array}`` when the name is known, else the bare array.
    """

    def __init__(self, path: str | os.PathLike, input: Value | TensorType,
                 recipe: str | Recipe | None = None):
        self.path = Path(path)
        self.recipe = parse_recipe(recipe)
        if isinstance(input, Value):
            self.name: str | None = input.name
            ty = input.type
        else:
            self.name, ty = None, input
        self.type = ty
        self.layout, self.channels, self.hw = self._geometry(ty)
        if self.channels == 3 and self.recipe.color == "gray":
            raise CalibrationError(f"input {self._what()} has 3 channels but the recipe asks "
                                   "for color=gray; use color=rgb or bgr")
        self.files = list_images(self.path)

    def _what(self) -> str:
        return f"%{self.name}: {self.type}" if self.name else str(self.type)

    def _geometry(self, ty: TensorType) -> tuple[str, int, tuple[int, int]]:
        shape = ty.shape
        if not ty.dtype.is_float:
            raise CalibrationError(f"input {self._what()} is not a float tensor; images are "
                                   "fed to float inputs only (give arrays instead)")
        if shape is None or len(shape) != 4:
            raise CalibrationError(f"input {self._what()} is not image-like (rank 4, NCHW or "
                                   "NHWC); give calibration arrays instead of an image directory")
        layout = self.recipe.layout
        if layout == "auto":
            if shape[1] in (1, 3):
                layout = "nchw"
            elif shape[3] in (1, 3):
                layout = "nhwc"
            else:
                raise CalibrationError(f"input {self._what()} is not image-like: no axis of 1 "
                                       "or 3 channels at position 1 (NCHW) or 3 (NHWC); set "
                                       "layout=nchw|nhwc in the recipe if it is")
        c, h, w = (shape[1], shape[2], shape[3]) if layout == "nchw" else (shape[3], shape[1], shape[2])
        if c not in (1, 3):
            raise CalibrationError(f"input {self._what()} has {c} channels at the {layout} "
                                   "channel axis; images give 1 or 3")
        if self.recipe.size is not None:
            return layout, c, self.recipe.size
        if not (isinstance(h, int) and isinstance(w, int)):
            raise CalibrationError(f"input {self._what()} has no static height/width; give "
                                   "size=HxW in the preprocessing recipe (or --input-shape)")
        return layout, c, (h, w)

    def __len__(self) -> int:
        return len(self.files)

    def load(self, file: str | os.PathLike) -> np.ndarray:
        """One preprocessed image, batch of 1, in the input's layout and dtype."""
        cv2 = _cv2()
        img = cv2.imread(str(file), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise CalibrationError(f"calibration image {file} could not be read (not an "
                                   "image, or a format this OpenCV build lacks); remove it or "
                                   "convert it")
        if img.ndim == 3 and img.shape[2] == 4:
            img = img[:, :, :3]  # drop alpha (OpenCV order: BGRA)
        gray = self.channels == 1 or self.recipe.color == "gray"
        if gray:
            if img.ndim == 3:
                img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
            img = img[:, :, None]
        else:
            if img.ndim == 2:
                img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
            if self.recipe.color == "rgb":
                img = img[:, :, ::-1]
        h, w = self.hw
        if img.shape[:2] != (h, w):
            img = cv2.resize(np.ascontiguousarray(img), (w, h), interpolation=cv2.INTER_LINEAR)
            if img.ndim == 2:
                img = img[:, :, None]
        x = img.astype(np.float32) * np.float32(self.recipe.scale)
        mean = np.asarray(self.recipe.mean, np.float32)
        std = np.asarray(self.recipe.std, np.float32)
        x = (x - mean[: x.shape[2]] if mean.size > 1 else x - mean) / (
            std[: x.shape[2]] if std.size > 1 else std)
        if self.layout == "nchw":
            x = x.transpose(2, 0, 1)
        return np.ascontiguousarray(x[None]).astype(self.type.dtype.numpy)

    def __iter__(self) -> Iterator[Any]:
        for f in self.files:
            x = self.load(f)
            yield {self.name: x} if self.name else x

    def __repr__(self) -> str:
        return f"ImageFolder({str(self.path)!r}, {len(self)} images, {self.layout}, {self.recipe})"
