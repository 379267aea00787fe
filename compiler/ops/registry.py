"""Op schemas: the one table every part of infercc consults about an op.

A schema gives an op's inputs, outputs and typed attributes, its shape/dtype inference and
its numpy reference kernel. Op modules register schemas with :func:`defop`; the builtin
modules are imported on the first lookup, so ``import compiler`` stays cheap.

Input and output names use suffixes: ``bias?`` is optional (may be ``_`` in the IR),
``inputs*`` is variadic (only the last one may be).

A schema also carries the op's traits (:mod:`.traits`): weights and their output-channel
axis, bias, fused activation, quantization role, purity and cost. Passes and targets read
them through the accessors here instead of keeping tables of op names.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..ir.types import UNKNOWN_DIM, Dim, DType, Shape, TensorType
from .traits import WeightAxes, check_traits, cost_kind, node_bytes, node_flops

REQUIRED = object()

ATTR_TYPES = ("int", "float", "str", "bool", "ints", "floats", "strs", "tensor", "graph", "any")

BUILTIN_OP_MODULES = (
    "compiler.ops.core",
    "compiler.ops.elementwise",
    "compiler.ops.activation",
    "compiler.ops.nn",
    "compiler.ops.linalg",
    "compiler.ops.tensor",
    "compiler.ops.reduce",
    "compiler.ops.quant",
    "compiler.ops.control",
)


class SchemaError(ValueError):
    """A node does not fit its op's schema (arity, attribute type, shapes)."""


@dataclass(frozen=True)
class AttrSpec:
    type: str
    default: Any = REQUIRED
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


class InferContext:
    """What a shape/dtype inference function sees about one node."""

    def __init__(
        self,
        op: str,
        types: Sequence[TensorType | None],
        attrs: dict[str, Any],
        values: Sequence[Any],
        num_outputs: int | None,
    ):
        self.op = op
        self.types = list(types)
        self.attrs = attrs
        self.values = list(values)
        self.num_outputs = num_outputs

    @property
    def num_inputs(self) -> int:
        return len(self.types)

    def type(self, i: int) -> TensorType:
        t = self.types[i] if i < len(self.types) else None
        if t is None:
            raise SchemaError(f"{self.op}: input {i} is required")
        return t

    def has(self, i: int) -> bool:
        return i < len(self.types) and self.types[i] is not None

    def shape(self, i: int) -> Shape | None:
        return self.type(i).shape

    def dtype(self, i: int) -> DType:
        return self.type(i).dtype

    def value(self, i: int) -> np.ndarray | None:
        """The input's constant value when it is produced by a ``const`` node."""
        if i >= len(self.values):
            return None
        v = self.values[i]
        if v is not None and hasattr(v, "toarray"):
            v = v.toarray()
        return v

    def attr(self, name: str) -> Any:
        return self.attrs[name]


Infer = Callable[[InferContext], list[TensorType]]
Kernel = Callable[[list[Any], dict[str, Any]], Any]


