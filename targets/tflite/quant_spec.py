"""TFLite's int8 rules: the one home for which IR ops run as int8 TFLite kernels and which
parameters those kernels require.

``QUANT_SPEC`` is what the quantize pass asks (``scheme="tflite"``); ``KERNELS_SAME_SCALE``
and ``KERNEL_OF`` are the same rules at the level of TFLite kernels, for the int8 emitter
(:mod:`.quantized`), which also meets ops the IR lowers into several kernels.
"""

from __future__ import annotations

from compiler.quantization.spec import QuantSpec

# Data movement and max-like ops: TFLite's int8 kernels require output parameters equal to
# the input's. AVERAGE_POOL_2D requires it too (an average never leaves its input's range).
_SAME_SCALE = frozenset({
    "max_pool", "global_max_pool", "avg_pool", "reduce_max", "reshape", "flatten", "squeeze",
    "unsqueeze", "transpose", "slice", "split", "gather", "pad", "depth_to_space", "resize",
    "concat",
})

QUANT_SPEC = QuantSpec(
    name="tflite",
    # Every op here has an int8 lowering in targets/tflite (space_to_depth has no TFLite
    # lowering at all, so it is not here; div runs as MUL by its constant's reciprocal).
    ops=_SAME_SCALE | frozenset({
        "conv", "conv_transpose", "gemm", "matmul", "add", "sub", "mul", "div", "prelu",
        "global_avg_pool", "reduce_mean", "relu", "clip", "leaky_relu", "hard_swish",
        "sigmoid", "tanh", "softmax",
    }),
    same_scale=_SAME_SCALE,
    # LOGISTIC and SOFTMAX write [0, 1) in steps of 1/256; TANH (-1, 1) in steps of 1/128
    fixed_output={"sigmoid": (1.0 / 256.0, -128), "softmax": (1.0 / 256.0, -128),
                  "tanh": (1.0 / 128.0, 0)},
    # TFLite's int8 kernels fuse only the relu family; a fused tanh/sigmoid would need the
    # pre-activation range, which calibration never saw (it was fused away).
    fused_activations=frozenset({"", "relu", "relu6", "relu_n1_to_1"}),
    const_inputs={"div": (1,)},
    symmetric_activations=False,
    symmetric_weights=True,
    per_channel_weights=True,
)

#: The TFLite kernel each fixed-output op lowers to.
KERNEL_OF = {"sigmoid": "LOGISTIC", "softmax": "SOFTMAX", "tanh": "TANH"}

#: TFLite kernels whose int8 form needs the output parameters equal to the input's (the
#: kernels of the same-scale ops above, plus MAXIMUM/MINIMUM and REDUCE_MIN a clip or
#: reduction may lower to).
KERNELS_SAME_SCALE = frozenset({
    "CONCATENATION", "RESHAPE", "TRANSPOSE", "MAX_POOL_2D", "AVERAGE_POOL_2D",
    "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "SPLIT_V", "SPLIT", "STRIDED_SLICE",
    "SLICE", "GATHER", "PAD", "PADV2", "MIRROR_PAD", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH",
    "REDUCE_MAX", "REDUCE_MIN", "MAXIMUM", "MINIMUM", "SQUEEZE"})

#: Output parameters of the fixed-output kernels, by kernel name.
KERNELS_FIXED_OUTPUT = {KERNEL_OF[op]: p for op, p in QUANT_SPEC.fixed_output.items()}
