"""Capture of PyTorch programs: ``torch.export`` of an ``nn.Module`` and ``.pt2`` loading.

Both return a :class:`torch.export.ExportedProgram` run through :func:`decomposition_table`
(or only functionalized with ``decompose=False``), ready for :mod:`.lowering`. Failures of
torch's own export or loading raise :class:`~compiler.errors.ModelLoadError`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ...errors import ModelLoadError, framework_message

log = logging.getLogger(__name__)

def decomposition_table() -> dict:
    """torch.export's default (core ATen) table without the ops the IR has directly."""
    import torch

    aten = torch.ops.aten
    table = torch.export.default_decompositions()
    keep = [aten.linear.default, aten.hardswish.default, aten.hardsigmoid.default,
            aten.silu.default, aten.mish.default, aten.adaptive_avg_pool2d.default,
            aten.scaled_dot_product_attention.default, aten.upsample_nearest2d.vec,
            aten.upsample_bilinear2d.vec, aten.gelu.default, aten.max_pool2d.default,
            aten.softplus.default]
    for op in keep:
        table.pop(op, None)
    return table


def export_module(
    module: Any, example_inputs: tuple, *, dynamic_batch: bool = False, decompose: bool = True
) -> Any:
    """``torch.export`` the module in eval mode; ``(exported program, export label)``."""
    import torch

    if not isinstance(module, torch.nn.Module):
        raise ModelLoadError(f"load_pytorch needs a torch.nn.Module, got {type(module).__name__}")
    if not isinstance(example_inputs, tuple):
        example_inputs = (example_inputs,)
    label = type(module).__name__
    module.eval()
    dynamic_shapes = None
    if dynamic_batch:
        example_inputs, dynamic_shapes = _dynamic_batch_spec(example_inputs, label)
    try:
        ep = torch.export.export(module, example_inputs, dynamic_shapes=dynamic_shapes)
    except Exception as e:
        raise ModelLoadError(
            f"{label}: torch.export.export failed ({framework_message(e)}); "
            "the module must be traceable by torch.export (no data-dependent Python control flow)"
        ) from None
    return _decompose(ep, decompose, label)


def _dynamic_batch_spec(example_inputs: tuple, label: str) -> tuple[tuple, tuple]:
    import torch

    batch = torch.export.Dim("N")
    specs, inputs = [], []
    for i, x in enumerate(example_inputs):
        if isinstance(x, torch.Tensor) and x.dim() > 0:
            if x.shape[0] == 1:
                # torch.export specializes size-1 dims; trace with two copies of the sample
                log.info("%s: input %d has batch 1; exporting with batch 2 for a dynamic batch", label, i)
                x = torch.cat([x, x], 0)
            specs.append({0: batch})
        else:
            specs.append(None)
        inputs.append(x)
    return tuple(inputs), tuple(specs)


def _decompose(ep: Any, decompose: bool, label: str) -> Any:
    try:
        return ep.run_decompositions(decomposition_table() if decompose else {})
    except Exception as e:
        raise ModelLoadError(
            f"{label}: torch's run_decompositions failed ({framework_message(e)})"
        ) from None


def load_program(path: str | os.PathLike, *, decompose: bool = True) -> Any:
    """The ExportedProgram saved at ``path`` with ``torch.export.save`` (``.pt2``), decomposed.

    The archive is read by :func:`.pt2_archive.load_pt2`, which runs nothing stored in it.
    """
    p = Path(path)
    label = str(p)
    if not p.exists():
        raise ModelLoadError(f"{label}: no such file; check the path to the .pt2 program")
    if p.is_dir():
        raise ModelLoadError(f"{label}: is a directory; pass the .pt2 file saved by torch.export.save")
    from .pt2_archive import load_pt2

    with quiet_torch_logging():
        ep = load_pt2(p)
        return _decompose(ep, decompose, label)


@contextlib.contextmanager
def quiet_torch_logging() -> Iterator[None]:
    """Keep torch's own log handlers and warnings off stderr unless debug logging is on.

    torch attaches handlers of its own to the ``torch`` loggers, so a filter on infercc's
    handler does not reach them; a failed load would print torch's traceback before
    infercc's one-paragraph error. At DEBUG level (``-vv``) everything is left as it is.
    """
    if logging.getLogger().getEffectiveLevel() <= logging.DEBUG:
        yield
        return
    import torch._export.serde.serialize  # noqa: F401  (creates the loggers the load uses)

    names = ["torch"] + [n for n in list(logging.root.manager.loggerDict) if n.startswith("torch.")]
    saved = [(lg, lg.disabled, lg.level) for lg in map(logging.getLogger, names)]
    for lg, _, _ in saved:
        # loggers torch creates during the load inherit the level of their nearest parent
        lg.disabled = True
        lg.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, disabled, level in saved:
            lg.disabled = disabled
            lg.setLevel(level)
