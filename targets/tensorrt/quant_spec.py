"""TensorRT's quantization rules (``scheme="tensorrt"``): symmetric int8 everywhere.

TensorRT reads Q/DQ pairs as the quantization it must honour and fuses them into its own
kernels, so no output parameters are fixed and any fused activation may stay on a quantized
op. Outputs of data-movement, max-like and averaging ops reuse their input's parameters,
so Q/DQ pairs around them cancel.
"""

from __future__ import annotations

from compiler.quantization.spec import QuantSpec

_SAME_SCALE = frozenset({
    "max_pool", "global_max_pool", "avg_pool", "reduce_max", "reshape", "flatten", "squeeze",
    "unsqueeze", "transpose", "slice", "split", "gather", "pad", "depth_to_space",
    "space_to_depth", "resize", "concat",
})

QUANT_SPEC = QuantSpec(
    name="tensorrt",
    ops=_SAME_SCALE | frozenset({
        "conv", "conv_transpose", "gemm", "matmul", "add", "sub", "mul", "prelu",
        "global_avg_pool", "reduce_mean", "relu", "clip", "leaky_relu", "hard_swish",
        "sigmoid", "tanh", "softmax",
    }),
    same_scale=_SAME_SCALE,
    symmetric_activations=True,
    symmetric_weights=True,
    per_channel_weights=True,
)
