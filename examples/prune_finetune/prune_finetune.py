"""Prune a PyTorch model with infercc, fine-tune it in PyTorch under the exported masks, and
recompile it with its zeros kept.

    PYTHONPATH=$PWD python3 examples/prune_finetune/prune_finetune.py

1. compile ResNetLike (tests/support/models_torch.py) with ``prune{sparsity=0.5,
   export_masks=masks.pt}``: one-shot magnitude pruning, masks keyed by parameter name;
2. ``torch.nn.utils.prune.custom_from_mask(module, "weight", mask)`` on each masked module;
3. a few SGD steps on seeded data, distilling the dense model's logits (the masks hold the
   pruned weights at zero while the kept ones move);
4. ``prune.remove`` makes the zeros permanent; recompile without ``prune``.

Prints the sparsity of the masked weights in the recompiled graph and the logit SQNR against
the dense model, on held-out seeded data, of the one-shot pruned and the fine-tuned models.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

PIPELINE = "remove-identity,fold-constants,resolve-shapes,fuse-batchnorm,fuse-matmul-add"
SHAPE = (1, 3, 32, 32)


def compile_torch(module: Any, extra: str = "") -> tuple[Any, Any]:
    """``module`` lowered and run through :data:`PIPELINE` (plus ``extra`` passes): the graph
    and the pass context (its ``pruning`` artifact)."""
    import torch

    from compiler.frontends.pytorch import load_pytorch
    from compiler.pass_manager import PassContext, PassManager

    g = load_pytorch(module, (torch.zeros(*SHAPE),))
    ctx = PassContext()
    PassManager(PIPELINE + (f",{extra}" if extra else "") + ",dce").run(g, ctx)
    return g, ctx


def logits(graph: Any, xs: np.ndarray) -> np.ndarray:
    """``graph``'s first output for each sample of ``xs`` (batch 1 each)."""
    from compiler.interpreter import Interpreter

    it = Interpreter(graph)
    name, out = graph.inputs[0].name, graph.outputs[0].name
    return np.concatenate([it.run({name: x[None]})[out] for x in xs])


def apply_masks(module: Any, masks: dict[str, Any]) -> list[tuple[Any, str]]:
    """``custom_from_mask`` for every ``"<module path>.<param>"`` key of ``masks``; returns
    the (module, param) pairs for ``prune.remove``."""
    from torch.nn.utils import prune

    mods = dict(module.named_modules())
    done = []
    for key, mask in masks.items():
        path, _, param = key.rpartition(".")
        prune.custom_from_mask(mods[path], param, mask)
        done.append((mods[path], param))
    return done


def fine_tune(student: Any, teacher: Any, steps: int, seed: int = 0, lr: float = 0.02) -> None:
    """``steps`` SGD steps (batch 16, momentum 0.9) matching ``teacher``'s logits on seeded
    normal inputs; batch norms stay in eval mode (their statistics are folded at compile)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(student.parameters(), lr=lr, momentum=0.9)
    for _ in range(steps):
        x = torch.randn(16, *SHAPE[1:], generator=gen)
        with torch.no_grad():
            want = teacher(x)
        loss = torch.nn.functional.mse_loss(student(x), want)
        opt.zero_grad()
        loss.backward()
        opt.step()


def run(workdir: Path, steps: int = 60) -> dict[str, Any]:
    """The whole flow; returns the figures (see the module docstring)."""
    import copy

    import torch
    from torch.nn.utils import prune

    from compiler.debug.metrics import sqnr_db
    from tests.support.models_torch import ResNetLike

    torch.manual_seed(0)
    dense = ResNetLike().eval()
    held_out = np.random.default_rng(1).standard_normal((32, *SHAPE[1:])).astype(np.float32)
    with torch.no_grad():
        want = dense(torch.from_numpy(held_out)).numpy()

    mask_file = workdir / "masks.pt"
    pruned, ctx = compile_torch(dense, f"prune{{sparsity=0.5,export_masks={mask_file}}}")
    masks = torch.load(mask_file)

    student = copy.deepcopy(dense)
    pairs = apply_masks(student, masks)
    fine_tune(student, dense, steps)
    for mod, param in pairs:
        prune.remove(mod, param)
    tuned, _ = compile_torch(student.eval())

    kept = {c.annotations["param"]: c.attrs["value"] for c in tuned.nodes
            if c.op == "const" and c.annotations.get("param") in masks}
    return {
        "masks": len(masks),
        "target": ctx.artifacts["pruning"].sparsity,
        "sparsity": {k: float((v == 0).mean()) for k, v in kept.items()},
        "one_shot_sqnr_db": sqnr_db(want, logits(pruned, held_out)),
        "fine_tuned_sqnr_db": sqnr_db(want, logits(tuned, held_out)),
    }


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        r = run(Path(d), steps=int(sys.argv[1]) if len(sys.argv) > 1 else 60)
    print(f"{r['masks']} masks; recompiled sparsity of the masked weights: "
          f"min {min(r['sparsity'].values()):.3f} (target {r['target']:.3f})")
    print(f"logit SQNR vs dense on 32 held-out inputs: one-shot {r['one_shot_sqnr_db']:.2f} dB, "
          f"fine-tuned {r['fine_tuned_sqnr_db']:.2f} dB")
