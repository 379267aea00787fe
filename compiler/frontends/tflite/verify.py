"""Verification of a TFLite model before the frontend trusts any index, size or shape in it.

Two steps; each refuses with a :class:`~compiler.errors.ModelLoadError` of one paragraph that
names the file, where (subgraph, operator or tensor, with its name), the field and what is
wrong.

1. :func:`check_references` reads the raw flatbuffer through the schema's lazy accessors,
   before the object API unpacks it. Every table reference the unpacking follows takes at
   least 4 bytes of the file, so a file whose vectors claim more references than
   ``size / 4`` reuses tables and would unpack into a tree far larger than itself; it is
   refused. Reading past the end of the file raises inside the schema code; the caller
   (:func:`~compiler.frontends.tflite.reader.read_model`) turns that into a refusal.
2. :func:`verify_model` walks the unpacked ``ModelT`` before anything is allocated from it:

   * operator ``opcode_index``; operator ``inputs``/``intermediates`` (``-1``: an absent
     optional tensor) and ``outputs``; subgraph ``inputs``/``outputs``; signature
     ``subgraph_index`` and ``tensor_index``; tensor ``buffer``; metadata ``buffer``;
     subgraph indices in CALL_ONCE/IF/WHILE/CALL/STABLEHLO_COMPOSITE options: all in range.
   * tensor ``type`` is a TensorType the schema knows; ``shape`` dims are ``>= 0``;
     ``shape_signature`` has the same rank and holds ``-1`` or the shape's dim.
   * a constant's data (inline, or at ``offset``/``size`` past the flatbuffer in models over
     2 GB, which must lie inside the file) holds exactly ``prod(shape) x itemsize`` bytes.
   * quantization: as many zero points as scales; more than one scale needs
     ``quantized_dimension`` within the rank and that dim's size equal to the scale count.
   * sparsity: ``traversal_order`` a permutation of the expanded dims, ``block_map`` naming
     distinct dims, one ``dim_metadata`` per level, dense sizes agreeing with the shape,
     ``array_segments`` non-decreasing with one entry per parent position plus one and
     within ``array_indices``, indices non-negative, and the walk ending on exactly the
     stored values.
   * the bytes the loader materializes from constants (each constant tensor's dense size,
     sparse ones densified, counted once per tensor) total at most
     ``max(64 MiB, 1000 x the file's size)`` (:func:`dense_budget`): a declared allocation
     larger than the file can justify is refused before it is made.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from ...errors import ModelLoadError
from .reader import CALLS, builtin_names, decode

# Bytes per element of the fixed-size TensorType values (STRING, RESOURCE, VARIANT and the
# packed sub-byte types are absent: their data size does not follow from the shape).
ITEMSIZE: dict[int, int] = {
    0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 6: 1, 7: 2, 8: 8, 9: 1, 10: 8, 11: 16, 12: 8, 15: 4,
    16: 2, 18: 2, 21: 1, 22: 1,
}
DENSE_FLOOR = 64 << 20
DENSE_FACTOR = 1000
DENSE, SPARSE_CSR = 0, 1


def dense_budget(file_size: int) -> int:
    """Bytes of constant data the loader may materialize from a file of ``file_size`` bytes."""
    return max(DENSE_FLOOR, DENSE_FACTOR * file_size)


def _fail(label: str, where: str, what: str) -> ModelLoadError:
    return ModelLoadError(f"{label}: {where}: {what}; the file is corrupt or was written by a "
                          "broken converter: re-export or re-download it")


def _ints(v: Any) -> list[int]:
    """A flatbuffer int vector (None, list or numpy array) as Python ints."""
    if v is None:
        return []
    return [int(x) for x in np.asarray(v).ravel()]


def _array(v: Any) -> np.ndarray:
    """A flatbuffer int vector (None, list or numpy array) as a flat int64 array."""
    return np.asarray(v if v is not None else [], np.int64).ravel()


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.3g} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.3g} MiB"


# -- step 1: the raw flatbuffer ---------------------------------------------------------------


def check_references(buf: bytes, label: str) -> None:
    """Refuse a file whose vectors hold more table references than its size can hold.

    May raise anything from the schema code on a corrupt file; the caller turns that into a
    :class:`ModelLoadError`.
    """
    from ai_edge_litert import schema_py_generated as schema

    m = schema.Model.GetRootAs(buf, 0)
    refs = m.SubgraphsLength() + m.BuffersLength() + m.OperatorCodesLength()
    refs += m.SignatureDefsLength() + m.MetadataLength()
    limit = len(buf) // 4
    for s in range(m.SubgraphsLength()):
        sg = m.Subgraphs(s)
        refs += sg.TensorsLength() + sg.OperatorsLength()
        if refs > limit:
            break
        for t in range(sg.TensorsLength()):
            sp = sg.Tensors(t).Sparsity()
            if sp is not None:
                refs += 1 + sp.DimMetadataLength()
    if refs > limit:
        raise ModelLoadError(
            f"{label}: the flatbuffer's vectors hold at least {refs} table references but a "
            f"{len(buf)}-byte file has room for {limit}: its tables are reused or overlap, so "
            "unpacking it would build a tree far larger than the file; the file is corrupt or "
            "crafted: re-export or re-download it"
        )


# -- step 2: the unpacked model ---------------------------------------------------------------


class _Checker:
    def __init__(self, model: Any, file_size: int, label: str):
        from ai_edge_litert import schema_py_generated as schema

        self.model = model
        self.file_size = file_size
        self.label = label
        self.type_names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
        self.op_names = builtin_names()
        self.n_buffers = len(model.buffers or [])
        self.n_subgraphs = len(model.subgraphs or [])
        self.n_codes = len(model.operatorCodes or [])
        self.materialized = 0

    def fail(self, where: str, what: str) -> ModelLoadError:
        return _fail(self.label, where, what)

    def run(self) -> None:
        m = self.model
        for k, b in enumerate(m.buffers or []):
            self.buffer(k, b)
        for k in _ints(m.metadataBuffer):
            self.index_in(k, self.n_buffers, "the model", "metadata_buffer", "buffers")
        for md in m.metadata or []:
            self.index_in(int(md.buffer), self.n_buffers, "the model", "metadata.buffer", "buffers")
        for s, sg in enumerate(m.subgraphs or []):
            self.subgraph(s, sg)
        for sd in m.signatureDefs or []:
            self.signature(sd)

    def index_in(self, i: int, n: int, where: str, field: str, what: str,
                 optional: bool = False) -> None:
        """Refuse index ``i`` of ``field`` unless it is below ``n`` (or -1 when ``optional``)."""
        if 0 <= i < n or (optional and i == -1):
            return
        extra = "; -1 marks an absent optional tensor" if optional else ""
        raise self.fail(where, f"{field} {i} is out of range (there are {n} {what}{extra})")

    def buffer(self, k: int, b: Any) -> None:
        off, size = int(b.offset), int(b.size)
        if off > 1 and off + size > self.file_size:
            raise self.fail(f"buffer #{k}", f"offset {off} + size {size} reaches past the end "
                                            f"of the {self.file_size}-byte file")

    def buffer_bytes(self, t: Any) -> int | None:
        """Bytes of the tensor's constant data (None: not a constant)."""
        b = self.model.buffers[int(t.buffer)]
        if b.data is not None and len(b.data):
            return len(b.data)
        if int(b.offset) > 1 and int(b.size) > 0:
            return int(b.size)
        return None

    # -- subgraphs ----------------------------------------------------------------------
    def subgraph(self, s: int, sg: Any) -> None:
        tensors = sg.tensors or []
        n = len(tensors)
        names = [_name(t) for t in tensors]
        for i, t in enumerate(tensors):
            self.tensor(s, i, t, names[i])
        for k, op in enumerate(sg.operators or []):
            self.operator(s, k, op, n, names)
        for field in ("inputs", "outputs"):
            for j, i in enumerate(_ints(getattr(sg, field))):
                self.index_in(i, n, f"subgraph {s}", f"{field}[{j}] = tensor", "tensors")

    def signature(self, sd: Any) -> None:
        where = f"signature '{decode(sd.signatureKey)}'"
        s = int(sd.subgraphIndex)
        self.index_in(s, self.n_subgraphs, where, "subgraph_index", "subgraphs")
        n = len(self.model.subgraphs[s].tensors or [])
        for m in list(sd.inputs or []) + list(sd.outputs or []):
            self.index_in(int(m.tensorIndex), n, f"{where} entry '{decode(m.name)}'",
                          "tensor_index", f"tensors in subgraph {s}")

    def operator(self, s: int, k: int, op: Any, n: int, names: list[str]) -> None:
        outs = _ints(op.outputs)
        label = next((names[i] for i in outs if 0 <= i < n), "")
        where = f"subgraph {s}, operator #{k}" + (f" '{label}'" if label else "")
        code = int(op.opcodeIndex)
        self.index_in(code, self.n_codes, where, "opcode_index", "operator codes")
        oc = self.model.operatorCodes[code]
        kind = self.op_names.get(max(int(oc.deprecatedBuiltinCode), int(oc.builtinCode)), "")
        where = f"subgraph {s}, operator #{k} ({kind or 'builtin ' + str(oc.builtinCode)}"
        where += f" '{label}')" if label else ")"
        for field, optional in (("inputs", True), ("outputs", False), ("intermediates", True)):
            for j, i in enumerate(_ints(getattr(op, field))):
                self.index_in(i, n, where, f"{field}[{j}] = tensor", "tensors", optional)
        for attr in CALLS.get(kind, ()):
            idx = getattr(op.builtinOptions, attr, None)
            if isinstance(idx, (int, np.integer)):
                self.index_in(int(idx), self.n_subgraphs, where, _snake(attr), "subgraphs")

    # -- tensors ------------------------------------------------------------------------
    def tensor(self, s: int, i: int, t: Any, name: str) -> None:
        where = f"subgraph {s}, tensor #{i}" + (f" '{name}'" if name else "")
        ty = int(t.type)
        if ty not in self.type_names:
            raise self.fail(where, f"type {ty} is not a TFLite tensor type")
        shape = _ints(t.shape)
        if any(d < 0 for d in shape):
            raise self.fail(where, f"shape {shape} has a negative dim (only shape_signature "
                                   "may mark a dynamic dim, with -1)")
        if t.shapeSignature is not None and len(t.shapeSignature):
            sig = _ints(t.shapeSignature)
            if len(sig) != len(shape) or any(g != -1 and g != d for g, d in zip(sig, shape)):
                raise self.fail(where, f"shape_signature {sig} does not match shape {shape} "
                                       "(same rank; each dim -1 or the shape's)")
        self.index_in(int(t.buffer), self.n_buffers, where, "buffer", "buffers")
        if t.quantization is not None:
            self.quantization(where, t.quantization, shape)
        nbytes = self.buffer_bytes(t)
        if nbytes is None or ty not in ITEMSIZE:
            return
        item = ITEMSIZE[ty]
        dense = math.prod(shape) * item
        tname = self.type_names[ty]
        if t.sparsity is None:
            if nbytes != dense:
                raise self.fail(where, f"buffer #{int(t.buffer)} holds {nbytes} bytes but shape "
                                       f"{shape} x {tname} needs {dense}")
        else:
            if nbytes % item:
                raise self.fail(where, f"sparse buffer #{int(t.buffer)} holds {nbytes} bytes, "
                                       f"not a whole number of {tname} values")
            self.sparsity(where, t.sparsity, shape, nbytes // item)
        self.materialized += dense
        budget = dense_budget(self.file_size)
        if self.materialized > budget:
            raise self.fail(where, f"its constant data would make the loaded constants "
                                   f"{_gib(self.materialized)} ({shape} x {tname} here), more "
                                   f"than a {self.file_size}-byte file can justify (limit "
                                   f"max(64 MiB, {DENSE_FACTOR} x the file size) = {_gib(budget)})")

    def quantization(self, where: str, q: Any, shape: list[int]) -> None:
        scale = np.asarray(q.scale if q.scale is not None else [], np.float64).ravel()
        if q.zeroPoint is not None and len(q.zeroPoint) != len(scale) and len(scale):
            raise self.fail(where, f"quantization has {len(scale)} scale(s) but "
                                   f"{len(q.zeroPoint)} zero_point(s); they must match")
        if len(scale) > 1:
            qd = int(q.quantizedDimension)
            if not 0 <= qd < len(shape):
                raise self.fail(where, f"quantization.quantized_dimension {qd} is out of range "
                                       f"for shape {shape}")
            if shape[qd] != len(scale):
                raise self.fail(where, f"quantization has {len(scale)} scales but dim {qd} of "
                                       f"shape {shape} has {shape[qd]} entries")

    def sparsity(self, where: str, sp: Any, shape: list[int], stored: int) -> None:
        n = len(shape)
        order, block_map = _ints(sp.traversalOrder), _ints(sp.blockMap)
        meta = list(sp.dimMetadata or [])
        levels = n + len(block_map)
        where += ", sparsity"
        if sorted(order) != list(range(levels)):
            raise self.fail(where, f"traversal_order {order} is not a permutation of the "
                                   f"{levels} dims (rank {n} plus {len(block_map)} block dims)")
        if len(set(block_map)) != len(block_map) or any(not 0 <= d < n for d in block_map):
            raise self.fail(where, f"block_map {block_map} must name distinct dims below {n}")
        if len(meta) != levels:
            raise self.fail(where, f"dim_metadata has {len(meta)} entries, traversal_order {levels}")
        extent: dict[int, int] = {}
        positions = 1
        for level, (dim, md) in enumerate(zip(order, meta)):
            field = f"dim_metadata[{level}]"
            if int(md.format) == DENSE:
                size = int(md.denseSize)
                if size < 0:
                    raise self.fail(where, f"{field}.dense_size {size} is negative")
                extent[dim] = size
                positions *= size
                # each position is a stored value or owns an array_segments entry below
                if positions > self.file_size:
                    raise self.fail(where, f"the dense levels up to {field} span {positions} "
                                           f"positions, more than the {self.file_size}-byte "
                                           "file can describe")
            elif int(md.format) == SPARSE_CSR:
                seg = _array(getattr(md.arraySegments, "values", None))
                idx = _array(getattr(md.arrayIndices, "values", None))
                if len(seg) != positions + 1:
                    raise self.fail(where, f"{field}.array_segments has {len(seg)} entries; the "
                                           f"level above has {positions} positions, so it needs "
                                           f"{positions + 1}")
                if seg[0] < 0 or (np.diff(seg) < 0).any() or seg[-1] > len(idx):
                    raise self.fail(where, f"{field}.array_segments must rise from >= 0 to at most "
                                           f"the {len(idx)} array_indices")
                if (idx < 0).any():
                    raise self.fail(where, f"{field}.array_indices holds a negative index")
                positions = int(seg[-1])
            else:
                raise self.fail(where, f"{field}.format {int(md.format)} is neither DENSE (0) "
                                       "nor SPARSE_CSR (1)")
        if positions != stored:
            raise self.fail(where, f"the levels walk {positions} values but the buffer stores "
                                   f"{stored}")
        for d in range(n):
            size = extent.get(d)
            if d in block_map:
                b = extent.get(n + block_map.index(d))
                size = None if size is None or b is None else size * b
            if size is not None and size != shape[d]:
                raise self.fail(where, f"the dense sizes give dim {d} {size} entries but shape "
                                       f"{shape} has {shape[d]}")


def _name(t: Any) -> str:
    return decode(t.name)[:120]


def verify_model(model: Any, file_size: int, label: str) -> None:
    """Refuse ``model`` (an unpacked ``ModelT`` read from ``file_size`` bytes) when any index,
    shape, size, quantization or sparsity field is inconsistent (the module docstring lists
    them); ``label`` names the file in the message."""
    _Checker(model, file_size, label).run()


__all__ = ["ITEMSIZE", "check_references", "dense_budget", "verify_model"]
