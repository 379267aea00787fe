"""Pruning masks for fine-tuning in the source framework.

After ``prune``, :func:`export_masks` maps each pruned layer's weight back to the source
model's parameter name and returns its keep mask (1 = kept, 0 = pruned) in the parameter's
own shape; :func:`save_torch_masks` writes them as a torch state_dict of masks
(``{"layer1.0.conv1.weight": tensor}``) for ``torch.nn.utils.prune.custom_from_mask(module,
"weight", mask)``. The ``prune`` pass writes that file itself with ``export_masks=FILE.pt``.

Provenance: the PyTorch frontend annotates each parameter constant with its state_dict key
(``annotations["param"]``); ``fuse-batchnorm`` and ``prune`` carry it to the constants that
replace a weight in the same layout (folding a batch norm scales a conv's output channels:
the zeros, and so the mask, are those of the source conv weight). A pruned weight without
that annotation (another frontend, or a pass that reshaped or transposed the constant) has
no known source parameter: :class:`MaskExportError` names the layer rather than guessing.

The mask is ``weight != 0`` of the pruned constant: zeros the weight held before pruning
are masked too, which fine-tuning cannot tell from pruned ones and which stay zero anyway.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from compiler.errors import InferccError
from compiler.ir.graph import Graph, Node
from compiler.sparsity_axes import weight_axes

from .report import PruneTable

#: annotation key on a const node: the source framework's parameter name
PARAM = "param"


class MaskExportError(InferccError):
    """A pruned weight cannot be mapped to a source parameter, or the masks cannot be
    written."""


def _producer(graph: Graph, value_name: str) -> Node | None:
    for n in graph.nodes:
        if any(o.name == value_name for o in n.outputs):
            return n
    return None


def export_masks(graph: Graph, table: PruneTable) -> dict[str, np.ndarray]:
    """``{source parameter name: uint8 keep mask}`` for every layer ``table`` pruned in
    ``graph``. Raises :class:`MaskExportError` naming each pruned layer whose weight has no
    source parameter (see the module docstring)."""
    out: dict[str, np.ndarray] = {}
    missing: list[str] = []
    for row in table.pruned:
        node = _producer(graph, row.value)
        ax = weight_axes(node) if node is not None else None
        wv = node.input(ax.index) if node is not None and ax is not None else None
        if wv is None or not wv.is_const or wv.producer is None:
            missing.append(f"{row.layer} (its weight is no longer a constant of the graph)")
            continue
        name = wv.producer.annotations.get(PARAM)
        if not name:
            missing.append(f"{row.layer} (weight '{wv.name}' has no source parameter)")
            continue
        w = wv.const_value
        w = np.asarray(w.toarray() if hasattr(w, "toarray") else w)
        if name in out:
            raise MaskExportError(f"export_masks: parameter '{name}' feeds two pruned layers "
                                  f"(the second is {row.layer}); exclude one of them")
        out[str(name)] = (w != 0).astype(np.uint8)
    if missing:
        raise MaskExportError(
            f"export_masks @{graph.name}: cannot map the masks of {', '.join(missing)} back to "
            "source parameter names; masks are exported only for PyTorch sources whose "
            "weights keep their layout between loading and `prune` (run prune right after "
            "fuse-batchnorm), or exclude those layers from pruning")
    return out


def save_torch_masks(masks: dict[str, np.ndarray], path: str | os.PathLike) -> Path:
    """Write ``masks`` as ``torch.save({name: torch.tensor(mask, dtype=torch.bool)})``,
    atomically (a temporary file renamed into place). Returns the path."""
    try:
        import torch
    except ImportError as e:
        raise MaskExportError(f"export_masks={path}: writing a torch state_dict needs "
                              "torch installed (pip install torch)") from e
    p = Path(path)
    if not p.parent.is_dir():
        raise MaskExportError(f"export_masks={path}: directory '{p.parent}' does not exist")
    tmp = p.with_name(p.name + ".tmp")
    torch.save({k: torch.from_numpy(v.astype(bool)) for k, v in masks.items()}, tmp)
    os.replace(tmp, p)
    return p
