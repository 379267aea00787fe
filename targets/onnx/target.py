"""The ONNX target: options, capabilities and the exporter driver.

The conversion itself lives in :mod:`targets.onnx.exporter`; this module describes the
target to the compiler driver and turns the exported model into an
:class:`~targets.EmitResult`.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from compiler.ir.graph import CONST, Node

from ..base import DeployedTensor, EmitResult, Target, TargetOptions
from . import sparse_rule  # noqa: F401 - registers the "onnx" sparse rule


@dataclass
class OnnxOptions(TargetOptions):
    """``opset``: the ONNX opset to write (default: the source model's opset when it has one
    of at least 13, else 21, the newest onnxruntime runs every op of; see
    :func:`targets.onnx.exporter.default_opset`)."""

    name: ClassVar[str] = "onnx"

    opset: int | None = None


class OnnxTarget(Target):
    name: ClassVar[str] = "onnx"
    title: ClassVar[str] = "ONNX"
    summary: ClassVar[str] = "ONNX model (float) run by onnxruntime"
    extensions: ClassVar[tuple[str, ...]] = (".onnx",)
    Options: ClassVar[type[TargetOptions]] = OnnxOptions
    executor: ClassVar[str | None] = "onnxruntime"
    supports_int8: ClassVar[bool] = False

    def supports(self, node: Node) -> str | None:
        """The exporter's per-node test: an ONNX op type for the IR op (the inverse of the
        frontend's name table) that is defined at the newest opset onnx knows."""
        if node.op == CONST:
            return None
        op_type = _op_types().get(node.op)
        if op_type is None:
            return "has no ONNX counterpart"
        if not _defined(op_type):
            return f"ONNX {op_type} is not defined at the installed onnx's newest opset"
        return None

    def emit(self, graph: Any, options: TargetOptions | None = None,
             output: str | os.PathLike | None = None) -> EmitResult:
        from .exporter import export_onnx

        opts = options if options is not None else self.Options()
        assert isinstance(opts, OnnxOptions), opts
        if output is not None:
            Path(output).parent.mkdir(parents=True, exist_ok=True)
        renamed: dict[str, str] = {}
        model = export_onnx(graph, output, opset=opts.opset, renamed=renamed)
        data = model.SerializeToString()
        return EmitResult(data=data, tensor_map=_tensor_map(graph, model, renamed),
                          target=self.name,
                          output=Path(output) if output is not None else None)


def _tensor_map(graph: Any, model: Any, renamed: dict[str, str]) -> dict[str, DeployedTensor]:
    """IR values the exporter wrote (under their own name unless ``renamed`` says
    otherwise); ONNX keeps the IR's axis order."""
    g = model.graph
    names = {v.name for v in list(g.input) + list(g.output)} | {t.name for t in g.initializer}
    names.update(o for n in g.node for o in n.output)
    out = {}
    for v in graph.values():
        name = renamed.get(v.name, v.name)
        if name in names:
            rank = v.type.rank or 0
            out[v.name] = DeployedTensor(name=name, perm=tuple(range(rank)),
                                         dtype=_dtype_name(v.type.dtype))
    return out


def _dtype_name(dtype: Any) -> str:
    try:
        return dtype.numpy.name
    except (TypeError, ValueError, KeyError):  # element types numpy cannot store (int4)
        return str(dtype)


@functools.lru_cache(maxsize=1)
def _op_types() -> dict[str, str]:
    from compiler.ops.onnx_names import inverse_table

    return inverse_table()


@functools.lru_cache(maxsize=None)
def _defined(op_type: str) -> bool:
    import onnx.defs

    from .exporter import newest_onnx_opset

    try:
        onnx.defs.get_schema(op_type, newest_onnx_opset(), "")
    except onnx.defs.SchemaError:
        return False
    return True
