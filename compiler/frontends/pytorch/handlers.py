"""PyTorch frontend: an ``nn.Module`` (traced by ``torch.export``) or a saved ``.pt2``
ExportedProgram -> an IR :class:`Graph`.

Contract of :func:`load_pytorch` / :func:`load_pytorch_file`:

* The module is put in eval mode and captured with ``torch.export.export``; with
  ``dynamic_batch=True`` dim 0 of every tensor input is exported as ``Dim("N")`` and is the
  symbolic dim ``"N"`` in the IR. ``decompose=True`` (default) then lowers the program to the
  core ATen op set with :func:`decomposition_table`, which keeps the ops the IR has directly
  (linear, hardswish, hardsigmoid, silu, adaptive_avg_pool2d, scaled_dot_product_attention,
  upsampling); ``decompose=False`` only functionalizes the program.
* Parameters, buffers and lifted tensor constants become ``const`` nodes named by their
  ``state_dict`` key (``layer1.0.conv1.weight``); user inputs become graph inputs named by
  the placeholder (or ``input_names``); the program's outputs are the graph outputs.
* Every ATen op lowers to ONNX-semantics IR ops (see :data:`SUPPORTED_OPS`); each IR node
  records the innermost ``nn.Module`` path it came from (``layer3.1.conv2``), or the FX node
  name for ops of the root module, in ``node.source``. Value names are the FX node names.
* Symbolic sizes (``x.shape[0]`` under a dynamic batch) are rebuilt in the IR from the
  input's ``shape`` where a reshape target needs them.
* Output types come from the IR's inference, with unknown dims filled from torch's own
  fake-tensor metadata; a disagreement between the two is reported as an error.
* Before anything is built, every ATen op (or op usage) that cannot be lowered is collected
  with all the module paths using it and raised once as
  :class:`~compiler.errors.UnsupportedOpsError`. Export failures and unreadable files raise
  :class:`~compiler.errors.ModelLoadError`.
"""

from __future__ import annotations

import logging
import math
import operator
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InferccError, ModelLoadError, UnsupportedOpsError
from ...ir.graph import Graph, Value, sanitize_name
from ...ir.types import UNKNOWN_DIM, DType, TensorType
from ...ops.registry import infer_types

log = logging.getLogger(__name__)

INT64_MAX = 9223372036854775807


class PytorchImportError(ModelLoadError):
    """The program was captured but one of its nodes cannot be lowered as used."""


# ATen op (OpOverloadPacket name, without the "aten." prefix) -> how it lowers.
SUPPORTED_OPS: dict[str, str] = {
    "convolution": "conv / conv_transpose (pads, strides, dilations, group, output_padding)",
    "conv1d": "conv", "conv2d": "conv (padding ints, 'same' or 'valid')", "conv3d": "conv",
    "conv_transpose1d": "conv_transpose", "conv_transpose2d": "conv_transpose",
    "linear": "gemm(transB=1) for 2-D input, else matmul(x, transpose(W)) + add",
    "addmm": "gemm (alpha, beta; a transposed weight becomes transB=1)",
    "mm": "matmul (or gemm with transB=1 on a transposed weight)", "bmm": "matmul",
    "matmul": "matmul",
    "_native_batch_norm_legit_no_training": "batch_norm", "batch_norm": "batch_norm (eval only)",
    "native_layer_norm": "layer_norm (axis=-k)", "layer_norm": "layer_norm (axis=-k)",
    "relu": "relu", "relu6": "clip(0, 6)", "hardtanh": "clip(min, max)",
    "clamp": "clip (scalar bounds) / max+min (tensor bounds)", "clamp_min": "clip / max",
    "clamp_max": "clip / min", "leaky_relu": "leaky_relu", "elu": "elu (scale=input_scale=1)",
    "gelu": "gelu (approximate none/tanh)", "hardswish": "hard_swish",
    "hardsigmoid": "hard_sigmoid(alpha=1/6)", "sigmoid": "sigmoid", "tanh": "tanh",
    "silu": "mul(x, sigmoid(x))", "mish": "mish", "softplus": "softplus (beta=1)",
    "_softmax": "softmax", "softmax": "softmax", "_log_softmax": "log_softmax",
    "log_softmax": "log_softmax",
    "max_pool2d": "max_pool (ceil_mode, padding, dilation)",
    "max_pool2d_with_indices": "max_pool (values only)", "max_pool3d_with_indices": "max_pool",
    "avg_pool2d": "avg_pool (count_include_pad, ceil_mode; no divisor_override)",
    "avg_pool3d": "avg_pool",
    "adaptive_avg_pool2d": "global_avg_pool (output 1) / avg_pool (divisible sizes)",
    "_adaptive_avg_pool2d": "as adaptive_avg_pool2d",
    "mean": "reduce_mean", "sum": "reduce_sum", "amax": "reduce_max", "amin": "reduce_min",
    "max": "reduce_max (+ arg_max for max.dim) / max (binary)",
    "min": "reduce_min (+ arg_min for min.dim) / min (binary)",
    "argmax": "arg_max", "argmin": "arg_min",
    "view": "reshape", "_unsafe_view": "reshape", "reshape": "reshape", "flatten": "reshape",
    "unflatten": "reshape", "permute": "transpose", "transpose": "transpose", "t": "transpose",
    "unsqueeze": "unsqueeze", "squeeze": "squeeze (size-1 dims only)", "cat": "concat",
    "split": "split", "split_with_sizes": "split", "chunk": "split",
    "unbind": "split + squeeze", "slice": "slice", "select": "gather (scalar index)",
    "index": "gather (one index tensor)", "embedding": "gather(axis=0)",
    "expand": "expand (or nothing when no dim grows)", "contiguous": "removed",
    "clone": "removed", "alias": "removed", "detach": "removed", "lift_fresh_copy": "removed",
    "_to_copy": "cast (removed when the dtype stays)", "to": "cast", "type_as": "cast",
    "add": "add (alpha -> mul)", "sub": "sub (alpha -> mul)", "rsub": "sub",
    "mul": "mul", "div": "div (floor: floor(div) / exact integer floor division)", "pow": "pow",
    "sqrt": "sqrt", "rsqrt": "reciprocal(sqrt)", "exp": "exp", "log": "log", "neg": "neg",
    "abs": "abs", "reciprocal": "reciprocal", "erf": "erf", "sin": "sin", "cos": "cos",
    "floor": "floor", "ceil": "ceil", "round": "round", "sign": "sign",
    "maximum": "max", "minimum": "min", "where": "where",
    "eq": "equal", "ne": "not(equal)", "lt": "less", "le": "less_or_equal", "gt": "greater",
    "ge": "greater_or_equal", "logical_not": "not", "logical_and": "and", "logical_or": "or",
    "logical_xor": "xor", "bitwise_not": "not (bool)", "bitwise_and": "and (bool)",
    "bitwise_or": "or (bool)", "bitwise_xor": "xor (bool)", "log1p": "log(x + 1)",
    "expm1": "exp(x) - 1",
    "full": "const", "zeros": "const", "ones": "const", "arange": "const",
    "scalar_tensor": "const", "full_like": "const / constant_of_shape",
    "zeros_like": "const / constant_of_shape", "ones_like": "const / constant_of_shape",
    "constant_pad_nd": "pad (constant)", "pad": "pad (constant / reflect / edge)",
    "reflection_pad1d": "pad (reflect)", "reflection_pad2d": "pad (reflect)",
    "replication_pad1d": "pad (edge)", "replication_pad2d": "pad (edge)",
    "upsample_nearest2d": "resize nearest (asymmetric, floor)",
    "upsample_bilinear2d": "resize linear (pytorch_half_pixel or align_corners)",
    "dropout": "removed", "native_dropout": "removed", "feature_dropout": "removed",
    "alpha_dropout": "removed",
    "scaled_dot_product_attention": "matmul, mul(scale), mask add, softmax, matmul",
    "cumsum": "cumsum",
    "getitem": "picks one output of a multi-output op",
    "sym_size": "symbolic sizes: rebuilt from shape() where a reshape needs them",
}

# Ops whose values carry no tensor data (symbolic sizes and assertions); never lowered.
_SKIP_OPS = {"sym_size", "sym_numel", "sym_stride", "sym_storage_offset", "_assert_scalar",
             "_assert_tensor_metadata", "sym_constrain_range_for_size", "sym_constrain_range",
             "_assert_async", "_print"}

_TORCH_DTYPES = {
    "torch.float32": DType.F32, "torch.float64": DType.F64, "torch.float16": DType.F16,
    "torch.bfloat16": DType.BF16, "torch.int64": DType.I64, "torch.int32": DType.I32,
    "torch.int16": DType.I16, "torch.int8": DType.I8, "torch.uint8": DType.U8,
    "torch.bool": DType.BOOL,
}
_ONNX_CODE = {DType.F32: 1, DType.U8: 2, DType.I8: 3, DType.I16: 5, DType.I32: 6, DType.I64: 7,
              DType.BOOL: 9, DType.F16: 10, DType.F64: 11, DType.BF16: 16}


