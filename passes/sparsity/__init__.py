"""The sparsity passes: ``prune`` (:mod:`.prune`) zeroes constant weights of convolutions
and matrix multiplies; :mod:`.masks` holds the patterns (which elements a score selects) and
:mod:`.report` the per-layer table, its accuracy figures and the bias correction.
"""
