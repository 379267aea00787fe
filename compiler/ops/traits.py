"""Op traits: the facts passes and targets ask about an op, declared once on its schema.

Every trait is an argument of :func:`~compiler.ops.registry.defop` and is read through an
:class:`~compiler.ops.registry.OpSchema` accessor; no pass or target keeps its own table of
them.

* ``weights`` -- which inputs are weights and the axis of each that indexes output channels:
  a ``{input index: axis}`` dict, or a function of the node's attributes returning one (gemm's
  axis depends on ``transB``). Read with ``schema.weight_axes(attrs)``.
* ``bias`` -- the index of the input added per output channel, or None.
* ``fused_activation`` -- not declared separately: an op can carry a fused activation
  exactly when its schema has the ``activation`` attribute.
* ``quant_role`` -- how the op behaves under quantization, whatever the target
  (:data:`QUANT_ROLES`), and ``quant_inputs``: the inputs that are quantized data operands
  (``"*"``: all of them).
* ``pure`` -- False for ops whose result differs from run to run (random sampling): never
  folded into a constant or merged with a twin.
* ``cost`` -- how :func:`node_flops` counts the op (:data:`COST_KINDS`); ``""`` derives it
  from the category (elementwise and activation ops: ``"elementwise"``, else ``"none"``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    from ..ir.graph import Node, Value

#: ``quant_role`` values.
#: ``compute``: computes new values; its quantized inputs and outputs get their own parameters.
#: ``same_scale``: moves, selects or pads values (or takes a max) without making new ones, so
#: its output can reuse its input's parameters exactly.
#: ``fixed_range``: the output range is known whatever the input (sigmoid, softmax: [0, 1];
#: tanh: [-1, 1]), so a target may fix its output parameters.
#: ``none``: infercc does not quantize it.
QUANT_ROLES = ("compute", "same_scale", "fixed_range", "none")

#: ``cost`` values, one counting rule each (see :func:`node_flops`).
COST_KINDS = ("", "none", "elementwise", "normalization", "softmax", "pool", "reduce", "conv",
              "conv_transpose", "matmul")

WeightAxes = Union[dict[int, int], Callable[[dict[str, Any]], dict[int, int]], None]

_ELEMENTWISE_CATEGORIES = frozenset({"elementwise", "activation"})


def check_traits(op: str, quant_role: str, quant_inputs: Any, cost: str) -> None:
    """Raise ValueError for a trait value outside its vocabulary (caught at registration)."""
    if quant_role not in QUANT_ROLES:
        raise ValueError(f"op {op}: quant_role {quant_role!r} is not one of {QUANT_ROLES}")
    if cost not in COST_KINDS:
        raise ValueError(f"op {op}: cost {cost!r} is not one of {COST_KINDS}")
    if quant_inputs != "*" and not all(isinstance(i, int) for i in quant_inputs):
        raise ValueError(f"op {op}: quant_inputs must be input indices or '*'")


def cost_kind(cost: str, category: str) -> str:
    """The counting rule of an op declared with ``cost`` in ``category``."""
    if cost:
        return cost
    return "elementwise" if category in _ELEMENTWISE_CATEGORIES else "none"


def _shape(v: Value | None) -> tuple[int, ...] | None:
    if v is None or v.type.shape is None or not all(isinstance(d, int) for d in v.type.shape):
        return None
    return tuple(v.type.shape)


def node_flops(node: Node, kind: str, weights: dict[int, int], bias: int | None
               ) -> tuple[int, int] | None:
    """``(flops, macs)`` of ``node`` counted by rule ``kind``, or None without static shapes.

    One multiply-accumulate is 2 FLOPs. ``conv``: MACs = output elements x (input channels
    per group x kernel elements) of the weight; ``conv_transpose``: input elements x (output
    channels per group x kernel elements); ``matmul``: output elements x K (gemm: ``transA``
    moves K). The weight is the (first) input of ``weights``. A present ``bias`` input adds 1
    per output element and a fused ``activation`` 1 more. ``elementwise``: 1 per output
    element (+1 with a fused activation); ``normalization``: 2; ``softmax``: 3 (exp, sum,
    divide); ``pool``: output elements x window; ``reduce``: input elements; ``none``: 0
    (still None when the output shape is not static: the count is unknown, not zero).
    """
    out = _shape(node.outputs[0]) if node.outputs else None
    out_n = math.prod(out) if out is not None else None
    extra = 0
    if out_n is not None:
        if node.attrs.get("activation"):
            extra += out_n
        if bias is not None and node.input(bias) is not None:
            extra += out_n
    if kind in ("conv", "conv_transpose"):
        w = _shape(node.input(min(weights) if weights else 1))
        x = _shape(node.input(0))
        if out_n is None or w is None or (kind == "conv_transpose" and x is None):
            return None
        macs = (out_n if kind == "conv" else math.prod(x)) * math.prod(w[1:])
        return 2 * macs + extra, macs
    if kind == "matmul":
        a = _shape(node.input(0))
        if a is None or out_n is None or not a:
            return None
        k = a[0] if node.op == "gemm" and node.attrs.get("transA", 0) else a[-1]
        macs = out_n * k
        return 2 * macs + extra, macs
    if out_n is None:
        return None
    if kind == "none":
        return 0, 0
    if kind == "elementwise":
        return out_n + extra, 0
    if kind == "normalization":
        return 2 * out_n, 0
    if kind == "softmax":
        return 3 * out_n, 0
    if kind == "pool":
        k = node.attrs.get("kernel_shape")
        return (out_n * math.prod(k), 0) if k else None
    if kind == "reduce":
        x = _shape(node.input(0))
        return (math.prod(x), 0) if x is not None else None
    raise AssertionError(f"unknown cost kind {kind!r}")  # pragma: no cover - checked at defop


def node_bytes(node: Node) -> int | None:
    """Memory traffic of ``node`` in bytes: every input read once and every output written
    once (4-bit elements count half a byte, rounded up per tensor), or None when a tensor's
    shape is not static or its element type has no fixed size (strings). Absent optional
    inputs count 0. This is the streaming estimate a roofline cost model starts from; it
    ignores caches and re-reads (a conv's input read once per filter is still counted once).
    """
    total = 0
    for v in list(node.inputs) + list(node.outputs):
        if v is None:
            continue
        shape, bits = _shape(v), v.type.dtype.bits
        if shape is None or bits is None:
            return None
        total += (math.prod(shape) * bits + 7) // 8
    return total

