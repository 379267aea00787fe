"""Format-blind mutations of a model file's bytes, and of the JSON documents some formats embed.

Each mutator takes the seed's bytes (and, for splices, another seed of the same format) and a
``random.Random``, and returns new bytes; none of them reads a file or keeps state, so a
mutant is reproducible from the generator's seed alone. The structure-aware mutators, which
go through each format's own schema, live with their format in :mod:`tests.fuzz.formats`.
"""

from __future__ import annotations

import json
import random
import re
import struct
from typing import Any, Callable

#: values a reader takes on trust at its peril: zero, -1, the first values past the signed
#: 16/32/64-bit ranges, and the largest ones inside them
MAGIC_INTS = [0, 1, -1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 2**31 - 1, 2**31, 2**32 - 1,
              2**63 - 1, 2**63, 2**64 - 1]

ByteMutator = Callable[[bytes, bytes, random.Random], bytes]


def flip_bytes(data: bytes, other: bytes, rng: random.Random) -> bytes:
    """Overwrite 1 to 8 random bytes with random values."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        b[rng.randrange(len(b))] = rng.randrange(256)
    return bytes(b)


def flip_bits(data: bytes, other: bytes, rng: random.Random) -> bytes:
    """Flip 1 to 4 single bits."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    return bytes(b)


def truncate(data: bytes, other: bytes, rng: random.Random) -> bytes:
    """Cut the file short: anywhere, or within its last 64 bytes (a download cut off)."""
    if rng.random() < 0.3:
        return data[: max(0, len(data) - rng.randint(1, 64))]
    return data[: rng.randrange(len(data))]


def splice(data: bytes, other: bytes, rng: random.Random) -> bytes:
    """A prefix of this seed followed by a suffix of another seed of the same format."""
    return data[: rng.randrange(len(data) + 1)] + other[rng.randrange(len(other) + 1):]


def insert_run(data: bytes, other: bytes, rng: random.Random) -> bytes:
    """Insert a run of random bytes, of one repeated byte, or a copy of a stretch of the file."""
    i = rng.randrange(len(data) + 1)
    n = rng.choice([1, 2, 4, 8, 16, 64, 512])
    kind = rng.randrange(3)
    if kind == 0:
        run = bytes(rng.randrange(256) for _ in range(n))
    elif kind == 1:
        run = bytes([rng.choice([0, 0xFF, 0x7F, 0x80, ord("{")])]) * n
    else:
        j = rng.randrange(len(data))
        run = data[j: j + n]
    return data[:i] + run + data[i:]


def delete_run(data: bytes, other: bytes, rng: random.Random) -> bytes:
    """Delete 1 to 512 bytes from anywhere."""
    i = rng.randrange(len(data))
    return data[:i] + data[i + rng.choice([1, 2, 4, 8, 16, 64, 512]):]


