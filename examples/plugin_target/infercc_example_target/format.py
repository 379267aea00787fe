"""The ``.irz`` archive format, both directions (one home for its layout).

``write_archive(graph)`` -> bytes and ``read_archive(bytes or path)`` -> ``(graph,
signature)`` are inverses: the graph read back prints to the same IR text.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from typing import Any

from compiler.errors import InferccError
from compiler.ir import Graph, parse_graph, print_graph

FORMAT_VERSION = 1
GRAPH_MEMBER = "graph.ir"
SIGNATURE_MEMBER = "signature.json"


class ArchiveError(InferccError):
    """A file is not an ``.irz`` archive this version can read."""


def signature(graph: Graph) -> dict[str, Any]:
    """The names and IR types of ``graph``'s inputs and outputs."""
    return {
        "format": FORMAT_VERSION,
        "graph": graph.name,
        "inputs": [{"name": v.name, "type": str(v.type)} for v in graph.inputs],
        "outputs": [{"name": v.name, "type": str(v.type)} for v in graph.outputs],
    }


def write_archive(graph: Graph, *, compress: bool = True) -> bytes:
    """``graph`` as ``.irz`` bytes; ``compress`` deflates the members (else they are stored,
    which lets a reader map the IR text without inflating it)."""
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as z:
        # the signature first: a reader can look at it without touching the (large) graph
        z.writestr(SIGNATURE_MEMBER, json.dumps(signature(graph), indent=1))
        z.writestr(GRAPH_MEMBER, print_graph(graph, with_data=True))
    return buf.getvalue()


def read_archive(source: bytes | str | os.PathLike) -> tuple[Graph, dict[str, Any]]:
    """The graph and signature stored in ``source`` (archive bytes or a path).

    Raises :class:`ArchiveError` for a file that is not a zip archive, lacks a member, has
    another format version, or whose graph does not match its signature.
    """
    where = "<bytes>" if isinstance(source, bytes) else os.fspath(source)
    try:
        with zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source) as z:
            sig = json.loads(z.read(SIGNATURE_MEMBER))
            if sig.get("format") != FORMAT_VERSION:
                raise ArchiveError(f"{where}: .irz format {sig.get('format')!r}; this reader "
                                   f"reads format {FORMAT_VERSION}")
            text = z.read(GRAPH_MEMBER).decode("utf-8")
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as e:
        raise ArchiveError(f"{where}: not an .irz archive ({e})") from None
    graph = parse_graph(text)
    if signature(graph) != sig:
        raise ArchiveError(f"{where}: the graph's inputs and outputs differ from "
                           f"{SIGNATURE_MEMBER}")
    return graph, sig