# -- capture -------------------------------------------------------------------------------


def decomposition_table() -> dict:
    """torch.export's default (core ATen) table without the ops the IR has directly."""
    import torch

    aten = torch.ops.aten
    table = torch.export.default_decompositions()
    keep = [aten.linear.default, aten.hardswish.default, aten.hardsigmoid.default,
            aten.silu.default, aten.mish.default, aten.adaptive_avg_pool2d.default,
            aten.scaled_dot_product_attention.default, aten.upsample_nearest2d.vec,
            aten.upsample_bilinear2d.vec, aten.gelu.default, aten.max_pool2d.default,
            aten.softplus.default]
    for op in keep:
        table.pop(op, None)
    return table


def export_module(
    module: Any, example_inputs: tuple, *, dynamic_batch: bool = False, decompose: bool = True
) -> Any:
    """``torch.export`` the module in eval mode; ``(exported program, export label)``."""
    import torch

    if not isinstance(module, torch.nn.Module):
        raise ModelLoadError(f"load_pytorch needs a torch.nn.Module, got {type(module).__name__}")
    if not isinstance(example_inputs, tuple):
        example_inputs = (example_inputs,)
    label = type(module).__name__
    module.eval()
    dynamic_shapes = None
    if dynamic_batch:
        example_inputs, dynamic_shapes = _dynamic_batch_spec(example_inputs, label)
    try:
        ep = torch.export.export(module, example_inputs, dynamic_shapes=dynamic_shapes)
    except Exception as e:
        raise ModelLoadError(
            f"{label}: torch.export.export failed ({type(e).__name__}: {str(e).strip()[:600]}); "
            "the module must be traceable by torch.export (no data-dependent Python control flow)"
        ) from None
    return _decompose(ep, decompose, label)


def _dynamic_batch_spec(example_inputs: tuple, label: str) -> tuple[tuple, tuple]:
    import torch

    batch = torch.export.Dim("N")
    specs, inputs = [], []
    for i, x in enumerate(example_inputs):
        if isinstance(x, torch.Tensor) and x.dim() > 0:
            if x.shape[0] == 1:
                # torch.export specializes size-1 dims; trace with two copies of the sample
                log.info("%s: input %d has batch 1; exporting with batch 2 for a dynamic batch", label, i)
                x = torch.cat([x, x], 0)
            specs.append({0: batch})
        else:
            specs.append(None)
        inputs.append(x)
    return tuple(inputs), tuple(specs)


def _decompose(ep: Any, decompose: bool, label: str) -> Any:
    try:
        return ep.run_decompositions(decomposition_table() if decompose else {})
    except Exception as e:
        raise ModelLoadError(
            f"{label}: torch's run_decompositions failed ({type(e).__name__}: {str(e)[:400]})"
        ) from None


def load_pytorch(
    module: Any,
    example_inputs: tuple,
    *,
    dynamic_batch: bool = False,
    input_names: list[str] | None = None,
    decompose: bool = True,
) -> Graph:
    """Lower ``module`` (called as ``module(*example_inputs)``) into an IR graph."""
    ep = export_module(module, example_inputs, dynamic_batch=dynamic_batch, decompose=decompose)
    return lower_program(ep, label=type(module).__name__, input_names=input_names)


def load_pytorch_file(
    path: str | os.PathLike,
    *,
    input_names: list[str] | None = None,
    decompose: bool = True,
) -> Graph:
    """Lower an ExportedProgram saved with ``torch.export.save`` (``.pt2``)."""
    import torch

    p = Path(path)
    label = str(p)
    if not p.exists():
        raise ModelLoadError(f"{label}: no such file; check the path to the .pt2 program")
    if p.is_dir():
        raise ModelLoadError(f"{label}: is a directory; pass the .pt2 file saved by torch.export.save")
    try:
        ep = torch.export.load(str(p))
    except Exception as e:
        raise ModelLoadError(
            f"{label}: not a loadable torch.export program ({type(e).__name__}: {str(e)[:300]}); "
            "save it with torch.export.save(torch.export.export(model, inputs), path)"
        ) from None
    ep = _decompose(ep, decompose, label)
    return lower_program(ep, label=label, input_names=input_names, name=p.stem)


# -- lowering ------------------------------------------------------------------------------


def op_key(node: Any) -> str:
    """The name a call_function node is reported and dispatched by: ``relu`` for aten.relu.*."""
    t = node.target
    if t is operator.getitem:
        return "getitem"
    if callable(t) and getattr(t, "__module__", None) in ("_operator", "operator"):
        return f"operator.{t.__name__}"
    packet = getattr(t, "overloadpacket", None)
    if packet is not None:
        ns = getattr(t, "namespace", "aten")
        name = packet.__name__
        return name if ns == "aten" else f"{ns}.{name}"
    return getattr(t, "__name__", str(t))


def module_path(node: Any) -> str:
    """The innermost nn.Module path of an FX node (``layer3.1.conv2``), else its name."""
    stack = node.meta.get("nn_module_stack")
    if stack:
        path = list(stack.values())[-1][0]
        path = _clean_path(path)
        if path:
            return path
    return node.name


def _clean_path(path: str) -> str:
    # older torch spells paths as L['self'].layer1[0].conv1
    if path.startswith("L['self']"):
        path = path[len("L['self']"):].lstrip(".")
        path = path.replace("[", ".").replace("]", "").replace("'", "")
    return path.replace("._modules.", ".")


def _is_symbolic(val: Any) -> bool:
    import torch

    return isinstance(val, (torch.SymInt, torch.SymFloat, torch.SymBool, int, float, bool))


def unsupported_nodes(ep: Any) -> dict[str, list[str]]:
    """ATen ops (or usages) the lowering cannot take, with the module paths using them."""
    found: dict[str, list[str]] = {}
    for node in ep.graph.nodes:
        if node.op != "call_function":
            continue
        key = op_key(node)
        if key in _SKIP_OPS or key == "getitem":
            continue
        if key.startswith("operator.") and _is_symbolic(node.meta.get("val")):
            continue
        handler = _HANDLERS.get(key)
        why = None
        if handler is None:
            name = f"aten.{key}" if "." not in key else key
            found.setdefault(name, [])
            path = module_path(node)
            if path not in found[name]:
                found[name].append(path)
            continue
        check = _CHECKS.get(key)
        if check is not None:
            why = check(node)
        if why:
            name = f"aten.{key} ({why})"
            found.setdefault(name, [])
            path = module_path(node)
            if path not in found[name]:
                found[name].append(path)
    return found


def lower_program(
    ep: Any, *, label: str = "<torch program>", input_names: list[str] | None = None,
    name: str | None = None,
) -> Graph:
    """Lower a (decomposed) ``torch.export.ExportedProgram`` into an IR graph."""
    missing = unsupported_nodes(ep)
    if missing:
        raise UnsupportedOpsError(
            label,
            missing,
            "Run `infercc ops` for the IR op set; see compiler.frontends.pytorch.SUPPORTED_OPS "
            "for the ATen ops the PyTorch frontend lowers.",
        )
    lw = _Lowering(ep, label, name or sanitize_name(label.split("/")[-1].split(".")[0]) or "main")
    graph = lw.run(input_names)
    graph.metadata["source_format"] = "pytorch"
    import torch

    graph.metadata["producer"] = f"torch {torch.__version__}"
    return graph


