"""A small builder for TFLite flatbuffers over the ``schema_py_generated`` object API.

Contract of :class:`TfliteWriter`:

* One model, one subgraph. ``buffers[0]`` is the empty sentinel every TFLite model starts
  with; tensors without data point at it. Each constant gets a buffer of its own
  (little-endian, C order, the dtype of the tensor).
* :meth:`add_tensor` takes the static shape TFLite allocates with; dims that are unknown or
  symbolic in the source are written as 1 in ``shape`` and as -1 in ``shape_signature`` (so
  ``Interpreter.resize_tensor_input`` can change them).
* Operator codes are deduplicated by (builtin code, version). ``builtin_code`` holds the
  real code and ``deprecated_builtin_code`` ``min(code, 127)``: readers built before the
  int32 field existed see 127 (``PLACEHOLDER_FOR_GREATER_OP_CODES``) for every newer op,
  and current readers take ``max`` of both fields.
* Operator versions: version 1 unless the op uses a feature whose kernel registration needs
  more. The caller passes the version; :func:`op_version` states the rule (taken from
  TFLite's ``op_version.cc`` for the float kernels infercc emits).
* :meth:`finish` first drops tensors no operator or interface uses (and their buffers), then
  adds the ``serving_default`` signature over the subgraph inputs/outputs
  (named by the caller), a metadata entry ``infercc_version`` whose buffer holds
  ``compiler._version.__version__`` (UTF-8), and serializes with ``file_identifier=b"TFL3"``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

SIGNATURE_KEY = "serving_default"
METADATA_VERSION_KEY = "infercc_version"
SCHEMA_VERSION = 3  # the "TFL3" schema

# numpy dtype -> TFLite TensorType enum
_TFL_TYPES = {
    np.dtype("float32"): 0,
    np.dtype("float16"): 1,
    np.dtype("int32"): 2,
    np.dtype("uint8"): 3,
    np.dtype("int64"): 4,
    np.dtype("bool"): 6,
    np.dtype("int16"): 7,
    np.dtype("int8"): 9,
    np.dtype("float64"): 10,
}

_PLACEHOLDER_FOR_GREATER_OP_CODES = 127


def _schema() -> Any:
    from ai_edge_litert import schema_py_generated as schema

    return schema


def builtin_code(name: str) -> int:
    """The ``BuiltinOperator`` code of an op name such as ``"CONV_2D"``."""
    return int(getattr(_schema().BuiltinOperator, name))


def op_version(name: str, *, input_dtype: np.dtype | None = None, dilated: bool = False,
               with_bias: bool = False, half_pixel: bool = False,
               sparse_weight: bool = False) -> int:
    """The operator version the builtin float kernels need for the features used.

    Rule (from TFLite's ``op_version.cc``; everything else infercc emits is version 1):
    ``DEQUANTIZE`` of a float16 input is version 3; ``DEPTHWISE_CONV_2D`` with a dilation
    factor other than 1 is version 2; ``TRANSPOSE_CONV`` with a bias input is version 3;
    ``RESIZE_BILINEAR`` / ``RESIZE_NEAREST_NEIGHBOR`` with half_pixel_centers are version 3;
    ``FULLY_CONNECTED`` with a sparse weight (no DENSIFY) is version 8 -- which also keeps
    LiteRT's XNNPACK delegate off it: measured with ai-edge-litert, XNNPACK takes a
    version-1 sparse FULLY_CONNECTED and reads the stored values as the dense weight (NaN
    or garbage out).
    """
    if name == "FULLY_CONNECTED" and sparse_weight:
        return 8
    if name == "DEQUANTIZE" and input_dtype is not None and np.dtype(input_dtype) == np.float16:
        return 3
    if name == "DEPTHWISE_CONV_2D" and dilated:
        return 2
    if name == "TRANSPOSE_CONV" and with_bias:
        return 3
    if name in ("RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR") and half_pixel:
        return 3
    return 1


def tflite_type(dtype: Any) -> int:
    dt = np.dtype(dtype)
    if dt not in _TFL_TYPES:
        raise ValueError(f"numpy dtype {dt} has no TFLite tensor type in infercc's writer")
    return _TFL_TYPES[dt]


class TfliteWriter:
    """Accumulates tensors, buffers and operators; :meth:`finish` gives the file bytes."""

    def __init__(self, name: str = "main", description: str = "infercc"):
        s = _schema()
        self._s = s
        self.model = s.ModelT()
        self.model.version = SCHEMA_VERSION
        self.model.description = description
        self.model.operatorCodes = []
        self.model.buffers = [s.BufferT()]  # buffer 0: the empty sentinel
        self.model.metadata = []
        self.subgraph = s.SubGraphT()
        self.subgraph.name = name
        self.subgraph.tensors = []
        self.subgraph.operators = []
        self.subgraph.inputs = []
        self.subgraph.outputs = []
        self.model.subgraphs = [self.subgraph]
        self._opcodes: dict[tuple[int, int], int] = {}
        self._names: set[str] = set()
        self._reserved: set[str] = set()
        self.input_names: list[str] = []
        self.output_names: list[str] = []
        self._finished = False

    # -- buffers and tensors ---------------------------------------------------------------
    def add_buffer(self, data: bytes) -> int:
        b = self._s.BufferT()
        b.data = np.frombuffer(bytes(data), dtype=np.uint8) if data else None
        self.model.buffers.append(b)
        return len(self.model.buffers) - 1

    def reserve(self, names: Sequence[str]) -> None:
        """Keep ``names`` for the tensors that will ask for them (the graph interface)."""
        self._reserved.update(names)

    def unique_name(self, hint: str) -> str:
        """``hint`` if free (or reserved and not yet taken), else ``hint_1``, ``hint_2``..."""
        name = hint or "t"
        if name in self._reserved:
            self._reserved.discard(name)
            self._names.add(name)
            return name
        k = 0
        while name in self._names or name in self._reserved:
            k += 1
            name = f"{hint}_{k}"
        self._names.add(name)
        return name

    def add_tensor(
        self,
        name: str,
        dtype: Any,
        shape: Sequence[int],
        data: np.ndarray | None = None,
        shape_signature: Sequence[int] | None = None,
    ) -> int:
        """A tensor (constant when ``data`` is given); returns its index in the subgraph.

        ``shape_signature`` (with -1 for dynamic dims) is written only when it differs
        from ``shape``. The name is made unique within the subgraph.
        """
        t = self._s.TensorT()
        t.name = self.unique_name(name)
        t.type = tflite_type(dtype)
        t.shape = [int(d) for d in shape]
        t.hasRank = True
        if shape_signature is not None and list(shape_signature) != t.shape:
            t.shapeSignature = [int(d) for d in shape_signature]
        if data is not None:
            arr = np.ascontiguousarray(np.asarray(data, dtype=np.dtype(dtype)).reshape(t.shape))
            t.buffer = self.add_buffer(arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes())
        else:
            t.buffer = 0
        self.subgraph.tensors.append(t)
        return len(self.subgraph.tensors) - 1

    def add_sparse_const(self, name: str, shape: Sequence[int], values: np.ndarray,
                         sparsity: Any) -> int:
        """A sparse constant of dense ``shape``: its buffer holds only ``values`` (in the
        walk ``sparsity``, a ``SparsityParametersT``, describes)."""
        v = np.ascontiguousarray(values)
        t = self._s.TensorT()
        t.name = self.unique_name(name)
        t.type = tflite_type(v.dtype)
        t.shape = [int(d) for d in shape]
        t.hasRank = True
        t.sparsity = sparsity
        t.buffer = self.add_buffer(v.astype(v.dtype.newbyteorder("<"), copy=False).tobytes())
        self.subgraph.tensors.append(t)
        return len(self.subgraph.tensors) - 1

    def add_const(self, name: str, array: np.ndarray) -> int:
        a = np.asarray(array)
        return self.add_tensor(name, a.dtype, a.shape, a)

    def tensor(self, index: int) -> Any:
        return self.subgraph.tensors[index]

    # -- operators -------------------------------------------------------------------------
    def opcode_index(self, name: str, version: int = 1) -> int:
        code = builtin_code(name)
        key = (code, int(version))
        if key not in self._opcodes:
            oc = self._s.OperatorCodeT()
            oc.builtinCode = code
            oc.deprecatedBuiltinCode = min(code, _PLACEHOLDER_FOR_GREATER_OP_CODES)
            oc.version = int(version)
            self.model.operatorCodes.append(oc)
            self._opcodes[key] = len(self.model.operatorCodes) - 1
        return self._opcodes[key]

    def add_operator(
        self,
        name: str,
        inputs: Sequence[int],
        outputs: Sequence[int],
        options: Any = None,
        version: int = 1,
    ) -> Any:
        """Append a builtin operator (``name`` as in ``BuiltinOperator``); -1 = no input.

        ``options`` is a ``*OptionsT`` object; its union type is derived from its class.
        """
        op = self._s.OperatorT()
        op.opcodeIndex = self.opcode_index(name, version)
        op.inputs = [int(i) for i in inputs]
        op.outputs = [int(i) for i in outputs]
        if options is not None:
            cls = type(options).__name__
            op.builtinOptionsType = int(getattr(self._s.BuiltinOptions, cls[:-1]))
            op.builtinOptions = options
        self.subgraph.operators.append(op)
        return op

    def options(self, kind: str, **fields: Any) -> Any:
        """``options("Conv2D", padding=1)`` -> a ``Conv2DOptionsT`` with those fields set."""
        o = getattr(self._s, f"{kind}OptionsT")()
        for k, v in fields.items():
            if not hasattr(o, k):
                raise AttributeError(f"{kind}OptionsT has no field {k!r}")
            setattr(o, k, v)
        return o

    # -- interface -------------------------------------------------------------------------
    def set_inputs(self, indices: Sequence[int], names: Sequence[str]) -> None:
        self.subgraph.inputs = [int(i) for i in indices]
        self.input_names = list(names)

    def set_outputs(self, indices: Sequence[int], names: Sequence[str]) -> None:
        self.subgraph.outputs = [int(i) for i in indices]
        self.output_names = list(names)

    def add_metadata(self, name: str, data: bytes) -> None:
        m = self._s.MetadataT()
        m.name = name
        m.buffer = self.add_buffer(data)
        self.model.metadata.append(m)

    def _signature(self) -> Any:
        s = self._s
        sig = s.SignatureDefT()
        sig.signatureKey = SIGNATURE_KEY
        sig.subgraphIndex = 0

        def maps(indices: Sequence[int], names: Sequence[str]) -> list:
            out = []
            for i, n in zip(indices, names):
                tm = s.TensorMapT()
                tm.name, tm.tensorIndex = n, int(i)
                out.append(tm)
            return out

        sig.inputs = maps(self.subgraph.inputs, self.input_names)
        sig.outputs = maps(self.subgraph.outputs, self.output_names)
        return sig

    def _drop_unused(self) -> None:
        """Remove tensors no operator or interface reads or writes, and buffers no tensor
        keeps (lowering may make a constant, then replace it, e.g. by an int8/int32 copy)."""
        sg = self.subgraph
        used: set[int] = set(sg.inputs) | set(sg.outputs)
        for op in sg.operators:
            for seq in (op.inputs, op.outputs, op.intermediates):
                used.update(i for i in (seq if seq is not None else ()) if i >= 0)
        keep = [i for i in range(len(sg.tensors)) if i in used]
        if len(keep) < len(sg.tensors):
            remap = {old: new for new, old in enumerate(keep)}

            def fix(seq):
                return None if seq is None else [remap[i] if i >= 0 else i for i in seq]

            sg.tensors = [sg.tensors[i] for i in keep]
            sg.inputs, sg.outputs = fix(sg.inputs), fix(sg.outputs)
            for op in sg.operators:
                op.inputs, op.outputs = fix(op.inputs), fix(op.outputs)
                op.intermediates = fix(op.intermediates)
        live = {0} | {t.buffer for t in sg.tensors}
        if len(live) < len(self.model.buffers):
            order = [b for b in range(len(self.model.buffers)) if b in live]
            bmap = {old: new for new, old in enumerate(order)}
            self.model.buffers = [self.model.buffers[b] for b in order]
            for t in sg.tensors:
                t.buffer = bmap[t.buffer]
            for m in self.model.metadata:
                m.buffer = bmap[m.buffer]

    def finish(self) -> bytes:
        """Serialize the model (adds the signature and the version metadata)."""
        import flatbuffers

        from compiler._version import __version__

        if self._finished:
            raise RuntimeError("TfliteWriter.finish() was already called")
        self._finished = True
        self._drop_unused()
        self.add_metadata(METADATA_VERSION_KEY, __version__.encode("utf-8"))
        self.model.signatureDefs = [self._signature()]
        builder = flatbuffers.Builder(1024)
        builder.Finish(self.model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())

    def write(self, path: str | os.PathLike, data: bytes) -> None:
        from compiler.fileio import atomic_write

        atomic_write(path, data)
