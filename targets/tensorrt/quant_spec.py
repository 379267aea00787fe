"""TensorRT's quantization rules (``scheme="tensorrt"``): explicit Q/DQ, symmetric int8.

TensorRT reads the Q/DQ pairs of a strongly typed network as the quantization it must
honour and fuses them into its own kernels (TensorRT developer guide, "Working with
Quantized Types": Q/DQ placement recommendations). The rules, all stated here:

* Activations per tensor, symmetric, zero point 0 (``[-127, 127]``); weights per channel,
  symmetric, along the output-feature axis (conv 0, conv_transpose 1, gemm/matmul the
  output-feature axis of B) — the op traits give the axis.
* Q/DQ pairs on the **inputs** of quantized ops only (``output_qdq=False``): a conv's output
  stays float, so TensorRT fuses conv + bias + residual add + relu into one int8 kernel.
* The skip input of a residual add gets a Q/DQ pair (``residual_inputs``); the branch that
  comes from the fused conv does not.
* Biases: quantized to int32 at input scale * weight scale, then stored back as float
  constants (``float_bias``): TensorRT takes float biases and quantizes them itself.
* Concat: one scale shared by all its inputs (``same_scale``); pooling reuses its input's.
* Grouped conv runs int8 only with input and output channels per group a multiple of 4
  (``group_channels``); others, depthwise ones included, stay float.
"""

from __future__ import annotations

from compiler.quantization.spec import QuantSpec

_SAME_SCALE = frozenset({"max_pool", "avg_pool", "concat"})

QUANT_SPEC = QuantSpec(
    name="tensorrt",
    ops=_SAME_SCALE | frozenset({"conv", "conv_transpose", "gemm", "matmul"}),
    same_scale=_SAME_SCALE,
    symmetric_activations=True,
    symmetric_weights=True,
    per_channel_weights=True,
    output_qdq=False,
    residual_inputs=frozenset({"add"}),
    float_bias=True,
    group_channels=4,
)
