"""Seed IR texts and seeded mutations of them, for checking that the parser fails cleanly.

``seed_texts()`` prints a few graphs that together use every construct of the text format
(inline ``dense`` constants, base64 ``dense_resource`` and sparse resources, strings,
quantized types, symbolic dims, metadata, subgraphs, quoted names) plus the ``.ir`` files of
``tests/passes``. ``mutants(seeds, count, seed)`` derives byte-level mutants from them: byte
flips, truncations, deleted / duplicated / swapped tokens and spliced-in junk such as
invalid UTF-8, non-numeric dims and broken base64.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from compiler.ir import Graph, TensorType, print_graph
from compiler.ir.types import QuantParams
from tests.conftest import REPO

_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[%@]?[A-Za-z0-9_.\-]+|\S')

#: fragments spliced into a text: each is a kind of damage a hand-edited or cut file shows
JUNK = [
    b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b'"', b"\\", b'"\\u12"', b'"\\x"',
    b"[", b"]", b"<", b">", b"{", b"}", b"(", b")", b",", b":", b"=", b"?", b"*",
    b"1e999", b"-1", b"99999999999999999999", b"1.5", b"nan", b"abc", b"q(", b"axis=",
    b'"!!!"', b'"QUJD"', b'"QUJDRA=="', b"dense<", b"dense_resource<x>", b"graph", b"%",
    b"@", b"resources", b"csc", b"meta", b"return", b"_", b"#{", b"//",
]


def _weights_graph() -> Graph:
    """Inline and resource constants, a string tensor, a quantized and a symbolic type."""
    g = Graph("weights")
    x = g.add_input("x", TensorType("f32", ("N", 16)))
    w = g.add_const(np.arange(16, dtype=np.float32), "conv1.weight", source=["conv1.weight"])
    s = g.add_const(np.array([1.5, -2.5], np.float32), "s", source=["k"])
    six = g.add_const(np.float32(6.0), "six")
    i8 = g.add_const(np.arange(12, dtype=np.int8).reshape(3, 4), "q.w", source=["fc"])
    words = g.add_const(np.array(["a", "b c", "\u00e9"], dtype=object), "words", source=["vocab"])
    a = g.add_node("add", [x, w], names=["a"], source=["add1"])
    m = g.add_node("min", [a.output, six], names=["m"])
    qt = TensorType("i8", (3, 4), QuantParams.per_tensor(0.02, -3))
    q = g.add_node("identity", [i8], out_types=[qt], names=["q"])
    pa = TensorType("i8", (3, 4), QuantParams.per_axis([0.1, 0.2, 0.3], [0, 1, 2], 0))
    p = g.add_node("identity", [q.output], out_types=[pa], names=["p"])
    g.metadata["producer"] = "test \"quoted\""
    g.outputs = [m.output, s, p.output, words]
    return g


def _sparse_graph() -> Graph:
    g = Graph("sparse weights")
    x = g.add_input("in put", TensorType("f32", (4, 4)))
    dense = np.zeros((4, 4), np.float32)
    dense[0, 1], dense[2, 3] = 1.0, 2.0
    c = g.add_const(sp.csc_matrix(dense), "w csc", source=["layer one"])
    r = g.add_const(sp.coo_matrix(dense), "w.coo", source=["coo"])
    a = g.add_node("add", [x, c], out_types=[x.type], names=["a"])
    b = g.add_node("add", [a.output, r], out_types=[x.type], names=["b"], annotations={"tag": [1, 2.5, "t"]})
    g.outputs = [b.output]
    return g


def _subgraph_graph() -> Graph:
    g = Graph("outer")
    x = g.add_input("x", TensorType("f32", (9,)))
    body = Graph("body")
    bx = body.add_input("bx", TensorType("f32", (9,)))
    k = body.add_const(np.linspace(0, 1, 9, dtype=np.float32), "w", source=["inner"])
    body.outputs = [body.add_node("mul", [bx, k], names=["y"]).output]
    w = g.add_const(np.ones(9, np.float32), "w", source=["outer"])
    n = g.add_node("identity", [w], {"body": body, "flag": True, "axes": [0, -1]},
                   out_types=[w.type], names=["i"])
    o = g.add_node("add", [x, n.output], names=["o"])
    g.outputs = [o.output]
    return g


def seed_texts() -> list[str]:
    """IR texts (with data) covering the whole text format."""
    texts = [print_graph(f(), with_data=True) for f in (_weights_graph, _sparse_graph, _subgraph_graph)]
    texts += [p.read_text() for p in sorted((REPO / "tests" / "passes").rglob("*.ir"))]
    return texts


def _mutate(data: bytes, rng: random.Random) -> bytes:
    kind = rng.randrange(6)
    if kind == 0:  # flip one byte
        i = rng.randrange(len(data))
        return data[:i] + bytes([rng.randrange(256)]) + data[i + 1 :]
    if kind == 1:  # cut the text short
        return data[: rng.randrange(len(data))]
    toks = [m.span() for m in _TOKENS.finditer(data)]
    a, b = toks[rng.randrange(len(toks))]
    if kind == 2:  # delete a token
        return data[:a] + data[b:]
    if kind == 3:  # duplicate a token
        return data[:b] + b" " + data[a:b] + data[b:]
    if kind == 4:  # swap two tokens
        c, d = toks[rng.randrange(len(toks))]
        if c < a:
            (a, b), (c, d) = (c, d), (a, b)
        if c < b:
            return data
        return data[:a] + data[c:d] + data[b:c] + data[a:b] + data[d:]
    # replace a token, or part of one, with junk
    junk = rng.choice(JUNK)
    if rng.random() < 0.5:
        return data[:a] + junk + data[b:]
    i = rng.randrange(a, b)
    return data[:i] + junk + data[i:]


def mutants(seeds: list[str], count: int, seed: int = 0) -> list[bytes]:
    """``count`` mutants of ``seeds`` (as UTF-8 bytes), reproducible from ``seed``."""
    rng = random.Random(seed)
    raw = [s.encode("utf-8") for s in seeds]
    out = []
    for _ in range(count):
        data = rng.choice(raw)
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            data = _mutate(data, rng) or data
        out.append(data)
    return out
