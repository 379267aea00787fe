"""PyTorch frontend: an ``nn.Module`` (traced by ``torch.export``) or a saved ``.pt2``
ExportedProgram -> an IR :class:`Graph`.

Contract of :func:`load_pytorch` / :func:`load_pytorch_file`:

* The module is put in eval mode and captured with ``torch.export.export``; with
  ``dynamic_batch=True`` dim 0 of every tensor input is exported as ``Dim("N")`` and is the
  symbolic dim ``"N"`` in the IR. ``decompose=True`` (default) then lowers the program to the
  core ATen op set with :func:`decomposition_table`, which keeps the ops the IR has directly
  (linear, hardswish, hardsigmoid, silu, adaptive_avg_pool2d, scaled_dot_product_attention,
  upsampling); ``decompose=False`` only functionalizes the program.
* Parameters, buffers and lifted tensor constants become ``const`` nodes named by their
  ``state_dict`` key (``layer1.0.conv1.weight``); user inputs become graph inputs named by
  the placeholder (or ``input_names``); the program's outputs are the graph outputs.
* Every ATen op lowers to ONNX-semantics IR ops (:data:`SUPPORTED_OPS`, derived from the
  lowering table of :mod:`.registry`); each IR node
  records the innermost ``nn.Module`` path it came from (``layer3.1.conv2``), or the FX node
  name for ops of the root module, in ``node.source``. Value names are the FX node names.
* Symbolic sizes (``x.shape[0]`` under a dynamic batch) are rebuilt in the IR from the
  input's ``shape`` where a reshape target needs them.
* Output types come from the IR's inference, with unknown dims filled from torch's own
  fake-tensor metadata; a disagreement between the two is reported as an error.
* Before anything is built, every ATen op (or op usage) that cannot be lowered is collected
  with all the module paths using it and raised once as
  :class:`~compiler.errors.UnsupportedOpsError`. Export failures and unreadable files raise
  :class:`~compiler.errors.ModelLoadError`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ...errors import UnsupportedOpsError
from ...ir.graph import Graph, sanitize_name
from . import handlers  # noqa: F401  (fills the lowering table)
from .export import export_module, load_program
from .lowering import _SKIP_OPS, DRIVER_OPS, _is_symbolic, _Lowering, module_path, op_key
from .registry import TABLE

# ATen op (OpOverloadPacket name, without the "aten." prefix) -> how it lowers.
SUPPORTED_OPS: dict[str, str] = dict(sorted({**DRIVER_OPS, **{k: e.note for k, e in TABLE.items()}}.items()))


def load_pytorch(
    module: Any,
    example_inputs: tuple,
    *,
    dynamic_batch: bool = False,
    input_names: list[str] | None = None,
    decompose: bool = True,
) -> Graph:
    """Lower ``module`` (called as ``module(*example_inputs)``) into an IR graph."""
    ep = export_module(module, example_inputs, dynamic_batch=dynamic_batch, decompose=decompose)
    return lower_program(ep, label=type(module).__name__, input_names=input_names)


def load_pytorch_file(
    path: str | os.PathLike,
    *,
    input_names: list[str] | None = None,
    decompose: bool = True,
) -> Graph:
    """Lower an ExportedProgram saved with ``torch.export.save`` (``.pt2``).

    The archive is read by :mod:`.pt2_archive`: nothing stored in it is unpickled,
    evaluated or executed; what cannot be read that way raises ``ModelLoadError``.
    """
    p = Path(path)
    ep = load_program(p, decompose=decompose)
    return lower_program(ep, label=str(p), input_names=input_names, name=p.stem)


def unsupported_nodes(ep: Any) -> dict[str, list[str]]:
    """ATen ops (or usages) the lowering cannot take, with the module paths using them."""
    found: dict[str, list[str]] = {}
    for node in ep.graph.nodes:
        if node.op != "call_function":
            continue
        key = op_key(node)
        if key in _SKIP_OPS or key == "getitem":
            continue
        if key.startswith("operator.") and _is_symbolic(node.meta.get("val")):
            continue
        entry = TABLE.get(key)
        why = None
        if entry is None:
            name = f"aten.{key}" if "." not in key else key
            found.setdefault(name, [])
            path = module_path(node)
            if path not in found[name]:
                found[name].append(path)
            continue
        if entry.check is not None:
            why = entry.check(node)
        if why:
            name = f"aten.{key} ({why})"
            found.setdefault(name, [])
            path = module_path(node)
            if path not in found[name]:
                found[name].append(path)
    return found


def lower_program(
    ep: Any, *, label: str = "<torch program>", input_names: list[str] | None = None,
    name: str | None = None,
) -> Graph:
    """Lower a (decomposed) ``torch.export.ExportedProgram`` into an IR graph."""
    missing = unsupported_nodes(ep)
    if missing:
        raise UnsupportedOpsError(
            label,
            missing,
            "Run `infercc ops` for the IR op set; see compiler.frontends.pytorch.SUPPORTED_OPS "
            "for the ATen ops the PyTorch frontend lowers.",
        )
    lw = _Lowering(ep, label, name or sanitize_name(label.split("/")[-1].split(".")[0]) or "main")
    graph = lw.run(input_names)
    graph.metadata["source_format"] = "pytorch"
    import torch

    graph.metadata["producer"] = f"torch {torch.__version__}"
    return graph
