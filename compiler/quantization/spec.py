"""What a target runs quantized, and the parameter rules its int8 kernels impose.

A :class:`QuantSpec` is the target's half of quantization (as PT2E's ``Quantizer`` is): the
quantize pass asks it which nodes to quantize and which parameters are fixed or shared,
and reads everything about the op itself (data inputs, weights and their output-channel
axis, bias) from the op's traits (:mod:`compiler.ops.traits`). Each target declares its spec
as ``QUANT_SPEC`` in ``targets/<name>/quant_spec.py``; :func:`spec_for` finds it by name, so
nothing below the targets imports them.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from compiler.errors import InferccError
from compiler.ir.types import DType
from compiler.ops.registry import get_schema

if TYPE_CHECKING:
    from compiler.ir.graph import Node


class QuantSpecError(InferccError):
    """No quantization spec has the asked name, or a spec contradicts the op traits."""


@dataclass(frozen=True)
class QuantSpec:
    """A target's quantization rules.

    * ``ops``: the ops the target runs quantized. Each must have an op ``quant_role`` other
      than ``none`` (:meth:`check`).
    * ``same_scale``: ops whose output must use exactly their input's parameters (a
      multi-input one, concat, shares one set among all inputs and the output).
    * ``fixed_output``: ``{op: (scale, zero_point)}`` the target's kernels write whatever
      the calibration saw.
    * ``fused_activations``: the fused ``activation`` values the target's quantized kernels
      apply (``""`` is none); a node with another one stays float. None: any.
    * ``const_inputs``: ``{op: input indices}`` that must be constants (left float: the
      target quantizes them itself) for the op to run quantized.
    * ``symmetric_activations``: activations use zero point 0 and ``[-127, 127]``;
      otherwise asymmetric ``[-128, 127]``.
    * ``symmetric_weights`` / ``per_channel_weights``: how weights may be quantized (per
      output channel along the op's weight axis when allowed).
    * ``activation_dtype``: the quantized activation type.
    * ``output_qdq``: a quantized op's output gets its Q/DQ pair even when no quantized op
      reads it (TFLite's int8 kernels write int8). False (TensorRT): Q/DQ pairs go only on
      the inputs of quantized ops, so an op's output stays float until a quantized op reads
      it and TensorRT can fuse conv + bias + add + relu.
    * ``residual_inputs``: ops (add) that stay float but whose inputs other than one
      quantized weighted op's output (the residual branch TensorRT fuses into that op) get
      Q/DQ pairs: the skip input of a residual add.
    * ``float_bias``: biases are quantized to int32 (scale input scale * weight scale) and
      stored back as float constants holding those values, for a target that takes float
      biases (TensorRT); otherwise int32 constants + dequantize.
    * ``group_channels``: a grouped conv (group > 1) runs quantized only when its input and
      output channels per group are multiples of this (1: always).
    """

    name: str
    ops: frozenset[str]
    same_scale: frozenset[str] = frozenset()
    fixed_output: Mapping[str, tuple[float, int]] = field(default_factory=dict)
    fused_activations: frozenset[str] | None = None
    const_inputs: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    symmetric_activations: bool = False
    symmetric_weights: bool = True
    per_channel_weights: bool = True
    activation_dtype: DType = DType.I8
    output_qdq: bool = True
    residual_inputs: frozenset[str] = frozenset()
    float_bias: bool = False
    group_channels: int = 1

    def quantizes(self, node: Node) -> bool:
        """Whether the target runs ``node`` quantized, judged from its op, its fused
        activation and the constness of ``const_inputs``; whether its operands can be
        quantized (float data, constant weights) is the quantize pass's question."""
        if node.op not in self.ops:
            return False
        act = node.attrs.get("activation", "") or ""
        if self.fused_activations is not None and act not in self.fused_activations:
            return False
        for i in self.const_inputs.get(node.op, ()):
            v = node.input(i)
            if v is None or not v.is_const:
                return False
        return self._group_ok(node)

    def _group_ok(self, node: Node) -> bool:
        """Whether a grouped conv's channels per group suit ``group_channels``."""
        group = int(node.attrs.get("group") or 1)
        if node.op not in ("conv", "conv_transpose") or group == 1 or self.group_channels == 1:
            return True
        w = node.input(1)
        if w is None or not w.type.is_static:
            return False
        shape = w.type.shape  # conv [O, I/g, ...]; conv_transpose [I, O/g, ...]
        per_group = (shape[0] // group, shape[1])
        return all(c % self.group_channels == 0 for c in per_group)

    def fixed(self, op: str) -> tuple[float, int] | None:
        """The output parameters the target fixes for ``op``, or None."""
        return self.fixed_output.get(op)

    def check(self) -> None:
        """Raise :class:`QuantSpecError` where the spec contradicts the op traits: an op it
        quantizes without a schema or with role ``none``, a same-scale op infercc cannot
        give its input's parameters, a fixed-output op that is not ``fixed_range``, an op
        both quantized and a residual op, a ``group_channels`` below 1."""
        problems = []
        for op in sorted(self.ops | self.same_scale | set(self.fixed_output)):
            s = get_schema(op)
            role = s.quant_role if s is not None else "none"
            if role == "none":
                problems.append(f"{op}: not a quantizable op (no schema or quant_role none)")
            elif op not in self.ops:
                problems.append(f"{op}: has a parameter rule but is not in ops")
            elif op in self.fixed_output and role != "fixed_range":
                problems.append(f"{op}: fixed output parameters but quant_role {role}")
        for op in sorted(self.residual_inputs & self.ops):
            problems.append(f"{op}: both quantized (ops) and a float residual op "
                            "(residual_inputs)")
        if self.group_channels < 1:
            problems.append(f"group_channels={self.group_channels}; use 1 or more")
        if problems:
            raise QuantSpecError(f"quantization spec {self.name!r}: " + "; ".join(problems))


def spec_for(name: str) -> QuantSpec:
    """The quantization spec of target ``name``.

    A registered target (builtin or plugin, :mod:`targets`) answers with its ``quant_spec``;
    a name no target is registered under falls back to a module ``targets.<name>.quant_spec``
    holding ``QUANT_SPEC`` (a scheme with no target of its own). Both are
    looked up by name: the quantization library sits below the targets and never imports
    them. Raises :class:`QuantSpecError` when neither exists.
    """
    if not name.isidentifier():
        raise QuantSpecError(f"no quantization spec named {name!r}")
    registry = importlib.import_module("targets").default_registry()
    if name in registry:
        target = registry.get(name)
        if not target.supports_int8:
            raise QuantSpecError(f"target {name!r} does not quantize (it has no quantization "
                                 "spec)")
        spec = target.quant_spec
        if not isinstance(spec, QuantSpec):
            raise QuantSpecError(f"target {name!r}: quant_spec is {spec!r}, not a QuantSpec")
        return spec
    try:
        mod = importlib.import_module(f"targets.{name}.quant_spec")
    except ModuleNotFoundError as e:
        if e.name is None or not f"targets.{name}.quant_spec".startswith(e.name):
            raise
        raise QuantSpecError(f"no quantization spec named {name!r} (targets with one: "
                             f"{', '.join(registry.names())})") from None
    spec = getattr(mod, "QUANT_SPEC", None)
    if not isinstance(spec, QuantSpec):
        raise QuantSpecError(f"targets.{name}.quant_spec has no QUANT_SPEC")
    return spec


__all__ = ["QuantSpec", "QuantSpecError", "spec_for"]