class _Lowering:
    def __init__(self, ep: Any, label: str, name: str):
        self.ep = ep
        self.label = label
        self.graph = Graph(name)
        self.env: dict[Any, Any] = {}
        self.symbols: dict[str, str] = {}  # sympy symbol name -> IR dim name
        self.sym_source: dict[str, tuple[Value, int]] = {}  # symbol -> (input value, dim)
        self.sym_cache: dict[str, Value] = {}
        self.node: Any = None  # FX node being lowered
        self.source: tuple[str, ...] = ()

    # -- driver -------------------------------------------------------------------------
    def run(self, input_names: list[str] | None) -> Graph:
        ep, g = self.ep, self.graph
        sig = ep.graph_signature
        kinds = {}
        for spec in sig.input_specs:
            kinds[spec.arg.name] = spec
        placeholders = [n for n in ep.graph.nodes if n.op == "placeholder"]
        user = [n for n in placeholders if kinds[n.name].kind.name == "USER_INPUT"]
        if input_names is not None and len(input_names) != len(user):
            raise ModelLoadError(
                f"{self.label}: input_names has {len(input_names)} names but the program takes "
                f"{len(user)} tensor inputs ({', '.join(n.name for n in user)})"
            )
        self._collect_symbols(user)
        for i, n in enumerate(user):
            val = n.meta.get("val")
            if not hasattr(val, "shape"):
                raise PytorchImportError(
                    f"{self.label}: input '{n.name}' is not a tensor ({type(val).__name__}); "
                    "pass non-tensor arguments as constants of the module instead"
                )
            nm = input_names[i] if input_names else n.name
            self.env[n] = g.add_input(_vname(nm), self.type_of(val, n.name))
            for d, s in enumerate(val.shape):
                key = self._sym_key(s)
                if key is not None and key not in self.sym_source:
                    self.sym_source[key] = (self.env[n], d)
        for n in placeholders:
            spec = kinds[n.name]
            if spec.kind.name == "USER_INPUT" or not n.users:
                continue
            self.env[n] = self._state_const(n, spec)
        for n in ep.graph.nodes:
            if n.op == "call_function":
                self.lower_node(n)
            elif n.op == "output":
                self._outputs(n)
        self._drop_dead()
        return g

    def _collect_symbols(self, user: list) -> None:
        batch_syms = []
        for n in user:
            val = n.meta.get("val")
            for d, s in enumerate(getattr(val, "shape", ())):
                key = self._sym_key(s)
                if key is None or key in self.symbols:
                    continue
                if d == 0 and key not in batch_syms:
                    batch_syms.append(key)
                self.symbols[key] = key
        if len(batch_syms) == 1:
            self.symbols[batch_syms[0]] = "N"

    @staticmethod
    def _sym_key(s: Any) -> str | None:
        import sympy
        import torch

        if isinstance(s, torch.SymInt):
            expr = s.node.expr
            if isinstance(expr, sympy.Symbol):
                return str(expr)
        return None

    def _state_const(self, n: Any, spec: Any) -> Value:
        import torch

        target = spec.target
        if spec.kind.name in ("PARAMETER", "BUFFER") and target in self.ep.state_dict:
            t = self.ep.state_dict[target]
        elif target in self.ep.constants:
            t = self.ep.constants[target]
        else:
            raise PytorchImportError(f"{self.label}: placeholder '{n.name}' ({spec.kind.name} {target}) has no value")
        if not isinstance(t, torch.Tensor):
            raise PytorchImportError(
                f"{self.label}: '{target}' is a {type(t).__name__}, not a tensor; custom objects are not supported"
            )
        arr = _to_numpy(t, f"{self.label}: '{target}'")
        src = target.rsplit(".", 1)[0] if "." in target else target
        return self.graph.add_const(arr, _vname(target), source=(src,))

    def _outputs(self, n: Any) -> None:
        import torch.fx

        outs = []
        for a in _flatten(n.args[0]):
            if isinstance(a, torch.fx.Node):
                v = self.env.get(a)
                if not isinstance(v, Value):
                    raise PytorchImportError(f"{self.label}: output '{a.name}' is not a tensor")
                outs.append(v)
            elif a is None:
                continue
            else:
                raise PytorchImportError(
                    f"{self.label}: the program returns a constant ({a!r}); infercc graphs return tensors"
                )
        self.graph.outputs = outs

    def _drop_dead(self) -> None:
        g = self.graph
        for node in reversed(list(g.nodes)):
            if not any(v.has_uses for v in node.outputs):
                g.erase_node(node)

    # -- one FX node ----------------------------------------------------------------------
    def lower_node(self, n: Any) -> None:
        key = op_key(n)
        val = n.meta.get("val")
        if key in _SKIP_OPS or (key.startswith("operator.") and _is_symbolic(val)):
            return  # symbolic size arithmetic; consumers read it from the metadata
        if key == "getitem":
            base = self.env.get(n.args[0])
            if isinstance(base, (list, tuple)):
                item = base[n.args[1]]
                if item is None:
                    raise PytorchImportError(
                        f"{self.label}: {module_path(n)}: output {n.args[1]} of '{n.args[0].name}' is not supported"
                    )
                self.env[n] = item
                return
            if _is_symbolic(val):
                return
            raise PytorchImportError(f"{self.label}: {module_path(n)}: getitem on a non-tuple value")
        self.node = n
        self.source = (module_path(n),)
        try:
            out = _HANDLERS[key](self, n)
        except InferccError:
            raise
        except Exception as e:
            raise PytorchImportError(
                f"{self.label}: node '{n.name}' ({n.target}) from {self.source[0]}: cannot lower "
                f"({type(e).__name__}: {e})"
            ) from e
        if isinstance(out, Value):
            self._check_type(out, val)
        self.env[n] = out

    def _check_type(self, v: Value, val: Any) -> None:
        if not hasattr(val, "shape") or v.producer is None:
            return
        want = self.type_of(val, self.node.name)
        t = v.type
        if t.dtype != want.dtype:
            raise PytorchImportError(
                f"{self.label}: node '{self.node.name}' ({self.node.target}) lowers to {t} "
                f"but torch computes {want}"
            )
        if t.shape is None or len(t.shape) != len(want.shape):
            v.type = want
            return
        shape = []
        for a, b in zip(t.shape, want.shape):
            if isinstance(a, int) and isinstance(b, int) and a != b:
                raise PytorchImportError(
                    f"{self.label}: node '{self.node.name}' ({self.node.target}) lowers to {t} "
                    f"but torch computes {want}"
                )
            shape.append(b if (a == UNKNOWN_DIM or (isinstance(a, str) and isinstance(b, int))) else a)
        v.type = TensorType(t.dtype, tuple(shape), t.quant)

    # -- helpers used by handlers ---------------------------------------------------------
    def type_of(self, val: Any, where: str) -> TensorType:
        dt = _TORCH_DTYPES.get(str(val.dtype))
        if dt is None:
            raise PytorchImportError(f"{self.label}: '{where}' has dtype {val.dtype}, which infercc does not support")
        return TensorType(dt, tuple(self.dim(s) for s in val.shape))

    def dim(self, s: Any) -> Any:
        if isinstance(s, int):
            return s
        key = self._sym_key(s)
        if key is not None:
            return self.symbols.get(key, key)
        v = _static_int(s)
        return UNKNOWN_DIM if v is None else v

    def emit(self, op: str, inputs: Sequence[Value | None], attrs: dict | None = None,
             *, name: str | None = None, num_outputs: int | None = None) -> Any:
        """Add an IR node; returns its output (or outputs when ``num_outputs`` is given)."""
        inputs = list(inputs)
        while inputs and inputs[-1] is None:
            inputs.pop()
        attrs = dict(attrs or {})
        types = infer_types(op, inputs, attrs, num_outputs=num_outputs)
        if name is None:
            base = _vname(self.node.name) if self.node is not None else op
            names = [self.graph.fresh_name(f"{base}_{op}") for _ in types]
        else:
            names = [self.graph.fresh_name(_vname(name)) for _ in types]
        node = self.graph.add_node(op, inputs, attrs, out_types=types, names=names, source=self.source)
        return list(node.outputs) if num_outputs is not None else node.output

    def final(self, op: str, inputs: Sequence[Value | None], attrs: dict | None = None) -> Value:
        """The node producing the FX node's own value (named after it)."""
        return self.emit(op, inputs, attrs, name=self.node.name)

    def const(self, value: Any, dtype: DType | None = None, hint: str = "c") -> Value:
        arr = np.asarray(value, dtype=None if dtype is None else dtype.numpy)
        base = _vname(self.node.name) if self.node is not None else "const"
        return self.graph.add_const(arr, self.graph.fresh_name(f"{base}_{hint}"), source=self.source)

    def ints(self, values: Sequence[int], hint: str = "shape") -> Value:
        return self.const(np.asarray([int(v) for v in values], dtype=np.int64), hint=hint)

    def val(self, a: Any) -> Value:
        """The IR value of an FX argument that must be a tensor."""
        v = self.env.get(a) if _is_fx(a) else None
        if not isinstance(v, Value):
            raise PytorchImportError(f"{self.label}: node '{self.node.name}': argument {a} is not a tensor")
        return v

    def meta(self, a: Any) -> Any:
        return a.meta.get("val") if _is_fx(a) else None

    def out_dtype(self) -> DType:
        val = self.node.meta.get("val")
        if isinstance(val, (list, tuple)):
            val = val[0]
        return _TORCH_DTYPES[str(val.dtype)]

    def out_shape(self) -> tuple:
        return tuple(self.node.meta["val"].shape)

    def operand(self, a: Any, dtype: DType) -> Value:
        """A tensor argument cast to ``dtype``, or a scalar argument as a 0-d const."""
        if _is_fx(a):
            mv = a.meta.get("val")
            if hasattr(mv, "shape"):
                v = self.val(a)
                return v if v.type.dtype == dtype else self.emit("cast", [v], {"to": _ONNX_CODE[dtype]})
            s = self.sym_value(mv)  # a SymInt used as a scalar operand
            s = self.emit("reshape", [s, self.ints([])])
            return s if dtype == DType.I64 else self.emit("cast", [s], {"to": _ONNX_CODE[dtype]})
        return self.const(np.asarray(a, dtype=dtype.numpy), hint="scalar")

    def cast(self, v: Value, dtype: DType) -> Value:
        return v if v.type.dtype == dtype else self.emit("cast", [v], {"to": _ONNX_CODE[dtype]})

    def rank(self, a: Any) -> int:
        return len(self.meta(a).shape)

    # -- symbolic sizes -------------------------------------------------------------------
    def sym_value(self, s: Any) -> Value:
        """An i64[1] value holding the (possibly symbolic) size ``s``."""
        import sympy
        import torch

        if isinstance(s, int):
            return self.ints([s])
        expr = s.node.expr if isinstance(s, torch.SymInt) else s
        return self._expr_value(sympy.sympify(expr))

    def _expr_value(self, expr: Any) -> Value:
        import sympy

        key = str(expr)
        if key in self.sym_cache:
            return self.sym_cache[key]
        if expr.is_Integer:
            v = self.ints([int(expr)])
        elif expr.is_Symbol:
            src = self.sym_source.get(str(expr))
            if src is None:
                raise PytorchImportError(f"{self.label}: size symbol {expr} is not a dim of any input")
            x, d = src
            v = self.emit("shape", [x], {"start": d, "end": d + 1})
        elif isinstance(expr, sympy.Add):
            parts = [self._expr_value(a) for a in expr.args]
            v = parts[0]
            for p in parts[1:]:
                v = self.emit("add", [v, p])
        elif isinstance(expr, sympy.Mul):
            parts = [self._expr_value(a) for a in expr.args]
            v = parts[0]
            for p in parts[1:]:
                v = self.emit("mul", [v, p])
        elif type(expr).__name__ == "FloorDiv":
            a, b = (self._expr_value(x) for x in expr.args)
            v = self.emit("div", [a, b])  # non-negative sizes: integer div is floor div
        else:
            raise PytorchImportError(f"{self.label}: cannot express size {expr} in the IR")
        self.sym_cache[key] = v
        return v

    def shape_value(self, dims: Sequence[Any], like: Sequence[Any] | None = None) -> tuple[Value, bool]:
        """A reshape target for ``dims`` (ints/SymInts); ``(value, uses_copy_zero)``.

        Static dims are constants. A symbolic dim equal to ``like``'s dim at the same
        position becomes 0 (copy), a single remaining one -1; otherwise sizes are rebuilt.
        """
        static, copy = [], False
        dyn = []
        for i, d in enumerate(dims):
            d = d.meta["val"] if _is_fx(d) else d
            sv = _static_int(d)
            if sv is not None:
                static.append(sv)
                continue
            if like is not None and i < len(like) and not isinstance(like[i], int) and str(like[i]) == str(d):
                static.append(0)
                copy = True
                continue
            static.append(None)
            dyn.append((i, d))
        if not dyn:
            return self.ints(static), copy
        if len(dyn) == 1 and -1 not in static:
            static[dyn[0][0]] = -1
            return self.ints(static), copy
        parts = [self.sym_value(d) if s is None else self.ints([s])
                 for s, d in zip(static, [x.meta["val"] if _is_fx(x) else x for x in dims])]
        return self.emit("concat", parts, {"axis": 0}), copy


