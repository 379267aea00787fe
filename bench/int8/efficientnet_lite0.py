"""EfficientNet-Lite0 in Keras (NHWC) carrying the shared pretrained PyTorch weights.

Contract:

* ``build_keras(state_dict)`` -> a ``keras.Model`` taking ``[N, 224, 224, 3]`` float32
  preprocessed images (RGB in [0, 1], then ``(x - 0.5) / 0.5``) and returning the 1000
  ImageNet logits (no softmax). Layer names follow the state-dict keys with ``.`` -> ``_``
  (``_blocks.3._expand_conv`` -> ``blocks_3_expand_conv``, ``_bn0`` -> ``bn0``), so per-layer reports name real layers.
* ``torch_reference(state_dict, x_nhwc)`` -> logits from a functional PyTorch forward written
  directly against the state dict (``torch.nn.functional``, NCHW, explicit TF-SAME padding),
  independent of the Keras graph.
* ``load_verified()`` -> ``(keras_model, report)``: loads the weights, runs both on
  scikit-image's ``chelsea`` and ``coffee`` and raises ``RuntimeError`` unless the top-1 is
  285 / 967 in both and the logits agree (max abs diff below ``LOGIT_TOL``).

Architecture (EfficientNet-PyTorch's lite0 block arguments): stem 3x3/2 conv 32 + BN + ReLU6;
16 MBConv blocks without squeeze-excite (1x1 expand + BN + ReLU6 when the expand ratio is not
1, kxk depthwise + BN + ReLU6, 1x1 project + BN, identity skip when stride 1 and in == out);
head 1x1 conv 1280 + BN + ReLU6; global average pool; (dropout, identity at inference);
dense 1000. Convolutions are bias-free, BN eps is 1e-3.

Padding: the weights were trained with TensorFlow's SAME padding (total pad
``max((ceil(i/s) - 1) * s + k - i, 0)``, the smaller half before, the larger after). Keras'
``padding="same"`` on the TensorFlow backend is exactly that rule (it calls ``tf.nn.conv2d`` /
``depthwise_conv2d`` with ``"SAME"``), for stride 1 (symmetric, odd kernels) and stride 2
(for 224 -> 112 with k=3: pad 0 before, 1 after; k=5 on 56 -> 28: 1 before, 2 after). The
torch reference pads explicitly with ``F.pad`` by that formula, so agreement of the two on
real images checks the equivalence rather than assuming it.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from bench.zoo import ZOO

WEIGHTS = ZOO / "pytorch" / "efficientnet-lite0" / "efficientnet-lite0-57934424.pth"

# (repeats, kernel, stride, expand ratio, in channels, out channels) per stage
LITE0_BLOCKS = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]
BN_EPS = 1e-3
SIZE = 224
# Expected top-1 of the float model (README of the shared models).
EXPECTED_TOP1 = {"chelsea": 285, "coffee": 967}
# Max abs logit difference Keras (TF) vs the torch reference on chelsea/coffee. Measured
# 4.8e-6 on logits up to 10.9 (f32 summation order differs). Padding the stride-2 convs at the
# wrong end (larger half first) gives 1.31 while top-1 stays 285/967, so the logit check, not
# the top-1 check, is what catches such a mistake.
LOGIT_TOL = 1e-3


def _blocks() -> list[tuple[int, int, int, int, int]]:
    """(kernel, stride, expand, cin, cout) for each of the 16 blocks, in order."""
    out = []
    for repeats, k, s, e, cin, cout in LITE0_BLOCKS:
        for i in range(repeats):
            out.append((k, s if i == 0 else 1, e, cin if i == 0 else cout, cout))
    return out


def load_state_dict(path: Path = WEIGHTS) -> dict[str, np.ndarray]:
    """The pretrained state dict as float32 numpy arrays (``FileNotFoundError`` if absent)."""
    import torch

    if not path.exists():
        raise FileNotFoundError(f"{path} is missing")
    sd = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v.detach().cpu().numpy() for k, v in sd.items()}


# -- Keras ----------------------------------------------------------------------------------

def _layer_name(key: str) -> str:
    """``_blocks.3._expand_conv`` -> ``blocks_3_expand_conv`` (TF scope names may not start
    with ``_``; the converter's SavedModel export rejects them)."""
    return re.sub(r"[._]+", "_", key).strip("_")


def _bn_weights(sd: dict[str, np.ndarray], key: str) -> list[np.ndarray]:
    return [sd[f"{key}.weight"], sd[f"{key}.bias"], sd[f"{key}.running_mean"],
            sd[f"{key}.running_var"]]


def build_keras(sd: dict[str, np.ndarray]) -> Any:
    """The Keras model with the state dict's weights loaded (every tensor used exactly once;
    raises ``KeyError``/``ValueError`` on a missing or mis-shaped tensor)."""
    import keras
    from keras import layers

    used: set[str] = set()
    assign: list[tuple[Any, list[np.ndarray]]] = []

    def conv(x, key, cout, k, stride=1):
        w = sd[f"{key}.weight"]  # OIHW -> HWIO
        used.add(f"{key}.weight")
        lay = layers.Conv2D(cout, k, stride, padding="same", use_bias=False,
                            name=_layer_name(key))
        y = lay(x)
        assign.append((lay, [w.transpose(2, 3, 1, 0)]))
        return y

    def dwconv(x, key, k, stride):
        w = sd[f"{key}.weight"]  # [C, 1, k, k] -> [k, k, C, 1]
        used.add(f"{key}.weight")
        lay = layers.DepthwiseConv2D(k, stride, padding="same", use_bias=False,
                                     name=_layer_name(key))
        y = lay(x)
        assign.append((lay, [w.transpose(2, 3, 0, 1)]))
        return y

    def bn(x, key, relu6):
        lay = layers.BatchNormalization(epsilon=BN_EPS, name=_layer_name(key))
        y = lay(x)
        ws = _bn_weights(sd, key)
        used.update(f"{key}.{s}" for s in ("weight", "bias", "running_mean", "running_var"))
        used.add(f"{key}.num_batches_tracked")
        assign.append((lay, ws))
        return layers.ReLU(6.0, name=_layer_name(key) + "_relu6")(y) if relu6 else y

    inp = keras.Input((SIZE, SIZE, 3), name="image")
    x = bn(conv(inp, "_conv_stem", 32, 3, 2), "_bn0", True)
    for i, (k, s, e, cin, cout) in enumerate(_blocks()):
        p = f"_blocks.{i}"
        y = x
        if e != 1:
            y = bn(conv(y, f"{p}._expand_conv", cin * e, 1), f"{p}._bn0", True)
        y = bn(dwconv(y, f"{p}._depthwise_conv", k, s), f"{p}._bn1", True)
        y = bn(conv(y, f"{p}._project_conv", cout, 1), f"{p}._bn2", False)
        x = layers.Add(name=f"blocks_{i}_add")([y, x]) if s == 1 and cin == cout else y
    x = bn(conv(x, "_conv_head", 1280, 1), "_bn1", True)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    fc = layers.Dense(1000, name="fc")
    out = fc(x)
    assign.append((fc, [sd["_fc.weight"].T, sd["_fc.bias"]]))
    used.update(("_fc.weight", "_fc.bias"))
    model = keras.Model(inp, out, name="efficientnet_lite0")
    for lay, ws in assign:
        lay.set_weights([np.ascontiguousarray(w, np.float32) for w in ws])
    unused = sorted(set(sd) - used)
    if unused:
        raise ValueError(f"efficientnet-lite0: state-dict tensors not loaded: {unused[:8]}")
    return model


# -- independent torch reference ------------------------------------------------------------

def torch_reference(sd: dict[str, np.ndarray], x_nhwc: np.ndarray) -> np.ndarray:
    """Logits ``[N, 1000]`` of a functional torch forward over the state dict (NCHW)."""
    import torch
    import torch.nn.functional as F

    t = {k: torch.from_numpy(v) for k, v in sd.items()}

    def conv(x, key, stride=1, groups=1):
        w = t[f"{key}.weight"]
        k = w.shape[-1]
        i = x.shape[-1]  # square inputs
        pad = max((math.ceil(i / stride) - 1) * stride + k - i, 0)
        x = F.pad(x, [pad // 2, pad - pad // 2, pad // 2, pad - pad // 2])
        return F.conv2d(x, w, None, stride, 0, 1, groups)

    def bn(x, key):
        return F.batch_norm(x, t[f"{key}.running_mean"], t[f"{key}.running_var"],
                            t[f"{key}.weight"], t[f"{key}.bias"], False, 0.0, BN_EPS)

    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2)))
        x = F.relu6(bn(conv(x, "_conv_stem", 2), "_bn0"))
        for i, (k, s, e, cin, cout) in enumerate(_blocks()):
            p = f"_blocks.{i}"
            y = x
            if e != 1:
                y = F.relu6(bn(conv(y, f"{p}._expand_conv"), f"{p}._bn0"))
            y = F.relu6(bn(conv(y, f"{p}._depthwise_conv", s, groups=y.shape[1]), f"{p}._bn1"))
            y = bn(conv(y, f"{p}._project_conv"), f"{p}._bn2")
            x = y + x if s == 1 and cin == cout else y
        x = F.relu6(bn(conv(x, "_conv_head"), "_bn1"))
        x = x.mean((2, 3))
        return F.linear(x, t["_fc.weight"], t["_fc.bias"]).numpy()


