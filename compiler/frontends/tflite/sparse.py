"""Decoding of TFLite sparse tensors (``SparsityParameters``) into dense numpy arrays.

TFLite stores a sparse tensor as its non-zero values plus a per-level description of how
to walk them (the TACO format): the original dims, optionally split into blocks
(``block_map`` names which original dims are blocked), are visited in ``traversal_order``;
each visited level is DENSE (all ``dense_size`` coordinates present) or SPARSE_CSR (the
coordinates listed in ``array_indices``, delimited per parent position by
``array_segments``). A leaf's position in that walk is its index into the value buffer.

:func:`densify` follows the walk level by level with numpy (no per-element Python loop)
and scatters the values into a zero array of the dense shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

DENSE, SPARSE_CSR = 0, 1


class SparsityError(ValueError):
    """The sparsity parameters are inconsistent with the tensor's shape or values."""


def _vector(v: Any) -> np.ndarray:
    """The integer array held by an Int32Vector / Uint16Vector / Uint8Vector union."""
    if v is None:
        return np.zeros(0, np.int64)
    vals = getattr(v, "values", None)
    if vals is None:
        return np.zeros(0, np.int64)
    return np.asarray(vals, dtype=np.int64).ravel()


def densify(values: np.ndarray, dense_shape: tuple[int, ...], sparsity: Any) -> np.ndarray:
    """The dense array of ``dense_shape`` described by ``values`` and ``sparsity``.

    ``values`` is the flat buffer of stored elements (its dtype is kept); ``sparsity`` is a
    ``SparsityParametersT`` of the object API.
    """
    values = np.asarray(values).ravel()
    order = [int(i) for i in (sparsity.traversalOrder if sparsity.traversalOrder is not None else [])]
    block_map = [int(i) for i in (sparsity.blockMap if sparsity.blockMap is not None else [])]
    meta = list(sparsity.dimMetadata or [])
    n = len(dense_shape)
    if len(order) != n + len(block_map) or len(meta) != len(order):
        raise SparsityError(
            f"traversal_order has {len(order)} entries and dim_metadata {len(meta)}; a tensor "
            f"of rank {n} with {len(block_map)} blocked dims needs {n + len(block_map)}"
        )
    # coords[k]: coordinate along expanded dim k (0..n-1 original/block-row dims, n.. block dims)
    pos = np.zeros(1, np.int64)
    coords: dict[int, np.ndarray] = {}
    sizes: dict[int, int] = {}
    for level, dim in enumerate(order):
        md = meta[level]
        if md.format == DENSE:
            size = int(md.denseSize)
            new_pos = (pos[:, None] * size + np.arange(size, dtype=np.int64)[None, :]).ravel()
            coords = {k: np.repeat(c, size) for k, c in coords.items()}
            coords[dim] = np.tile(np.arange(size, dtype=np.int64), len(pos))
            sizes[dim] = size
        elif md.format == SPARSE_CSR:
            seg = _vector(md.arraySegments)
            idx = _vector(md.arrayIndices)
            if len(pos) and (pos.max() + 1 >= len(seg)):
                raise SparsityError(f"level {level}: array_segments has {len(seg)} entries, too few")
            starts, ends = seg[pos], seg[pos + 1]
            counts = ends - starts
            total = int(counts.sum())
            # concatenated ranges starts[i]..ends[i]
            offs = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
            new_pos = np.arange(total, dtype=np.int64) + offs
            if total and new_pos.max() >= len(idx):
                raise SparsityError(f"level {level}: array_indices has {len(idx)} entries, too few")
            coords = {k: np.repeat(c, counts) for k, c in coords.items()}
            coords[dim] = idx[new_pos]
            sizes[dim] = int(idx.max()) + 1 if len(idx) else 0
        else:
            raise SparsityError(f"level {level}: unknown dimension format {md.format}")
        pos = new_pos
    if len(pos) and pos.max() >= len(values):
        raise SparsityError(f"the walk reaches value #{int(pos.max())} but only {len(values)} are stored")
    full = []
    for d in range(n):
        c = coords.get(d, np.zeros(len(pos), np.int64))
        if d in block_map:
            b = n + block_map.index(d)
            bsize = sizes.get(b, 1)
            c = c * bsize + coords.get(b, np.zeros(len(pos), np.int64))
        full.append(c)
    dense = np.zeros(dense_shape, dtype=values.dtype)
    if len(pos):
        for d, c in enumerate(full):
            if c.max() >= dense_shape[d]:
                raise SparsityError(f"a stored element lies outside dim {d} (size {dense_shape[d]})")
        dense[tuple(full)] = values[pos]
    return dense


__all__ = ["SparsityError", "densify"]
