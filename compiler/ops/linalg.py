"""Linear-algebra ops: matmul, gemm, einsum, matmul_integer.

Every op has the semantics of the latest ONNX opset of the op it is named after, with
ONNX's input and attribute names.

Contracts:

* ``matmul`` follows numpy's ``matmul`` (1-D operands are promoted and the promoted dim is
  dropped again; batch dims broadcast, symbolic ones flow through inference).
* ``gemm`` computes ``alpha * A' @ B' + beta * C`` with ``C`` broadcast to ``[M, N]``.
* ``matmul`` and ``gemm`` take the IR-only ``activation`` attribute.
* float16/bfloat16 operands multiply in float32 and are rounded back once; integer
  ``matmul`` stays in its own type (wrapping like C). ``matmul_integer`` accumulates exactly
  and returns int32.
"""

from __future__ import annotations

import re

import numpy as np

from ..ir.types import UNKNOWN_DIM, Dim, DType, Shape, TensorType
from .elementwise import apply_activation, check_activation, same_dtype, work_float
from .registry import InferContext, SchemaError, broadcast_shapes, defop

_ACT = {"activation": ("str", "")}


def _dims_clash(a: Dim, b: Dim) -> bool:
    return isinstance(a, int) and isinstance(b, int) and a != b


def matmul_shape(a: Shape | None, b: Shape | None, op: str = "matmul") -> Shape | None:
    """numpy ``matmul`` result shape over static, symbolic and unknown dims."""
    if a is None or b is None:
        return None
    if len(a) == 0 or len(b) == 0:
        raise SchemaError(f"{op}: operands must have rank >= 1 (got {list(a)} and {list(b)})")
    aa = (1,) + tuple(a) if len(a) == 1 else tuple(a)
    bb = tuple(b) + (1,) if len(b) == 1 else tuple(b)
    if _dims_clash(aa[-1], bb[-2]):
        raise SchemaError(f"{op}: inner dims differ: A is {list(a)}, B is {list(b)}")
    try:
        batch = broadcast_shapes(aa[:-2], bb[:-2])
    except SchemaError as e:
        raise SchemaError(f"{op}: batch dims {e}") from None
    out = tuple(batch) + ((aa[-2],) if len(a) > 1 else ()) + ((bb[-1],) if len(b) > 1 else ())
    return out


def _infer_matmul(ctx: InferContext) -> list[TensorType]:
    dt = same_dtype(ctx, [0, 1])
    check_activation(ctx.op, ctx.attr("activation"))
    return [TensorType(dt, matmul_shape(ctx.shape(0), ctx.shape(1), ctx.op))]


