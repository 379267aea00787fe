"""Op facts shared by the clean-up passes (graph surgery lives in :mod:`compiler.ir.rewrite`)."""

from __future__ import annotations

# Ops whose result differs from run to run: never folded or merged.
NONDETERMINISTIC = frozenset(
    {
        "random_normal",
        "random_uniform",
        "random_normal_like",
        "random_uniform_like",
        "multinomial",
        "bernoulli",
    }
)
