"""Frontends: each lowers one model format into the IR.

``load(source, **options)`` picks the frontend from the object or the file type:

| source | frontend |
|---|---|
| ``.onnx`` file, ``onnx.ModelProto`` | :func:`compiler.frontends.onnx.load_onnx` |
| ``torch.nn.Module`` (with ``example_inputs=``), ``.pt2`` (torch.export.save) | :mod:`compiler.frontends.pytorch` (``load_pytorch``, ``load_pytorch_file``) |
| Keras model, ``.keras``/``.h5``/``.hdf5``, SavedModel directory, frozen ``.pb`` | :func:`compiler.frontends.tensorflow.load_tensorflow` |
| ``.prototxt`` (+ ``weights=`` or a ``.caffemodel`` beside it) | :func:`compiler.frontends.caffe.load_caffe` |
| ``.tflite`` | :func:`compiler.frontends.tflite.load_tflite` |
| ``.ir`` text | :func:`compiler.ir.parser.load_ir` |

``input_shapes={"name": (1, 3, 224, 224)}`` fixes dimensions the source leaves open; every
frontend takes it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError
from ..ir.graph import Graph

TF_SUFFIXES = (".keras", ".h5", ".hdf5", ".pb")
MODEL_SUFFIXES = (".onnx", ".ir", ".prototxt", ".tflite", ".pt2", *TF_SUFFIXES)


def is_tensorflow_source(model: Any) -> bool:
    """Whether ``model`` is for the TensorFlow frontend: a Keras/TF file, a SavedModel
    directory, or a Keras/TF model object."""
    if isinstance(model, (str, os.PathLike)):
        p = Path(model)
        return p.suffix.lower() in TF_SUFFIXES or (p.is_dir()
                                                   and (p / "saved_model.pb").exists())
    kind = type(model).__module__.split(".")[0]
    return kind in ("keras", "tf_keras", "tensorflow") or hasattr(model, "signatures")


def load(source: Any, **options: Any) -> Graph:
    """Lower ``source`` (a path or a framework object) into an IR graph."""
    if isinstance(source, Graph):
        return source
    if isinstance(source, (str, os.PathLike)):
        return _load_path(Path(source), options)
    kind = type(source).__module__.split(".")[0]
    if type(source).__name__ == "ModelProto":
        from .onnx import load_onnx

        return load_onnx(source, **options)
    if kind == "torch" or _is_torch_module(source):
        from .pytorch import load_pytorch

        if "example_inputs" not in options:
            raise ModelLoadError(
                f"{type(source).__name__}: a PyTorch module needs example inputs: "
                "compiler.load(module, example_inputs=(torch.randn(1, 3, 224, 224),))"
            )
        return load_pytorch(source, options.pop("example_inputs"), **options)
    if kind in ("keras", "tf_keras", "tensorflow") or hasattr(source, "signatures"):
        from .tensorflow import load_tensorflow

        return load_tensorflow(source, **options)
    raise ModelLoadError(
        f"cannot load a model from a {type(source).__module__}.{type(source).__name__} "
        "(infercc takes model files, onnx.ModelProto, torch.nn.Module and Keras models)"
    )


def _is_torch_module(obj: Any) -> bool:
    return any(c.__module__.startswith("torch.nn") and c.__name__ == "Module" for c in type(obj).__mro__)


def _load_path(path: Path, options: dict[str, Any]) -> Graph:
    if not path.exists():
        raise ModelLoadError(f"{path}: no such file or directory")
    if path.is_dir():
        if (path / "saved_model.pb").exists():
            from .tensorflow import load_tensorflow

            return load_tensorflow(path, **options)
        raise ModelLoadError(
            f"{path}: is a directory but not a TensorFlow SavedModel (no saved_model.pb); "
            "give a model file instead"
        )
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        from .onnx import load_onnx

        return load_onnx(path, **options)
    if suffix == ".ir":
        from ..ir.parser import IRParseError, load_ir

        try:
            return load_ir(str(path))
        except IRParseError as e:
            raise ModelLoadError(str(e)) from None
    if suffix == ".prototxt":
        from .caffe import load_caffe

        weights = options.pop("weights", None)
        if weights is None:
            weights = _caffe_weights_beside(path, options.get("placeholder_weights", False))
        return load_caffe(path, weights, **options)
    if suffix == ".caffemodel":
        raise ModelLoadError(
            f"{path}: a .caffemodel holds only weights; load the network's .prototxt and "
            f"pass this file as its weights (infercc inspect NET.prototxt --weights {path.name})"
        )
    if suffix == ".tflite":
        from .tflite import load_tflite

        return load_tflite(path, **options)
    if suffix == ".pt2":
        from .pytorch import load_pytorch_file

        return load_pytorch_file(path, **options)
    if suffix in TF_SUFFIXES:
        from .tensorflow import load_tensorflow

        return load_tensorflow(path, **options)
    if suffix in (".pt", ".pth"):
        raise ModelLoadError(
            f"{path}: a PyTorch checkpoint holds weights, not the network; build the module in "
            "Python and call compiler.load(module, example_inputs=...), or save it with "
            "torch.export.save(...) as .pt2"
        )
    raise ModelLoadError(
        f"{path}: unrecognised model format '{suffix or path.name}' (infercc reads "
        f"{', '.join(MODEL_SUFFIXES)} files and SavedModel directories)"
    )


def _caffe_weights_beside(prototxt: Path, optional: bool = False) -> Path | None:
    same_stem = prototxt.with_suffix(".caffemodel")
    if same_stem.exists():
        return same_stem
    found = sorted(prototxt.parent.glob("*.caffemodel"))
    if len(found) == 1:
        return found[0]
    if optional and not found:  # placeholder_weights: the structure alone is wanted
        return None
    what = "no .caffemodel" if not found else f"{len(found)} .caffemodel files"
    raise ModelLoadError(
        f"{prototxt}: {what} beside the network definition; name the weights with "
        "--weights FILE.caffemodel (compiler.load(..., weights=...))"
    )