def magic_number(data: bytes, other: bytes, rng: random.Random) -> bytes:
    """Write a magic value (0, -1, 2^31, 2^63, ...) as a 4- or 8-byte little-endian integer
    at an offset aligned to its size: where binary formats keep counts, sizes and offsets."""
    width = rng.choice([4, 8])
    if len(data) < width:
        return data
    v = rng.choice(MAGIC_INTS) % (1 << (8 * width))
    i = rng.randrange(len(data) // width) * width
    return data[:i] + v.to_bytes(width, "little") + data[i + width:]


def magic_float(data: bytes, other: bytes, rng: random.Random) -> bytes:
    """Write NaN, an infinity or a huge float32 at an aligned offset (tensor data, scales)."""
    if len(data) < 4:
        return data
    v = struct.pack("<f", rng.choice([float("nan"), float("inf"), -float("inf"), 3.4e38, 0.0]))
    i = rng.randrange(len(data) // 4) * 4
    return data[:i] + v + data[i + 4:]


#: the byte-level mutators, for every format
BYTE_MUTATORS: list[ByteMutator] = [flip_bytes, flip_bits, truncate, splice, insert_run,
                                    delete_run, magic_number, magic_float]

# -- text ---------------------------------------------------------------------------------

_TOKENS = re.compile(rb'"(?:[^"\\\n]|\\.)*"|[A-Za-z0-9_.\-+]+|\S')

#: fragments spliced into a text format: damage a hand-edited or cut file shows
TEXT_JUNK = [b"\xff", b"\xc3", b"\x00", b'"', b"\\", b"{", b"}", b"[", b"]", b":", b"-1", b"0",
             b"2147483648", b"9223372036854775808", b"99999999999999999999", b"1e999", b"nan",
             b"-0", b"abc", b"#", b"//", b"\n"]


def token_edit(data: bytes, other: bytes, rng: random.Random) -> bytes:
    """Delete, duplicate, swap or replace a token of a text file (numbers become magic ones)."""
    toks = [m.span() for m in _TOKENS.finditer(data)]
    if not toks:
        return data
    a, b = toks[rng.randrange(len(toks))]
    kind = rng.randrange(5)
    if kind == 0:
        return data[:a] + data[b:]
    if kind == 1:
        return data[:b] + b" " + data[a:b] + data[b:]
    if kind == 2:
        c, d = toks[rng.randrange(len(toks))]
        if (c, d) < (a, b):
            (a, b), (c, d) = (c, d), (a, b)
        if c < b:
            return data
        return data[:a] + data[c:d] + data[b:c] + data[a:b] + data[d:]
    if kind == 3 and data[a:b].lstrip(b"-").isdigit():
        return data[:a] + str(rng.choice(MAGIC_INTS + [-(2**31), -(2**63)])).encode() + data[b:]
    return data[:a] + rng.choice(TEXT_JUNK) + data[b:]


# -- JSON documents (Keras configs, .pt2 archives) ------------------------------------------


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, prefix + (i,))
    return out


def _strings(doc: Any) -> list[str]:
    if isinstance(doc, str):
        return [doc]
    if isinstance(doc, dict):
        return [s for k, v in doc.items() for s in [k, *_strings(v)]]
    if isinstance(doc, list):
        return [s for v in doc for s in _strings(v)]
    return []


def _new_value(old: Any, doc: Any, rng: random.Random) -> Any:
    """A replacement for ``old``: a magic number for a number, another string of the document
    for a string, an emptied / shortened / doubled container, or a value of another type."""
    if rng.random() < 0.15:
        return rng.choice([None, 0, -1, "", [], {}, True, 1.5, "x" * 3])
    if isinstance(old, bool):
        return not old
    if isinstance(old, int):
        return rng.choice(MAGIC_INTS + [-(2**31), -2, old + 1, old - 1, old * 1000])
    if isinstance(old, float):
        return rng.choice([0.0, -1.0, 1e300, float("nan"), float("inf")])
    if isinstance(old, str):
        strings = _strings(doc)
        return rng.choice(strings) if strings and rng.random() < 0.7 else rng.choice(
            ["", "nan", "-1", "float64", "Lambda", old + "_"])
    if isinstance(old, list):
        if not old:
            return [rng.choice([0, -1, ""])]
        k = rng.randrange(3)
        return old[1:] if k == 0 else old + old[-1:] if k == 1 else old[::-1]
    if isinstance(old, dict):
        if not old:
            return {"": 0}
        drop = rng.choice(list(old))
        return {k: v for k, v in old.items() if k != drop}
    return None


def mutate_json(doc: Any, rng: random.Random, edits: int = 1) -> Any:
    """``doc`` (parsed JSON) with ``edits`` values replaced, keys deleted or items swapped;
    the input is not modified."""
    doc = json.loads(json.dumps(doc))
    for _ in range(edits):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            return _new_value(doc, doc, rng)
        path = rng.choice(paths)
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        if isinstance(parent, dict) and rng.random() < 0.2:
            del parent[key]
        else:
            parent[key] = _new_value(parent[key], doc, rng)
    return doc


def json_bytes_edit(data: bytes, rng: random.Random, edits: int = 1) -> bytes:
    """A JSON file's bytes with :func:`mutate_json` applied (byte flips if it is not JSON)."""
    try:
        doc = json.loads(data)
    except ValueError:
        return flip_bytes(data, data, rng)
    return json.dumps(mutate_json(doc, rng, edits)).encode()
