"""Calibration data forms: a directory of images with a preprocessing recipe, a stacked .npy.

Images are skimage's bundled photos written as PNG with Pillow (not OpenCV, which the code
under test reads with). Expected tensors are computed with numpy from the original pixels;
resizing is compared with torch's bilinear interpolation (half-pixel centers, no antialias),
which is what OpenCV's INTER_LINEAR computes (OpenCV rounds to 8 bits: differences of at
most one pixel level, measured below).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import compiler
from compiler.ir.types import DType, TensorType
from compiler.quantization import (
    DEFAULT_RECIPE,
    CalibrationError,
    ImageFolder,
    calibrate,
    parse_recipe,
)

from tests.conftest import REPO

MODEL = REPO / "examples" / "models" / "tiny_cnn.onnx"  # input f32[N,3,32,32]
MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
RECIPE = "color=rgb,scale=1/255,mean=0.485;0.456;0.406,std=0.229;0.224;0.225"


def _photos():
    import skimage.data

    a, c = skimage.data.astronaut(), skimage.data.coffee()
    # 32x32 crops (no resize needed) at a few places: 6 RGB images
    crops = [a[100:132, 200:232], a[300:332, 50:82], a[0:32, 0:32],
             c[100:132, 300:332], c[200:232, 400:432], c[50:82, 50:82]]
    return [np.ascontiguousarray(x) for x in crops]


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("imgs")
    (d / "sub").mkdir()
    for i, x in enumerate(_photos()):
        Image.fromarray(x).save(d / ("sub" if i % 2 else ".") / f"img{i}.png")
    (d / "notes.txt").write_text("not an image: ignored by extension")
    return d


def _expected(rgb: np.ndarray, layout="nchw"):
    x = (rgb.astype(np.float64) / 255.0 - MEAN) / STD
    if layout == "nchw":
        x = x.transpose(2, 0, 1)
    return x[None]


def test_recipe_parsing():
    r = parse_recipe(None)
    assert (r.color, r.scale, r.mean, r.std) == ("rgb", 1 / 255, (0.0,), (1.0,))
    assert str(parse_recipe(DEFAULT_RECIPE)) == str(r)
    r = parse_recipe("color=bgr, scale=2/255, mean=1 2 3, std=4;5;6, layout=nhwc, size=20x30")
    assert (r.color, r.mean, r.std, r.layout, r.size) == ("bgr", (1, 2, 3), (4, 5, 6), "nhwc",
                                                          (20, 30))
    assert r.scale == pytest.approx(2 / 255)
    for bad, word in [("colour=rgb", "bad item"), ("color=hsv", "rgb, bgr or gray"),
                      ("scale=abc", "not a number"), ("mean=1;2", "1 or 3"),
                      ("std=0", "nonzero"), ("size=20", "HxW")]:
        with pytest.raises(CalibrationError, match=word):
            parse_recipe(bad)


def test_images_match_numpy_preprocessing(photo_dir):
    photos = _photos()
    order = sorted(photo_dir.rglob("*.png"))
    nchw = ImageFolder(photo_dir, TensorType(DType.F32, ("N", 3, 32, 32)), RECIPE)
    nhwc = ImageFolder(photo_dir, TensorType(DType.F32, (1, 32, 32, 3)), RECIPE)
    assert len(nchw) == 6 and nchw.layout == "nchw" and nhwc.layout == "nhwc"
    for f, a, b in zip(order, nchw, nhwc):
        i = int(f.stem[3:])
        assert a.dtype == np.float32 and a.shape == (1, 3, 32, 32)
        # float32 arithmetic vs float64 reference: measured max error 2.4e-7
        np.testing.assert_allclose(a, _expected(photos[i]), atol=1e-6)
        np.testing.assert_allclose(b, _expected(photos[i], "nhwc"), atol=1e-6)
    bgr = next(iter(ImageFolder(photo_dir, TensorType(DType.F32, (1, 3, 32, 32)),
                                "color=bgr,scale=1")))
    i = int(order[0].stem[3:])
    np.testing.assert_array_equal(bgr[0], photos[i][:, :, ::-1].transpose(2, 0, 1))


def test_resize_and_gray_match_torch(tmp_path):
    import skimage.data
    import torch

    cam = skimage.data.camera()[::4, ::4].copy()  # 128x128 gray
    ast = skimage.data.astronaut()[::8, ::8].copy()  # 64x64 RGB
    Image.fromarray(cam).save(tmp_path / "cam.png")
    Image.fromarray(ast).save(tmp_path / "ast.png")

    def torch_resize(x, h, w):
        t = torch.tensor(x, dtype=torch.float64).permute(2, 0, 1)[None]
        return torch.nn.functional.interpolate(t, size=(h, w), mode="bilinear",
                                               align_corners=False, antialias=False)[0].numpy()

    gray = ImageFolder(tmp_path, TensorType(DType.F32, (1, 1, 48, 40)), "scale=1")
    got = dict(zip(["ast", "cam"], gray))  # sorted: ast.png, cam.png
    np.testing.assert_allclose(got["cam"][0], torch_resize(cam[:, :, None], 48, 40), atol=1.0)
    rgb = ImageFolder(tmp_path, TensorType(DType.F32, (1, 3, 100, 90)), "scale=1")
    a = next(iter(rgb))
    ref = torch_resize(ast, 100, 90)
    err = np.abs(a[0] - ref).max()
    print(f"\nbilinear resize vs torch: max |diff| {err:.3f} pixel levels")
    assert err <= 1.0  # measured: 0.750 (OpenCV rounds its fixed-point result to 8 bits)
    # a gray file for a 3-channel input is expanded to 3 equal channels
    c3 = dict(zip(["ast", "cam"], rgb))["cam"][0]
    np.testing.assert_array_equal(c3[0], c3[1])


def test_calibrate_on_directory_equals_arrays(photo_dir):
    g = compiler.load(str(MODEL))
    arrays = [_expected(p).astype(np.float32) for p in _photos()]
    by_dir = calibrate(g, photo_dir, preprocess=RECIPE, progress=False)
    by_arr = calibrate(g, arrays, progress=False)
    assert by_dir.num_samples == 6
    for name in by_arr:
        a, b = by_dir[name], by_arr[name]
        # float32 preprocessing vs float64 reference: measured relative difference < 1e-5
        assert a.min == pytest.approx(b.min, rel=1e-4, abs=1e-5), name
        assert a.max == pytest.approx(b.max, rel=1e-4, abs=1e-5), name


def test_calibrate_on_npy(tmp_path):
    g = compiler.load(str(MODEL))
    x = np.random.default_rng(1).normal(size=(5, 1, 3, 32, 32)).astype(np.float32)
    np.save(tmp_path / "a.npy", x)
    np.save(tmp_path / "b.npy", x[:, 0])  # rank of the input: one row per sample
    ref = calibrate(g, list(x), progress=False)
    for f in ("a.npy", "b.npy"):
        s = calibrate(g, tmp_path / f, progress=False)
        assert s.num_samples == 5
        for n in ref:
            assert (s[n].min, s[n].max) == (ref[n].min, ref[n].max)
            np.testing.assert_array_equal(s[n].hist, ref[n].hist)


def test_image_errors(tmp_path, photo_dir):
    t = TensorType(DType.F32, (1, 3, 32, 32))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CalibrationError, match="holds no image files"):
        ImageFolder(empty, t)
    with pytest.raises(CalibrationError, match="does not exist"):
        ImageFolder(tmp_path / "nope", t)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(CalibrationError, match="broken.jpg could not be read"):
        list(ImageFolder(bad, t))
    with pytest.raises(CalibrationError, match="not image-like"):
        ImageFolder(photo_dir, TensorType(DType.F32, (1, 10)))
    with pytest.raises(CalibrationError, match="not image-like"):
        ImageFolder(photo_dir, TensorType(DType.F32, (1, 5, 32, 32)))
    with pytest.raises(CalibrationError, match="size=HxW"):
        ImageFolder(photo_dir, TensorType(DType.F32, ("N", 3, "H", "W")))
    assert ImageFolder(photo_dir, TensorType(DType.F32, ("N", 3, "H", "W")), "size=8x8").hw == (8, 8)
    with pytest.raises(CalibrationError, match="color=gray"):
        ImageFolder(photo_dir, t, "color=gray")
