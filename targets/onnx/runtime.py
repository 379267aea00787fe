"""The onnxruntime executor: an IR graph exported to ONNX (in memory) and run on the CPU.

Contract (see :mod:`compiler.runtime.base`): the model is an IR
:class:`~compiler.ir.graph.Graph`; feeds are keyed by IR input names and cast to the IR
input dtypes; outputs and captures are keyed by IR value names. The exporter keeps
main-graph value names (they are claimed before anything else and IR names are unique)
except the few it renames (``renamed``), so each captured IR value is the ONNX value of that
name, made an extra graph output.
Capture names are fixed when the executor is opened (``capture=``): onnxruntime computes
only what a session was built to return. A name the exported model does not define (a dead
constant, a value inside a subgraph) fails the open rather than being silently left out.

Options:

* ``capture``: IR value names that :meth:`OnnxruntimeExecutor.run` may capture.
* ``channel_sums``: names among ``capture`` (rank >= 3) whose per-channel sums over the
  spatial axes (``[N, C]``) are computed by onnxruntime beside the model (a ReduceSum) and
  returned in :attr:`RunResult.channel_sums`; statistics that need channel means get them
  without a numpy pass over the activation (calibration's statistics fold is the slower
  side of its pipeline: EfficientNet-Lite0, 5 ms per sample less).
* ``threads``: onnxruntime's intra-op threads (default: its own choice).
* ``batch``: make a leading input dimension of 1 symbolic so that several samples stacked
  along axis 0 run as one call; :attr:`OnnxruntimeExecutor.batchable` says whether that was
  possible. Whether the graph really treats samples independently is the caller's to check.
* ``reuse_outputs``: write outputs into two preallocated sets of arrays, alternating
  between runs with the same input shapes. The arrays of run n are then overwritten by run
  n+2: for loops that consume each result before the next-but-one run (calibration).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from compiler.errors import InferccError
from compiler.interpreter import _coerce
from compiler.ir.graph import Graph
from compiler.runtime.base import ExecutorError, RunResult, check_feeds

log = logging.getLogger(__name__)

_BATCH_DIM = "infercc_batch"


class OnnxruntimeExecutor:
    """Runs an IR graph in onnxruntime's CPU provider (see the module doc for options)."""

    name = "onnxruntime"

    def __init__(self, graph: Graph, *, capture: Iterable[str] = (),
                 channel_sums: Iterable[str] = (), threads: int | None = None,
                 batch: bool = False, reuse_outputs: bool = False) -> None:
        if not isinstance(graph, Graph):
            raise ExecutorError(f"the onnxruntime executor runs an IR Graph, not "
                                f"{type(graph).__name__}; load the model first "
                                "(compiler.load)")
        self.graph = graph

        def fail(reason: str) -> ExecutorError:
            return ExecutorError(f"onnxruntime cannot run @{graph.name}: {reason}", reason)

        try:
            import onnxruntime as ort
        except ImportError as e:
            raise fail(f"onnxruntime does not import ({e})") from None
        from onnx import TensorProto, helper

        from .exporter import export_onnx
        from .tensors import elem_type

        try:
            renamed: dict[str, str] = {}
            model = export_onnx(graph, value_info=False, renamed=renamed)
        except InferccError as e:
            raise fail(f"the ONNX export failed: {str(e).splitlines()[0]}") from None
        g = model.graph
        by_name = {v.name: v for v in graph.values()}
        capture = list(dict.fromkeys(capture))
        unknown = [n for n in capture if n not in by_name]
        if unknown:
            raise fail(f"the graph has no values named {unknown[:5]}")
        record = [by_name[n] for n in capture]
        defined = ({i.name for i in g.input} | {t.name for t in g.initializer}
                   | {o for n in g.node for o in n.output})
        onnx_name = {v.name: renamed.get(v.name, v.name) for v in record}
        missing = [v.name for v in record if onnx_name[v.name] not in defined]
        if missing:
            raise fail(f"the exported model does not define {missing[:5]}")
        present = {o.name for o in g.output}
        # A leading dim of 1 or a symbolic one is made symbolic, so that several samples can
        # run as one batch.
        self.batchable = batch and bool(g.input) and all(
            v.type.rank and not (isinstance(v.type.shape[0], int) and v.type.shape[0] != 1)
            for v in graph.inputs)
        if self.batchable:
            for i in g.input:
                dims = i.type.tensor_type.shape.dim
                dims[0].Clear()
                dims[0].dim_param = _BATCH_DIM
            # shapes inferred for the fixed batch (the opset conversion records them) would
            # now be wrong; onnxruntime infers them again
            del g.value_info[:]
            for o in g.output:
                o.type.tensor_type.ClearField("shape")
        try:
            types = {v.name: elem_type(v.type.dtype) for v in record}
        except (KeyError, ValueError) as e:
            raise fail(f"a captured value has no ONNX element type ({e})") from None
        for v in record:
            if onnx_name[v.name] not in present:
                # element type only: the IR's (possibly symbolic) shape is not needed here
                g.output.append(helper.make_tensor_value_info(onnx_name[v.name],
                                                              types[v.name], None))
                present.add(onnx_name[v.name])
        self.input_names = [v.name for v in graph.inputs]
        self.output_names = [v.name for v in graph.outputs]
        self.capture_names = capture
        # fetched, in this order: outputs, then captures, then channel sums (deduplicated);
        # ONNX names (interface names are never renamed)
        self._fetch = list(dict.fromkeys(self.output_names
                                         + [onnx_name[n] for n in capture]))
        self._sums: dict[str, str] = {}  # captured name -> its channel-sum output
        wanted = set(channel_sums)
        unknown = sorted(wanted - set(capture))
        if unknown:
            raise fail(f"channel_sums names {unknown[:5]}, which are not captured")
        for v in record:
            if v.name not in wanted or not v.type.rank or v.type.rank < 3:
                continue
            axes = f"infercc_spatial_axes_{v.type.rank}"
            if axes not in defined:
                g.initializer.append(helper.make_tensor(axes, TensorProto.INT64,
                                                        [v.type.rank - 2],
                                                        list(range(2, v.type.rank))))
                defined.add(axes)
            out = f"{v.name}__infercc_channel_sum"
            while out in defined:
                out += "_"
            defined.add(out)
            g.node.append(helper.make_node("ReduceSum", [onnx_name[v.name], axes], [out],
                                           keepdims=0, name=out))
            g.output.append(helper.make_tensor_value_info(out, types[v.name], None))
            self._sums[v.name] = out
            self._fetch.append(out)
        # IR name (and channel-sum output) -> index in the fetched list
        self._position = {n: k for k, n in enumerate(self._fetch)}
        self._position.update({n: self._position[onnx_name[n]] for n in capture})
        #: the captured names whose channel sums each run returns
        self.channel_sum_names = list(self._sums)
        self.reuse_outputs = reuse_outputs
        try:
            so = ort.SessionOptions()
            # onnxruntime also prints a failing kernel's error on stderr; the caller gets it
            # as an ExecutorError (calibration's batch probe expects some), so its own lines
            # show only with INFO logging on (`infercc -v`)
            so.log_severity_level = 2 if log.isEnabledFor(logging.INFO) else 4
            if threads is not None:
                so.intra_op_num_threads = max(1, int(threads))
            self.session = ort.InferenceSession(model.SerializeToString(), so,
                                                providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - onnxruntime has its own exception types
            raise fail(f"onnxruntime rejects the exported model: "
                       f"{type(e).__name__}: {' '.join(str(e).split())}") from None

    def run(self, feeds: Mapping[str, np.ndarray], capture: Sequence[str] = ()) -> RunResult:
        """Run once; ``capture`` is a subset of the names given when opening."""
        check_feeds(feeds, self.input_names, f"graph @{self.graph.name}")
        not_opened = [n for n in capture if n not in self._position]
        if not_opened:
            raise ExecutorError(
                f"onnxruntime executor of @{self.graph.name}: {not_opened[:5]} were not "
                "named in capture= when it was opened; onnxruntime returns only what its "
                "session was built to return")
        arrays = {v.name: np.ascontiguousarray(_coerce(feeds[v.name], v))
                  for v in self.graph.inputs}
        outs = self._run(arrays)
        pos = self._position
        return RunResult({n: outs[pos[n]] for n in self.output_names},
                         {n: outs[pos[n]] for n in capture},
                         {n: outs[pos[s]] for n, s in self._sums.items()})

    def _run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        key = tuple((a.shape, a.dtype.str) for a in feeds.values())
        try:
            if self._slots is not None and key == self._key:
                try:
                    return self._run_bound(feeds)
                except Exception as e:  # noqa: BLE001 - e.g. a data-dependent output shape
                    log.debug("onnxruntime: preallocated outputs unusable (%s); plain runs", e)
                    self._slots = None
            outs = self.session.run(self._fetch, feeds)
        except Exception as e:  # noqa: BLE001 - onnxruntime has its own exception types
            shapes = {k: a.shape for k, a in feeds.items()}
            reason = f"{type(e).__name__}: {' '.join(str(e).split())}"
            raise ExecutorError(f"@{self.graph.name} (input shapes {shapes}) failed in "
                                f"onnxruntime: {reason}", reason) from None
        if self.reuse_outputs and self._key is None:
            self._key = key
            self._slots = self._make_slots(outs)
        return outs

    # Outputs are written into two preallocated sets of arrays, alternating: onnxruntime
    # otherwise allocates fresh output memory on every run, and touching it (page faults)
    # was ~15% of FER's calibration time. Two sets, because a caller may consume run n
    # while run n+1 is in flight; run n+2 starts only after run n was consumed.
    _key: tuple | None = None
    _slots: list | None = None
    _turn: int = 0

    def forget_shapes(self) -> None:
        """Let the next run's input shapes choose the preallocated outputs."""
        self._key = self._slots = None

    def _make_slots(self, outs: list[Any]) -> list | None:
        if not all(isinstance(a, np.ndarray) and a.flags.c_contiguous for a in outs):
            return None
        slots = []
        for _ in range(2):
            arrays = [np.empty_like(a) for a in outs]
            binding = self.session.io_binding()
            for name, a in zip(self._fetch, arrays):
                binding.bind_output(name, "cpu", 0, a.dtype, list(a.shape), a.ctypes.data)
            slots.append((binding, arrays))
        return slots

    def _run_bound(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        binding, arrays = self._slots[self._turn]
        self._turn ^= 1
        for name, a in feeds.items():
            binding.bind_cpu_input(name, a)
        self.session.run_with_iobinding(binding)
        return arrays