# -- preprocessing -------------------------------------------------------------------------

def to_input(img: np.ndarray, box: tuple[int, int, int, int] | None = None,
             flip: bool = False) -> np.ndarray:
    """One uint8 RGB photo -> a ``[224, 224, 3]`` uint8 image: crop ``box`` = (top, left,
    height, width) (whole image when None), mirror if ``flip``, resize with area averaging
    (OpenCV ``INTER_AREA``, i.e. anti-aliased when shrinking)."""
    import cv2

    if box is not None:
        t, l, h, w = box
        img = img[t:t + h, l:l + w]
    if flip:
        img = img[:, ::-1]
    interp = cv2.INTER_AREA if min(img.shape[:2]) >= SIZE else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(img[..., :3]), (SIZE, SIZE), interpolation=interp)


def preprocess(images_uint8: np.ndarray) -> np.ndarray:
    """``[N, 224, 224, 3]`` uint8 RGB -> the model's float32 input ``(x / 255 - 0.5) / 0.5``."""
    return ((images_uint8.astype(np.float32) / 255.0 - 0.5) / 0.5).astype(np.float32)


# -- verification ---------------------------------------------------------------------------

def load_verified() -> tuple[Any, str]:
    """Build the Keras model and check it against the torch reference on chelsea / coffee.

    Raises ``RuntimeError`` if a top-1 differs from ``EXPECTED_TOP1`` in either framework or
    the logits differ by more than ``LOGIT_TOL``. Returns the model and a one-line report.
    """
    from skimage import data as skdata

    sd = load_state_dict()
    model = build_keras(sd)
    names = list(EXPECTED_TOP1)
    x = preprocess(np.stack([to_input(getattr(skdata, n)()) for n in names]))
    ref = torch_reference(sd, x)
    got = np.asarray(model.predict(x, verbose=0), np.float32)
    diff = float(np.abs(got - ref).max())
    want = [EXPECTED_TOP1[n] for n in names]
    report = (f"efficientnet-lite0 port check on {names}: top-1 keras {got.argmax(1).tolist()}, "
              f"torch {ref.argmax(1).tolist()} (expected {want}); logits max abs diff "
              f"{diff:.3g} (max |logit| {float(np.abs(ref).max()):.3g})")
    if got.argmax(1).tolist() != want or ref.argmax(1).tolist() != want or diff > LOGIT_TOL:
        raise RuntimeError("the Keras EfficientNet-Lite0 port is wrong: " + report)
    return model, report