@dataclass
class OpSchema:
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: dict[str, AttrSpec]
    infer: Infer
    kernel: Kernel | None
    summary: str = ""
    category: str = "misc"
    module: str = ""
    # traits (see compiler.ops.traits)
    weights: WeightAxes = None
    bias: int | None = None
    quant_role: str = "none"
    quant_inputs: tuple[int, ...] | str = (0,)
    pure: bool = True
    cost: str = ""

    # -- traits ----------------------------------------------------------------------------
    def weight_axes(self, attrs: dict[str, Any] | None = None) -> dict[int, int]:
        """``{input index: output-channel axis}`` of the op's weight inputs, given the node's
        attributes (defaults filled in for missing ones); ``{}`` for an op without weights.

        The axis indexes the weight as the IR stores it and may be negative (matmul: ``-1``,
        the N of ``[..., K, N]``). A weight input is a weight only when it is a constant;
        the trait says where its output channels are, not that it is constant.
        """
        if self.weights is None:
            return {}
        if callable(self.weights):
            full = {k: s.default for k, s in self.attrs.items() if not s.required}
            full.update(attrs or {})
            return dict(self.weights(full))
        return dict(self.weights)

    @property
    def fused_activation(self) -> bool:
        """Whether the op can carry a fused ``activation`` attribute (it declares one)."""
        return "activation" in self.attrs

    def data_inputs(self, num_inputs: int) -> list[int]:
        """Indices (below ``num_inputs``) of the inputs a quantized form quantizes as data
        operands (activations, or constants quantized like them); ``[]`` for role ``none``."""
        if self.quant_role == "none":
            return []
        if self.quant_inputs == "*":
            return list(range(num_inputs))
        return [i for i in self.quant_inputs if i < num_inputs]

    def flops(self, node: Any) -> tuple[int, int] | None:
        """``(flops, macs)`` of ``node`` (an op of this schema) from its static shapes, or
        None when they are not static; the rule is the ``cost`` trait's
        (:func:`compiler.ops.traits.node_flops`)."""
        return node_flops(node, cost_kind(self.cost, self.category), self.weight_axes(
            node.attrs), self.bias)

    def bytes(self, node: Any) -> int | None:
        """Bytes ``node`` reads and writes (:func:`compiler.ops.traits.node_bytes`), or None
        when a shape is not static."""
        return node_bytes(node)

    # -- arity -----------------------------------------------------------------------------
    @property
    def variadic_inputs(self) -> bool:
        return bool(self.inputs) and self.inputs[-1].endswith("*")

    @property
    def variadic_outputs(self) -> bool:
        return bool(self.outputs) and self.outputs[-1].endswith("*")

    def min_inputs(self) -> int:
        n = 0
        for i, name in enumerate(self.inputs):
            if not name.endswith("?") and not name.endswith("*"):
                n = i + 1
        return n

    def max_inputs(self) -> int | None:
        return None if self.variadic_inputs else len(self.inputs)

    def input_name(self, i: int) -> str:
        if i < len(self.inputs):
            return self.inputs[i].rstrip("?*")
        return self.inputs[-1].rstrip("?*") if self.inputs else f"input{i}"

    # -- attributes ------------------------------------------------------------------------
    def resolve_attrs(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """``attrs`` with defaults filled in; raises on unknown or missing attributes."""
        unknown = [k for k in attrs if k not in self.attrs]
        if unknown:
            known = ", ".join(sorted(self.attrs)) or "none"
            raise SchemaError(
                f"{self.name}: unknown attribute(s) {', '.join(sorted(unknown))} (known: {known})"
            )
        out = {}
        for k, spec in self.attrs.items():
            if k in attrs:
                out[k] = attrs[k]
            elif spec.required:
                raise SchemaError(f"{self.name}: attribute '{k}' ({spec.type}) is required")
            else:
                out[k] = spec.default
        return out

    def check_attr_types(self, attrs: dict[str, Any]) -> list[str]:
        problems = []
        for k, v in attrs.items():
            spec = self.attrs.get(k)
            if spec is None or v is None:
                continue
            if not _attr_matches(spec.type, v):
                problems.append(f"attribute '{k}' should be {spec.type}, got {_describe(v)}")
        return problems


def _describe(v: Any) -> str:
    if isinstance(v, np.ndarray):
        return f"tensor {TensorType.of(v)}"
    return f"{type(v).__name__} {v!r}"[:80]


def _attr_matches(kind: str, v: Any) -> bool:
    from ..ir.graph import Graph, is_sparse

    if kind == "any":
        return True
    if kind == "int":
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)
    if kind == "bool":
        return isinstance(v, (bool, int, np.integer))
    if kind == "float":
        return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
    if kind == "str":
        return isinstance(v, str)
    if kind in ("ints", "floats", "strs"):
        return isinstance(v, (list, tuple)) and all(_attr_matches(kind[:-1], x) for x in v)
    if kind == "tensor":
        return isinstance(v, np.ndarray) or is_sparse(v)
    if kind == "graph":
        return isinstance(v, Graph)
    return False


_REGISTRY: dict[str, OpSchema] = {}
_loaded = False


def defop(
    name: str,
    inputs: Sequence[str],
    outputs: Sequence[str] = ("y",),
    attrs: dict[str, AttrSpec | tuple] | None = None,
    *,
    infer: Infer,
    summary: str = "",
    category: str = "misc",
    weights: WeightAxes = None,
    bias: int | None = None,
    quant_role: str = "none",
    quant_inputs: Sequence[int] | str = (0,),
    pure: bool = True,
    cost: str = "",
) -> Callable[[Kernel], Kernel]:
    """Register an op; decorates its reference kernel ``kernel(inputs, attrs) -> arrays``.

    ``attrs`` maps names to :class:`AttrSpec` or to ``(type, default)`` tuples. The keyword
    arguments after ``category`` are the op's traits (:mod:`compiler.ops.traits`).
    """
    quant_inputs = quant_inputs if quant_inputs == "*" else tuple(quant_inputs)
    check_traits(name, quant_role, quant_inputs, cost)

    def wrap(kernel: Kernel) -> Kernel:
        specs = {}
        for k, spec in (attrs or {}).items():
            if isinstance(spec, AttrSpec):
                specs[k] = spec
            elif isinstance(spec, tuple):
                specs[k] = AttrSpec(*spec)
            else:
                specs[k] = AttrSpec(spec)
            if specs[k].type not in ATTR_TYPES:
                raise ValueError(f"op {name}: attribute {k} has unknown type {specs[k].type}")
        register(
            OpSchema(
                name=name,
                inputs=tuple(inputs),
                outputs=tuple(outputs),
                attrs=specs,
                infer=infer,
                kernel=kernel,
                summary=summary or (kernel.__doc__ or "").strip().split("\n")[0],
                category=category,
                module=kernel.__module__,
                weights=weights,
                bias=bias,
                quant_role=quant_role,
                quant_inputs=quant_inputs,
                pure=pure,
                cost=cost,
            )
        )
        return kernel

    return wrap


