"""Where two Q/DQ ONNX models of the same float model put their quantize/dequantize pairs.

Contract:

* ``float_names(float_model, model)`` -> ``{tensor of model: tensor of float_model}``:
  which float tensor each computed tensor of a quantized ``model`` is, found by structure,
  not by name (a quantizer may rename tensors: infercc's re-export names a fused
  conv+relu's conv output ``X_preact_preact`` where the float model says ``X_preact``).
  A tensor's signature is its producer's op type over its inputs' signatures (operands of
  commutative ops sorted), graph inputs by name, stored tensors of rank 2 or more by shape,
  Q/DQ nodes transparent, stored tensors of lower rank left out (infercc's int8 export gives
  a bias-free conv a zero bias); equal signatures pair up in graph order. Unpaired tensors are left out.
* ``placement(model, rename)`` -> ``{key: NodeQ}``, one entry per compute node (every node
  but ``QuantizeLinear``, ``DequantizeLinear`` and ``Constant``), keyed by the node's first
  output tensor name mapped through ``rename`` (e.g. ``float_names``' answer), so that the
  key names the same float-model tensor in two quantized models. For each input the entry
  says which tensor it reads *through* Q/DQ (``source``: a ``DequantizeLinear`` fed by a
  ``QuantizeLinear`` resolves to that quantizer's input, one fed by a stored int8 tensor to
  that tensor), whether that input is quantized (read from a ``DequantizeLinear``) and its
  ``kind``: ``"weight"`` (stored in the file, as an initializer or a ``Constant`` output,
  and of rank 2 or more, or quantized), ``"constant"`` (other stored tensors: biases,
  scalars, shapes; not compared) or ``"activation"``; and whether the node's output feeds
  a ``QuantizeLinear``.
* ``qdq_counts(model)`` -> ``{"activation": n, "weight": m}``: quantizers of activations
  (``QuantizeLinear`` nodes reading a computed tensor) and of weights (``DequantizeLinear``
  nodes whose source is stored: an int8 initializer, or a float one through a
  ``QuantizeLinear``).
* ``op_type_table(a, b)`` -> per op type, for the two placements: how many nodes, how many
  of their activation inputs and weight inputs are quantized, how many outputs feed a
  quantizer.
* ``differences(a, b, names)`` -> one ``Difference`` per node and tensor where the two
  disagree: an activation input quantized in one model only (matched by source tensor name,
  so operand order does not matter), a weight quantized in one only (matched by input
  slot), an output quantized in one only, or a node present in one model only.
  ``names`` maps a key to the float model's node name, for the report.

Pure functions over ``onnx.ModelProto``: nothing is run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})
SKIP_OPS = QDQ_OPS | {"Constant"}


@dataclass(frozen=True)
class InputQ:
    """One input of a compute node: the tensor it reads (through Q/DQ when quantized)."""

    source: str
    quantized: bool
    kind: str  # "activation", "weight" or "constant"


@dataclass
class NodeQ:
    """A compute node's Q/DQ placement (module doc)."""

    op_type: str
    name: str
    inputs: list[InputQ] = field(default_factory=list)
    output_quantized: bool = False

    def activations(self) -> dict[str, bool]:
        """Activation source tensor -> quantized (a tensor read twice counts as quantized
        if either read is)."""
        out: dict[str, bool] = {}
        for i in self.inputs:
            if i.kind == "activation":
                out[i.source] = out.get(i.source, False) or i.quantized
        return out

    def weights(self) -> dict[int, bool]:
        """Input slot -> quantized, for the weight inputs."""
        return {k: i.quantized for k, i in enumerate(self.inputs) if i.kind == "weight"}


