"""Running a recorded network: at build time on placeholders, and ``execute`` on real inputs.

Build time: a tensor's shape and type come from running the layers that produce it on
placeholder inputs (zeros of the network inputs' declared shapes). Results are remembered per
layer as (shape, dtype, value, is-constant); the value is kept only for build-time constants
of up to 65536 elements (shape tensors, Q/DQ scales, small weights), so memory stays small
while shape arithmetic and the "scale is a build-time constant" rule see real numbers. A
network input with a -1 dimension is evaluated twice, with 32 and with 64 in place of every
-1 (sizes every convolution, pooling and stride-32 down/upsampling chain of the model zoo
accepts, where 1 or 2 would be smaller than a kernel; one size for all -1s, so dynamic dims
that meet in a broadcast or a concatenation agree); output dimensions that differ are
reported as -1. TensorRT derives these shapes symbolically instead; the placeholders are
the stand-in's way to the same -1s. Small integer tensors (up to 64 elements: shape
tensors and the arithmetic on them) keep their values too, so a reshape fed by a Shape layer
gets its real dimensions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._kernels import StandinError
from ._network import ILayer, INetworkDefinition, ITensor, NETWORK_PAGE, PROFILE_PAGE
from ._types import Dims, LayerType, datatype_of, nptype, op_page

_KEEP = 1 << 16

#: one output at build time: shape, numpy dtype, value (or None), build-time constant
Spec = tuple[tuple[int, ...], np.dtype, Any, bool]


def _run_layer(layer: ILayer, xs: list[Any], const: list[bool]) -> list[np.ndarray]:
    """One layer's kernel, with numpy's own shape errors reported as the layer's."""
    page = op_page(layer._type_word())
    if any(x is None for x in xs[:1]):
        raise StandinError(f"layer {layer.name!r} has no input 0", "input 0 is set", page)
    with np.errstate(all="ignore"):
        try:
            outs = layer.KERNEL(layer, xs, const)
        except (ValueError, IndexError) as e:  # numpy refusing what TensorRT would refuse
            raise StandinError(f"layer {layer.name!r}: {e}", "the layer's shape rules",
                               page) from e
    return [np.asarray(o) for o in outs]


def _is_const_layer(layer: ILayer, const: list[bool], xs: list[Any]) -> bool:
    if layer.TYPE == LayerType.CONSTANT:
        return True
    if layer.TYPE == LayerType.SHAPE:
        return True  # decided by the caller (static input shape)
    present = [c for c, x in zip(const, xs) if x is not None]
    return bool(present) and all(present)


def _keep_value(o: np.ndarray, is_const: bool) -> bool:
    """Keep build-time constants and small integer tensors (shape arithmetic) by value."""
    return o.size <= _KEEP and (is_const or (o.dtype.kind in "iub" and o.size <= 64))


def attributes(layer: ILayer) -> dict[str, Any]:
    """A layer's type-specific attributes and their current values."""
    return {k: getattr(layer, k) for k in type(layer).ATTRS}


def _dynamic(net: INetworkDefinition) -> bool:
    return any(-1 in t.shape for t in net._inputs)


#: the placeholder size of a -1 dim, by variant
_SIZES = {1: 32, 2: 64}


def _placeholder(t: ITensor, variant: int) -> np.ndarray:
    shape = tuple(_SIZES[variant] if d == -1 else d for d in t.shape)
    return np.zeros(shape, nptype(t.dtype))


def _specs(net: INetworkDefinition, target: ILayer, variant: int) -> list[Spec]:
    """Build-time specs of ``target``'s outputs, evaluating what it depends on first."""
    stack = [target]
    while stack:
        layer = stack[-1]
        cached = net._specs.get(id(layer), {})
        if variant in cached:
            stack.pop()
            continue
        pending = [t._producer for t in layer._inputs if t is not None and t._producer is not None
                   and variant not in net._specs.get(id(t._producer), {})]
        if pending:
            for p in pending:
                if any(p is s for s in stack):
                    raise StandinError(f"layer {p.name!r} depends on its own output",
                                       "networks are acyclic", NETWORK_PAGE)
            stack.extend(pending)
            continue
        xs: list[Any] = []
        const: list[bool] = []
        for t in layer._inputs:
            if t is None:
                xs.append(None)
                const.append(False)
            elif t._producer is None:
                xs.append(_placeholder(t, variant))
                const.append(False)
            else:
                shp, dt, val, c = net._specs[id(t._producer)][variant][t._index]
                xs.append(val if val is not None else np.zeros(shp, dt))
                const.append(c)
        outs = _run_layer(layer, xs, const)
        is_const = _is_const_layer(layer, const, xs)
        if layer.TYPE == LayerType.SHAPE:
            t0 = layer._inputs[0]
            is_const = t0 is not None and -1 not in t0.shape
        specs = [(o.shape, o.dtype, o if _keep_value(o, is_const) else None, is_const)
                 for o in outs]
        net._specs.setdefault(id(layer), {})[variant] = specs
        stack.pop()
    return net._specs[id(target)][variant]


def build_time_spec(net: INetworkDefinition, tensor: ITensor) -> tuple[Dims, Any]:
    """(shape, DataType) of a layer output, -1 for dimensions that follow a dynamic input."""
    assert tensor._producer is not None
    shp1, dt, _, _ = _specs(net, tensor._producer, 1)[tensor._index]
    if not _dynamic(net):
        return Dims(shp1), datatype_of(np.zeros(0, dt))
    shp2 = _specs(net, tensor._producer, 2)[tensor._index][0]
    dims = [a if a == b else -1 for a, b in zip(shp1, shp2)]
    return Dims(dims), datatype_of(np.zeros(0, dt))