def _mm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` in the operands' dtype, low-precision floats accumulated in float32."""
    dt = a.dtype
    if dt == np.float16 or dt.name == "bfloat16":
        return np.matmul(work_float(a), work_float(b)).astype(dt)
    return np.matmul(a, b)


def _act_inplace(y: np.ndarray, act: str) -> np.ndarray:
    if act == "relu" and y.flags.writeable and y.dtype.kind == "f":
        np.maximum(y, 0, out=y)
        return y
    return apply_activation(y, act)


# B is the weight when it is a constant; its output channels are its last axis ([..., K, N]).
@defop("matmul", inputs=("A", "B"), attrs=_ACT, infer=_infer_matmul, category="linalg",
       weights={1: -1}, quant_role="compute", quant_inputs=(0, 1), cost="matmul")
def matmul(inputs, attrs):
    """numpy-style matrix product with batch broadcasting (optional fused activation)."""
    a, b = inputs
    return _act_inplace(np.asarray(_mm(a, b)), attrs["activation"])


def _infer_gemm(ctx: InferContext) -> list[TensorType]:
    dt = same_dtype(ctx, [0, 1, 2])
    check_activation(ctx.op, ctx.attr("activation"))
    a, b = ctx.shape(0), ctx.shape(1)
    for name, s in (("A", a), ("B", b)):
        if s is not None and len(s) != 2:
            raise SchemaError(f"gemm: {name} must be 2-D, got {list(s)}")
    m: Dim = UNKNOWN_DIM
    n: Dim = UNKNOWN_DIM
    if a is not None:
        m, ka = (a[1], a[0]) if ctx.attr("transA") else (a[0], a[1])
    if b is not None:
        kb, n = (b[1], b[0]) if ctx.attr("transB") else (b[0], b[1])
    if a is not None and b is not None and _dims_clash(ka, kb):
        raise SchemaError(f"gemm: inner dims differ: A' is [{m},{ka}], B' is [{kb},{n}]")
    if ctx.has(2):
        c = ctx.shape(2)
        if c is not None:
            if len(c) > 2:
                raise SchemaError(f"gemm: C must broadcast to [M, N], got {list(c)}")
            full = (1,) * (2 - len(c)) + tuple(c)
            if _dims_clash(full[0], m) and full[0] != 1 or _dims_clash(full[1], n) and full[1] != 1:
                raise SchemaError(f"gemm: C {list(c)} does not broadcast to [{m},{n}]")
            m = full[0] if (not isinstance(m, int) and isinstance(full[0], int) and full[0] != 1) else m
            n = full[1] if (not isinstance(n, int) and isinstance(full[1], int) and full[1] != 1) else n
    return [TensorType(dt, (m, n))]


@defop(
    "gemm",
    inputs=("A", "B", "C?"),
    attrs={"alpha": ("float", 1.0), "beta": ("float", 1.0), "transA": ("int", 0),
           "transB": ("int", 0), **_ACT},
    infer=_infer_gemm,
    category="linalg",
    weights=lambda attrs: {1: 0 if attrs["transB"] else 1},  # B is [N, K] with transB
    bias=2,
    quant_role="compute",
    cost="matmul",
)
def gemm(inputs, attrs):
    """alpha * A' @ B' + beta * C (optional fused activation)."""
    a, b = inputs[0], inputs[1]
    c = inputs[2] if len(inputs) > 2 else None
    if attrs["transA"]:
        a = a.T
    if attrs["transB"]:
        b = b.T
    dt = a.dtype
    y = np.asarray(_mm(a, b))
    if not y.flags.writeable or y.dtype != dt:
        y = y.astype(dt)
    alpha, beta = attrs["alpha"], attrs["beta"]
    if alpha != 1.0:
        y = (work_float(y) * alpha).astype(dt) if dt.kind == "f" else (y * alpha).astype(dt)
    if c is not None and beta != 0.0:
        cc = c if beta == 1.0 else (work_float(c) * beta if dt.kind == "f" else c * beta)
        y = (work_float(y) + cc).astype(dt) if dt.kind == "f" else (y + cc).astype(dt)
    return _act_inplace(y, attrs["activation"])


# -- einsum ----------------------------------------------------------------------------------

_TERM = re.compile(r"^(?:[A-Za-z]|\.\.\.)*$")


def _parse_einsum(eq: str, n_inputs: int) -> tuple[list[list[str]], list[str]]:
    """Split an equation into per-input and output label lists ('...' is one label)."""
    eq = eq.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != n_inputs:
        raise SchemaError(f"einsum: equation {eq!r} names {len(terms)} operands, got {n_inputs}")

    def labels(t: str) -> list[str]:
        if not _TERM.match(t):
            raise SchemaError(f"einsum: bad term {t!r} in equation {eq!r}")
        return re.findall(r"\.\.\.|[A-Za-z]", t)

    ins = [labels(t) for t in terms]
    if arrow:
        out = labels(rhs)
    else:  # implicit output: '...' first, then labels seen once, alphabetically
        flat = [x for t in ins for x in t if x != "..."]
        once = [x for x in set(flat) if flat.count(x) == 1]
        out = (["..."] if any("..." in t for t in ins) else []) + sorted(once)
    return ins, out


def _infer_einsum(ctx: InferContext) -> list[TensorType]:
    dt = same_dtype(ctx)
    ins, out = _parse_einsum(ctx.attr("equation"), ctx.num_inputs)
    shapes = [ctx.shape(i) for i in range(ctx.num_inputs)]
    if any(s is None for s in shapes):
        return [TensorType(dt, None if "..." in out else (UNKNOWN_DIM,) * len(out))]
    dims: dict[str, Dim] = {}
    ells: list[Shape] = []
    for i, (lab, s) in enumerate(zip(ins, shapes)):
        if "..." in lab:
            n_ell = len(s) - (len(lab) - 1)
            if n_ell < 0:
                raise SchemaError(f"einsum: operand {i} has rank {len(s)}, too small for {lab}")
            k = lab.index("...")
            ells.append(tuple(s[k:k + n_ell]))
            named = list(zip(lab[:k], s[:k])) + list(zip(lab[k + 1:], s[k + n_ell:]))
        else:
            if len(lab) != len(s):
                raise SchemaError(f"einsum: operand {i} has rank {len(s)} but the equation "
                                  f"gives it {len(lab)} labels")
            named = list(zip(lab, s))
        for x, d in named:
            old = dims.get(x)
            if old is None or old == 1 or (not isinstance(old, int) and isinstance(d, int) and d != 1):
                dims[x] = d
            elif _dims_clash(old, d) and d != 1:
                raise SchemaError(f"einsum: label {x!r} is {old} in one operand and {d} in another")
    shape: list[Dim] = []
    for x in out:
        if x == "...":
            shape.extend(broadcast_shapes(*ells) if ells else ())
        elif x not in dims:
            raise SchemaError(f"einsum: output label {x!r} appears in no input")
        else:
            shape.append(dims[x])
    return [TensorType(dt, tuple(shape))]


@defop("einsum", inputs=("Inputs*",), outputs=("Output",), attrs={"equation": ("str",)},
       infer=_infer_einsum, category="linalg")
def einsum(inputs, attrs):
    """Einstein summation (numpy's einsum with contraction-order optimization)."""
    dt = inputs[0].dtype
    args = [work_float(x) for x in inputs]
    eq = attrs["equation"].replace(" ", "")
    y = np.einsum(eq, *args, optimize=len(args) > 1)
    return np.asarray(y).astype(dt, copy=False)


# -- integer matmul --------------------------------------------------------------------------


def _infer_matmul_integer(ctx: InferContext) -> list[TensorType]:
    for i in (0, 1):
        if ctx.dtype(i) not in (DType.I8, DType.U8):
            raise SchemaError(f"matmul_integer: input {i} is {ctx.dtype(i)}; expected i8 or u8")
    for i, z in ((2, 0), (3, 1)):
        if ctx.has(i) and ctx.dtype(i) != ctx.dtype(z):
            raise SchemaError(f"matmul_integer: zero point {i} is {ctx.dtype(i)} but its operand "
                              f"is {ctx.dtype(z)}")
    return [TensorType(DType.I32, matmul_shape(ctx.shape(0), ctx.shape(1), ctx.op))]


@defop("matmul_integer", inputs=("A", "B", "a_zero_point?", "b_zero_point?"),
       infer=_infer_matmul_integer, category="linalg", cost="matmul")
def matmul_integer(inputs, attrs):
    """(A - a_zero_point) @ (B - b_zero_point) accumulated exactly into int32."""
    a, b = inputs[0], inputs[1]
    az = inputs[2] if len(inputs) > 2 else None
    bz = inputs[3] if len(inputs) > 3 else None
    # float64 BLAS is exact here: |products| < 2^16 and sums stay far below 2^53
    af = a.astype(np.float64)
    bf = b.astype(np.float64)
    if az is not None:
        az = np.asarray(az, dtype=np.float64)
        if az.ndim == 1 and a.ndim >= 2 and az.size == a.shape[-2] and az.size > 1:
            az = az.reshape(-1, 1)  # per-row zero points
        af -= az
    if bz is not None:
        bf -= np.asarray(bz, dtype=np.float64)  # scalar or per-column [N]
    return np.matmul(af, bf).astype(np.int64).astype(np.int32)
