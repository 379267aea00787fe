"""Pooling converters vs the reference interpreter, through the stand-in.

Max pooling is exact; averages differ by summation order: tolerance 1e-6, measured below
2.5e-7.
"""

from __future__ import annotations

import numpy as np
import pytest

from compiler.ir import Graph, TensorType
from tests.support.trt_check import max_abs_diff

RNG = np.random.default_rng(4)
ATOL = 1e-6

CASES = {
    "max_plain": ("max_pool", (1, 2, 8, 8), {"kernel_shape": [2, 2], "strides": [2, 2]}),
    "max_padded": ("max_pool", (1, 2, 7, 7), {"kernel_shape": [3, 3], "strides": [2, 2],
                                              "pads": [1, 1, 1, 1]}),
    "max_ceil": ("max_pool", (1, 2, 7, 6), {"kernel_shape": [2, 2], "strides": [2, 2],
                                            "ceil_mode": 1}),
    "max_same_upper": ("max_pool", (1, 2, 7, 6), {"kernel_shape": [3, 3], "strides": [2, 2],
                                                  "auto_pad": "SAME_UPPER"}),
    "max_1d": ("max_pool", (2, 3, 9), {"kernel_shape": [3], "strides": [2]}),
    "avg_excluding_pad": ("avg_pool", (1, 2, 7, 7), {"kernel_shape": [3, 3],
                                                     "pads": [1, 1, 1, 1]}),
    "avg_including_pad": ("avg_pool", (1, 2, 7, 7), {"kernel_shape": [3, 3],
                                                     "pads": [1, 1, 1, 1],
                                                     "count_include_pad": 1}),
    "avg_ceil": ("avg_pool", (1, 2, 7, 7), {"kernel_shape": [2, 2], "strides": [2, 2],
                                            "ceil_mode": 1}),
    "avg_3d": ("avg_pool", (1, 2, 4, 4, 4), {"kernel_shape": [2, 2, 2],
                                             "strides": [2, 2, 2]}),
    "global_avg": ("global_avg_pool", (2, 3, 5, 4), {}),
    "global_max": ("global_max_pool", (2, 3, 5, 4), {}),
}


@pytest.mark.parametrize("case", CASES)
def test_pooling(case):
    op, shape, attrs = CASES[case]
    g = Graph(op)
    x = g.add_input("x", TensorType("f32", shape))
    g.outputs = [g.add_node(op, [x], attrs, source=[case]).output]
    err = max_abs_diff(g, {"x": RNG.standard_normal(shape).astype(np.float32)})
    print(f"{case}: {err:.2e}")
    assert err <= ATOL
