"""PyTorch frontend: lowered graphs on the reference interpreter vs eager torch.

Every comparison runs the same seeded input through the eval-mode module in torch and
through the IR graph on ``compiler.interpreter``; torch is the independent reference.
Tolerances are the measured worst case times a safety margin (stated at each check).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from compiler.errors import ModelLoadError, UnsupportedOpsError  # noqa: E402
from compiler.frontends.pytorch import SUPPORTED_OPS, load_pytorch, load_pytorch_file  # noqa: E402
from compiler.interpreter import run_graph  # noqa: E402
from compiler.ir.verifier import verify  # noqa: E402
from tests.conftest import model_path  # noqa: E402
from tests.support.models_torch import (  # noqa: E402
    EfficientNetLite0,
    HandAttention,
    MobileNetV3Like,
    ResNetLike,
    TransformerNet,
)


def _run(g, *xs):
    feeds = {v.name: x.numpy() for v, x in zip(g.inputs, xs)}
    res = run_graph(g, feeds)
    return [res[v.name] for v in g.outputs]


def _errors(out: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    d = np.abs(out.astype(np.float64) - ref.astype(np.float64))
    scale = max(float(np.abs(ref).max()), 1e-12)
    return float(d.max()), float(d.max() / scale)  # rel = max abs err / max |ref|


def _compare(module, xs, *, atol, rtol, dynamic_batch=False, batches=None, **kw):
    """Lower ``module``, check it verifies, compare to torch; returns (graph, worst errs)."""
    module.eval()
    g = load_pytorch(module, tuple(xs), dynamic_batch=dynamic_batch, **kw)
    verify(g)
    worst = (0.0, 0.0)
    cases = [xs] if not batches else [
        [torch.randn(b, *x.shape[1:], generator=torch.Generator().manual_seed(b)) for x in xs]
        for b in batches
    ]
    for ins in cases:
        with torch.no_grad():
            ref = module(*ins)
        refs = list(ref) if isinstance(ref, (tuple, list)) else [ref]
        outs = _run(g, *ins)
        assert len(outs) == len(refs)
        for o, r in zip(outs, refs):
            r = r.numpy()
            assert o.shape == r.shape and o.dtype == r.dtype, (o.shape, r.shape, o.dtype, r.dtype)
            if r.dtype == np.bool_ or np.issubdtype(r.dtype, np.integer):
                np.testing.assert_array_equal(o, r)
                continue
            ae, re_ = _errors(o, r)
            print(f"{type(module).__name__} batch {ins[0].shape[0]}: max abs {ae:.3g}, max rel {re_:.3g}")
            assert ae <= atol and re_ <= rtol, (ae, re_)
            worst = (max(worst[0], ae), max(worst[1], re_))
    return g, worst


# -- the real pretrained model --------------------------------------------------------------


def _image(fn) -> torch.Tensor:
    img = torch.from_numpy(fn()).permute(2, 0, 1)[None].float() / 255.0
    img = F.interpolate(img, (224, 224), mode="bilinear", antialias=True, align_corners=False)
    return (img - 0.5) / 0.5


def test_efficientnet_lite0_pretrained():
    skdata = pytest.importorskip("skimage.data")
    sd = torch.load(model_path("pytorch/efficientnet-lite0/efficientnet-lite0-57934424.pth"),
                    map_location="cpu", weights_only=True)
    m = EfficientNetLite0()
    m.load_state_dict(sd, strict=True)
    m.eval()
    x = torch.cat([_image(skdata.chelsea), _image(skdata.coffee)])
    with torch.no_grad():
        ref = m(x).numpy()
    assert list(ref.argmax(1)) == [285, 967]  # the README's top-1 for chelsea / coffee
    g = load_pytorch(m, (x,))
    verify(g)
    assert {n.op for n in g.nodes} >= {"conv", "batch_norm", "clip", "pad", "global_avg_pool", "gemm"}
    const_names = {n.outputs[0].name for n in g.constants()}
    assert {"_conv_stem.weight", "_blocks.15._project_conv.weight", "_fc.bias"} <= const_names
    (out,) = _run(g, x)
    assert list(out.argmax(1)) == [285, 967]
    ae, re_ = _errors(out, ref)
    print(f"EfficientNet-Lite0 logits: max abs {ae:.3g}, max rel {re_:.3g}")
    # measured: 4.8e-6 abs on logits up to 10.5 (f32 accumulation order differs)
    assert ae < 1e-4


# -- seeded architectures -------------------------------------------------------------------


def test_resnet_like_and_provenance():
    torch.manual_seed(0)
    m = ResNetLike()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    g, _ = _compare(m, [x], atol=1e-5, rtol=1e-5)  # measured 1.9e-8 abs
    sources = {s for n in g.nodes for s in n.source}
    assert {"layer1.0.conv1", "layer3.1.conv2", "layer2.0.downsample.0", "fc", "maxpool"} <= sources
    conv = next(n for n in g.nodes if n.op == "conv" and n.source == ("layer3.1.conv2",))
    assert conv.inputs[1].name == "layer3.1.conv2.weight"
    assert any(n.op == "gemm" and n.attrs.get("transB") == 1 for n in g.nodes)


def test_resnet_like_dynamic_batch():
    torch.manual_seed(0)
    g, _ = _compare(ResNetLike(), [torch.randn(2, 3, 32, 32)], atol=1e-5, rtol=1e-5,
                    dynamic_batch=True, batches=[1, 3])  # measured 3e-8 abs
    assert g.inputs[0].type.shape == ("N", 3, 32, 32)
    assert g.outputs[0].type.shape == ("N", 10)


def test_mobilenetv3_like_dynamic_batch():
    torch.manual_seed(1)
    g, _ = _compare(MobileNetV3Like(), [torch.randn(2, 3, 64, 64)], atol=1e-5, rtol=1e-5,
                    dynamic_batch=True, batches=[1, 3])  # measured 1.5e-8 abs
    ops = {n.op for n in g.nodes}
    assert {"hard_swish", "hard_sigmoid", "global_avg_pool", "mul"} <= ops
    assert g.inputs[0].type.shape[0] == "N"
    assert any("features.3.block.3" in s for n in g.nodes for s in n.source)  # the SE module


def test_transformer_encoder_dynamic_batch():
    torch.manual_seed(2)
    g, _ = _compare(TransformerNet(), [torch.randn(2, 10, 12)], atol=1e-4, rtol=1e-4,
                    dynamic_batch=True, batches=[1, 3])  # measured 1.1e-7 abs
    ops = {n.op for n in g.nodes}
    assert {"layer_norm", "softmax", "matmul", "gelu"} <= ops
    assert g.inputs[0].type.shape == ("N", 10, 12) and g.outputs[0].type.shape == ("N", 5)
    assert any(s.startswith("enc0.self_attn") for n in g.nodes for s in n.source)


def test_hand_attention_dynamic_batch():
    torch.manual_seed(3)
    # a batch-1 example is traced at batch 2 (torch.export specializes size-1 dims)
    g, _ = _compare(HandAttention(), [torch.randn(1, 7, 24)], atol=1e-5, rtol=1e-4,
                    dynamic_batch=True, batches=[1, 3])  # measured 4.8e-7 abs
    assert g.outputs[0].type.shape == ("N", 7, 24)


def test_no_decomposition_path():
    torch.manual_seed(4)
    _compare(ResNetLike(), [torch.randn(1, 3, 32, 32)], atol=1e-5, rtol=1e-5, decompose=False)
    _compare(TransformerNet(), [torch.randn(2, 10, 12)], atol=1e-4, rtol=1e-4, decompose=False)


# -- op coverage ----------------------------------------------------------------------------


class PoolsAndResize(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2)
        self.convt = nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1)
        self.pad_same = nn.Conv2d(4, 4, 3, padding="same")

    def forward(self, x):
        a = F.max_pool2d(x, 3, 2, 1, ceil_mode=True)
        b = F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False)
        c = F.avg_pool2d(x, 2, 2, 1, count_include_pad=True)
        d = F.adaptive_avg_pool2d(x, (3, 5))
        e = self.convt(self.conv(x))
        u1 = F.interpolate(x, scale_factor=2, mode="nearest")
        u2 = F.interpolate(x, size=(7, 13), mode="bilinear", align_corners=False)
        u3 = F.interpolate(x, scale_factor=1.5, mode="bilinear", align_corners=True)
        p1 = F.pad(x, (1, 2, 3, 0), mode="reflect")
        p2 = F.pad(x, (2, 1, 0, 1), mode="replicate")
        p3 = F.pad(x, (1, 1, 2, 2), value=0.5)
        return a, b, c, d, e, u1, u2, u3, p1, p2, p3, self.pad_same(x)


class Elementwise(nn.Module):
    def forward(self, x, y):
        outs = [
            x + 2 * y, torch.sub(x, y, alpha=0.5), 1 - x, x * 3, x / (y.abs() + 1),
            torch.div(x, 0.7, rounding_mode="floor"), x.pow(2), (x.abs() + 1).pow(1.7),
            torch.rsqrt(x.abs() + 1), torch.clamp(x, -0.5, 0.3), torch.clamp(x, min=y),
            torch.where(x > y, x, y * 2), (x >= 0) & (y < 0.5), x != y,
            F.leaky_relu(x, 0.1), F.elu(x, 0.7), F.softplus(x), F.silu(x), F.mish(x),
            F.gelu(x, approximate="tanh"), F.gelu(x), torch.log_softmax(x, -1),
            torch.softmax(x, 1), torch.maximum(x, y), torch.exp(x).log(), torch.erf(x),
            F.hardtanh(x, -0.2, 0.4), F.relu6(x * 8), torch.sigmoid(x), torch.tanh(x),
            torch.floor(x), torch.round(x * 3), torch.sign(x), x.reciprocal(),
            (x > 0).float() * y, (x * 4).to(torch.int32), (x * 4).long() // 3 + 1,
        ]
        return tuple(outs)


class Shapes(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.register_buffer("idx", torch.tensor([3, 0, 2]))

    def forward(self, x):  # x: [2, 6, 5]
        a, b = x.chunk(2, dim=1)
        c, d, e = torch.split(x, [1, 2, 3], dim=1)
        f = torch.cat([e, a], dim=-1)
        g = x[:, 1:5:2, ::2]
        h = x[:, 2]
        i = x[:, self.idx]
        j = x.permute(2, 0, 1).reshape(5, -1)
        k = x.unsqueeze(1).expand(2, 3, 6, 5)
        m = x.amax(dim=(1, 2), keepdim=True) + x.mean(dim=-1, keepdim=True) + x.sum(1, keepdim=True)
        vals, inds = x.max(dim=1)
        n = x.argmax(dim=-1)
        o = self.emb(torch.tensor([[1, 2], [9, 0]]))
        p = x[:, :1].squeeze(1) + x.transpose(1, 2)[..., 0]
        q = torch.cumsum(x, dim=2)
        r = x.flatten(1) * x.new_ones(2, 30)
        s = torch.unbind(x, 1)[3]
        return a, b, c, d, f, g, h, i, j, k, m, vals, inds, n, o, p, q, r, s


def test_pools_convs_resize_pad():
    torch.manual_seed(5)
    x = torch.randn(2, 4, 9, 15)
    # measured 4.8e-7 abs (bilinear, transposed conv)
    _compare(PoolsAndResize(), [x], atol=1e-5, rtol=1e-5)


def test_elementwise_ops():
    gen = torch.Generator().manual_seed(6)
    x, y = torch.randn(3, 8, generator=gen), torch.randn(3, 8, generator=gen)
    _compare(Elementwise(), [x, y], atol=1e-5, rtol=1e-5)  # measured 4.8e-7 abs


def test_shape_ops():
    torch.manual_seed(7)
    _compare(Shapes(), [torch.randn(2, 6, 5)], atol=1e-5, rtol=1e-5)  # measured 9.5e-7 abs


class Masked(nn.Module):
    def forward(self, q, k, v):
        mask = torch.ones(5, 7, dtype=torch.bool).tril(diagonal=2)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        bias = torch.linspace(-1, 1, 35).reshape(5, 7)
        b = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=0.3)
        return a, b


def test_sdpa_masks():
    gen = torch.Generator().manual_seed(8)
    q = torch.randn(2, 3, 5, 4, generator=gen)
    k = torch.randn(2, 3, 7, 4, generator=gen)
    v = torch.randn(2, 3, 7, 6, generator=gen)
    _compare(Masked(), [q, k, v], atol=1e-5, rtol=1e-5)  # measured 3e-7 abs


def test_input_names_and_file(tmp_path):
    torch.manual_seed(9)
    m = HandAttention().eval()
    x = torch.randn(2, 7, 24)
    ep = torch.export.export(m, (x,), dynamic_shapes=({0: torch.export.Dim("N")},))
    path = tmp_path / "attn.pt2"
    torch.export.save(ep, str(path))
    g = load_pytorch_file(path, input_names=["tokens"])
    verify(g)
    assert g.inputs[0].name == "tokens" and g.inputs[0].type.shape == ("N", 7, 24)
    xb = torch.randn(4, 7, 24)
    with torch.no_grad():
        ref = m(xb).numpy()
    (out,) = _run(g, xb)
    assert np.abs(out - ref).max() < 1e-5  # measured 4.8e-7


# -- errors ---------------------------------------------------------------------------------


class Spectrum(nn.Module):
    def forward(self, x):
        return torch.fft.rfft(x, dim=-1).abs().sum(-1)


class Spectral(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(5, 5)
        self.a = Spectrum()
        self.b = Spectrum()

    def forward(self, x):
        s, _ = torch.sort(self.proj(x), dim=-1)
        return self.a(x) + self.b(s), s


class SpectralOuter(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = Spectral()

    def forward(self, x):
        return self.inner(x)


def test_unsupported_ops_listed_at_once():
    with pytest.raises(UnsupportedOpsError) as ei:
        load_pytorch(SpectralOuter(), (torch.randn(2, 5),))
    err = ei.value
    print(err)
    fft = [k for k in err.unsupported if "fft" in k]
    assert len(fft) == 1, err.unsupported
    # every op type at once, each with every module path that uses it
    assert err.unsupported[fft[0]] == ["inner.a", "inner.b"]
    assert err.unsupported["aten.sort"] == ["inner"]
    assert "inner.a, inner.b" in str(err)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(ModelLoadError, match="no such file"):
        load_pytorch_file(tmp_path / "nope.pt2")
    bad = tmp_path / "bad.pt2"
    bad.write_bytes(b"not a zip archive")
    with pytest.raises(ModelLoadError, match="bad.pt2"):
        load_pytorch_file(bad)
    with pytest.raises(ModelLoadError, match="nn.Module"):
        load_pytorch(object(), (torch.randn(1),))


def test_supported_ops_table():
    assert "convolution" in SUPPORTED_OPS and "scaled_dot_product_attention" in SUPPORTED_OPS
    assert all(isinstance(v, str) and v for v in SUPPORTED_OPS.values())


def test_tolerance_sanity():
    # the relative-error definition used above: max abs err over max |ref|
    assert _errors(np.array([1.0, 2.0]), np.array([1.0, 2.5]))[1] == pytest.approx(0.2)
    assert math.isfinite(_errors(np.zeros(2), np.zeros(2))[1])