def _order(net: INetworkDefinition, targets: list[ITensor]) -> list[ILayer]:
    """The layers the targets depend on, each after its producers (iterative DFS)."""
    seen: set[int] = set()
    order: list[ILayer] = []
    for t in targets:
        if t._producer is None:
            continue
        stack: list[tuple[ILayer, bool]] = [(t._producer, False)]
        while stack:
            layer, expanded = stack.pop()
            if id(layer) in seen:
                continue
            if expanded:
                seen.add(id(layer))
                order.append(layer)
                continue
            stack.append((layer, True))
            for x in layer._inputs:
                if x is not None and x._producer is not None and id(x._producer) not in seen:
                    stack.append((x._producer, False))
    return order


def execute(network: INetworkDefinition, feeds: dict[str, np.ndarray],
            keep: bool = False, profile: Any = None) -> dict[str, np.ndarray]:
    """Run the network on ``feeds`` (input name -> array); returns output name -> array.

    Each feed must have its input's type and a shape matching the declared one (-1 matches
    any size). With an optimization ``profile`` (the one the engine would be built with)
    the profile is first checked against the network as the builder checks it, and each
    feed's shape must lie within its input's min..max ("A runtime error will be raised if
    the input tensor dimensions fall outside the valid range for this profile",
    ``IOptimizationProfile``'s page). With ``keep`` every tensor computed is returned, not
    only the outputs.
    """
    if profile is not None:
        profile._check(network)
    if not network._outputs:
        raise StandinError("the network has no outputs", "mark_output at least one tensor",
                           NETWORK_PAGE)
    values: dict[int, np.ndarray] = {}
    consts: dict[int, bool] = {}
    for t in network._inputs:
        if t.name not in feeds:
            raise StandinError(f"no value for input {t.name!r}", "every input is bound",
                               NETWORK_PAGE)
        a = np.asarray(feeds[t.name])
        if a.dtype != np.dtype(nptype(t.dtype)) or a.ndim != len(t.shape) or any(
                d not in (-1, n) for d, n in zip(t.shape, a.shape)):
            raise StandinError(f"input {t.name!r} got {a.dtype}{list(a.shape)}, declared "
                               f"{t.dtype.name}{list(t.shape)}",
                               "inputs have their declared type and shape", NETWORK_PAGE)
        if profile is not None and profile.get_shape(t.name):
            lo, _, hi = profile.get_shape(t.name)
            if any(not a_ <= n <= b_ for a_, n, b_ in zip(lo, a.shape, hi)):
                raise StandinError(f"input {t.name!r} got shape {list(a.shape)}, outside the "
                                   f"optimization profile's {list(lo)}..{list(hi)}",
                                   "input dims lie within the profile's min and max",
                                   PROFILE_PAGE)
        values[id(t)] = a
        consts[id(t)] = False
    order = _order(network, network._outputs)
    uses: dict[int, int] = {}
    for layer in order:
        for x in layer._inputs:
            if x is not None:
                uses[id(x)] = uses.get(id(x), 0) + 1
    wanted = {id(t) for t in network._outputs}
    result: dict[str, np.ndarray] = {}
    for layer in order:
        xs = [None if x is None else values[id(x)] for x in layer._inputs]
        const = [False if x is None else consts[id(x)] for x in layer._inputs]
        outs = _run_layer(layer, xs, const)
        is_const = _is_const_layer(layer, const, xs)
        if layer.TYPE == LayerType.SHAPE:
            t0 = layer._inputs[0]
            is_const = t0 is not None and -1 not in t0.shape
        for t, o in zip(layer._outputs, outs):
            values[id(t)] = o
            consts[id(t)] = is_const
            if keep:
                result[t.name] = o
        if not keep:
            for x in layer._inputs:
                if x is not None:
                    uses[id(x)] -= 1
                    if uses[id(x)] == 0 and id(x) not in wanted and x._producer is not None:
                        values.pop(id(x), None)
    for t in network._outputs:
        result[t.name] = values[id(t)]
    return result


def _fmt(v: Any) -> str:
    if hasattr(v, "numpy") and hasattr(v, "size"):
        return repr(v)
    if isinstance(v, tuple):
        return "(" + ",".join(map(str, v)) + ")"
    return str(v)


def summary(network: INetworkDefinition) -> str:
    """One line per layer: index, type, name, inputs, outputs with shape and type, attributes.

    Attributes left at their TensorRT default are omitted.
    """
    lines = []
    for i, layer in enumerate(network._layers):
        ins = ", ".join("-" if t is None else t.name for t in layer._inputs)
        outs = ", ".join(f"{t.name}: {t.dtype.name}{list(t.shape)}" for t in layer._outputs)
        attrs = []
        for k, default in type(layer).ATTRS.items():
            v = getattr(layer, k)
            if k == "padding_nd" or (not callable(default) and v == default):
                continue
            if callable(default) and v.size == 0:
                continue
            attrs.append(f"{k}={_fmt(v)}")
        lines.append(f"{i:3d} {layer.TYPE.name:<15} {layer.name!r} ({ins}) -> {outs}"
                     + (f"  {{{', '.join(attrs)}}}" if attrs else ""))
    outs = ", ".join(t.name for t in network._outputs)
    return "\n".join(lines + [f"outputs: {outs}"])
