"""Quantization as a library: what a target quantizes (:mod:`.spec`).

Nothing heavy is imported here; the quantize pass and the targets import the modules they
need.
"""