_PLAIN = re.compile(r"^[A-Za-z0-9_.]+$")


def _vname(name: str) -> str:
    """A value name: the source name itself when it is a plain identifier."""
    return name if _PLAIN.match(name) and name != "_" else sanitize_name(name)


def _static_int(s: Any) -> int | None:
    """``s`` as an int when it is one (or a SymInt with a constant value), else None.

    Never calls int() on a symbolic size: that would add a guard to torch's shape env.
    """
    if isinstance(s, (int, np.integer)) and not isinstance(s, bool):
        return int(s)
    node = getattr(s, "node", None)
    expr = getattr(node, "expr", None)
    if expr is not None and getattr(expr, "is_number", False):
        return int(expr)
    return None


def _is_fx(a: Any) -> bool:
    import torch.fx

    return isinstance(a, torch.fx.Node)


def _flatten(x: Any) -> list:
    if isinstance(x, (list, tuple)):
        out = []
        for a in x:
            out.extend(_flatten(a))
        return out
    return [x]


def _to_numpy(t: Any, where: str) -> np.ndarray:
    import torch

    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:
        return t.float().numpy().astype(DType.BF16.numpy)
    if str(t.dtype) not in _TORCH_DTYPES:
        raise PytorchImportError(f"{where}: dtype {t.dtype} is not supported by infercc")
    return t.contiguous().numpy().copy()


def _arg(n: Any, i: int, name: str, default: Any = None) -> Any:
    """Positional argument ``i`` or keyword ``name`` of an FX node."""
    if i < len(n.args):
        return n.args[i]
    return n.kwargs.get(name, default)


def _norm_axis(d: int, rank: int) -> int:
    return d + rank if d < 0 else d


def _list(v: Any, k: int) -> list[int]:
    if isinstance(v, int):
        return [v] * k
    v = [int(x) for x in v]
    return v * k if len(v) == 1 and k > 1 else v


# -- handlers ------------------------------------------------------------------------------

Handler = Callable[[_Lowering, Any], Any]
_HANDLERS: dict[str, Handler] = {}
_CHECKS: dict[str, Callable[[Any], str | None]] = {}


def _h(*names: str, check: Callable[[Any], str | None] | None = None):
    def wrap(fn: Handler) -> Handler:
        for nm in names:
            _HANDLERS[nm] = fn
            if check is not None:
                _CHECKS[nm] = check
        return fn

    return wrap


def _only_first_output(n: Any) -> str | None:
    for u in n.users:
        if u.target is operator.getitem and u.args[1] != 0 and u.users:
            return "only output 0 is supported"
    return None


# convolution ---------------------------------------------------------------------------


