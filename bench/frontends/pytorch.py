#!/usr/bin/env python3
"""PyTorch import time: ``torch.export.export + run_decompositions`` vs infercc's whole
``load_pytorch``.

``load_pytorch`` itself runs torch.export and the decompositions, so infercc_s includes
framework_s; the difference (``lowering_s``, also measured on its own as ``lower_program``
on an already exported program) is what infercc adds: walking the FX graph, lowering each
ATen op with IR shape inference, and checking the types against torch's metadata.

Models: EfficientNet-Lite0 with the pretrained weights from ../shared/models/pytorch
(seeded random weights if the file is missing) at 1x3x224x224, and the ResNet-18-like
model of tests/support/models_torch.py at 1x3x64x64 (seeded). The median of ``--runs`` runs,
alternated between the two spans, is reported. The errors compare one forward pass on a
seeded normal input, torch eager vs the IR on infercc's reference interpreter: max |diff|
and that divided by max |torch output|.

    python3 bench/frontends/pytorch.py --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(REPO))

from bench.zoo import ZOO
from compiler.frontends.pytorch import export_module, load_pytorch, lower_program
from compiler.interpreter import run_graph

LITE0 = ZOO / "pytorch" / "efficientnet-lite0" / "efficientnet-lite0-57934424.pth"


def _models():
    import torch

    from tests.support.models_torch import EfficientNetLite0, ResNetLike

    torch.manual_seed(0)
    lite = EfficientNetLite0()
    if LITE0.exists():
        lite.load_state_dict(torch.load(LITE0, map_location="cpu", weights_only=True), strict=True)
        lite_name = "efficientnet-lite0 (pretrained)"
    else:
        lite_name = "efficientnet-lite0 (seeded)"
    gen = torch.Generator().manual_seed(1)
    return [
        (lite_name, lite.eval(), torch.randn(1, 3, 224, 224, generator=gen)),
        ("resnet18-like", ResNetLike().eval(), torch.randn(1, 3, 64, 64, generator=gen)),
    ]


def measure(runs: int = 3) -> list[dict]:
    """One row per model: import times (median of ``runs``) and forward-pass errors."""
    import torch

    rows = []
    for name, module, x in _models():
        fw, ours, lower = [], [], []
        graph = None
        export_module(module, (x,))  # warm-up: first export pays for torch's lazy imports
        for _ in range(runs):
            t = time.perf_counter()
            ep = export_module(module, (x,))
            fw.append(time.perf_counter() - t)
            t = time.perf_counter()
            lower_program(ep, label=name)
            lower.append(time.perf_counter() - t)
            t = time.perf_counter()
            graph = load_pytorch(module, (x,))
            ours.append(time.perf_counter() - t)
        with torch.no_grad():
            ref = module(x).numpy().astype(np.float64)
        out = run_graph(graph, {graph.inputs[0].name: x.numpy()})[graph.outputs[0].name]
        abs_err = float(np.max(np.abs(out.astype(np.float64) - ref)))
        rows.append({
            "format": "pytorch",
            "model": name,
            "framework_s": statistics.median(fw),
            "infercc_s": statistics.median(ours),
            "lowering_s": statistics.median(lower),
            "max_abs_err": abs_err,
            "max_rel_err": abs_err / max(float(np.max(np.abs(ref))), 1e-30),
            "nodes": len(graph.nodes),
        })
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    rows = measure(args.runs)
    print(f"{'model':<34} {'export_s':>9} {'infercc_s':>10} {'ratio':>6} {'lower_s':>8} "
          f"{'max_abs':>9} {'max_rel':>9} {'nodes':>6}")
    for r in rows:
        print(f"{r['model']:<34} {r['framework_s']:9.3f} {r['infercc_s']:10.3f} "
              f"{r['infercc_s'] / r['framework_s']:6.2f} {r['lowering_s']:8.3f} "
              f"{r['max_abs_err']:9.2e} {r['max_rel_err']:9.2e} {r['nodes']:6d}")
    print("export_s = torch.export.export + run_decompositions; infercc_s = load_pytorch "
          "(includes the export); lower_s = lower_program alone")


if __name__ == "__main__":
    main()
