"""The ``ir-archive`` target: the optimised graph in an ``.irz`` archive (see :mod:`.format`).

A target is a :class:`targets.Target` subclass: its ``name`` (the entry-point name), the
output ``extensions`` that select it, typed ``Options``, the ``executor`` that runs what it
writes, :meth:`supports` per node and :meth:`emit`. Everything else (loading, the default
pipeline, option parsing) comes from the base class.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from compiler.errors import InferccError
from compiler.fileio import atomic_write
from compiler.ir import Graph, Node
from compiler.ir.walk import walk_nodes
from compiler.ops.registry import get_schema
from targets import DeployedTensor, EmitResult, Target, TargetOptions

from .format import write_archive


class UnsupportedGraphError(InferccError):
    """The graph holds nodes the archive's executor could not run."""


@dataclass
class IrArchiveOptions(TargetOptions):
    """``compress``: deflate the archive members; ``provenance``: keep the source-layer
    names nodes carry (false drops them, e.g. before handing the file out)."""

    name: ClassVar[str] = "ir-archive"

    compress: bool = True
    provenance: bool = True


class IrArchiveTarget(Target):
    name: ClassVar[str] = "ir-archive"
    title: ClassVar[str] = "IR archive"
    summary: ClassVar[str] = "IR text + signature in a zip (.irz), run by the reference interpreter"
    extensions: ClassVar[tuple[str, ...]] = (".irz",)
    Options: ClassVar[type[TargetOptions]] = IrArchiveOptions
    executor: ClassVar[str | None] = "ir-archive"

    def supports(self, node: Node) -> str | None:
        """The archive runs in the reference interpreter: an op needs a reference kernel
        (an op registered only in the compiling process has none where the archive runs)."""
        schema = get_schema(node.op)
        if schema is None:
            return "is not an op of the IR op set"
        if schema.kernel is None:
            return "has no reference kernel"
        return None

    def emit(self, graph: Graph, options: TargetOptions | None = None,
             output: str | os.PathLike | None = None) -> EmitResult:
        """Write ``graph`` as ``.irz`` (to ``output`` atomically when given). Every node
        :meth:`supports` refuses is listed in one error before anything is written."""
        opts = options if options is not None else self.Options()
        assert isinstance(opts, IrArchiveOptions), opts
        refused = [f"%{n.outputs[0].name if n.outputs else '?'} ({n.op}) {why}"
                   for n, _ in walk_nodes(graph) if (why := self.supports(n)) is not None]
        if refused:
            raise UnsupportedGraphError(f"target '{self.name}' cannot express {len(refused)} "
                                        "node(s): " + "; ".join(refused))
        if not opts.provenance:
            graph = graph.copy()  # the caller's graph keeps its provenance
            for n, _ in walk_nodes(graph):
                n.source = ()
        data = write_archive(graph, compress=opts.compress)
        if output is not None:
            Path(output).parent.mkdir(parents=True, exist_ok=True)
            atomic_write(output, data)
        # the archive keeps every IR value under its own name and in its own layout
        tensor_map = {v.name: DeployedTensor(name=v.name, perm=tuple(range(v.type.rank or 0)),
                                             dtype=_dtype_name(v.type.dtype))
                      for v in graph.values()}
        return EmitResult(data=data, tensor_map=tensor_map, target=self.name,
                          output=Path(output) if output is not None else None)


def _dtype_name(dtype: Any) -> str:
    try:
        return dtype.numpy.name
    except (TypeError, ValueError, KeyError):  # element types numpy cannot hold (int4)
        return str(dtype)
