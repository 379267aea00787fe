"""Fusion passes: merge a node into its producer (batch norm into conv/gemm, an activation into
its producer, a bias add into a matmul). Clean-ups that only remove or simplify live in
:mod:`passes.cleanup`."""