def _stored(model: Any) -> set[str]:
    """Names of tensors whose values are stored in the file: initializers and Constant
    outputs."""
    names = {t.name for t in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant":
            names.update(n.output)
    return names


COMMUTATIVE = frozenset({"Add", "Mul", "Sum", "Max", "Min", "Mean", "And", "Or", "Xor",
                         "Equal"})


def _shape(model: Any) -> dict[str, tuple[int, ...]]:
    """Stored tensor -> its shape (initializers and Constant ``value`` tensors; other
    Constant forms are scalars or 1-D lists, recorded as ``()``)."""
    out = {t.name: tuple(t.dims) for t in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant":
            value = next((a.t for a in n.attribute if a.name == "value"), None)
            out[n.output[0]] = tuple(value.dims) if value is not None else ()
    return out


def signatures(model: Any) -> dict[str, str]:
    """Every tensor of ``model`` -> its structural signature (``float_names``)."""
    import hashlib

    shapes = _shape(model)
    sig: dict[str, str] = {i.name: "in:" + i.name for i in model.graph.input}
    sig.update({name: f"const:{shape}" for name, shape in shapes.items() if len(shape) >= 2})
    small = {name for name, shape in shapes.items() if len(shape) < 2}
    for n in model.graph.node:
        if n.op_type == "Constant":
            continue
        if n.op_type in QDQ_OPS:
            sig[n.output[0]] = sig.get(n.input[0], "?" + n.input[0])
            continue
        ins = [sig.get(t, "?" + t) for t in n.input if t and t not in small]
        if n.op_type in COMMUTATIVE:
            ins.sort()
        h = hashlib.sha1(f"{n.op_type}({','.join(ins)})".encode()).hexdigest()[:16]
        for k, o in enumerate(n.output):
            sig[o] = f"{h}#{k}"
    return sig


def float_names(float_model: Any, model: Any) -> dict[str, str]:
    """Computed tensor of ``model`` -> the float model's tensor of the same signature."""
    pool: dict[str, list[str]] = {}
    computed = [o for n in float_model.graph.node if n.op_type not in SKIP_OPS
                for o in n.output]
    fsig = signatures(float_model)
    for t in computed:
        pool.setdefault(fsig[t], []).append(t)
    qsig = signatures(model)
    out: dict[str, str] = {}
    for n in model.graph.node:
        if n.op_type in SKIP_OPS:
            continue
        for o in n.output:
            match = pool.get(qsig[o])
            if match:
                out[o] = match.pop(0)
    return out


def placement(model: Any, rename: Mapping[str, str] | None = None) -> dict[str, NodeQ]:
    """Per compute node, keyed by its first output name through ``rename``, its Q/DQ
    placement (module doc)."""
    rename = rename or {}
    shapes = _shape(model)

    def kind(src: str, quantized: bool) -> str:
        if src not in shapes:
            return "activation"
        return "weight" if quantized or len(shapes[src]) >= 2 else "constant"

    producer = {o: n for n in model.graph.node for o in n.output}
    feeds_q = {n.input[0] for n in model.graph.node if n.op_type == "QuantizeLinear"}

    def resolve(tensor: str) -> InputQ:
        dq = producer.get(tensor)
        if dq is None or dq.op_type != "DequantizeLinear":
            return InputQ(rename.get(tensor, tensor), False, kind(tensor, False))
        q = producer.get(dq.input[0])
        src = q.input[0] if q is not None and q.op_type == "QuantizeLinear" else dq.input[0]
        return InputQ(rename.get(src, src), True, kind(src, True))

    out: dict[str, NodeQ] = {}
    for n in model.graph.node:
        if n.op_type in SKIP_OPS or not n.output:
            continue
        out[rename.get(n.output[0], n.output[0])] = NodeQ(n.op_type, n.name,
                                 [resolve(t) for t in n.input if t],
                                 any(o in feeds_q for o in n.output))
    return out


def qdq_counts(model: Any) -> dict[str, int]:
    """``{"activation": quantizers of computed tensors, "weight": of stored ones}``."""
    stored = _stored(model)
    producer = {o: n for n in model.graph.node for o in n.output}
    act = weight = 0
    for n in model.graph.node:
        if n.op_type == "QuantizeLinear" and n.input[0] not in stored:
            act += 1
        elif n.op_type == "DequantizeLinear":
            q = producer.get(n.input[0])
            src = q.input[0] if q is not None and q.op_type == "QuantizeLinear" else n.input[0]
            weight += src in stored
    return {"activation": act, "weight": weight}


@dataclass(frozen=True)
class OpCounts:
    """Per op type: nodes; quantized / all activation inputs; quantized / all weight
    inputs; outputs feeding a quantizer."""

    nodes: int = 0
    act_q: int = 0
    act: int = 0
    weight_q: int = 0
    weight: int = 0
    out_q: int = 0


def op_counts(p: Mapping[str, NodeQ]) -> dict[str, OpCounts]:
    """The :class:`OpCounts` of each op type of placement ``p``."""
    acc: dict[str, Counter[str]] = {}
    for node in p.values():
        c = acc.setdefault(node.op_type, Counter())
        c["nodes"] += 1
        acts, ws = node.activations(), node.weights()
        c["act"] += len(acts)
        c["act_q"] += sum(acts.values())
        c["weight"] += len(ws)
        c["weight_q"] += sum(ws.values())
        c["out_q"] += node.output_quantized
    return {op: OpCounts(**{k: c[k] for k in OpCounts.__dataclass_fields__})
            for op, c in acc.items()}


def op_type_table(a: Mapping[str, NodeQ], b: Mapping[str, NodeQ]
                  ) -> list[tuple[str, OpCounts, OpCounts]]:
    """``(op type, counts in a, counts in b)`` for every op type of either, sorted by name;
    an op type absent from one model has all-zero counts there."""
    ca, cb = op_counts(a), op_counts(b)
    return [(op, ca.get(op, OpCounts()), cb.get(op, OpCounts()))
            for op in sorted(set(ca) | set(cb))]


@dataclass(frozen=True)
class Difference:
    """One disagreement: ``key`` (the node's first output), its op type, the float model's
    node name, ``what`` ("activation input", "weight input", "output", "node"), the tensor
    or slot concerned, and which model quantizes it (or has the node): "a" or "b"."""

    key: str
    op_type: str
    float_node: str
    what: str
    tensor: str
    only_in: str


def differences(a: Mapping[str, NodeQ], b: Mapping[str, NodeQ],
                names: Mapping[str, str] | None = None) -> list[Difference]:
    """Every node and tensor where placements ``a`` and ``b`` disagree (module doc), in the
    order of ``a``'s nodes, then the nodes of ``b`` that ``a`` lacks."""
    names = names or {}
    out: list[Difference] = []

    def diff(key: str, op: str, what: str, tensor: str, in_a: bool) -> None:
        out.append(Difference(key, op, names.get(key, ""), what, tensor, "a" if in_a else "b"))

    for key, na in a.items():
        nb = b.get(key)
        if nb is None:
            diff(key, na.op_type, "node", key, True)
            continue
        aa, ab = na.activations(), nb.activations()
        for src in list(aa) + [s for s in ab if s not in aa]:
            qa, qb = aa.get(src, False), ab.get(src, False)
            if qa != qb:
                diff(key, na.op_type, "activation input", src, qa)
        wa, wb = na.weights(), nb.weights()
        for slot in sorted(set(wa) | set(wb)):
            qa, qb = wa.get(slot, False), wb.get(slot, False)
            if qa != qb:
                diff(key, na.op_type, "weight input", f"input {slot}", qa)
        if na.output_quantized != nb.output_quantized:
            diff(key, na.op_type, "output", key, na.output_quantized)
    for key, nb in b.items():
        if key not in a:
            diff(key, nb.op_type, "node", key, False)
    return out


def summarize(diffs: list[Difference]) -> list[tuple[str, str, str, int]]:
    """``(op type, what, only_in, count)`` over ``diffs``, most frequent first."""
    c = Counter((d.op_type, d.what, d.only_in) for d in diffs)
    return [(op, what, side, n) for (op, what, side), n in
            sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))]


def float_node_names(model: Any) -> dict[str, str]:
    """First output tensor -> node name (or ``op_type`` when unnamed) in the float model."""
    return {n.output[0]: n.name or n.op_type for n in model.graph.node if n.output}
