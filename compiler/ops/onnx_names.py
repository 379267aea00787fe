"""ONNX op type -> IR op name.

The IR op set follows the semantics of the *latest* ONNX opset for each op it shares with
ONNX (inputs, attributes and their names, e.g. ``axes`` is an input of ``reduce_*``,
``squeeze`` and ``unsqueeze``; ``split`` takes ``split`` as an input and ``num_outputs`` as
an attribute), under a snake_case name. Frontends normalize older forms into that one.
Ops that are not in this table have no IR counterpart yet.
"""

from __future__ import annotations

import re

_OVERRIDES = {
    "AveragePool": "avg_pool",
    "BatchNormalization": "batch_norm",
    "CastLike": "cast_like",
    "ConstantOfShape": "constant_of_shape",
    "ConvTranspose": "conv_transpose",
    "DepthToSpace": "depth_to_space",
    "DequantizeLinear": "dequantize",
    "DynamicQuantizeLinear": "dynamic_quantize",
    "GatherElements": "gather_elements",
    "GatherND": "gather_nd",
    "GlobalAveragePool": "global_avg_pool",
    "GlobalLpPool": "global_lp_pool",
    "GlobalMaxPool": "global_max_pool",
    "GroupNormalization": "group_norm",
    "HardSigmoid": "hard_sigmoid",
    "HardSwish": "hard_swish",
    "Hardmax": "hardmax",
    "InstanceNormalization": "instance_norm",
    "IsInf": "isinf",
    "IsNaN": "isnan",
    "LRN": "lrn",
    "LSTM": "lstm",
    "GRU": "gru",
    "RNN": "rnn",
    "LayerNormalization": "layer_norm",
    "LeakyRelu": "leaky_relu",
    "LogSoftmax": "log_softmax",
    "LpNormalization": "lp_norm",
    "MatMul": "matmul",
    "MatMulInteger": "matmul_integer",
    "MeanVarianceNormalization": "mean_variance_norm",
    "NonZero": "nonzero",
    "OneHot": "one_hot",
    "PRelu": "prelu",
    "QLinearConv": "qlinear_conv",
    "QLinearMatMul": "qlinear_matmul",
    "QuantizeLinear": "quantize",
    "RMSNormalization": "rms_norm",
    "ReduceL1": "reduce_l1",
    "ReduceL2": "reduce_l2",
    "ReduceLogSum": "reduce_log_sum",
    "ReduceLogSumExp": "reduce_log_sum_exp",
    "ReduceSumSquare": "reduce_sum_square",
    "ScatterElements": "scatter_elements",
    "ScatterND": "scatter_nd",
    "SpaceToDepth": "space_to_depth",
    "ThresholdedRelu": "thresholded_relu",
    "TopK": "top_k",
    "ArgMax": "arg_max",
    "ArgMin": "arg_min",
    "CumSum": "cumsum",
    "CumProd": "cumprod",
    "BitShift": "bit_shift",
    "EyeLike": "eye_like",
    "GreaterOrEqual": "greater_or_equal",
    "LessOrEqual": "less_or_equal",
    "MaxRoiPool": "max_roi_pool",
    "MaxUnpool": "max_unpool",
    "ReverseSequence": "reverse_sequence",
    "RoiAlign": "roi_align",
    "NonMaxSuppression": "non_max_suppression",
    "LpPool": "lp_pool",
    "MaxPool": "max_pool",
}

# ONNX ops the frontend folds away or rewrites rather than mapping one-to-one.
FRONTEND_ONLY = {"Constant", "Upsample", "Identity"}


def ir_name(onnx_op: str) -> str:
    """The IR op name for an ONNX op type (whether or not the IR implements it)."""
    if onnx_op in _OVERRIDES:
        return _OVERRIDES[onnx_op]
    s = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", onnx_op)
    return s.lower()


def onnx_name(ir_op: str) -> str | None:
    """Inverse of :func:`ir_name` for the ops the table knows (None for IR-only ops)."""
    return _INVERSE.get(ir_op)


def _all_onnx_ops() -> list[str]:
    try:
        import onnx.defs

        return sorted({s.name for s in onnx.defs.get_all_schemas_with_history() if s.domain in ("", "ai.onnx")})
    except ImportError:  # pragma: no cover
        return sorted(_OVERRIDES)


_INVERSE: dict[str, str] = {}
for _op in list(_OVERRIDES):
    _INVERSE[_OVERRIDES[_op]] = _op


def inverse_table() -> dict[str, str]:
    """IR name -> ONNX op type for every ONNX op (loads onnx.defs)."""
    table = {ir_name(op): op for op in _all_onnx_ops()}
    table.update(_INVERSE)
    return table
