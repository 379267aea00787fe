"""TFLite sparse tensors: which weights are stored sparse, and their ``SparsityParameters``.

Contract:

* :func:`encode` turns a 2-D or 4-D weight (TFLite's layout: FULLY_CONNECTED [out, in],
  CONV_2D OHWI, DEPTHWISE_CONV_2D 1HWC) into the stored values and the
  ``SparsityParametersT`` that describe them, in the TACO form TFLite reads
  (``traversal_order``, ``block_map``, ``dim_metadata``):

  - unblocked: every dim but the last DENSE, the last SPARSE_CSR (``array_segments`` per
    position of the dims above, ``array_indices`` the non-zero coordinates), as MediaPipe's
    sparse models store their convolution weights;
  - ``block=4`` (2-D only, ``in % 4 == 0``): dims [out, in/4, 4] with ``block_map=[1]``:
    rows DENSE, 1x4 blocks SPARSE_CSR, the block DENSE 4 -- the layout LiteRT's
    ``FULLY_CONNECTED`` 1x4 block-sparse float kernel reads without DENSIFY. A block is
    stored (all 4 values) when any of its values is non-zero.

  Index vectors use the narrowest of uint8 / uint16 / int32 that holds them. Decoding with
  :func:`compiler.frontends.tflite.sparse.densify` gives ``array`` back exactly (a -0.0
  weight comes back as +0.0).
* :func:`choose` is the rule of the ``sparse_weights`` emit option (:data:`MODES`):
  ``"none"`` stores nothing sparse; ``"densify"`` stores a float conv / depthwise /
  fully-connected weight sparse behind a ``DENSIFY`` op when it is a scipy.sparse constant
  in the IR or at least ``threshold`` (default 0.5) of its values are zero (a smaller file,
  no faster: LiteRT densifies at load and runs the dense kernel); ``"fc_blocks"`` stores a
  float fully-connected weight 1x4 block-sparse without ``DENSIFY`` when at least
  ``threshold`` (default 0.8, the measured break-even) of its 1x4 blocks are zero (LiteRT's
  sparse fully-connected kernel runs on it). int8 weights never reach this rule (LiteRT 2.3
  fails at ``allocate_tensors`` on int8 fully-connected weights behind DENSIFY).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

MODES = ("none", "densify", "fc_blocks")
SparseMode = Literal["none", "densify", "fc_blocks"]

#: consumers whose float weights the ``densify`` mode may store sparse
DENSIFY_CONSUMERS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
FC_BLOCK = 4  # LiteRT's block-sparse fully-connected kernel reads 1x4 blocks only
#: default zero fraction per mode from which a weight is stored sparse. densify: at 50% a CSR
#: weight with uint8/uint16 indices is already 0.66x the dense bytes. fc_blocks: the sparse
#: kernel's break-even, measured with ai-edge-litert (1 thread, x86) on a 1000x1280 weight
#: against the dense (XNNPACK) FULLY_CONNECTED: 0.44x the speed at 50% zero blocks, 0.82x
#: at 70%, 1.02x at 80%, 2.55x at 90%.
DEFAULT_THRESHOLDS = {"densify": 0.5, "fc_blocks": 0.8}

_DENSE, _SPARSE_CSR = 0, 1


def _schema() -> Any:
    from ai_edge_litert import schema_py_generated as schema

    return schema


def _index_vector(values: np.ndarray) -> tuple[int, Any]:
    """(SparseIndexVector union type, vector object) of the narrowest type holding values."""
    s = _schema()
    top = int(values.max()) if values.size else 0
    if top <= np.iinfo(np.uint8).max:
        vec, kind, dt = s.Uint8VectorT(), s.SparseIndexVector.Uint8Vector, np.uint8
    elif top <= np.iinfo(np.uint16).max:
        vec, kind, dt = s.Uint16VectorT(), s.SparseIndexVector.Uint16Vector, np.uint16
    else:
        vec, kind, dt = s.Int32VectorT(), s.SparseIndexVector.Int32Vector, np.int32
    vec.values = np.asarray(values, dtype=dt)
    return int(kind), vec


def _dense_level(size: int) -> Any:
    md = _schema().DimensionMetadataT()
    md.format, md.denseSize = _DENSE, int(size)
    return md


def _csr_level(segments: np.ndarray, indices: np.ndarray) -> Any:
    md = _schema().DimensionMetadataT()
    md.format = _SPARSE_CSR
    md.arraySegmentsType, md.arraySegments = _index_vector(segments)
    md.arrayIndicesType, md.arrayIndices = _index_vector(indices)
    return md


def encode(array: np.ndarray, block: int | None = None) -> tuple[np.ndarray, Any]:
    """(stored values, ``SparsityParametersT``) of ``array`` (2-D or 4-D); ``block=4``
    stores a 2-D array in 1x4 blocks along its last dim (see the module doc)."""
    a = np.asarray(array)
    if a.ndim not in (2, 4):
        raise ValueError(f"a sparse TFLite weight is 2-D or 4-D, not {a.ndim}-D")
    sp = _schema().SparsityParametersT()
    if block is None:
        rows = a.reshape(-1, a.shape[-1])
        mask = rows != 0
        seg = np.concatenate([[0], np.cumsum(mask.sum(axis=1))])
        sp.traversalOrder = list(range(a.ndim))
        sp.dimMetadata = [_dense_level(d) for d in a.shape[:-1]]
        sp.dimMetadata.append(_csr_level(seg, np.nonzero(mask)[1]))
        return rows[mask], sp
    if a.ndim != 2 or a.shape[1] % block:
        raise ValueError(f"1x{block} blocks need a 2-D weight whose last dim divides by "
                         f"{block}; got shape {list(a.shape)}")
    blocks = a.reshape(a.shape[0], a.shape[1] // block, block)
    keep = (blocks != 0).any(axis=2)
    seg = np.concatenate([[0], np.cumsum(keep.sum(axis=1))])
    sp.traversalOrder = [0, 1, 2]
    sp.blockMap = [1]
    sp.dimMetadata = [_dense_level(a.shape[0]), _csr_level(seg, np.nonzero(keep)[1]),
                      _dense_level(block)]
    return blocks[keep].reshape(-1), sp


@dataclass(frozen=True)
class Choice:
    """How one weight is stored: ``block`` for :func:`encode`; ``densify``: behind DENSIFY."""

    block: int | None
    densify: bool


def block_zero_fraction(w_nk: np.ndarray, block: int = FC_BLOCK) -> float:
    """The fraction of 1x``block`` blocks of 2-D ``w_nk`` (along its last dim) that are all
    zero (0 when the last dim does not divide by ``block``)."""
    if w_nk.ndim != 2 or w_nk.shape[1] % block or not w_nk.size:
        return 0.0
    blocks = w_nk.reshape(w_nk.shape[0], -1, block)
    return float((~(blocks != 0).any(axis=2)).mean())


def choose(mode: str, threshold: float | None, consumer: str, array: np.ndarray,
           ir_sparse: bool) -> Choice | None:
    """How the float weight ``array`` (TFLite layout) read by ``consumer`` is stored under
    ``mode`` (None: dense); ``ir_sparse``: the IR holds it as a scipy.sparse constant;
    ``threshold`` None: the mode's :data:`DEFAULT_THRESHOLDS` entry."""
    a = np.asarray(array)
    if mode == "none" or a.dtype != np.float32 or a.ndim not in (2, 4) or not a.size:
        return None
    if threshold is None:
        threshold = DEFAULT_THRESHOLDS.get(mode, 0.5)
    if mode == "densify":
        if consumer not in DENSIFY_CONSUMERS:
            return None
        if ir_sparse or float((a == 0).mean()) >= threshold:
            return Choice(block=None, densify=True)
        return None
    if mode == "fc_blocks":
        if consumer == "FULLY_CONNECTED" and block_zero_fraction(a) >= threshold:
            return Choice(block=FC_BLOCK, densify=False)
        return None
    raise ValueError(f"sparse_weights {mode!r}: use one of {', '.join(MODES)}")


__all__ = ["DEFAULT_THRESHOLDS", "MODES", "Choice", "SparseMode", "block_zero_fraction",
           "choose", "encode"]
