"""Seeded malformed variants of an ONNX model, for checking that the loader refuses them cleanly.

Each mutant is one small change: a protobuf field edited through the ``ModelProto`` API
(op types, names, inputs wired into cycles or to nothing, attribute types, subgraph
attributes, tensor types and dims, opsets) or a few flipped bytes of the serialized file.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

_OP_TYPES = ["Loop", "If", "Scan", "Relu", "Conv", "Reshape", "Split", "Constant", "", "NoSuchOp",
             "Gather", "Concat", "Softmax", "LSTM", "MatMul", "Cast"]


def _all_graphs(g: Any) -> list[Any]:
    out = [g]
    for node in g.node:
        for a in node.attribute:
            if a.HasField("g"):
                out += _all_graphs(a.g)
            for sub in a.graphs:
                out += _all_graphs(sub)
    return out


def _pick_node(model: Any, rng: random.Random) -> tuple[Any, Any] | None:
    graphs = [g for g in _all_graphs(model.graph) if len(g.node)]
    if not graphs:
        return None
    g = rng.choice(graphs)
    return g, rng.choice(list(g.node))


def _op_type(m, rng):
    gn = _pick_node(m, rng)
    if gn:
        gn[1].op_type = rng.choice(_OP_TYPES)


def _dangling_input(m, rng):
    gn = _pick_node(m, rng)
    if gn and len(gn[1].input):
        gn[1].input[rng.randrange(len(gn[1].input))] = "no_such_value"


def _cycle(m, rng):
    gn = _pick_node(m, rng)
    if not gn:
        return
    g, node = gn
    i = list(g.node).index(node)
    later = [o for n in list(g.node)[i:] for o in n.output if o]
    if later:
        if len(node.input):
            node.input[0] = rng.choice(later)
        else:
            node.input.append(rng.choice(later))


def _drop_node(m, rng):
    gn = _pick_node(m, rng)
    if gn:
        gn[0].node.remove(gn[1])


def _dup_output(m, rng):
    gn = _pick_node(m, rng)
    if gn and len(gn[1].output):
        other = rng.choice(list(gn[0].node))
        if len(other.output):
            gn[1].output[0] = other.output[0]


def _attr_type(m, rng):
    gn = _pick_node(m, rng)
    if gn and len(gn[1].attribute):
        a = rng.choice(list(gn[1].attribute))
        a.type = rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14])


def _attr_drop(m, rng):
    gn = _pick_node(m, rng)
    if gn and len(gn[1].attribute):
        gn[1].attribute.remove(rng.choice(list(gn[1].attribute)))


def _attr_rename(m, rng):
    gn = _pick_node(m, rng)
    if gn and len(gn[1].attribute):
        rng.choice(list(gn[1].attribute)).name = rng.choice(["body", "then_branch", "axis", "x", ""])


def _attr_value(m, rng):
    gn = _pick_node(m, rng)
    if gn and len(gn[1].attribute):
        a = rng.choice(list(gn[1].attribute))
        a.ints.extend([rng.randint(-5, 5)])
        a.i = rng.choice([-1, 0, 7, 2**40])


def _subgraph(m, rng):
    subs = [(n, a) for g in _all_graphs(m.graph) for n in g.node for a in n.attribute if a.HasField("g")]
    if not subs:
        return _op_type(m, rng)
    node, a = rng.choice(subs)
    k = rng.randrange(5)
    if k == 0:
        a.ClearField("g")
    elif k == 1 and len(a.g.output):
        del a.g.output[0]
    elif k == 2:
        a.g.input.add().name = "extra_in"
    elif k == 3 and len(a.g.node):
        a.g.node[0].input.append("outer_missing")
    else:
        a.type = 2  # INT


def _tensor_type(m, rng):
    vis = list(m.graph.input) + list(m.graph.output)
    if vis:
        vi = rng.choice(vis)
        if rng.random() < 0.5:
            vi.type.tensor_type.elem_type = rng.choice([0, 8, 14, 15, 17, 40])
        else:
            vi.type.ClearField("tensor_type")


def _initializer(m, rng):
    if not len(m.graph.initializer):
        return _attr_value(m, rng)
    t = rng.choice(list(m.graph.initializer))
    k = rng.randrange(3)
    if k == 0:
        t.dims.append(3)
    elif k == 1:
        t.data_type = rng.choice([0, 8, 14, 40])
    else:
        t.raw_data = t.raw_data[: len(t.raw_data) // 2]


def _opset(m, rng):
    m.opset_import[0].version = rng.choice([1, 6, 9, 30])


def _graph_output(m, rng):
    if len(m.graph.output):
        rng.choice(list(m.graph.output)).name = rng.choice(["", "no_such_value"])


FIELD_MUTATIONS: list[Callable[[Any, random.Random], None]] = [
    _op_type, _dangling_input, _cycle, _drop_node, _dup_output, _attr_type, _attr_drop,
    _attr_rename, _attr_value, _subgraph, _tensor_type, _initializer, _opset, _graph_output,
]


def flip_bytes(data: bytes, rng: random.Random, count: int = 3) -> bytes:
    b = bytearray(data)
    for _ in range(count):
        b[rng.randrange(len(b))] = rng.randrange(256)
    return bytes(b)


def mutants(model: Any, count: int, seed: int) -> Iterator[tuple[str, bytes]]:
    """``count`` (description, serialized model) pairs; a quarter of them byte flips."""
    rng = random.Random(seed)
    base = model.SerializeToString()
    for i in range(count):
        if i % 4 == 3:
            yield f"#{i} byte flips", flip_bytes(base, rng)
            continue
        m = type(model)()
        m.CopyFrom(model)
        fn = rng.choice(FIELD_MUTATIONS)
        fn(m, rng)
        yield f"#{i} {fn.__name__.lstrip('_')}", m.SerializeToString()
