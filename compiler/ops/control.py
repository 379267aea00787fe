"""Control flow: ``if``, ``loop`` and ``scan`` with explicit captures (ONNX If, Loop, Scan).

IR form (closure conversion of ONNX's implicit outer-scope references is the ONNX
importer's job):

* ``if(%cond, %cap0, %cap1, ...)`` with graph attributes ``then_branch`` / ``else_branch``.
  Each branch's inputs are exactly the captured values, in the order of the if's inputs
  after ``cond``; its outputs are the if's outputs. Inferred output types come from
  ``then_branch``; a dim on which the branches disagree becomes ``"?"`` and differing ranks
  make the shape unknown. Branches must agree on element types.
* ``loop(%M, %cond, %v0..., %cap0...)`` with graph attribute ``body`` and ``num_captures``
  (how many trailing inputs are captures). ``M`` (i64 trip count) and ``cond`` (bool) are
  optional (``_``). The body's inputs are ``(iter_num: i64[], cond: bool[], v..., cap...)``
  and its outputs ``(cond_out, v_next..., scan...)``. The loop's outputs are the final
  carried values followed by the scan outputs, each stacked along a new leading axis.
* ``scan(%state..., %x..., %cap...)`` with ``body``, ``num_scan_inputs`` (ONNX's attributes,
  opset-9+ form) and ``num_captures``. The body takes ``(state..., x_slice..., cap...)`` and
  returns ``(state_next..., y_slice...)``.

Kernels run the subgraphs with :class:`compiler.interpreter.Interpreter`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ir.graph import Graph
from ..ir.types import UNKNOWN_DIM, Shape, TensorType
from .registry import InferContext, SchemaError, defop


def _merge_shapes(a: Shape | None, b: Shape | None) -> Shape | None:
    if a is None or b is None or len(a) != len(b):
        return None
    return tuple(x if x == y else UNKNOWN_DIM for x, y in zip(a, b))


def _graph_attr(ctx: InferContext, name: str) -> Graph:
    g = ctx.attr(name)
    if not isinstance(g, Graph):
        raise SchemaError(f"{ctx.op}: attribute '{name}' must be a graph")
    return g


def _check_inputs(op: str, g: Graph, types: list[TensorType | None], what: str) -> None:
    if len(g.inputs) != len(types):
        raise SchemaError(
            f"{op}: subgraph @{g.name} takes {len(g.inputs)} inputs but the {what} gives "
            f"{len(types)}; its inputs must be exactly the {what}"
        )


def _infer_if(ctx: InferContext) -> list[TensorType]:
    then_g, else_g = _graph_attr(ctx, "then_branch"), _graph_attr(ctx, "else_branch")
    c = ctx.type(0)
    if c.shape is not None and any(isinstance(d, int) and d != 1 for d in c.shape):
        raise SchemaError(f"if: cond must hold a single element, got {c}")
    n_caps = ctx.num_inputs - 1
    for g in (then_g, else_g):
        _check_inputs("if", g, [None] * n_caps, "if's inputs after cond")
    if len(then_g.outputs) != len(else_g.outputs):
        raise SchemaError(
            f"if: then_branch returns {len(then_g.outputs)} values, else_branch {len(else_g.outputs)}"
        )
    out = []
    for i, (a, b) in enumerate(zip(then_g.outputs, else_g.outputs)):
        if a.type.dtype != b.type.dtype:
            raise SchemaError(f"if: output {i} is {a.type.dtype} in then_branch but {b.type.dtype} in else_branch")
        out.append(TensorType(a.type.dtype, _merge_shapes(a.type.shape, b.type.shape)))
    return out


def _run_subgraph(interp: Any, g: Graph, args: list[Any]) -> list[np.ndarray]:
    res = interp.run({v.name: a for v, a in zip(g.inputs, args)})
    return [res[v.name] for v in g.outputs]


@defop(
    "if",
    inputs=("cond", "captures*"),
    outputs=("outputs*",),
    attrs={"then_branch": ("graph",), "else_branch": ("graph",)},
    infer=_infer_if,
    category="control",
)
def if_(inputs: list[Any], attrs: dict[str, Any]) -> list[np.ndarray]:
    """Run then_branch when cond is true, else else_branch, on the captured values."""
    from ..interpreter import Interpreter

    cond = np.asarray(inputs[0])
    if cond.size != 1:
        raise SchemaError(f"if: cond must hold one element, got shape {list(cond.shape)}")
    g = attrs["then_branch"] if bool(cond.reshape(())) else attrs["else_branch"]
    return _run_subgraph(Interpreter(g), g, list(inputs[1:]))


# -- loop ------------------------------------------------------------------------------------


def _loop_counts(ctx: InferContext, body: Graph) -> tuple[int, int, int]:
    n_caps = int(ctx.attr("num_captures"))
    n_carried = ctx.num_inputs - 2 - n_caps
    if n_caps < 0 or n_carried < 0:
        raise SchemaError(f"loop: num_captures={n_caps} leaves no room for M and cond among {ctx.num_inputs} inputs")
    if len(body.inputs) != 2 + n_carried + n_caps:
        raise SchemaError(
            f"loop: body @{body.name} takes {len(body.inputs)} inputs; it must take "
            f"iter_num, cond, the {n_carried} carried values and the {n_caps} captures"
        )
    n_scan = len(body.outputs) - 1 - n_carried
    if n_scan < 0:
        raise SchemaError(f"loop: body @{body.name} returns {len(body.outputs)} values; it must return cond and the {n_carried} carried values first")
    return n_carried, n_caps, n_scan


def _infer_loop(ctx: InferContext) -> list[TensorType]:
    body = _graph_attr(ctx, "body")
    n_carried, _, n_scan = _loop_counts(ctx, body)
    out = []
    for k in range(n_carried):
        init = ctx.type(2 + k)
        nxt = body.outputs[1 + k].type
        if nxt.dtype != init.dtype:
            raise SchemaError(f"loop: carried value {k} enters as {init.dtype} but the body returns {nxt.dtype}")
        out.append(TensorType(init.dtype, _merge_shapes(init.shape, nxt.shape)))
    for k in range(n_scan):
        t = body.outputs[1 + n_carried + k].type
        out.append(TensorType(t.dtype, None if t.shape is None else (UNKNOWN_DIM, *t.shape)))
    return out


@defop(
    "loop",
    inputs=("M?", "cond?", "v_initial*"),
    outputs=("v_final_and_scan_outputs*",),
    attrs={"body": ("graph",), "num_captures": ("int", 0)},
    infer=_infer_loop,
    category="control",
)
def loop(inputs: list[Any], attrs: dict[str, Any]) -> list[np.ndarray]:
    """Run ``body`` while iter < M and cond holds; returns final carried values and scans."""
    from ..interpreter import Interpreter

    body: Graph = attrs["body"]
    n_caps = int(attrs["num_captures"])
    inputs = list(inputs) + [None] * max(0, 2 - len(inputs))
    m, cond = inputs[0], inputs[1]
    rest = inputs[2:]
    carried = list(rest[: len(rest) - n_caps])
    caps = list(rest[len(rest) - n_caps:]) if n_caps else []
    n_carried = len(carried)
    n_scan = len(body.outputs) - 1 - n_carried
    trip = None if m is None else int(np.asarray(m).reshape(()))
    go = True if cond is None else bool(np.asarray(cond).reshape(()))
    interp = Interpreter(body)
    scans: list[list[np.ndarray]] = [[] for _ in range(n_scan)]
    i = 0
    while go and (trip is None or i < trip):
        outs = _run_subgraph(interp, body, [np.asarray(i, np.int64), np.asarray(go), *carried, *caps])
        go = bool(np.asarray(outs[0]).reshape(()))
        carried = list(outs[1: 1 + n_carried])
        for k in range(n_scan):
            scans[k].append(np.asarray(outs[1 + n_carried + k]))
        i += 1
    results = [np.asarray(c) for c in carried]
    for k in range(n_scan):
        if scans[k]:
            results.append(np.stack(scans[k]))
        else:  # no iteration ran: an empty stack of the body's declared element shape
            t = body.outputs[1 + n_carried + k].type
            shape = t.shape if t.is_static else ()
            results.append(np.zeros((0, *shape), t.dtype.numpy))
    return results


# -- scan ------------------------------------------------------------------------------------


def _scan_layout(n_inputs: int, attrs: dict[str, Any], body: Graph, op: str = "scan"):
    """(n_state, n_scan_in, n_caps, n_scan_out) from the input count and attributes."""
    n_caps = int(attrs["num_captures"])
    m = int(attrs["num_scan_inputs"])
    n_state = n_inputs - n_caps - m
    if m < 1 or n_state < 0:
        raise SchemaError(f"{op}: num_scan_inputs={m} and num_captures={n_caps} do not fit {n_inputs} inputs")
    if len(body.inputs) != n_inputs:
        raise SchemaError(
            f"{op}: body @{body.name} takes {len(body.inputs)} inputs; it must take the {n_state} "
            f"states, one slice of each of the {m} scan inputs and the {n_caps} captures"
        )
    k = len(body.outputs) - n_state
    if k < 0:
        raise SchemaError(f"{op}: body @{body.name} returns {len(body.outputs)} values, fewer than the {n_state} states")
    return n_state, m, n_caps, k


def _axes(attrs: dict[str, Any], name: str, n: int) -> list[int]:
    v = attrs[name]
    return [int(a) for a in v] if v else [0] * n


def _infer_scan(ctx: InferContext) -> list[TensorType]:
    body = _graph_attr(ctx, "body")
    n_state, m, _, k = _scan_layout(ctx.num_inputs, ctx.attrs, body)
    in_axes = _axes(ctx.attrs, "scan_input_axes", m)
    out_axes = _axes(ctx.attrs, "scan_output_axes", k)
    first = ctx.type(n_state)
    seq = UNKNOWN_DIM
    if first.shape is not None:
        ax = in_axes[0] + len(first.shape) if in_axes[0] < 0 else in_axes[0]
        seq = first.shape[ax]
    out = []
    for i in range(n_state):
        init, nxt = ctx.type(i), body.outputs[i].type
        if init.dtype != nxt.dtype:
            raise SchemaError(f"scan: state {i} enters as {init.dtype} but the body returns {nxt.dtype}")
        out.append(TensorType(init.dtype, _merge_shapes(init.shape, nxt.shape)))
    for j in range(k):
        t = body.outputs[n_state + j].type
        if t.shape is None:
            out.append(TensorType(t.dtype, None))
            continue
        ax = out_axes[j] + len(t.shape) + 1 if out_axes[j] < 0 else out_axes[j]
        shape = list(t.shape)
        shape.insert(ax, seq)
        out.append(TensorType(t.dtype, tuple(shape)))
    return out


@defop(
    "scan",
    inputs=("initial_state_and_scan_inputs*",),
    outputs=("final_state_and_scan_outputs*",),
    attrs={
        "body": ("graph",),
        "num_scan_inputs": ("int",),
        "scan_input_axes": ("ints", []),
        "scan_input_directions": ("ints", []),
        "scan_output_axes": ("ints", []),
        "scan_output_directions": ("ints", []),
        "num_captures": ("int", 0),
    },
    infer=_infer_scan,
    category="control",
)
def scan(inputs: list[Any], attrs: dict[str, Any]) -> list[np.ndarray]:
    """Run ``body`` over slices of the scan inputs, threading states (ONNX Scan, opset 9+)."""
    from ..interpreter import Interpreter

    body: Graph = attrs["body"]
    n_state, m, _, k = _scan_layout(len(inputs), attrs, body)
    states = list(inputs[:n_state])
    xs = [np.asarray(x) for x in inputs[n_state: n_state + m]]
    caps = list(inputs[n_state + m:])
    in_axes = [a + x.ndim if a < 0 else a for a, x in zip(_axes(attrs, "scan_input_axes", m), xs)]
    in_dirs = _axes(attrs, "scan_input_directions", m)
    out_axes = _axes(attrs, "scan_output_axes", k)
    out_dirs = _axes(attrs, "scan_output_directions", k)
    lengths = {x.shape[a] for x, a in zip(xs, in_axes)}
    if len(lengths) != 1:
        raise SchemaError(f"scan: scan inputs have different sequence lengths {sorted(lengths)}")
    length = lengths.pop()
    interp = Interpreter(body)
    ys: list[list[np.ndarray]] = [[] for _ in range(k)]
    for t in range(length):
        slices = [np.take(x, length - 1 - t if d else t, axis=a) for x, a, d in zip(xs, in_axes, in_dirs)]
        outs = _run_subgraph(interp, body, [*states, *slices, *caps])
        states = list(outs[:n_state])
        for j in range(k):
            ys[j].append(np.asarray(outs[n_state + j]))
    results = [np.asarray(s) for s in states]
    for j in range(k):
        t_out = body.outputs[n_state + j].type
        items = ys[j][::-1] if out_dirs[j] else ys[j]
        rank = items[0].ndim if items else (len(t_out.shape) if t_out.is_static else 0)
        ax = out_axes[j] + rank + 1 if out_axes[j] < 0 else out_axes[j]
        if items:
            results.append(np.stack(items, axis=ax))
        else:
            shape = list(t_out.shape if t_out.is_static else ())
            shape.insert(ax, 0)
            results.append(np.zeros(shape, t_out.dtype.numpy))
    return results
