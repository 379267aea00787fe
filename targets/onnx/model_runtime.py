"""The onnxruntime-model executor: an ONNX model run as it is, in onnxruntime's CPU provider.

Where the ``onnxruntime`` executor runs an IR graph (exported to ONNX in memory), this one
runs the ONNX model a user has: a ``.onnx`` path, its bytes or an ``onnx.ModelProto``. It is
the independent side of ``infercc compare model.onnx model.tflite``: nothing of infercc's
frontend or exporter stands between the file and onnxruntime.

Contract (see :mod:`compiler.runtime.base`):

* Feeds, outputs and capture names are the ONNX model's own value names; feeds are cast to
  the element type each input declares.
* ``capture``: value names (node outputs of the main graph) that :meth:`run` may capture,
  fixed when the executor is opened (onnxruntime computes only what a session was built to
  return). Each becomes an extra graph output; its element type comes from ONNX shape
  inference, and a name whose type cannot be inferred fails the open.
* :attr:`value_names` lists the main graph's node outputs in node order (what ``capture``
  may name); :attr:`inputs` the inputs as ``(name, shape, numpy dtype)`` with ``None`` or a
  symbol name for dims the model leaves open.
* ``threads``: onnxruntime's intra-op threads (default: its own choice).
* The model must be the checked copy: callers load the file through infercc's ONNX frontend
  first (external data outside the model's folder, cycles and the like are refused there).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from compiler.runtime.base import ExecutorError, RunResult, check_feeds

log = logging.getLogger(__name__)


class OnnxModelExecutor:
    """Runs an ONNX model file as is in onnxruntime (see the module doc)."""

    name = "onnxruntime-model"

    def __init__(self, model: str | Path | bytes | Any, *, capture: Iterable[str] = (),
                 threads: int | None = None, label: str | None = None) -> None:
        try:
            import onnx
            import onnxruntime as ort
            from onnx import helper
        except ImportError as e:
            raise ExecutorError(f"onnxruntime does not import ({e})") from None
        if isinstance(model, (str, Path)):
            self.label = label or str(model)
            try:
                proto = onnx.load(str(model))
            except Exception as e:  # noqa: BLE001 - protobuf raises its own types
                raise ExecutorError(f"{self.label}: not a readable ONNX model ({e})") from None
        elif isinstance(model, (bytes, bytearray)):
            self.label = label or "<onnx bytes>"
            proto = onnx.load_model_from_string(bytes(model))
        elif isinstance(model, onnx.ModelProto):
            self.label = label or (model.graph.name or "<onnx model>")
            proto = model
        else:
            raise ExecutorError(f"the onnxruntime-model executor runs an ONNX model (path, "
                                f"bytes or ModelProto), not {type(model).__name__}")

        def fail(reason: str) -> ExecutorError:
            return ExecutorError(f"{self.label}: onnxruntime cannot run the model: {reason}",
                                 reason)

        g = proto.graph
        initializers = {t.name for t in g.initializer}
        self.value_names = list(dict.fromkeys(
            o for n in g.node for o in n.output if o and n.op_type != "Constant"))
        self.inputs: list[tuple[str, tuple, np.dtype]] = []
        for i in g.input:
            if i.name in initializers:
                continue
            tt = i.type.tensor_type
            dims = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value >= 0
                         else (d.dim_param or None) for d in tt.shape.dim)
            try:
                dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tt.elem_type))
            except (KeyError, TypeError):
                raise fail(f"input {i.name!r} has no numpy element type") from None
            self.inputs.append((i.name, dims, dtype))
        self.input_names = [n for n, _, _ in self.inputs]
        self.output_names = [o.name for o in g.output]
        capture = [n for n in dict.fromkeys(capture) if n not in self.output_names]
        if capture:
            unknown = [n for n in capture if n not in set(self.value_names)]
            if unknown:
                raise fail(f"the model has no node outputs named {unknown[:5]}")
            proto = _with_outputs(proto, capture, fail)
        self.capture_names = capture
        self._fetch = self.output_names + capture
        so = ort.SessionOptions()
        so.log_severity_level = 3  # warnings about unused initializers are not the user's
        if threads is not None:
            so.intra_op_num_threads = max(1, int(threads))
        try:
            self.session = ort.InferenceSession(proto.SerializeToString(), so,
                                                providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - onnxruntime has its own exception types
            raise fail(f"{type(e).__name__}: {' '.join(str(e).split())}") from None

    def run(self, feeds: Mapping[str, np.ndarray], capture: Sequence[str] = ()) -> RunResult:
        """Run once; ``capture`` is a subset of the names given when opening (or outputs)."""
        check_feeds(feeds, self.input_names, self.label)
        not_opened = [n for n in capture if n not in self._fetch]
        if not_opened:
            raise ExecutorError(f"{self.label}: {not_opened[:5]} were not named in capture= "
                                "when the executor was opened")
        arrays = {n: np.ascontiguousarray(np.asarray(feeds[n]).astype(dt, copy=False))
                  for n, _, dt in self.inputs}
        try:
            outs = self.session.run(self._fetch, arrays)
        except Exception as e:  # noqa: BLE001 - onnxruntime has its own exception types
            shapes = {k: list(a.shape) for k, a in arrays.items()}
            reason = f"{type(e).__name__}: {' '.join(str(e).split())}"
            raise ExecutorError(f"{self.label} (input shapes {shapes}) failed in onnxruntime: "
                                f"{reason}", reason) from None
        got = dict(zip(self._fetch, outs))
        return RunResult({n: got[n] for n in self.output_names}, {n: got[n] for n in capture})


def _with_outputs(proto: Any, names: list[str], fail: Any) -> Any:
    """A copy of ``proto`` whose graph also outputs ``names`` (types by shape inference)."""
    import onnx
    from onnx import helper, shape_inference

    model = onnx.ModelProto()
    model.CopyFrom(proto)
    try:
        inferred = shape_inference.infer_shapes(model)
    except Exception as e:  # noqa: BLE001 - onnx raises its own types
        raise fail(f"ONNX shape inference failed, so intermediate values cannot be "
                   f"captured ({' '.join(str(e).split())[:300]})") from None
    types = {v.name: v.type.tensor_type.elem_type for v in inferred.graph.value_info}
    untyped = [n for n in names if not types.get(n)]
    if untyped:
        raise fail(f"no element type could be inferred for {untyped[:5]}")
    for n in names:
        model.graph.output.append(helper.make_tensor_value_info(n, types[n], None))
    return model
