"""Tensor-manipulation and reduction ops against onnxruntime.

Each case is one ONNX node (latest opset onnxruntime runs, see OPSET). The same node is
built as an IR graph twice with ``Graph.add_node``: once with the shape-deciding inputs
(reshape's shape, slice's starts/ends, pad's pads, ...) as ``const`` nodes, once with every
input a graph input. Checked for both:

* the interpreter's outputs equal onnxruntime's: same dtype, same shape, values exact for
  integer/bool outputs and within ``rtol=1e-5, atol=1e-6`` for floats (the largest
  difference measured on these cases is 6.0e-7 relative (ReduceMean over all axes),
  from float32 summation order);
* the inferred output types: with constant inputs they equal the real output types exactly
  (data-dependent ops such as nonzero/compress/unique may leave "?" for the counted dim);
  with non-constant inputs the dtype is exact and every dim is either the real one or "?".

onnx's ReferenceEvaluator stands in only where onnxruntime has no kernel for the node's
op/type combination (e.g. OneHot with int32 indices and int64 values). Symbolic-dim
propagation has its own hand-checked cases at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

from compiler.interpreter import run_graph
from compiler.ir import Graph, TensorType, verify
from compiler.ir.types import UNKNOWN_DIM
from compiler.ops.onnx_names import ir_name
from compiler.ops.registry import SchemaError

OPSET = 25  # the newest default-domain opset onnxruntime 1.32 loads
RTOL, ATOL = 1e-5, 1e-6
INT64_MAX, INT64_MIN = 2**63 - 1, -(2**63)

_SO = ort.SessionOptions()
_SO.log_severity_level = 3
_SO.intra_op_num_threads = 1

NotImplementedError_ = ort.capi.onnxruntime_pybind11_state.NotImplemented

rng = np.random.default_rng(0)


def f32(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def pos32(*shape: int) -> np.ndarray:
    return (np.abs(rng.standard_normal(shape)) + 0.1).astype(np.float32)


def ints(*shape: int, lo: int = -5, hi: int = 6, dtype=np.int32) -> np.ndarray:
    return rng.integers(lo, hi, size=shape).astype(dtype)


def i64(*v: int) -> np.ndarray:
    return np.array(v, dtype=np.int64)


@dataclass
class Case:
    id: str
    op: str  # ONNX op type
    inputs: list[Any]  # arrays, None for an omitted optional input
    attrs: dict[str, Any] = field(default_factory=dict)
    shape_inputs: tuple[int, ...] = ()  # inputs that are constants in the "const" variant
    n_out: int = 1
    exact: bool = True  # with constant shape inputs, is every output dim known?
    sort_axis: int | None = None  # outputs in unspecified order: compare sorted along this
    check_values: bool = True  # False where ONNX leaves the values undefined


def C(id, op, inputs, attrs=None, shape_inputs=(), **kw) -> Case:
    return Case(id, op, list(inputs), dict(attrs or {}), tuple(shape_inputs), **kw)


# -- the cases --------------------------------------------------------------------------------

X234 = f32(2, 3, 4)
X4D = f32(2, 3, 4, 5)

CASES: list[Case] = [
    # reshape
    C("reshape_basic", "Reshape", [X234, i64(4, 6)], shape_inputs=(1,)),
    C("reshape_zero_minus1", "Reshape", [X234, i64(0, -1)], shape_inputs=(1,)),
    C("reshape_minus1", "Reshape", [X234, i64(-1)], shape_inputs=(1,)),
    C("reshape_zero_mid", "Reshape", [X234, i64(2, 0, 2, 2)], shape_inputs=(1,)),
    C("reshape_allowzero", "Reshape", [f32(0, 3), i64(3, 0)], {"allowzero": 1}, (1,)),
    C("reshape_empty_minus1", "Reshape", [f32(2, 0, 4), i64(0, -1)], shape_inputs=(1,)),
    # flatten / transpose
    *[C(f"flatten_axis{a}", "Flatten", [X4D], {"axis": a}) for a in (0, 1, 2, 4, -1, -3)],
    C("transpose_default", "Transpose", [X4D]),
    C("transpose_perm", "Transpose", [X4D], {"perm": [0, 2, 3, 1]}),
    C("transpose_2d", "Transpose", [f32(3, 5)], {"perm": [1, 0]}),
    # squeeze / unsqueeze
    C("squeeze_axes", "Squeeze", [f32(1, 3, 1, 2), i64(0, 2)], shape_inputs=(1,)),
    C("squeeze_neg_axis", "Squeeze", [f32(1, 3, 1, 2), i64(-2)], shape_inputs=(1,)),
    C("squeeze_all", "Squeeze", [f32(1, 3, 1, 2)]),
    C("unsqueeze_two", "Unsqueeze", [f32(3, 4), i64(0, 3)], shape_inputs=(1,)),
    C("unsqueeze_neg", "Unsqueeze", [f32(3, 4), i64(-1)], shape_inputs=(1,)),
    C("unsqueeze_unsorted", "Unsqueeze", [f32(3, 4), i64(3, 0)], shape_inputs=(1,)),
    # concat
    C("concat_axis1", "Concat", [f32(2, 3), f32(2, 1), f32(2, 4)], {"axis": 1}),
    C("concat_neg_axis", "Concat", [f32(2, 3, 1), f32(2, 3, 2)], {"axis": -1}),
    C("concat_empty_part", "Concat", [f32(0, 3), f32(2, 3)], {"axis": 0}),
    C("concat_int", "Concat", [ints(2, 2), ints(1, 2)], {"axis": 0}),
    # split
    C("split_num_uneven", "Split", [f32(7, 2)], {"axis": 0, "num_outputs": 3}, n_out=3),
    C("split_num_even", "Split", [f32(2, 6)], {"axis": -1, "num_outputs": 2}, n_out=2),
    C("split_sizes", "Split", [f32(3, 7), i64(2, 5)], {"axis": 1}, (1,), n_out=2),
    C("split_sizes_zero", "Split", [f32(4, 3), i64(0, 3, 1)], {"axis": 0}, (1,), n_out=3),
    # slice
    C("slice_clamp", "Slice", [X234, i64(1, 0), i64(3, 10), i64(0, 1)], shape_inputs=(1, 2, 3)),
    C("slice_negative", "Slice", [X234, i64(-3), i64(-1), i64(1)], shape_inputs=(1, 2, 3)),
    C("slice_reverse", "Slice", [X234, i64(-1), i64(INT64_MIN), i64(0), i64(-1)],
      shape_inputs=(1, 2, 3, 4)),
    C("slice_step2", "Slice", [X234, i64(0), i64(9), i64(2), i64(2)], shape_inputs=(1, 2, 3, 4)),
    C("slice_out_of_range", "Slice", [X234, i64(10), i64(20), i64(2)], shape_inputs=(1, 2, 3)),
    C("slice_no_axes", "Slice", [X234, i64(0, 1), i64(1, 3)], shape_inputs=(1, 2)),
    C("slice_neg_step_clamp", "Slice", [X234, i64(20), i64(0), i64(-1), i64(-2)],
      shape_inputs=(1, 2, 3, 4)),
    C("slice_int64max", "Slice", [X234, i64(1), i64(INT64_MAX), i64(-2)], shape_inputs=(1, 2, 3)),
    C("slice_neg_step_mid", "Slice", [X234, i64(3, -1), i64(0, -4), i64(2, 1), i64(-1, -1)],
      shape_inputs=(1, 2, 3, 4)),
    # gather family
    C("gather_axis0", "Gather", [X234, i64(1, 0, 1)], {"axis": 0}),
    C("gather_axis1_neg_idx", "Gather", [X234, np.array([[-1, 0], [1, -3]], np.int32)],
      {"axis": 1}),
    C("gather_scalar_idx", "Gather", [X234, np.array(2, np.int64)], {"axis": -1}),
    C("gather_elements_ax0", "GatherElements", [f32(3, 3), i64(1, 2, 0, 2, 0, 0).reshape(2, 3)],
      {"axis": 0}),
    C("gather_elements_ax1_neg", "GatherElements",
      [f32(2, 4), np.array([[-1, 0], [2, -4]], np.int64)], {"axis": 1}),
    C("gather_nd_m2", "GatherND", [X234, np.array([[0, 1], [1, 2]], np.int64)]),
    C("gather_nd_m1", "GatherND", [X234, np.array([[[1]], [[0]]], np.int64)]),
    C("gather_nd_full", "GatherND", [X234, np.array([[0, 1, 3], [1, -1, 0]], np.int64)]),
    C("gather_nd_batch1", "GatherND", [X234, np.array([[1], [2]], np.int64)], {"batch_dims": 1}),
    C("gather_nd_batch1_m2", "GatherND", [X234, np.array([[[0, 1], [2, 3]], [[1, 1], [2, 0]]],
                                                        np.int64)], {"batch_dims": 1}),
    # scatter family
    C("scatter_elements_none", "ScatterElements",
      [f32(3, 3), np.array([[1, 0, 2], [0, 2, 1]], np.int64), f32(2, 3)], {"axis": 0}),
    *[C(f"scatter_elements_{r}", "ScatterElements",
        [f32(2, 5), np.array([[1, 1, -1], [0, 0, 4]], np.int64), f32(2, 3)],
        {"axis": 1, "reduction": r}) for r in ("add", "mul", "max", "min")],
    C("scatter_nd_none", "ScatterND", [f32(4, 3), np.array([[1], [3]], np.int64), f32(2, 3)]),
    C("scatter_nd_elems", "ScatterND", [f32(4, 3), np.array([[1, 2], [-1, 0]], np.int64), f32(2)]),
    *[C(f"scatter_nd_{r}", "ScatterND",
        [f32(4, 3), np.array([[1], [1], [2]], np.int64), f32(3, 3)], {"reduction": r})
      for r in ("add", "mul", "max", "min")],
    # pad
    C("pad_constant", "Pad", [f32(2, 3), i64(1, 0, 2, 1), np.array(1.5, np.float32)], {},
      (1,)),
    C("pad_default_value", "Pad", [f32(2, 3), i64(0, 2, 1, 0)], {}, (1,)),
    *[C(f"pad_{m}", "Pad", [f32(3, 4), i64(2, 1, 1, 3)], {"mode": m}, (1,))
      for m in ("reflect", "edge", "wrap")],
    C("pad_negative", "Pad", [f32(4, 5), i64(-1, 2, 1, -2)], {}, (1,)),
    C("pad_axes", "Pad", [X234, i64(1, 2), None, i64(-1)], {"mode": "edge"}, (1, 3)),
    C("pad_axes_const", "Pad", [X234, i64(1, 0, 0, 2), np.array(-3.0, np.float32), i64(0, 2)],
      {}, (1, 3)),
    C("pad_int", "Pad", [ints(2, 2), i64(1, 1, 1, 1), np.array(7, np.int32)], {}, (1,)),
    # tile / expand
    C("tile", "Tile", [f32(2, 3), i64(2, 1)], shape_inputs=(1,)),
    C("tile_zero", "Tile", [f32(2, 3), i64(1, 0)], shape_inputs=(1,)),
    C("tile_3d", "Tile", [X234, i64(1, 2, 3)], shape_inputs=(1,)),
    C("expand_rank_up", "Expand", [f32(3, 1), i64(2, 3, 4)], shape_inputs=(1,)),
    C("expand_both_ways", "Expand", [f32(2, 1, 4), i64(3, 1)], shape_inputs=(1,)),
    C("expand_ones", "Expand", [f32(3, 4), i64(1, 1)], shape_inputs=(1,)),
    C("expand_scalar", "Expand", [np.array(2.0, np.float32), i64(5)], shape_inputs=(1,)),
    # shape / size / constant_of_shape / range
    C("shape", "Shape", [X4D]),
    C("shape_start", "Shape", [X4D], {"start": 1}),
    C("shape_end_neg", "Shape", [X4D], {"end": -1}),
    C("shape_start_neg", "Shape", [X4D], {"start": -2}),
    C("shape_clamped_empty", "Shape", [X4D], {"start": 5}),
    C("size", "Size", [X4D]),
    C("size_empty", "Size", [f32(3, 0)]),
    C("constant_of_shape_default", "ConstantOfShape", [i64(2, 3)], shape_inputs=(0,)),
    C("constant_of_shape_int", "ConstantOfShape", [i64(4)], {"value": np.array([7], np.int64)},
      (0,)),
    C("constant_of_shape_empty", "ConstantOfShape", [i64(0, 3)],
      {"value": np.array([1.5], np.float32)}, (0,)),
    C("range_float", "Range", [np.array(0.0, np.float32), np.array(1.0, np.float32),
                               np.array(0.25, np.float32)], shape_inputs=(0, 1, 2)),
    C("range_int_neg", "Range", [np.array(10, np.int32), np.array(0, np.int32),
                                 np.array(-3, np.int32)], shape_inputs=(0, 1, 2)),
    C("range_empty", "Range", [np.array(5, np.int64), np.array(1, np.int64),
                               np.array(1, np.int64)], shape_inputs=(0, 1, 2)),
    C("range_float_frac", "Range", [np.array(1.5, np.float32), np.array(-2.0, np.float32),
                                    np.array(-0.7, np.float32)], shape_inputs=(0, 1, 2)),
    # one_hot
    C("one_hot", "OneHot", [np.array([[0, 2], [1, -1]], np.int64), np.array(4, np.int64),
                            np.array([0, 1], np.float32)], shape_inputs=(1,)),
    C("one_hot_axis0_oob", "OneHot", [np.array([0, 5, -2], np.int32), np.array(3, np.int64),
                                      np.array([-1, 9], np.int64)], {"axis": 0}, (1,)),
    C("one_hot_float_idx", "OneHot", [np.array([1.0, 2.7], np.float32), np.array(3.0, np.float32),
                                      np.array([0, 5], np.int32)], {"axis": -2}, (1,)),
    # top_k
    C("top_k_largest", "TopK", [f32(3, 6), i64(3)], shape_inputs=(1,), n_out=2),
    C("top_k_smallest_ax0", "TopK", [f32(5, 3), i64(2)], {"axis": 0, "largest": 0}, (1,), n_out=2),
    C("top_k_ties_largest", "TopK", [np.array([[1, 3, 3, 2, 3, 1]], np.int32), i64(4)], {}, (1,),
      n_out=2),
    C("top_k_ties_smallest", "TopK", [np.array([[2, 1, 3, 1, 1, 2]], np.float32), i64(4)],
      {"largest": 0}, (1,), n_out=2),
    C("top_k_all", "TopK", [f32(2, 3, 4), i64(3)], {"axis": 1}, (1,), n_out=2),
    C("top_k_unsorted", "TopK", [f32(2, 8), i64(3)], {"sorted": 0}, (1,), n_out=2, sort_axis=-1),
    # arg_max / arg_min
    *[C(f"{op.lower()}_{tag}", op, [x], a)
      for op in ("ArgMax", "ArgMin")
      for tag, x, a in [
          ("axis1", f32(3, 4, 2), {"axis": 1}),
          ("nokeep", f32(3, 4, 2), {"axis": -1, "keepdims": 0}),
          ("ties_first", np.array([[1, 5, 5, 0], [0, 0, 2, 2]], np.int32), {"axis": 1}),
          ("ties_last", np.array([[1, 5, 5, 0], [0, 0, 2, 2]], np.int32),
           {"axis": 1, "select_last_index": 1, "keepdims": 0}),
      ]],
    # cumsum
    *[C(f"cumsum_{tag}", "CumSum", [x, np.array(ax, np.int64)], a, (1,))
      for tag, x, ax, a in [
          ("ax0", f32(3, 4), 0, {}),
          ("ax1_excl", f32(3, 4), 1, {"exclusive": 1}),
          ("rev", f32(3, 4), -1, {"reverse": 1}),
          ("excl_rev", f32(2, 3, 4), 1, {"exclusive": 1, "reverse": 1}),
          ("int32", ints(3, 5), 1, {}),
      ]],
    C("cumsum_axis_i32", "CumSum", [ints(4, 2, dtype=np.int64), np.array(0, np.int32)], {}, (1,)),
    # nonzero / trilu / eye_like
    C("nonzero_bool", "NonZero", [rng.random((3, 4)) > 0.5], exact=False),
    C("nonzero_float", "NonZero", [np.array([[0, 1.5, 0], [2, 0, -1]], np.float32)], exact=False),
    *[C(f"trilu_{tag}", "Trilu", [x] + ([] if k is None else [np.array(k, np.int64)]),
        {"upper": up}, (1,))
      for tag, x, k, up in [
          ("upper", f32(4, 5), None, 1),
          ("upper_k1", f32(4, 5), 1, 1),
          ("upper_kneg", f32(5, 4), -2, 1),
          ("lower", f32(4, 5), None, 0),
          ("lower_k1_batch", f32(2, 3, 4), 1, 0),
          ("lower_kbig", f32(3, 3), 7, 0),
          ("upper_int", ints(3, 3), 0, 1),
      ]],
    C("eye_like", "EyeLike", [f32(3, 3)]),
    C("eye_like_k1_int", "EyeLike", [f32(3, 4)], {"k": 1, "dtype": onnx.TensorProto.INT64}),
    C("eye_like_kneg", "EyeLike", [ints(4, 3)], {"k": -1}),
    # compress / reverse_sequence
    C("compress_axis0", "Compress", [f32(3, 2), np.array([False, True, True])], {"axis": 0},
      (1,)),
    C("compress_axis1_short", "Compress", [f32(3, 4), np.array([True, False, True])],
      {"axis": -1}, (1,)),
    C("compress_flat", "Compress", [f32(2, 3), np.array([True, False, False, True, True])],
      {}, (1,)),
    C("reverse_sequence_time0", "ReverseSequence", [f32(4, 3, 2), i64(4, 1, 2)],
      {"batch_axis": 1, "time_axis": 0}),
    C("reverse_sequence_batch0", "ReverseSequence", [f32(3, 5), i64(1, 5, 3)],
      {"batch_axis": 0, "time_axis": 1}),
    # unique / center_crop_pad
    C("unique_sorted", "Unique", [np.array([2, 1, 1, 3, 4, 3], np.float32)], n_out=4, exact=False),
    C("unique_unsorted", "Unique", [np.array([2, 1, 1, 3, 4, 3], np.int64)], {"sorted": 0},
      n_out=4, exact=False),
    C("unique_axis0", "Unique", [np.array([[1, 0, 0], [1, 0, 0], [2, 3, 4]], np.float32)],
      {"axis": 0}, n_out=4, exact=False),
    C("unique_axis1", "Unique", [np.array([[3, 1, 3], [2, 0, 2]], np.int32)],
      {"axis": 1}, n_out=4, exact=False),
    C("unique_axis0_unsorted", "Unique", [np.array([[3, 1], [2, 0], [3, 1], [0, 0]], np.int32)],
      {"axis": 0, "sorted": 0}, n_out=4, exact=False),
    C("center_crop_pad_crop", "CenterCropPad", [f32(20, 10, 3), i64(10, 7, 3)], {}, (1,)),
    C("center_crop_pad_pad", "CenterCropPad", [f32(3, 5, 1), i64(6, 8, 1)], {}, (1,)),
    C("center_crop_pad_mixed_axes", "CenterCropPad", [f32(3, 9, 4), i64(5, 7)],
      {"axes": [-2, 0]}, (1,)),
]

CASES += [
    C("split_5_into_3", "Split", [np.arange(5, dtype=np.float32)], {"num_outputs": 3}, n_out=3),
    *[C(f"pad_{m}_negative", "Pad", [f32(3, 4), i64(0, -1, 0, 2)], {"mode": m}, (1,))
      for m in ("reflect", "edge", "wrap")],
    C("pad_edge_crop_both", "Pad", [f32(3, 4), i64(-1, 2, 1, -2)], {"mode": "edge"}, (1,)),
    C("gather_int_data", "Gather", [ints(4, 3, dtype=np.int64), i64(3, 0)], {"axis": 0}),
    C("scatter_nd_int", "ScatterND", [ints(3, 2, dtype=np.int64), i64(2, 0).reshape(2, 1),
                                      ints(2, 2, dtype=np.int64)]),
    C("transpose_bool", "Transpose", [rng.random((2, 3, 4)) > 0.5], {"perm": [1, 0, 2]}),
    C("ReduceMax_bool", "ReduceMax", [rng.random((3, 4)) > 0.7, i64(1)], {}, (1,)),
    C("ReduceMin_bool", "ReduceMin", [rng.random((3, 4)) > 0.3, i64(0)], {"keepdims": 0}, (1,)),
    C("ReduceSum_f16", "ReduceSum", [f32(3, 50).astype(np.float16), i64(1)], {}, (1,)),
    C("ReduceMean_f16", "ReduceMean", [f32(3, 50).astype(np.float16), i64(1)], {}, (1,)),
    C("ReduceL2_f16", "ReduceL2", [f32(3, 50).astype(np.float16), i64(-1)], {}, (1,)),
    C("ReduceLogSumExp_large", "ReduceLogSumExp", [f32(3, 50) * 40, i64(1)], {}, (1,)),
]

# reductions: every op over the attribute/axes edge cases
_REDUCE_OPS = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
               "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"]
for _op in _REDUCE_OPS:
    _x = pos32(2, 3, 4) if _op == "ReduceLogSum" else f32(2, 3, 4)
    CASES += [
        C(f"{_op}_axis1", _op, [_x, i64(1)], {}, (1,)),
        C(f"{_op}_axes02_nokeep", _op, [_x, i64(0, 2)], {"keepdims": 0}, (1,)),
        C(f"{_op}_neg_axis", _op, [_x, i64(-1)], {"keepdims": 0}, (1,)),
        C(f"{_op}_all_keep", _op, [_x]),
        C(f"{_op}_all_nokeep", _op, [_x], {"keepdims": 0}),
        C(f"{_op}_empty_axes_input", _op, [_x, np.zeros(0, np.int64)], {"keepdims": 0}, (1,)),
        C(f"{_op}_noop", _op, [_x], {"noop_with_empty_axes": 1}),
        C(f"{_op}_noop_empty_axes", _op, [_x, np.zeros(0, np.int64)],
          {"noop_with_empty_axes": 1}, (1,)),
        # ONNX: the mean of an empty set is undefined (onnxruntime 0, the reference NaN)
        C(f"{_op}_empty_set", _op, [np.zeros((2, 0, 4), np.float32), i64(1)], {}, (1,),
          check_values=_op != "ReduceMean"),
    ]
for _op in ["ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceSumSquare"]:
    CASES.append(C(f"{_op}_int32", _op, [ints(3, 4, lo=-3, hi=4), i64(1)], {"keepdims": 0}, (1,)))
CASES.append(C("ReduceMean_int32", "ReduceMean", [ints(3, 4, lo=0, hi=9), i64(0)], {}, (1,)))
CASES.append(C("ReduceMax_empty_int", "ReduceMax", [np.zeros((0, 3), np.int32), i64(0)], {}, (1,)))

# -- running a case ----------------------------------------------------------------------------


def _onnx_model(case: Case) -> onnx.ModelProto:
    names = [f"in{i}" if a is not None else "" for i, a in enumerate(case.inputs)]
    while names and names[-1] == "":
        names.pop()
    outs = [f"out{i}" for i in range(case.n_out)]
    attrs = {k: numpy_helper.from_array(v) if isinstance(v, np.ndarray) else v
             for k, v in case.attrs.items()}
    node = helper.make_node(case.op, names, outs, **attrs)
    g_in = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
            for n, a in zip(names, case.inputs) if n]
    g_out = [onnx.ValueInfoProto(name=o) for o in outs]
    graph = helper.make_graph([node], case.id, g_in, g_out)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


def _feeds(case: Case) -> dict[str, np.ndarray]:
    return {f"in{i}": a for i, a in enumerate(case.inputs) if a is not None}


def reference_outputs(case: Case) -> list[np.ndarray]:
    """onnxruntime's outputs; onnx's ReferenceEvaluator where onnxruntime has no kernel."""
    model = _onnx_model(case)
    try:
        sess = ort.InferenceSession(model.SerializeToString(), _SO,
                                    providers=["CPUExecutionProvider"])
    except NotImplementedError_ as e:  # no kernel for this op/type combination
        from onnx.reference import ReferenceEvaluator

        assert "Could not find an implementation" in str(e), e
        return ReferenceEvaluator(model).run(None, _feeds(case))
    return sess.run(None, _feeds(case))


def ir_outputs(case: Case, const: set[int]) -> tuple[list[np.ndarray], list[TensorType]]:
    """Build the case as an IR graph (inputs in ``const`` as const nodes) and run it."""
    g = Graph(case.id)
    vals, feeds = [], {}
    for i, a in enumerate(case.inputs):
        if a is None:
            vals.append(None)
        elif i in const:
            vals.append(g.add_const(a, f"c{i}"))
        else:
            vals.append(g.add_input(f"x{i}", TensorType.of(a)))
            feeds[f"x{i}"] = a
    node = g.add_node(ir_name(case.op), vals, case.attrs, num_outputs=case.n_out)
    g.outputs = node.outputs[: case.n_out]
    verify(g)
    res = run_graph(g, feeds)
    return [res[v.name] for v in g.outputs], [v.type for v in g.outputs]


def _compare_values(case: Case, got: np.ndarray, want: np.ndarray, k: int) -> None:
    want = np.asarray(want)
    assert got.dtype == want.dtype, f"output {k}: dtype {got.dtype}, onnxruntime {want.dtype}"
    assert got.shape == want.shape, f"output {k}: shape {got.shape}, onnxruntime {want.shape}"
    if not case.check_values:
        return
    if case.sort_axis is not None and k == 0:
        got, want = np.sort(got, axis=case.sort_axis), np.sort(want, axis=case.sort_axis)
    elif case.sort_axis is not None:
        return  # index order of an unsorted top_k is unspecified; values were compared
    if want.dtype == np.float16:
        # f16 sums of 50 terms: onnxruntime and this kernel both accumulate in f32 and
        # round once; measured max difference 0, allowed one f16 ulp (2**-10 relative)
        np.testing.assert_allclose(got, want, rtol=2**-10, atol=1e-3, err_msg=f"output {k}")
    elif want.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=f"output {k}")
    else:
        np.testing.assert_array_equal(got, want, err_msg=f"output {k}")


def _check_type(t: TensorType, real: np.ndarray, exact: bool, k: int) -> None:
    real_t = TensorType.of(np.asarray(real))
    assert t.dtype == real_t.dtype, f"output {k}: inferred {t}, real {real_t}"
    if exact:
        assert t.shape == real_t.shape, f"output {k}: inferred {t}, real {real_t}"
        return
    if t.shape is None:
        return
    assert len(t.shape) == len(real_t.shape), f"output {k}: inferred {t}, real {real_t}"
    for d, r in zip(t.shape, real_t.shape):
        assert d == UNKNOWN_DIM or d == r, f"output {k}: inferred {t}, real {real_t}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_against_onnxruntime(case: Case):
    want = reference_outputs(case)
    assert len(want) == case.n_out
    for variant, const in [("const", set(case.shape_inputs)), ("dynamic", set())]:
        if variant == "dynamic" and not case.shape_inputs:
            continue
        got, types = ir_outputs(case, const)
        for k, (g, w, t) in enumerate(zip(got, want, types)):
            _compare_values(case, g, w, k)
            _check_type(t, w, exact=case.exact and variant == "const", k=k)


# -- inference with unknown values and symbolic dims (hand-checked expectations) ----------------


def _graph(**inputs: tuple[str, tuple]) -> tuple[Graph, dict]:
    g = Graph("sym")
    vals = {n: g.add_input(n, TensorType(dt, s)) for n, (dt, s) in inputs.items()}
    return g, vals


def _out(g: Graph, op: str, ins: list, attrs=None, n: int | None = None) -> list[str]:
    node = g.add_node(op, ins, attrs or {}, num_outputs=n)
    return [str(v.type) for v in node.outputs]


SYM = ("f32", ("N", 3, 4))


@pytest.mark.parametrize(
    "op, args, attrs, expected",
    [
        ("reshape", [i64(0, -1)], {}, ["f32[N,12]"]),
        ("reshape", [i64(-1, 12)], {}, ["f32[N,12]"]),
        ("reshape", [i64(-1, 4, 3)], {}, ["f32[N,4,3]"]),
        ("reshape", [i64(0, 3, 2, 2)], {}, ["f32[N,3,2,2]"]),
        ("reshape", [i64(-1)], {}, ["f32[?]"]),
        ("reshape", [i64(2, -1, 6)], {}, ["f32[2,N,6]"]),
        ("reshape", [i64(2, -1)], {}, ["f32[2,?]"]),
        ("flatten", [], {"axis": 1}, ["f32[N,12]"]),
        ("flatten", [], {"axis": 0}, ["f32[1,?]"]),
        ("flatten", [], {"axis": 3}, ["f32[?,1]"]),
        ("transpose", [], {"perm": [2, 0, 1]}, ["f32[4,N,3]"]),
        ("transpose", [], {}, ["f32[4,3,N]"]),
        ("unsqueeze", [i64(0, -1)], {}, ["f32[1,N,3,4,1]"]),
        ("squeeze", [], {}, ["f32[*]"]),
        ("slice", [i64(1), i64(3), i64(1)], {}, ["f32[N,2,4]"]),
        ("slice", [i64(0), i64(INT64_MAX), i64(0)], {}, ["f32[N,3,4]"]),
        ("slice", [i64(1), i64(INT64_MAX), i64(0)], {}, ["f32[?,3,4]"]),
        ("gather", [i64(0, 1, 2, 0, 1)], {"axis": 1}, ["f32[N,5,4]"]),
        ("shape", [], {}, ["i64[3]"]),
        ("shape", [], {"start": 1}, ["i64[2]"]),
        ("size", [], {}, ["i64[]"]),
        ("reduce_sum", [i64(1)], {"keepdims": 0}, ["f32[N,4]"]),
        ("reduce_max", [i64(-1)], {}, ["f32[N,3,1]"]),
        ("reduce_mean", [], {}, ["f32[1,1,1]"]),
        ("arg_max", [], {"axis": 2, "keepdims": 0}, ["i64[N,3]"]),
        ("top_k", [i64(2)], {}, ["f32[N,3,2]", "i64[N,3,2]"]),
        ("split", [], {"axis": 1, "num_outputs": 3}, ["f32[N,1,4]"] * 3),
        ("split", [], {"axis": 0, "num_outputs": 2}, ["f32[?,3,4]"] * 2),
        ("pad", [i64(1, 1), None, i64(1)], {}, ["f32[N,5,4]"]),
        ("tile", [i64(1, 2, 1)], {}, ["f32[N,6,4]"]),
        ("tile", [i64(2, 1, 1)], {}, ["f32[?,3,4]"]),
        ("expand", [i64(2, 1, 1, 1)], {}, ["f32[2,N,3,4]"]),
        ("cumsum", [np.array(1, np.int64)], {}, ["f32[N,3,4]"]),
        ("nonzero", [], {}, ["i64[3,?]"]),
        ("compress", [np.array([True, False, True])], {"axis": 1}, ["f32[N,2,4]"]),
        ("one_hot", [np.array(5, np.int64), np.array([0, 1], np.float32)], {}, ["f32[N,3,4,5]"]),
        ("center_crop_pad", [i64(2)], {"axes": [-1]}, ["f32[N,3,2]"]),
    ],
    ids=lambda x: x if isinstance(x, str) else None,
)
def test_symbolic_dims(op, args, attrs, expected):
    g, v = _graph(x=SYM)
    ins = [v["x"]] + [None if a is None else g.add_const(a, "c") for a in args]
    n = len(expected) if op in ("split", "top_k") else None
    assert _out(g, op, ins, attrs, n) == expected


def test_concat_symbolic():
    g, v = _graph(a=SYM, b=("f32", ("?", 3, 4)), c=("f32", ("N", 5, 4)))
    assert _out(g, "concat", [v["a"], v["b"]], {"axis": 1}) == ["f32[N,6,4]"]
    assert _out(g, "concat", [v["a"], v["c"]], {"axis": 1}) == ["f32[N,8,4]"]
    assert _out(g, "concat", [v["a"], v["a"]], {"axis": 0}) == ["f32[?,3,4]"]
    with pytest.raises(SchemaError):
        g.add_node("concat", [v["a"], v["c"]], {"axis": 2})


@pytest.mark.parametrize(
    "op, shape_arg, attrs, expected",
    [
        ("reshape", ("i64", (3,)), {}, "f32[?,?,?]"),
        ("reshape", ("i64", ("?",)), {}, "f32[*]"),
        ("expand", ("i64", (3,)), {}, "f32[?,3,?]"),
        ("tile", ("i64", (2,)), {}, "f32[?,?]"),
        ("constant_of_shape", None, {}, "f32[?,?]"),
        ("unsqueeze", ("i64", (1,)), {}, "f32[?,?,?]"),
        ("squeeze", ("i64", (1,)), {}, "f32[?]"),
        ("pad", ("i64", (4,)), {}, "f32[?,?]"),
        ("slice", ("i64", (1,)), {}, "f32[?,1]"),  # no axes: starts[0] is for axis 0
        ("slice", ("i64", ("?",)), {}, "f32[?,?]"),
        ("reduce_sum", ("i64", (1,)), {"keepdims": 0}, "f32[?]"),
        ("reduce_sum", ("i64", (1,)), {"keepdims": 1}, "f32[?,1]"),
        ("reduce_sum", ("i64", ("?",)), {"keepdims": 0}, "f32[*]"),
        ("top_k", ("i64", (1,)), {}, "f32[3,?]"),
        ("split", ("i64", (2,)), {"axis": 0}, "f32[?,1]"),
    ],
    ids=lambda x: x if isinstance(x, str) else None,
)
def test_unknown_shape_values(op, shape_arg, attrs, expected):
    """Value-dependent dims are "?" (rank kept where the shape input's length tells it)."""
    g, v = _graph(x=("f32", (3, 1)), s=shape_arg or ("i64", (2,)))
    if op == "constant_of_shape":
        ins = [v["s"]]
    elif op == "slice":
        ins = [v["x"], v["s"], v["s"]]
    else:
        ins = [v["x"], v["s"]]
    n = 2 if op in ("split", "top_k") else None
    assert _out(g, op, ins, attrs, n)[0] == expected


@pytest.mark.parametrize(
    "op, x_shape, args, attrs",
    [
        ("reshape", (2, 3), [i64(4, 2)], {}),
        ("reshape", (2, 3), [i64(-1, -1)], {}),
        ("squeeze", (2, 3), [i64(0)], {}),
        ("transpose", (2, 3), [], {"perm": [0, 0]}),
        ("split", (5,), [i64(2, 2)], {}),
        ("expand", (2, 3), [i64(4, 3)], {}),
        ("top_k", (2, 3), [i64(4)], {}),
        ("pad", (2, 3), [i64(1, 1)], {}),
        ("pad", (2, 3), [i64(0, 0, 0, 0)], {"mode": "mirror"}),
        ("gather", (2, 3), [i64(0)], {"axis": 2}),
        ("reduce_sum", (2, 3), [i64(0, -2)], {}),
    ],
)
def test_bad_nodes_raise_schema_error(op, x_shape, args, attrs):
    g, v = _graph(x=("f32", x_shape))
    ins = [v["x"]] + [g.add_const(a, "c") for a in args]
    with pytest.raises(SchemaError):
        g.add_node(op, ins, attrs, num_outputs=2 if op == "split" else None)


def test_split_that_leaves_a_negative_chunk_is_rejected():
    # onnxruntime fails the same node ("Split sizes would produce a negative final split")
    g, v = _graph(x=("f32", (5,)))
    with pytest.raises(SchemaError):
        g.add_node("split", [v["x"]], {"num_outputs": 4}, num_outputs=4)


def test_unknown_rank_inputs_infer():
    """Every op here infers something (possibly rank-unknown) from rank-unknown inputs."""
    from compiler.ops import all_schemas

    mine = {n: s for n, s in all_schemas().items()
            if s.module in ("compiler.ops.tensor", "compiler.ops.reduce")}
    assert len(mine) >= 40
    for name, schema in mine.items():
        g = Graph("unk")
        ins = [g.add_input(f"x{i}", TensorType("f32" if i == 0 else "i64", None))
               for i in range(max(len(schema.inputs), 1))]
        attrs = {k: 0 for k, spec in schema.attrs.items() if spec.required}
        node = g.add_node(name, ins, attrs, num_outputs=2 if name == "split" else None)
        assert node.outputs, name
