"""Seeded malformed variants of a TFLite model, for checking that the loader refuses them cleanly.

Each mutant is one small change: a field edited through LiteRT's schema object API
(``ModelT``: buffer, tensor, opcode and subgraph indices, dims, dtypes, buffer sizes,
quantization and sparsity parameters) and packed again, a few flipped bytes of the file, or
the file cut short. ``FIELD_MUTATIONS`` also serves the one-vector regression tests.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

_BIG = [2**31 - 1, 2**24, 10**6 + 3]


def unpack(data: bytes) -> Any:
    """The model as a ``ModelT`` object tree."""
    from ai_edge_litert import schema_py_generated as schema

    return schema.ModelT.InitFromPackedBuf(data, 0)


def pack(model: Any) -> bytes:
    """A ``ModelT`` serialized as a ``.tflite`` flatbuffer (file identifier ``TFL3``)."""
    import flatbuffers

    b = flatbuffers.Builder(0)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _set(vec: Any, k: int, value: int) -> Any:
    """``vec`` (list or numpy array, possibly None) with entry ``k`` set, keeping its dtype."""
    if vec is None:
        return [value]
    if isinstance(vec, np.ndarray):
        vec = vec.astype(np.int64).tolist()
    vec = list(vec)
    if not vec:
        return [value]
    vec[k % len(vec)] = value
    return vec


def _tensors(m: Any) -> list[tuple[Any, Any]]:
    return [(sg, t) for sg in m.subgraphs for t in sg.tensors or []]


def _ops(m: Any) -> list[tuple[Any, Any]]:
    return [(sg, op) for sg in m.subgraphs for op in sg.operators or []]


def _const_tensors(m: Any) -> list[Any]:
    out = []
    for _, t in _tensors(m):
        b = int(t.buffer)
        if 0 < b < len(m.buffers) and m.buffers[b].data is not None and len(m.buffers[b].data):
            out.append(t)
    return out


def buffer_index(m, rng):
    _, t = rng.choice(_tensors(m))
    t.buffer = rng.choice([len(m.buffers), len(m.buffers) + 1000, 2**32 - 1])


def negative_dim(m, rng):
    t = rng.choice([t for _, t in _tensors(m) if t.shape is not None and len(t.shape)])
    t.shape = _set(t.shape, rng.randrange(len(t.shape)), rng.choice([-1, -7, -(2**31)]))


def huge_dim(m, rng):
    pool = _const_tensors(m) if rng.random() < 0.5 else [t for _, t in _tensors(m)]
    t = rng.choice([t for t in pool if t.shape is not None and len(t.shape)] or pool)
    k = rng.randrange(max(1, len(t.shape if t.shape is not None else [])))
    t.shape = _set(t.shape, k, rng.choice(_BIG))


def buffer_size(m, rng):
    t = rng.choice(_const_tensors(m))
    b = m.buffers[int(t.buffer)]
    data = np.asarray(b.data, np.uint8)
    b.data = rng.choice([data[: len(data) // 2], data[:-1], np.concatenate([data, data[:3]])])


def opcode_index(m, rng):
    _, op = rng.choice(_ops(m))
    op.opcodeIndex = rng.choice([len(m.operatorCodes), len(m.operatorCodes) + 50, 2**32 - 1])


def tensor_index(m, rng):
    sg, op = rng.choice(_ops(m))
    n = len(sg.tensors)
    bad = rng.choice([n, n + 7, -2, -(2**31), 2**31 - 1])
    if rng.random() < 0.6 and op.inputs is not None and len(op.inputs):
        op.inputs = _set(op.inputs, rng.randrange(len(op.inputs)), bad)
    elif op.outputs is not None and len(op.outputs):
        op.outputs = _set(op.outputs, rng.randrange(len(op.outputs)), bad)


def subgraph_index(m, rng):
    """A subgraph index in CALL_ONCE options out of range, or a WHILE whose options are."""
    from ai_edge_litert import schema_py_generated as schema

    bad = rng.choice([len(m.subgraphs), len(m.subgraphs) + 3, -1, 2**31 - 1])
    for _, op in _ops(m):
        if isinstance(op.builtinOptions, schema.CallOnceOptionsT):
            op.builtinOptions.initSubgraphIndex = bad
            return
    _, op = rng.choice(_ops(m))
    oc = schema.OperatorCodeT()
    oc.builtinCode = schema.BuiltinOperator.WHILE
    oc.deprecatedBuiltinCode = min(schema.BuiltinOperator.WHILE, 127)
    m.operatorCodes.append(oc)
    op.opcodeIndex = len(m.operatorCodes) - 1
    op.builtinOptionsType = schema.BuiltinOptions.WhileOptions
    op.builtinOptions = schema.WhileOptionsT()
    op.builtinOptions.condSubgraphIndex = 0
    op.builtinOptions.bodySubgraphIndex = bad


def dtype(m, rng):
    _, t = rng.choice(_tensors(m))
    t.type = rng.choice([5, 8, 13, 17, 23, 99, 127])


def quantization(m, rng):
    from ai_edge_litert import schema_py_generated as schema

    qs = [t for _, t in _tensors(m) if t.quantization is not None and t.quantization.scale is not None]
    if not qs:
        _, t = rng.choice(_tensors(m))
        t.quantization = schema.QuantizationParametersT()
        t.quantization.scale = [0.5, 0.25, 0.125]
        t.quantization.zeroPoint = [0]
        t.quantization.quantizedDimension = 9
        return
    q = rng.choice(qs).quantization
    k = rng.randrange(3)
    if k == 0:
        q.scale = list(np.asarray(q.scale).ravel()) + [0.5, 0.5]
    elif k == 1:
        q.zeroPoint = [0] * (len(q.scale) + 2)
    else:
        q.quantizedDimension = rng.choice([7, 2**31 - 1])
        q.scale = list(np.asarray(q.scale).ravel()) + [0.5]


def sparsity(m, rng):
    sp = [t for _, t in _tensors(m) if t.sparsity is not None]
    if not sp:
        return huge_dim(m, rng)
    t = rng.choice(sp)
    s = t.sparsity
    k = rng.randrange(6)
    meta = list(s.dimMetadata or [])
    if k == 0:
        t.shape = _set(t.shape, rng.randrange(max(1, len(t.shape))), rng.choice(_BIG))
    elif k == 1 and meta:
        rng.choice(meta).denseSize = rng.choice(_BIG)
    elif k == 2 and s.traversalOrder is not None and len(s.traversalOrder):
        k = rng.randrange(len(s.traversalOrder))
        s.traversalOrder = _set(s.traversalOrder, k, rng.choice([9, -1]))
    elif k == 3:
        s.blockMap = _set(s.blockMap, 0, rng.choice([5, -3]))
    else:
        sparse = [d for d in meta if d.arrayIndices is not None and d.arraySegments is not None]
        if not sparse:
            return huge_dim(m, rng)
        d = rng.choice(sparse)
        vec = d.arrayIndices if k == 4 else d.arraySegments
        vals = np.asarray(vec.values).astype(np.int64).tolist()
        if vals:
            vals[rng.randrange(len(vals))] = rng.choice([65535, 255, 10**6])
        vec.values = np.asarray(vals).astype(np.asarray(vec.values).dtype)


def io_index(m, rng):
    sg = rng.choice(m.subgraphs)
    bad = rng.choice([len(sg.tensors), len(sg.tensors) + 11, -1])
    if rng.random() < 0.5 and sg.inputs is not None and len(sg.inputs):
        sg.inputs = _set(sg.inputs, rng.randrange(len(sg.inputs)), bad)
    else:
        n = len(sg.outputs) if sg.outputs is not None else 0
        sg.outputs = _set(sg.outputs, rng.randrange(max(1, n)), bad)


def shape_signature(m, rng):
    _, t = rng.choice(_tensors(m))
    shape = list(t.shape if t.shape is not None else [])
    t.shapeSignature = rng.choice([shape + [1], [-5] * len(shape) or [-5], [-1] + shape[1:]])


def drop_vector(m, rng):
    k = rng.randrange(4)
    if k == 0:
        m.buffers = m.buffers[: len(m.buffers) // 2]
    elif k == 1:
        m.operatorCodes = m.operatorCodes[:1]
    elif k == 2:
        rng.choice(m.subgraphs).tensors = []
    else:
        _, op = rng.choice(_ops(m))
        op.inputs = None


def offset_buffer(m, rng):
    """A constant's data moved to a (bogus) offset/size past the file's end."""
    b = m.buffers[int(rng.choice(_const_tensors(m)).buffer)]
    b.data = None
    b.offset = rng.choice([2**40, 10**6, 3])
    b.size = rng.choice([2**40, 64, 10**9])


FIELD_MUTATIONS: list[Callable[[Any, random.Random], None]] = [
    buffer_index, negative_dim, huge_dim, buffer_size, opcode_index, tensor_index,
    subgraph_index, dtype, quantization, sparsity, io_index, shape_signature, drop_vector,
    offset_buffer,
]


def flip_bytes(data: bytes, rng: random.Random, count: int = 3) -> bytes:
    b = bytearray(data)
    for _ in range(count):
        b[rng.randrange(8, len(b))] = rng.randrange(256)
    return bytes(b)


def mutants(data: bytes, count: int, seed: int) -> Iterator[tuple[str, bytes]]:
    """``count`` (description, file bytes) pairs: 1 in 4 byte flips, 1 in 8 truncations."""
    rng = random.Random(seed)
    for i in range(count):
        if i % 4 == 3:
            yield f"#{i} byte flips", flip_bytes(data, rng)
            continue
        if i % 8 == 5:
            yield f"#{i} truncated", data[: rng.randrange(len(data))]
            continue
        m = unpack(data)
        fn = rng.choice(FIELD_MUTATIONS)
        fn(m, rng)
        yield f"#{i} {fn.__name__}", pack(m)