def register(schema: OpSchema) -> None:
    old = _REGISTRY.get(schema.name)
    if old is not None and old.module != schema.module:
        raise ValueError(f"op '{schema.name}' is defined twice: in {old.module} and {schema.module}")
    _REGISTRY[schema.name] = schema


def _load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for mod in BUILTIN_OP_MODULES:  # a listed module that is missing is a packaging error
        importlib.import_module(mod)


def get_schema(op: str) -> OpSchema | None:
    _load_builtins()
    return _REGISTRY.get(op)


def all_schemas() -> dict[str, OpSchema]:
    _load_builtins()
    return dict(sorted(_REGISTRY.items()))


def is_pure(op: str) -> bool:
    """Whether ``op`` always gives the same outputs for the same inputs (its ``pure`` trait);
    False for an op without a schema, whose behaviour infercc does not know."""
    s = get_schema(op)
    return s is not None and s.pure


def schema_or_raise(op: str) -> OpSchema:
    s = get_schema(op)
    if s is None:
        raise SchemaError(f"unknown op '{op}' (run `infercc ops` for the op set)")
    return s


def check_arity(schema: OpSchema, n_in: int, n_out: int | None = None) -> list[str]:
    problems = []
    lo, hi = schema.min_inputs(), schema.max_inputs()
    if n_in < lo or (hi is not None and n_in > hi):
        want = f"{lo}" if lo == hi else f"{lo}..{hi if hi is not None else 'N'}"
        problems.append(f"takes {want} inputs ({', '.join(schema.inputs)}), got {n_in}")
    if n_out is not None and not schema.variadic_outputs:
        if n_out > len(schema.outputs) or n_out < 1:
            problems.append(
                f"has {len(schema.outputs)} output(s) ({', '.join(schema.outputs)}), got {n_out}"
            )
    return problems


def infer_types(
    op: str,
    inputs: Sequence[Any],
    attrs: dict[str, Any],
    num_outputs: int | None = None,
) -> list[TensorType]:
    """Output types of ``op`` applied to ``inputs`` (IR Values or None)."""
    schema = schema_or_raise(op)
    problems = check_arity(schema, len(inputs))
    if problems:
        raise SchemaError(f"{op}: " + "; ".join(problems))
    full = schema.resolve_attrs(attrs)
    types = [None if v is None else v.type for v in inputs]
    values = [None if v is None else v.const_value for v in inputs]
    return schema.infer(InferContext(op, types, full, values, num_outputs))


def run_kernel(op: str, arrays: Sequence[Any], attrs: dict[str, Any]) -> list[np.ndarray]:
    schema = schema_or_raise(op)
    if schema.kernel is None:
        raise SchemaError(f"op '{op}' has no reference kernel")
    out = schema.kernel(list(arrays), schema.resolve_attrs(attrs))
    if isinstance(out, (list, tuple)):
        return list(out)
    return [out]


# -- helpers shared by inference functions -------------------------------------------------


def same_as_input(i: int = 0) -> Infer:
    """Inference for ops whose single output has input ``i``'s type (less quantization)."""

    def infer(ctx: InferContext) -> list[TensorType]:
        t = ctx.type(i)
        return [TensorType(t.dtype, t.shape)]

    return infer


def broadcast_shapes(*shapes: Shape | None) -> Shape | None:
    """Numpy-style broadcasting over static, symbolic and unknown dims."""
    if any(s is None for s in shapes):
        return None
    rank = max((len(s) for s in shapes), default=0)
    out: list[Dim] = []
    for k in range(rank):
        dims = [s[len(s) - rank + k] for s in shapes if len(s) - rank + k >= 0]
        static = {d for d in dims if isinstance(d, int) and d != 1}
        if len(static) > 1:
            raise SchemaError(f"shapes {', '.join(map(_fmt_shape, shapes))} do not broadcast")
        if static:
            out.append(static.pop())
            continue
        syms = [d for d in dims if isinstance(d, str) and d != UNKNOWN_DIM]
        if syms and all(s == syms[0] for s in syms):
            out.append(syms[0])
        elif any(isinstance(d, str) for d in dims):
            out.append(UNKNOWN_DIM)
        else:
            out.append(1)
    return tuple(out)


def _fmt_shape(s: Shape | None) -> str:
    return "[*]" if s is None else "[" + ",".join(str(d) for d in s) + "]"


def normalize_axis(axis: int, rank: int, op: str = "") -> int:
    if not -rank <= axis < max(rank, 1):
        raise SchemaError(f"{op}: axis {axis} is out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


__all__ = [
    "AttrSpec",
    "InferContext",
    "OpSchema",
    "SchemaError",
    "defop",
    "register",
    "get_schema",
    "is_pure",
    "all_schemas",
    "infer_types",
    "run_kernel",
    "same_as_input",
    "broadcast_shapes",
    "normalize_axis",
    "field",
]