def _conv(cx: _Lowering, x: Any, w: Any, b: Any, stride: Any, padding: Any, dilation: Any,
          transposed: bool, output_padding: Any, groups: int) -> Value:
    wv = cx.val(w)
    k = len(wv.type.shape) - 2
    ks = list(wv.type.shape[2:])
    attrs: dict[str, Any] = {
        "strides": _list(stride, k), "dilations": _list(dilation, k), "group": int(groups),
        "kernel_shape": [int(s) for s in ks],
    }
    if isinstance(padding, str):
        if padding == "valid":
            pads = [0] * k
            attrs["pads"] = pads * 2
        else:  # "same": torch pads d*(k-1) in total, the extra pixel at the end
            total = [d * (kk - 1) for d, kk in zip(attrs["dilations"], ks)]
            attrs["pads"] = [t // 2 for t in total] + [t - t // 2 for t in total]
    else:
        p = _list(padding, k)
        attrs["pads"] = p + p
    inputs = [cx.val(x), wv, cx.val(b) if b is not None else None]
    if transposed:
        op = _list(output_padding, k)
        if any(op):
            attrs["output_padding"] = op
        return cx.final("conv_transpose", inputs, attrs)
    return cx.final("conv", inputs, attrs)


@_h("convolution")
def _convolution(cx, n):
    a = n.args
    return _conv(cx, a[0], a[1], a[2], a[3], a[4], a[5], bool(a[6]), a[7], a[8])


@_h("conv1d", "conv2d", "conv3d")
def _convnd(cx, n):
    return _conv(cx, n.args[0], n.args[1], _arg(n, 2, "bias"), _arg(n, 3, "stride", 1),
                 _arg(n, 4, "padding", 0), _arg(n, 5, "dilation", 1), False, 0, _arg(n, 6, "groups", 1))


@_h("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
def _conv_t(cx, n):
    # (input, weight, bias, stride, padding, output_padding, groups, dilation)
    return _conv(cx, n.args[0], n.args[1], _arg(n, 2, "bias"), _arg(n, 3, "stride", 1),
                 _arg(n, 4, "padding", 0), _arg(n, 7, "dilation", 1), True,
                 _arg(n, 5, "output_padding", 0), _arg(n, 6, "groups", 1))


# matmul family ------------------------------------------------------------------------


def _transposed_weight(cx: _Lowering, a: Any) -> Value | None:
    """When FX arg ``a`` is a 2-D [1,0] transpose, the un-transposed IR value (for transB)."""
    if not _is_fx(a) or a.op != "call_function":
        return None
    key = op_key(a)
    if key == "t" or (key == "permute" and list(a.args[1]) == [1, 0]) or (
        key == "transpose" and len(a.meta["val"].shape) == 2
    ):
        src = cx.env.get(a.args[0])
        if isinstance(src, Value) and src.type.rank == 2:
            return src
    return None


@_h("addmm")
def _addmm(cx, n):
    bias, m1, m2 = n.args[:3]
    beta, alpha = float(n.kwargs.get("beta", 1)), float(n.kwargs.get("alpha", 1))
    wt = _transposed_weight(cx, m2)
    attrs: dict[str, Any] = {}
    if alpha != 1:
        attrs["alpha"] = alpha
    if beta != 1:
        attrs["beta"] = beta
    if wt is not None:
        attrs["transB"] = 1
        return cx.final("gemm", [cx.val(m1), wt, cx.val(bias)], attrs)
    return cx.final("gemm", [cx.val(m1), cx.val(m2), cx.val(bias)], attrs)


@_h("mm")
def _mm(cx, n):
    wt = _transposed_weight(cx, n.args[1])
    if wt is not None:
        return cx.final("gemm", [cx.val(n.args[0]), wt], {"transB": 1})
    return cx.final("matmul", [cx.val(n.args[0]), cx.val(n.args[1])])


@_h("bmm", "matmul")
def _matmul(cx, n):
    return cx.final("matmul", [cx.val(n.args[0]), cx.val(n.args[1])])


@_h("linear")
def _linear(cx, n):
    x, w = cx.val(n.args[0]), cx.val(n.args[1])
    b = _arg(n, 2, "bias")
    if x.type.rank == 2:
        return cx.final("gemm", [x, w] + ([cx.val(b)] if b is not None else []), {"transB": 1})
    wt = cx.emit("transpose", [w], {"perm": [1, 0]})
    if b is None:
        return cx.final("matmul", [x, wt])
    y = cx.emit("matmul", [x, wt])
    return cx.final("add", [y, cx.val(b)])


# normalization -------------------------------------------------------------------------


def _ones_like_channels(cx: _Lowering, x: Value, value: float, n: int) -> Value:
    return cx.const(np.full((n,), value, dtype=x.type.dtype.numpy), hint="default")


def _bn(cx, x, w, b, mean, var, eps):
    xv = cx.val(x)
    c = cx.val(mean).type.shape[0]
    wv = cx.val(w) if w is not None else _ones_like_channels(cx, xv, 1.0, c)
    bv = cx.val(b) if b is not None else _ones_like_channels(cx, xv, 0.0, c)
    return cx.emit("batch_norm", [xv, wv, bv, cx.val(mean), cx.val(var)], {"epsilon": float(eps)},
                   name=cx.node.name)


@_h("_native_batch_norm_legit_no_training", check=_only_first_output)
def _bn_legit(cx, n):
    x, w, b, m, v, _mom, eps = n.args[:7]
    return [_bn(cx, x, w, b, m, v, eps), None, None]


def _check_bn_eval(n):
    if bool(_arg(n, 5, "training", False)):
        return "training mode"
    return None


@_h("batch_norm", check=_check_bn_eval)
def _batch_norm(cx, n):
    a = n.args
    if a[3] is None or a[4] is None:
        raise PytorchImportError(f"{cx.label}: {cx.source[0]}: batch norm without running statistics")
    return _bn(cx, a[0], a[1], a[2], a[3], a[4], _arg(n, 7, "eps", 1e-5))


def _ln(cx, x, shape, w, b, eps):
    xv = cx.val(x)
    k = len(shape)
    size = [int(s) for s in shape]
    wv = cx.val(w) if w is not None else cx.const(np.ones(size, xv.type.dtype.numpy), hint="scale")
    inputs = [xv, wv, cx.val(b) if b is not None else None]
    return cx.emit("layer_norm", inputs, {"axis": -k, "epsilon": float(eps)}, name=cx.node.name)


@_h("native_layer_norm", check=_only_first_output)
def _native_ln(cx, n):
    x, shape, w, b, eps = n.args[:5]
    return [_ln(cx, x, shape, w, b, eps), None, None]


@_h("layer_norm")
def _layer_norm(cx, n):
    return _ln(cx, n.args[0], n.args[1], _arg(n, 2, "weight"), _arg(n, 3, "bias"), _arg(n, 4, "eps", 1e-5))


# activations --------------------------------------------------------------------------


def _unary(ir_op: str, attrs: dict | None = None) -> Handler:
    def h(cx, n):
        return cx.final(ir_op, [cx.val(n.args[0])], attrs)

    return h


for _name, _op in {"relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "hardswish": "hard_swish",
                   "mish": "mish", "sqrt": "sqrt", "exp": "exp", "log": "log", "neg": "neg",
                   "abs": "abs", "reciprocal": "reciprocal", "erf": "erf", "sin": "sin",
                   "cos": "cos", "floor": "floor", "ceil": "ceil", "sign": "sign"}.items():
    _HANDLERS[_name] = _unary(_op)
_HANDLERS["hardsigmoid"] = _unary("hard_sigmoid", {"alpha": 1.0 / 6.0, "beta": 0.5})


def _check_round(n):
    return "decimals" if _arg(n, 1, "decimals", 0) else None


_h("round", check=_check_round)(_unary("round"))


@_h("rsqrt")
def _rsqrt(cx, n):
    return cx.final("reciprocal", [cx.emit("sqrt", [cx.val(n.args[0])])])


@_h("log1p")
def _log1p(cx, n):
    x = cx.val(n.args[0])
    return cx.final("log", [cx.emit("add", [x, cx.const(np.asarray(1, x.type.dtype.numpy), hint="one")])])


@_h("expm1")
def _expm1(cx, n):
    x = cx.val(n.args[0])
    return cx.final("sub", [cx.emit("exp", [x]), cx.const(np.asarray(1, x.type.dtype.numpy), hint="one")])


@_h("silu")
def _silu(cx, n):
    x = cx.val(n.args[0])
    return cx.final("mul", [x, cx.emit("sigmoid", [x])])


def _clip(cx: _Lowering, x: Any, lo: Any, hi: Any) -> Value:
    xv = cx.val(x)
    dt = xv.type.dtype
    if _is_fx(lo) or _is_fx(hi):  # tensor bounds: max/min with broadcasting
        y = xv
        if lo is not None:
            y = cx.emit("max", [y, cx.operand(lo, dt)])
        if hi is not None:
            y = cx.emit("min", [y, cx.operand(hi, dt)])
        return y
    ins = [xv, cx.const(np.asarray(lo, dt.numpy), hint="min") if lo is not None else None,
           cx.const(np.asarray(hi, dt.numpy), hint="max") if hi is not None else None]
    return cx.final("clip", ins)


@_h("relu6")
def _relu6(cx, n):
    return _clip(cx, n.args[0], 0.0, 6.0)


@_h("hardtanh")
def _hardtanh(cx, n):
    return _clip(cx, n.args[0], float(_arg(n, 1, "min_val", -1.0)), float(_arg(n, 2, "max_val", 1.0)))


@_h("clamp")
def _clamp(cx, n):
    return _clip(cx, n.args[0], _arg(n, 1, "min"), _arg(n, 2, "max"))


@_h("clamp_min")
def _clamp_min(cx, n):
    return _clip(cx, n.args[0], n.args[1], None)


@_h("clamp_max")
def _clamp_max(cx, n):
    return _clip(cx, n.args[0], None, n.args[1])


@_h("leaky_relu")
def _leaky(cx, n):
    return cx.final("leaky_relu", [cx.val(n.args[0])], {"alpha": float(_arg(n, 1, "negative_slope", 0.01))})


def _check_elu(n):
    if float(_arg(n, 2, "scale", 1)) != 1 or float(_arg(n, 3, "input_scale", 1)) != 1:
        return "scale/input_scale other than 1"
    return None


@_h("elu", check=_check_elu)
def _elu(cx, n):
    return cx.final("elu", [cx.val(n.args[0])], {"alpha": float(_arg(n, 1, "alpha", 1.0))})


@_h("gelu")
def _gelu(cx, n):
    approx = n.kwargs.get("approximate", n.args[1] if len(n.args) > 1 else "none")
    return cx.final("gelu", [cx.val(n.args[0])], {"approximate": str(approx)})


def _check_softplus(n):
    return "beta other than 1" if float(_arg(n, 1, "beta", 1)) != 1 else None


@_h("softplus", check=_check_softplus)
def _softplus(cx, n):
    return cx.final("softplus", [cx.val(n.args[0])])


def _softmax_like(ir_op: str) -> Handler:
    def h(cx, n):
        x = cx.val(n.args[0])
        dt = cx.out_dtype()
        return cx.final(ir_op, [cx.cast(x, dt)], {"axis": int(n.args[1])})

    return h


_HANDLERS["_softmax"] = _HANDLERS["softmax"] = _softmax_like("softmax")
_HANDLERS["_log_softmax"] = _HANDLERS["log_softmax"] = _softmax_like("log_softmax")


# pooling ------------------------------------------------------------------------------


def _pool_rank(n: Any) -> int:
    key = op_key(n)
    return 1 if "1d" in key else 3 if "3d" in key else 2


def _check_pool(n):
    if len(n.args[0].meta["val"].shape) != _pool_rank(n) + 2:
        return "unbatched input"
    if op_key(n).startswith("avg") and _arg(n, 6, "divisor_override") is not None:
        return "divisor_override"
    return _only_first_output(n)


def _pool_attrs(n: Any, k: int, stride_i: int, pad_i: int) -> dict:
    ks = _list(n.args[1], k)
    stride = _arg(n, stride_i, "stride", [])
    stride = ks if not stride else _list(stride, k)
    pad = _list(_arg(n, pad_i, "padding", 0), k)
    return {"kernel_shape": ks, "strides": stride, "pads": pad + pad}


@_h("max_pool2d", "max_pool2d_with_indices", "max_pool3d_with_indices", "max_pool1d",
    "max_pool3d", check=_check_pool)
def _max_pool(cx, n):
    x = cx.val(n.args[0])
    k = _pool_rank(n)
    attrs = _pool_attrs(n, k, 2, 3)
    dil = _list(_arg(n, 4, "dilation", 1), k)
    if any(d != 1 for d in dil):
        attrs["dilations"] = dil
    if bool(_arg(n, 5, "ceil_mode", False)):
        attrs["ceil_mode"] = 1
    y = cx.final("max_pool", [x], attrs)
    return [y, None] if "with_indices" in op_key(n) else y


@_h("avg_pool2d", "avg_pool3d", "avg_pool1d", check=_check_pool)
def _avg_pool(cx, n):
    x = cx.val(n.args[0])
    k = _pool_rank(n)
    attrs = _pool_attrs(n, k, 2, 3)
    attrs["ceil_mode"] = int(bool(_arg(n, 4, "ceil_mode", False)))
    attrs["count_include_pad"] = int(bool(_arg(n, 5, "count_include_pad", True)))
    return cx.final("avg_pool", [x], attrs)


def _check_adaptive(n):
    shape = n.args[0].meta["val"].shape
    out = _list(n.args[1], 2)
    hw = [_static_int(s) for s in shape[-2:]]
    if out == [1, 1]:
        return None
    if all(s is not None and s % o == 0 for s, o in zip(hw, out)):
        return None
    return "output size not dividing the input"


@_h("adaptive_avg_pool2d", "_adaptive_avg_pool2d", check=_check_adaptive)
def _adaptive_avg(cx, n):
    x = cx.val(n.args[0])
    out = _list(n.args[1], 2)
    if out == [1, 1]:
        if x.type.rank == 3:  # unbatched [C,H,W]
            y = cx.emit("global_avg_pool", [cx.emit("unsqueeze", [x, cx.ints([0])])])
            return cx.final("squeeze", [y, cx.ints([0])])
        return cx.final("global_avg_pool", [x])
    hw = [int(s) for s in x.type.shape[-2:]]
    ks = [s // o for s, o in zip(hw, out)]
    return cx.final("avg_pool", [x], {"kernel_shape": ks, "strides": ks})


# reductions ---------------------------------------------------------------------------


def _reduce(ir_op: str, dim_i: int = 1, keep_i: int = 2) -> Handler:
    def h(cx, n):
        x = cx.val(n.args[0])
        dims = _arg(n, dim_i, "dim", None)
        keep = int(bool(_arg(n, keep_i, "keepdim", False)))
        dt = cx.out_dtype()
        x = cx.cast(x, dt)
        if dims is None or (isinstance(dims, (list, tuple)) and len(dims) == 0):
            return cx.final(ir_op, [x], {"keepdims": keep})
        dims = [dims] if isinstance(dims, int) else list(dims)
        r = x.type.rank
        return cx.final(ir_op, [x, cx.ints([_norm_axis(d, r) for d in dims], "axes")], {"keepdims": keep})

    return h


_HANDLERS["mean"] = _reduce("reduce_mean")
_HANDLERS["sum"] = _reduce("reduce_sum")
_HANDLERS["amax"] = _reduce("reduce_max")
_HANDLERS["amin"] = _reduce("reduce_min")


def _max_min(red: str, arg: str, binary: str) -> Handler:
    def h(cx, n):
        if len(n.args) >= 2 and _is_fx(n.args[1]):  # max.other: elementwise
            return _binary_ir(cx, n, binary, n.args[0], n.args[1])
        x = cx.val(n.args[0])
        if len(n.args) == 1:  # max.default: a 0-d result
            return cx.final(red, [x], {"keepdims": 0})
        d = _norm_axis(int(n.args[1]), x.type.rank)
        keep = int(bool(_arg(n, 2, "keepdim", False)))
        vals = cx.emit(red, [x, cx.ints([d], "axes")], {"keepdims": keep}, name=f"{n.name}_values")
        idx = cx.emit(arg, [x], {"axis": d, "keepdims": keep}, name=f"{n.name}_indices")
        return [vals, idx]

    return h


_HANDLERS["max"] = _max_min("reduce_max", "arg_max", "max")
_HANDLERS["min"] = _max_min("reduce_min", "arg_min", "min")


def _argminmax(ir_op: str) -> Handler:
    def h(cx, n):
        x = cx.val(n.args[0])
        d = _arg(n, 1, "dim")
        keep = int(bool(_arg(n, 2, "keepdim", False)))
        if d is None:
            x = cx.emit("reshape", [x, cx.ints([-1])])
            return cx.final(ir_op, [x], {"axis": 0, "keepdims": 0})
        return cx.final(ir_op, [x], {"axis": _norm_axis(int(d), x.type.rank), "keepdims": keep})

    return h


_HANDLERS["argmax"] = _argminmax("arg_max")
_HANDLERS["argmin"] = _argminmax("arg_min")


@_h("cumsum")
def _cumsum(cx, n):
    x = cx.cast(cx.val(n.args[0]), cx.out_dtype())
    return cx.final("cumsum", [x, cx.const(np.asarray(int(n.args[1]), np.int64), hint="axis")])


# shapes -------------------------------------------------------------------------------


def _reshape_to(cx: _Lowering, x: Value, dims: Sequence[Any]) -> Value:
    like = tuple(cx.meta(cx.node.args[0]).shape)
    if [cx.dim(d) for d in like] == [cx.dim(d.meta["val"] if _is_fx(d) else d) for d in dims]:
        return x  # a view to the same shape
    target, _ = cx.shape_value(dims, like)
    return cx.final("reshape", [x, target])


@_h("view", "_unsafe_view", "reshape")
def _view(cx, n):
    return _reshape_to(cx, cx.val(n.args[0]), list(n.args[1]))


@_h("flatten", "unflatten")
def _flatten_op(cx, n):
    return _reshape_to(cx, cx.val(n.args[0]), list(cx.out_shape()))


@_h("permute")
def _permute(cx, n):
    x = cx.val(n.args[0])
    r = x.type.rank
    perm = [_norm_axis(int(d), r) for d in n.args[1]]
    if perm == list(range(r)):
        return x
    return cx.final("transpose", [x], {"perm": perm})


@_h("transpose")
def _transpose(cx, n):
    x = cx.val(n.args[0])
    r = x.type.rank
    a, b = _norm_axis(int(n.args[1]), r), _norm_axis(int(n.args[2]), r)
    perm = list(range(r))
    perm[a], perm[b] = perm[b], perm[a]
    if a == b:
        return x
    return cx.final("transpose", [x], {"perm": perm})


@_h("t")
def _t(cx, n):
    x = cx.val(n.args[0])
    if x.type.rank < 2:
        return x
    return cx.final("transpose", [x], {"perm": [1, 0]})


@_h("unsqueeze")
def _unsqueeze(cx, n):
    x = cx.val(n.args[0])
    d = _norm_axis(int(n.args[1]), x.type.rank + 1)
    return cx.final("unsqueeze", [x, cx.ints([d], "axes")])


@_h("squeeze")
def _squeeze(cx, n):
    x = cx.val(n.args[0])
    shape = cx.meta(n.args[0]).shape
    r = len(shape)
    dims = _arg(n, 1, "dim", None)
    if dims is None:
        dims = list(range(r))
    elif isinstance(dims, int):
        dims = [dims]
    axes = sorted({_norm_axis(int(d), r) for d in dims if r and _static_eq(shape[_norm_axis(int(d), r)], 1)})
    if not axes:
        return x  # torch's squeeze of a non-1 dim is a no-op
    return cx.final("squeeze", [x, cx.ints(axes, "axes")])


def _static_eq(s: Any, v: int) -> bool:
    return _static_int(s) == v


@_h("cat")
def _cat(cx, n):
    vals = [cx.val(a) for a in n.args[0]]
    r = len(cx.out_shape())
    d = _norm_axis(int(_arg(n, 1, "dim", 0)), r)
    dt = cx.out_dtype()
    vals = [cx.cast(v, dt) for v in vals if not (v.type.rank == 1 and v.type.shape == (0,))]
    if len(vals) == 1:
        return vals[0]
    return cx.final("concat", vals, {"axis": d})


def _split_sizes_check(n):
    d = _arg(n, 2, "dim", 0) if op_key(n) != "unbind" else _arg(n, 1, "dim", 0)
    shape = n.args[0].meta["val"].shape
    return "split along a symbolic dim" if _static_int(shape[d]) is None else None


@_h("split", "split_with_sizes", "chunk", check=_split_sizes_check)
def _split(cx, n):
    x = cx.val(n.args[0])
    r = x.type.rank
    d = _norm_axis(int(_arg(n, 2, "dim", 0)), r)
    sizes = [int(t.shape[d]) for t in n.meta["val"]]
    outs = cx.emit("split", [x, cx.ints(sizes, "split")], {"axis": d}, name=n.name,
                   num_outputs=len(sizes))
    return outs


@_h("unbind", check=_split_sizes_check)
def _unbind(cx, n):
    x = cx.val(n.args[0])
    r = x.type.rank
    d = _norm_axis(int(_arg(n, 1, "dim", 0)), r)
    k = int(x.type.shape[d])
    parts = cx.emit("split", [x, cx.ints([1] * k, "split")], {"axis": d}, num_outputs=k)
    axes = cx.ints([d], "axes")
    return [cx.emit("squeeze", [p, axes], name=f"{n.name}_{i}") for i, p in enumerate(parts)]


@_h("slice")
def _slice(cx, n):
    x = cx.val(n.args[0])
    shape = cx.meta(n.args[0]).shape
    r = len(shape)
    d = _norm_axis(int(_arg(n, 1, "dim", 0)), r)
    start, end, step = _arg(n, 2, "start", None), _arg(n, 3, "end", None), int(_arg(n, 4, "step", 1) or 1)
    start = 0 if start is None else start
    end = INT64_MAX if end is None else end
    if (not _is_fx(start) and int(start) == 0 and step == 1 and not _is_fx(end)
            and _static_ge(end, shape[d])):
        return x  # the whole axis

    def bound(v):
        if _is_fx(v):
            return cx.sym_value(v.meta["val"])
        return cx.ints([min(int(v), INT64_MAX)])

    return cx.final("slice", [x, bound(start), bound(end), cx.ints([d], "axes"), cx.ints([step], "steps")])


def _static_ge(end: Any, size: Any) -> bool:
    s = _static_int(size)
    return int(end) >= (INT64_MAX // 2 if s is None else s)


@_h("select")
def _select(cx, n):
    x = cx.val(n.args[0])
    d = _norm_axis(int(n.args[1]), x.type.rank)
    idx = n.args[2]
    iv = cx.const(np.asarray(int(idx), np.int64), hint="index") if not _is_fx(idx) else \
        cx.emit("reshape", [cx.sym_value(idx.meta["val"]), cx.ints([])])
    return cx.final("gather", [x, iv], {"axis": d})


def _check_index(n):
    idx = n.args[1]
    tensors = [i for i in idx if i is not None]
    if len(tensors) != 1:
        return "more than one index tensor"
    if str(tensors[0].meta["val"].dtype) == "torch.bool":
        return "boolean mask index"
    return None


@_h("index", check=_check_index)
def _index(cx, n):
    x = cx.val(n.args[0])
    pos = next(i for i, t in enumerate(n.args[1]) if t is not None)
    iv = cx.cast(cx.val(n.args[1][pos]), DType.I64)
    return cx.final("gather", [x, iv], {"axis": pos})


@_h("embedding")
def _embedding(cx, n):
    return cx.final("gather", [cx.val(n.args[0]), cx.cast(cx.val(n.args[1]), DType.I64)], {"axis": 0})


@_h("expand")
def _expand(cx, n):
    x = cx.val(n.args[0])
    src = list(cx.meta(n.args[0]).shape)
    out = list(cx.out_shape())
    pad = len(out) - len(src)
    src = [1] * pad + src
    if [cx.dim(s) for s in src] == [cx.dim(s) for s in out] and pad == 0:
        return x
    target = []
    for s, o in zip(src, out):
        target.append(1 if str(s) == str(o) else o)
    shape, _ = cx.shape_value(target)
    if -1 in [cx.dim(t) for t in target]:
        raise PytorchImportError(f"{cx.label}: {cx.source[0]}: expand to an unknown size")
    return cx.final("expand", [x, shape])


def _identity(cx, n):
    return cx.val(n.args[0])


for _name in ("contiguous", "clone", "alias", "detach", "lift_fresh_copy", "dropout",
              "feature_dropout", "alpha_dropout"):
    _HANDLERS[_name] = _identity


def _check_dropout(n):
    return "training mode" if bool(_arg(n, 2, "train", False)) else None


for _name in ("dropout", "feature_dropout", "alpha_dropout"):
    _CHECKS[_name] = _check_dropout


@_h("native_dropout", check=_check_dropout)
def _native_dropout(cx, n):
    return [cx.val(n.args[0]), None]


@_h("_to_copy", "to", "type_as")
def _to_copy(cx, n):
    x = cx.val(n.args[0])
    dt = cx.out_dtype()
    if x.type.dtype == dt:
        return x
    return cx.final("cast", [x], {"to": _ONNX_CODE[dt]})


# elementwise --------------------------------------------------------------------------


def _promote(cx: _Lowering, a: Any, b: Any) -> DType:
    """torch's result dtype of a binary op on FX args/scalars (before comparisons)."""
    import torch

    def as_t(x):
        if _is_fx(x):
            mv = x.meta.get("val")
            if hasattr(mv, "dtype"):
                return mv
            return 0 if isinstance(mv, (int, torch.SymInt)) else 0.0
        return x

    dt = torch.result_type(as_t(a), as_t(b))
    return _TORCH_DTYPES[str(dt)]


def _binary_ir(cx: _Lowering, n: Any, ir_op: str, a: Any, b: Any) -> Value:
    dt = cx.out_dtype()
    return cx.final(ir_op, [cx.operand(a, dt), cx.operand(b, dt)])


def _scaled(cx: _Lowering, v: Any, alpha: Any, dt: DType) -> Value:
    x = cx.operand(v, dt)
    if alpha is None or alpha == 1:
        return x
    return cx.emit("mul", [x, cx.const(np.asarray(alpha, dt.numpy), hint="alpha")])


@_h("add")
def _add(cx, n):
    a, b = n.args[0], n.args[1]
    dt = cx.out_dtype()
    return cx.final("add", [cx.operand(a, dt), _scaled(cx, b, n.kwargs.get("alpha"), dt)])


@_h("sub")
def _sub(cx, n):
    a, b = n.args[0], n.args[1]
    dt = cx.out_dtype()
    return cx.final("sub", [cx.operand(a, dt), _scaled(cx, b, n.kwargs.get("alpha"), dt)])


@_h("rsub")
def _rsub(cx, n):
    a, b = n.args[0], n.args[1]
    dt = cx.out_dtype()
    return cx.final("sub", [cx.operand(b, dt), _scaled(cx, a, _arg(n, 2, "alpha"), dt)])


@_h("mul")
def _mul(cx, n):
    return _binary_ir(cx, n, "mul", n.args[0], n.args[1])


def _check_div(n):
    mode = n.kwargs.get("rounding_mode")
    if mode == "trunc" and n.meta["val"].dtype.is_floating_point:
        return "rounding_mode=trunc on floats"
    return None


@_h("div", check=_check_div)
def _div(cx, n):
    a, b = n.args[0], n.args[1]
    dt = cx.out_dtype()
    y = [cx.operand(a, dt), cx.operand(b, dt)]
    mode = n.kwargs.get("rounding_mode")
    if mode == "floor" and dt.is_float:
        return cx.final("floor", [cx.emit("div", y)])
    if mode == "floor":  # integers: (a - a mod b) / b is exact, and mod takes b's sign
        rem = cx.emit("mod", y, {"fmod": 0})
        return cx.final("div", [cx.emit("sub", [y[0], rem]), y[1]])
    return cx.final("div", y)  # true division (floats) or trunc (integer div truncates)


@_h("pow")
def _pow(cx, n):
    a, b = n.args[0], n.args[1]
    dt = cx.out_dtype()
    if not _is_fx(b) and float(b) == 2.0:
        x = cx.operand(a, dt)
        return cx.final("mul", [x, x])
    if not _is_fx(b) and float(b) == 0.5:
        return cx.final("sqrt", [cx.operand(a, dt)])
    return cx.final("pow", [cx.operand(a, dt), cx.operand(b, dt)])


def _binary(ir_op: str) -> Handler:
    return lambda cx, n: _binary_ir(cx, n, ir_op, n.args[0], n.args[1])


_HANDLERS["maximum"] = _binary("max")
_HANDLERS["minimum"] = _binary("min")


def _compare(ir_op: str, negate: bool = False) -> Handler:
    def h(cx, n):
        a, b = n.args[0], n.args[1]
        dt = _promote(cx, a, b)
        ins = [cx.operand(a, dt), cx.operand(b, dt)]
        if negate:
            return cx.final("not", [cx.emit(ir_op, ins)])
        return cx.final(ir_op, ins)

    return h


_HANDLERS.update({
    "eq": _compare("equal"), "ne": _compare("equal", True), "lt": _compare("less"),
    "le": _compare("less_or_equal"), "gt": _compare("greater"), "ge": _compare("greater_or_equal"),
})


def _as_bool(cx: _Lowering, a: Any) -> Value:
    v = cx.val(a)
    if v.type.dtype == DType.BOOL:
        return v
    zero = cx.const(np.asarray(0, v.type.dtype.numpy), hint="zero")
    return cx.emit("not", [cx.emit("equal", [v, zero])])


@_h("logical_not")
def _logical_not(cx, n):
    return cx.final("not", [_as_bool(cx, n.args[0])])


def _check_bitwise_not(n):
    return None if str(n.args[0].meta["val"].dtype) == "torch.bool" else "integer operand"


@_h("bitwise_not", check=_check_bitwise_not)
def _bitwise_not(cx, n):
    return cx.final("not", [cx.val(n.args[0])])


def _logical(ir_op: str) -> Handler:
    return lambda cx, n: cx.final(ir_op, [_as_bool(cx, n.args[0]), _as_bool(cx, n.args[1])])


def _check_bool_operands(n):
    ok = all(str(a.meta["val"].dtype) == "torch.bool" for a in n.args[:2] if _is_fx(a))
    return None if ok else "integer operands"


for _name in ("bitwise_and", "bitwise_or", "bitwise_xor"):
    _CHECKS[_name] = _check_bool_operands
for _name, _op in {"logical_and": "and", "logical_or": "or", "logical_xor": "xor",
                   "bitwise_and": "and", "bitwise_or": "or", "bitwise_xor": "xor"}.items():
    _HANDLERS[_name] = _logical(_op)


@_h("where")
def _where(cx, n):
    c, a, b = n.args[:3]
    dt = cx.out_dtype()
    return cx.final("where", [_as_bool(cx, c), cx.operand(a, dt), cx.operand(b, dt)])


# creation -----------------------------------------------------------------------------


def _check_static_out(n):
    val = n.meta.get("val")
    if any(_static_int(s) is None for s in val.shape):
        return None if op_key(n).endswith("_like") else "symbolic size"
    return None


def _fill(cx: _Lowering, value: Any, like: Any = None) -> Value:
    dt = cx.out_dtype()
    static = [_static_int(s) for s in cx.out_shape()]
    if None not in static:
        return cx.const(np.full(static, value, dtype=dt.numpy), hint="fill")
    sh = cx.emit("shape", [cx.val(like)])
    return cx.final("constant_of_shape", [sh], {"value": np.asarray([value], dtype=dt.numpy)})


@_h("full", check=_check_static_out)
def _full(cx, n):
    return _fill(cx, n.args[1])


@_h("zeros", check=_check_static_out)
def _zeros(cx, n):
    return _fill(cx, 0)


@_h("ones", check=_check_static_out)
def _ones(cx, n):
    return _fill(cx, 1)


@_h("scalar_tensor")
def _scalar_tensor(cx, n):
    return _fill(cx, n.args[0])


@_h("full_like", check=_check_static_out)
def _full_like(cx, n):
    return _fill(cx, n.args[1], n.args[0])


@_h("zeros_like", check=_check_static_out)
def _zeros_like(cx, n):
    return _fill(cx, 0, n.args[0])


@_h("ones_like", check=_check_static_out)
def _ones_like(cx, n):
    return _fill(cx, 1, n.args[0])


def _check_arange(n):
    return None if all(not _is_fx(a) for a in n.args) else "symbolic bounds"


@_h("arange", check=_check_arange)
def _arange(cx, n):
    a = [float(x) if isinstance(x, float) else int(x) for x in n.args]
    if len(a) == 1:
        a = [0, a[0], 1]
    elif len(a) == 2:
        a = [a[0], a[1], 1]
    dt = cx.out_dtype()
    return cx.const(np.arange(*a).astype(dt.numpy), hint="arange")


# padding and resizing -----------------------------------------------------------------


def _pads(cx: _Lowering, rank: int, torch_pad: Sequence[int]) -> Value:
    begin, end = [0] * rank, [0] * rank
    for i in range(len(torch_pad) // 2):
        d = rank - 1 - i
        begin[d], end[d] = int(torch_pad[2 * i]), int(torch_pad[2 * i + 1])
    return cx.ints(begin + end, "pads")


def _pad(cx: _Lowering, n: Any, mode: str, pad: Sequence[int], value: float = 0.0) -> Value:
    x = cx.val(n.args[0])
    if not any(int(p) for p in pad):
        return x
    pads = _pads(cx, x.type.rank, pad)
    if mode == "constant":
        cv = cx.const(np.asarray(value if value is not None else 0, x.type.dtype.numpy), hint="value")
        return cx.final("pad", [x, pads, cv], {"mode": "constant"})
    return cx.final("pad", [x, pads], {"mode": mode})


@_h("constant_pad_nd")
def _constant_pad(cx, n):
    return _pad(cx, n, "constant", n.args[1], _arg(n, 2, "value", 0.0))


def _check_pad_mode(n):
    mode = _arg(n, 2, "mode", "constant")
    return None if mode in ("constant", "reflect", "replicate") else f"mode={mode}"


@_h("pad", check=_check_pad_mode)
def _pad_op(cx, n):
    mode = _arg(n, 2, "mode", "constant")
    mode = {"replicate": "edge"}.get(mode, mode)
    return _pad(cx, n, mode, n.args[1], _arg(n, 3, "value", 0.0))


for _name in ("reflection_pad1d", "reflection_pad2d", "reflection_pad3d"):
    _HANDLERS[_name] = lambda cx, n: _pad(cx, n, "reflect", n.args[1])
for _name in ("replication_pad1d", "replication_pad2d", "replication_pad3d"):
    _HANDLERS[_name] = lambda cx, n: _pad(cx, n, "edge", n.args[1])


def _resize(cx: _Lowering, n: Any, mode: str, align: bool | None) -> Value:
    x = cx.val(n.args[0])
    key = str(n.target)
    attrs: dict[str, Any] = {"mode": mode}
    if mode == "nearest":
        attrs.update(coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    else:
        attrs["coordinate_transformation_mode"] = "align_corners" if align else "pytorch_half_pixel"
    if key.endswith(".vec"):
        scales = _arg(n, 3 if mode == "linear" else 2, "scale_factors")
    else:  # .default: (x, output_size, [align_corners,] scales_h=None, scales_w=None)
        first = 3 if mode == "linear" else 2
        scales = [_arg(n, first, "scales_h"), _arg(n, first + 1, "scales_w")]
        scales = None if None in scales else scales
    out = [_static_int(s) for s in cx.out_shape()[2:]]
    if scales and not align:
        # torch maps coordinates with the given scale factors, as resize does with scales
        sc = cx.const(np.asarray([1.0, 1.0] + [float(s) for s in scales], np.float32), hint="scales")
        return cx.final("resize", [x, None, sc], attrs)
    sizes = [int(s) for s in x.type.shape[:2]] + out if all(isinstance(s, int) for s in x.type.shape[:2]) else None
    if sizes is None:
        attrs["axes"] = [2, 3]
        return cx.final("resize", [x, None, None, cx.ints(out, "sizes")], attrs)
    return cx.final("resize", [x, None, None, cx.ints(sizes, "sizes")], attrs)


@_h("upsample_nearest2d")
def _up_nearest(cx, n):
    return _resize(cx, n, "nearest", None)


@_h("upsample_bilinear2d")
def _up_bilinear(cx, n):
    return _resize(cx, n, "linear", bool(n.args[2]))


# attention ----------------------------------------------------------------------------


def _check_sdpa(n):
    if float(_arg(n, 4, "dropout_p", 0.0) or 0.0) != 0.0:
        return "dropout_p"
    if n.kwargs.get("enable_gqa"):
        q, k = n.args[0].meta["val"], n.args[1].meta["val"]
        if q.shape[-3] != k.shape[-3]:
            return "grouped-query heads"
    return None


@_h("scaled_dot_product_attention", check=_check_sdpa)
def _sdpa(cx, n):
    q, k, v = (cx.val(a) for a in n.args[:3])
    mask = _arg(n, 3, "attn_mask")
    causal = bool(_arg(n, 5, "is_causal", False))
    scale = n.kwargs.get("scale")
    e = int(q.type.shape[-1])
    scale = 1.0 / math.sqrt(e) if scale is None else float(scale)
    dt = q.type.dtype
    r = k.type.rank
    perm = list(range(r))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    kt = cx.emit("transpose", [k], {"perm": perm})
    s = cx.emit("matmul", [q, kt])
    s = cx.emit("mul", [s, cx.const(np.asarray(scale, dt.numpy), hint="scale")])
    neg_inf = np.asarray(-np.inf, dt.numpy)
    if causal:
        L, S = int(q.type.shape[-2]), int(k.type.shape[-2])
        tri = np.tril(np.ones((L, S), dtype=bool))
        bias = np.where(tri, np.asarray(0, dt.numpy), neg_inf).astype(dt.numpy)
        s = cx.emit("add", [s, cx.const(bias, hint="causal_mask")])
    if mask is not None:
        m = cx.val(mask)
        if m.type.dtype == DType.BOOL:
            m = cx.emit("where", [m, cx.const(np.asarray(0, dt.numpy), hint="zero"),
                                  cx.const(neg_inf, hint="neg_inf")])
        s = cx.emit("add", [s, cx.cast(m, dt)])
    p = cx.emit("softmax", [s], {"axis": -1})
    return cx.final("matmul", [p, v])


__all__ = [
    "SUPPORTED_OPS",
    "PytorchImportError",
    "decomposition_table",
    "export_module",
    "load_pytorch",
    "load_pytorch_file",
    "lower_program",
    "unsupported_nodes",
]
