"""Lowering of a (decomposed) ``torch.export`` program's FX graph into the IR.

:class:`_Lowering` walks the FX graph once in order: user inputs become graph inputs,
parameters, buffers and lifted constants become ``const`` nodes, and every
``call_function`` node is dispatched by :func:`op_key` to its handler in the ATen lowering
table (:mod:`.registry`, filled by :mod:`.handlers`). It also holds what handlers share:
node emission with the IR's type inference, constants, and symbolic sizes rebuilt from
input shapes. Callers check support first (every key must be in the table and pass its
check) and import :mod:`.handlers` so the table is filled.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...errors import InferccError, ModelLoadError
from ...ir.graph import Graph, Value, sanitize_name
from ...ir.types import UNKNOWN_DIM, DType, TensorType
from ...ops.registry import infer_types
from .registry import TABLE

INT64_MAX = 9223372036854775807


class PytorchImportError(ModelLoadError):
    """The program was captured but one of its nodes cannot be lowered as used."""


# Ops whose values carry no tensor data (symbolic sizes and assertions); never lowered.
_SIZE_NOTE = "symbolic size: no node; rebuilt from shape() where a reshape needs it"
_SKIP_OPS: dict[str, str] = {
    **dict.fromkeys(("sym_size", "sym_numel", "sym_stride", "sym_storage_offset"), _SIZE_NOTE),
    **dict.fromkeys(("_assert_scalar", "_assert_tensor_metadata", "sym_constrain_range_for_size",
                     "sym_constrain_range", "_assert_async", "_print"), "dropped (export-time check)"),
}
# ATen ops the driver lowers itself instead of a handler of the table, with their notes.
DRIVER_OPS: dict[str, str] = {"getitem": "picks one output of a multi-output op", **_SKIP_OPS}

_TORCH_DTYPES = {
    "torch.float32": DType.F32, "torch.float64": DType.F64, "torch.float16": DType.F16,
    "torch.bfloat16": DType.BF16, "torch.int64": DType.I64, "torch.int32": DType.I32,
    "torch.int16": DType.I16, "torch.int8": DType.I8, "torch.uint8": DType.U8,
    "torch.bool": DType.BOOL,
}
_ONNX_CODE = {DType.F32: 1, DType.U8: 2, DType.I8: 3, DType.I16: 5, DType.I32: 6, DType.I64: 7,
              DType.BOOL: 9, DType.F16: 10, DType.F64: 11, DType.BF16: 16}


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
        v = self.graph.add_const(arr, _vname(target), source=(src,))
        if spec.kind.name == "PARAMETER":
            # provenance for writing results back to the module (pruning masks): the
            # state_dict key; passes that replace the constant with the same layout carry it
            v.producer.annotations["param"] = target
        return v

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
            out = TABLE[key].handler(self, n)
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
