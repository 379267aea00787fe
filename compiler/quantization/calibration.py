"""Calibration: run a float graph on sample data and record per-tensor statistics.

Contract of :func:`calibrate`:

* Every tracked tensor (default: each float graph input and each float output of a non-const
  node) gets a :class:`~compiler.quantization.statistics.TensorStats` (min/max, zeros and a
  histogram; see :mod:`compiler.quantization.statistics` for what they hold and how the
  histogram grows).
* Tensors that a conv or gemm reads also get the sum of each channel (axis 1) over
  all samples and positions, for bias correction (:mod:`.bias_correction`).
* The model runs through the ``"onnxruntime"`` executor of :mod:`compiler.runtime` (the
  exported graph, every recorded value captured) when it can, else through the
  ``"reference"`` executor with its observer hook (each activation folded in as it is
  produced and then released); see
  ``executor`` of :func:`calibrate`. Under onnxruntime, samples run stacked in batches
  when the graph allows it (see :func:`_run_onnxruntime`); statistics do not depend on
  the batching beyond float rounding.

The sample readers (:func:`read_samples`, :func:`iter_feeds`) turn what a user gives
(arrays, feed dicts, ``.npz``/``.npy`` paths, image folders, a TFLiteConverter
``representative_dataset``, an onnxruntime ``CalibrationDataReader``) into feed dicts; the accuracy
report and the sensitivity search read their data through them too.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from compiler.ir.graph import Graph, Node, Value

from .bias_correction import corrects
from .statistics import CalibrationError, CalibrationStats, TensorStats

log = logging.getLogger(__name__)

_FALLBACKS_WARNED: set[tuple[str, str]] = set()


def _warn_fallback(graph_name: str, reason: str) -> None:
    """Say, once per graph and reason, that calibration runs in the reference interpreter
    (correct, but many times slower than onnxruntime) and why."""
    key = (graph_name, reason)
    if key in _FALLBACKS_WARNED:
        log.info("calibrating @%s with the reference interpreter: %s", graph_name, reason)
        return
    _FALLBACKS_WARNED.add(key)
    log.warning("calibrating @%s with the reference interpreter: %s (onnxruntime cannot run "
                "the graph; the interpreter is many times slower)", graph_name, reason)


# -- data ------------------------------------------------------------------------------------
def _npz_feeds(path: str | os.PathLike, graph: Graph) -> Iterator[dict[str, np.ndarray]]:
    """Samples of an ``.npz`` whose arrays are stacked along axis 0, keyed by input name.

    An array one rank above its graph input holds one sample per index (``a[i]``); an array
    of the input's own rank is a batch whose rows are fed one at a time (``a[i:i+1]``).
    """
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise CalibrationError(f"calibration data {path}: unreadable .npz ({e})") from e
    with z:
        names = [v.name for v in graph.inputs]
        missing = [n for n in names if n not in z.files]
        if missing:
            raise CalibrationError(
                f"calibration data {path} lacks arrays for graph inputs {missing}; it holds "
                f"{z.files}. Save one array per input, keyed by the input's name.")
        arrays = {n: z[n] for n in names}
    lengths = {n: a.shape[0] if a.ndim else 0 for n, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise CalibrationError(f"calibration data {path}: arrays have different sample counts "
                               f"along axis 0: {lengths}")
    n = next(iter(lengths.values()), 0)
    rank = {v.name: v.type.rank for v in graph.inputs}
    for i in range(n):
        yield {k: (a[i:i + 1] if rank[k] == a.ndim else a[i]) for k, a in arrays.items()}


def as_feed(sample: Any, graph: Graph, index: int) -> dict[str, Any]:
    """Sample ``index`` as a feed dict: a mapping as is, a list or tuple of arrays in graph
    input order (TFLiteConverter's ``representative_dataset`` convention), a bare array for
    the single input."""
    if isinstance(sample, Mapping):
        return dict(sample)
    if isinstance(sample, (list, tuple)) and sample and \
            all(isinstance(a, np.ndarray) for a in sample):
        names = [v.name for v in graph.inputs]
        if len(sample) != len(names):
            raise CalibrationError(
                f"calibration sample {index} is a list of {len(sample)} arrays, but graph "
                f"@{graph.name} has {len(names)} inputs ({', '.join(names)}); yield one array "
                "per input, in input order, or a dict keyed by input name")
        return dict(zip(names, sample))
    if len(graph.inputs) != 1:
        raise CalibrationError(
            f"calibration sample {index} is a bare array, but graph @{graph.name} has "
            f"{len(graph.inputs)} inputs ({', '.join(v.name for v in graph.inputs)}); "
            "give each sample as a dict keyed by input name")
    return {graph.inputs[0].name: sample}


def _npy_feeds(path: Path, graph: Graph) -> tuple[Iterator[Any], int]:
    """Samples of one ``.npy`` array stacked along axis 0 (single-input graphs)."""
    if len(graph.inputs) != 1:
        raise CalibrationError(f"calibration data {path} is one array, but graph "
                               f"@{graph.name} has {len(graph.inputs)} inputs; use an .npz "
                               "with one array per input name")
    try:
        a = np.load(path, allow_pickle=False, mmap_mode="r")
    except (OSError, ValueError) as e:
        raise CalibrationError(f"calibration data {path}: unreadable .npy ({e})") from e
    v = graph.inputs[0]
    if a.ndim == 0:
        raise CalibrationError(f"calibration data {path} is a scalar; stack samples along "
                               "axis 0")
    batch = v.type.rank == a.ndim  # rows are fed one at a time, keeping the batch axis
    return ((np.asarray(a[i:i + 1] if batch else a[i]) for i in range(a.shape[0])),
            int(a.shape[0]))


def read_samples(data: Any, graph: Graph, preprocess: Any = None
                 ) -> tuple[Iterable[Any], int | None]:
    """The samples of ``data`` (anything :func:`calibrate` takes) and their count if known.

    Besides paths and iterables, two other tools' conventions are read as they are written
    for those tools: TFLiteConverter's ``representative_dataset`` (a function called with
    no arguments that returns an iterable, typically a generator, of samples, each a list
    of arrays in input order or a dict keyed by input name; it is called again on each
    read) and onnxruntime's ``CalibrationDataReader`` (an object, or a class to instantiate,
    whose ``get_next()`` returns a feed dict, then None at the end).
    A sample is a feed dict, a list of arrays in input order or a bare array (see
    :func:`as_feed`); raises :class:`CalibrationError` for data that does not exist or
    cannot be read.
    """
    if isinstance(data, (str, os.PathLike)):
        p = Path(data)
        if not p.exists():
            raise CalibrationError(f"calibration data {p} does not exist")
        if p.is_dir():
            from .images import ImageFolder

            if len(graph.inputs) != 1:
                raise CalibrationError(
                    f"calibration images in {p}: graph @{graph.name} has "
                    f"{len(graph.inputs)} inputs; a directory of images feeds one image input")
            folder = ImageFolder(p, graph.inputs[0], preprocess)
            log.info("calibrating on %s", folder)
            return folder, len(folder)
        if p.suffix.lower() == ".npy":
            return _npy_feeds(p, graph)
        with np.load(p, allow_pickle=False) as z:
            first = z[z.files[0]] if z.files else np.zeros((0,))
            total = first.shape[0] if first.ndim else 0
        return _npz_feeds(p, graph), total
    if isinstance(data, np.ndarray):
        raise CalibrationError("calibration data is one array; pass a list of samples (or an "
                               ".npz path) so it is clear which axis enumerates samples")
    if callable(data) and (isinstance(data, type) or not hasattr(data, "get_next")):
        # TFLiteConverter's representative_dataset: a function returning a fresh generator
        # (or a reader class): each use calls it again, so the report can re-read the data
        data = data()
    if hasattr(data, "get_next"):
        return _reader_samples(data), None
    try:
        total = len(data)
    except TypeError:
        total = None
    try:
        return iter(data), total
    except TypeError:
        raise CalibrationError(f"calibration data of type {type(data).__name__} is not "
                               "iterable; give a list of feed dicts or arrays, or an .npz path"
                               ) from None


def _reader_samples(reader: Any) -> Iterator[Any]:
    """The samples of an onnxruntime ``CalibrationDataReader``: ``get_next()`` until None."""
    while True:
        sample = reader.get_next()
        if sample is None:
            return
        yield sample


def replayable(data: Any) -> Any:
    """``data`` as something that can be read more than once (calibration, then the accuracy
    report): a one-shot source (an iterator or generator, a ``CalibrationDataReader``
    instance) is read into a list of its samples; paths, lists and functions are returned
    as they are."""
    if isinstance(data, (str, os.PathLike, np.ndarray, Mapping)) or callable(data):
        return data
    if hasattr(data, "get_next"):
        return list(_reader_samples(data))
    if hasattr(data, "__next__"):
        return list(data)
    return data


def iter_feeds(graph: Graph, data: Any, max_samples: int | None,
               preprocess: Any = None) -> Iterator[dict[str, Any]]:
    """Feed dicts from anything :func:`calibrate` takes, the first ``max_samples`` (None: all)
    (``preprocess``: the recipe for a directory of images)."""
    samples, _ = read_samples(data, graph, preprocess)
    it: Iterable[Any] = samples if max_samples is None else islice(samples, max_samples)
    for i, s in enumerate(it):
        yield as_feed(s, graph, i)


# -- tensor selection ------------------------------------------------------------------------
def default_tensors(graph: Graph) -> list[Value]:
    """Float graph inputs and float outputs of non-const nodes, in graph order."""
    out = [v for v in graph.inputs if v.type.dtype.is_float]
    for node in graph.nodes:
        if node.op == "const":
            continue
        out.extend(v for v in node.outputs if v.type.dtype.is_float)
    return out


EXECUTORS = ("auto", "onnxruntime", "interpreter", "reference")


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class _Recorder:
    """The recorded values of one calibration run, from an onnxruntime executor.

    ``run`` returns the values of ``record`` in order, followed by the channel sums the
    executor computed beside the model; ``channel_outputs[k]`` is the position of
    record[k]'s sums in that list (None when it has none). Outputs are preallocated and
    reused by the executor (see ``reuse_outputs`` of
    :class:`targets.onnx.runtime.OnnxruntimeExecutor`): a result is valid until the
    next-but-one run, which is how :func:`_run_onnxruntime` consumes them.
    """

    def __init__(self, executor: Any, record: list[str]):
        self.executor = executor
        self.graph = executor.graph
        self.batchable = executor.batchable
        self.names = record
        sums = [n for n in record if n in executor.channel_sum_names]
        self.channel_outputs: list[int | None] = [
            len(record) + sums.index(n) if n in sums else None for n in record]
        self._sums = sums

    def run(self, feed: Mapping[str, Any], index: int, count: int = 1) -> list[np.ndarray]:
        """The recorded values for one feed (``count`` samples from ``index`` stacked), in
        ``record`` order, then the channel sums."""
        from compiler.runtime import ExecutorError
        from compiler.runtime.base import check_feeds

        check_feeds(feed, self.executor.input_names, f"graph @{self.graph.name}")
        try:
            r = self.executor.run(feed, self.names)
        except ExecutorError as e:
            shapes = {k: np.shape(a) for k, a in feed.items()}
            which = f"sample {index}" if count == 1 else f"samples {index}-{index + count - 1}"
            raise CalibrationError(
                f"calibration {which} (input shapes {shapes}) failed in onnxruntime: "
                f"{e.reason}; check the sample against the "
                f"inputs of @{self.graph.name}, or calibrate with executor='interpreter' "
                "for a per-node error") from None
        return [r.captured[n] for n in self.names] + [r.channel_sums[n] for n in self._sums]

    def forget_shapes(self) -> None:
        """Let the next run's input shapes choose the preallocated outputs."""
        self.executor.forget_shapes()


# Samples run through onnxruntime in batches of about this many bytes of recorded outputs:
# per run and per statistics update there is a fixed cost (Python, onnxruntime's own), which
# on small models outweighs the per-element work; bigger batches gain little more and cost
# memory (two batches of outputs are alive at once).
_BATCH_BYTES = 32 << 20
_MAX_BATCH = 64


def _update_inputs(inputs: list[tuple[str, TensorStats]], feeds: list[dict[str, Any]]) -> None:
    for name, t in inputs:
        arrays = [np.asarray(f[name]) for f in feeds if name in f]
        if len(arrays) > 1 and len({(a.ndim, a.shape[1:]) for a in arrays}) == 1 \
                and arrays[0].ndim:
            arrays = [np.concatenate(arrays)]  # one update: the fixed cost is per call
        for a in arrays:
            t.update(a)


def _stack(feeds: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    if len(feeds) == 1:
        return feeds[0]
    return {k: np.concatenate([np.asarray(f[k]) for f in feeds]) for k in feeds[0]}


def _shape_key(feed: Mapping[str, Any]) -> tuple:
    return tuple(sorted((k, np.shape(a)[1:], np.asarray(a).dtype.str) for k, a in feed.items()))


def _batches(feeds: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    """Consecutive feeds in groups of up to ``size`` whose shapes agree but for axis 0."""
    group: list[dict[str, Any]] = []
    key = None
    for feed in feeds:
        k = _shape_key(feed)
        if group and (k != key or len(group) == size):
            yield group
            group = []
        group.append(feed)
        key = k
    if group:
        yield group


def _rows_agree(batched: list[Any], count: int, singles: dict[int, list[Any]]) -> bool:
    """Whether the outputs of ``count`` stacked samples hold, at each checked sample's
    place, what that sample gives alone (``singles``: position -> its outputs), up to float
    reassociation in onnxruntime's batched kernels. Checking the last sample as well as the
    first catches graphs that carry state along axis 0 (a sequence axis mistaken for a
    batch), where the first sample alone still agrees."""
    for j, b in enumerate(batched):
        first = singles[0][j]
        if not (isinstance(b, np.ndarray) and isinstance(first, np.ndarray)) or first.ndim == 0:
            return False
        rows = first.shape[0]
        if b.shape[1:] != first.shape[1:] or b.shape[0] != count * rows:
            return False
        for pos, outs in singles.items():
            s = outs[j]
            got = b[pos * rows:(pos + 1) * rows]
            if got.shape != s.shape:
                return False
            if b.dtype.kind == "f":
                tol = 1e-4 * float(np.max(np.abs(s), initial=0.0)) + 1e-30
                with np.errstate(invalid="ignore"):
                    if not np.all(np.abs(got - s) <= tol):
                        return False
            elif not np.array_equal(got, s):
                return False
    return True


def _run_onnxruntime(runner: _Recorder, feeds: Iterator[dict[str, Any]],
                     targets: list[TensorStats], inputs: list[tuple[str, TensorStats]],
                     bar: Any) -> int:
    """Run every feed through ``runner``, folding the outputs into ``targets``; the count.

    The first sample runs alone. When the graph's inputs take a batch axis, the samples
    after it run in stacked batches of about :data:`_BATCH_BYTES` of outputs, provided the
    first batch (which repeats the first sample) reproduces, in its rows, what its first
    and its last sample give alone; otherwise (a reshape that fixes the batch size, state
    carried along axis 0) every sample runs alone. onnxruntime releases the GIL while it runs, so batch k+1 runs while batch k's
    outputs are folded into the statistics, one batch of outputs in flight.
    """
    from concurrent.futures import ThreadPoolExecutor

    def fold(outs: list[Any], count: int, skip: list[int] | None = None) -> None:
        for k, (t, arr) in enumerate(zip(targets, outs)):
            if isinstance(arr, np.ndarray):
                j = runner.channel_outputs[k]
                sums = None if j is None else outs[j][skip[k]:] if skip else outs[j]
                t.update(arr[skip[k]:] if skip else arr, channel_sums=sums)
        if bar is not None:
            bar.update(count)

    first = next(feeds, None)
    if first is None:
        return 0
    _update_inputs(inputs, [first])
    single = runner.run(first, 0)
    fold(single, 1)
    n = 1
    per_sample = sum(a.nbytes for a in single if isinstance(a, np.ndarray))
    size = 1
    if runner.batchable:
        size = int(min(_MAX_BATCH, max(1, _BATCH_BYTES // max(per_sample, 1))))
    if size > 1:
        key = _shape_key(first)
        probe = [first]
        for feed in feeds:
            if _shape_key(feed) != key:
                feeds = itertools.chain([feed], feeds)
                break
            probe.append(feed)
            if len(probe) == size:
                break
        if len(probe) > 1:
            try:
                # copies: a repeated input shape may return preallocated output arrays
                last = [np.array(a) for a in runner.run(probe[-1], len(probe) - 1)]
                outs = runner.run(_stack(probe), 0, len(probe))
                agree = _rows_agree(outs, len(probe), {0: single, len(probe) - 1: last})
            except CalibrationError as e:
                log.debug("calibration: batched run failed (%s)", e)
                agree = False
            rest = probe[1:]
            _update_inputs(inputs, rest)
            if agree:
                fold(outs, len(rest), skip=[a.shape[0] for a in single])
                runner.forget_shapes()
                log.info("calibration: @%s runs %d samples per batch", runner.graph.name, size)
            else:
                log.info("calibration: @%s does not run samples as one batch; running them "
                         "one at a time", runner.graph.name)
                size = 1
                for k, feed in enumerate(rest):
                    fold(runner.run(feed, n + k), 1)
            n += len(rest)

    def result(future: Any, group: list[dict[str, Any]], start: int) -> list[Any]:
        try:
            return future.result()
        except CalibrationError:
            # name the sample: run the batch's samples one at a time
            for k, feed in enumerate(group if len(group) > 1 else ()):
                runner.run(feed, start + k)
            raise

    pending = None
    with ThreadPoolExecutor(1, thread_name_prefix="infercc-calibrate") as pool:
        try:
            for group in _batches(feeds, size):
                _update_inputs(inputs, group)
                future = pool.submit(runner.run, _stack(group), n, len(group))
                if pending is not None:
                    fold(result(*pending), len(pending[1]))
                pending = (future, group, n)
                n += len(group)
            if pending is not None:
                fold(result(*pending), len(pending[1]))
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return n


def calibrate(
    graph: Graph,
    data: Any,
    *,
    tensors: Iterable[str] | None = None,
    bins: int = 2048,
    progress: Any = True,
    preprocess: Any = None,
    executor: str = "auto",
) -> CalibrationStats:
    """Run ``graph`` on every sample of ``data`` and return per-tensor statistics.

    ``data``: feed dicts (input name -> array), bare arrays (single-input graphs), an
    ``.npz`` path (see :func:`_npz_feeds`), an ``.npy`` path (one array of samples stacked
    along axis 0, single-input graphs), a directory of images (single image-like input;
    ``preprocess`` is the recipe string, default
    :data:`compiler.quantization.images.DEFAULT_RECIPE`, see that module), any iterable
    yielding feeds, a TFLiteConverter ``representative_dataset`` function or an onnxruntime
    ``CalibrationDataReader`` (see :func:`read_samples`). ``tensors``
    restricts which values are recorded (names; default :func:`default_tensors`). ``bins``
    must be a multiple of 4 and at least 256 (the entropy method needs 128 |x| bins).
    ``progress``: ``True`` shows a tqdm bar (samples/s) on stderr, ``False`` nothing, a
    callable is :data:`compiler.progress.ProgressFactory`. Each feed counts as one sample.

    ``executor`` runs the model: ``"interpreter"`` (or ``"reference"``) is the reference
    executor of :mod:`compiler.runtime` (each activation folded in as it is produced);
    ``"onnxruntime"`` is the onnxruntime executor (the graph exported in memory, every
    recorded value captured, per-channel sums computed beside the model; several times
    faster on conv nets; values agree with the interpreter to float32 rounding, so min/max
    may differ in the last bits and a value within rounding of a bin edge may land in the
    neighbouring bin);
    ``"auto"`` (default) uses onnxruntime when it imports and accepts the export, else the
    interpreter, logging which and why at INFO.
    """
    if bins < 256 or bins % 4:
        raise CalibrationError(f"calibrate: bins={bins}; use a multiple of 4 that is >= 256")
    if executor not in EXECUTORS:
        raise CalibrationError(f"calibrate: executor={executor!r}; use one of "
                               f"{', '.join(EXECUTORS)}")
    from compiler._version import __version__

    if tensors is None:
        chosen = default_tensors(graph)
    else:
        by_name = {v.name: v for v in graph.values()}
        wanted = list(tensors)
        unknown = [n for n in wanted if n not in by_name]
        if unknown:
            raise CalibrationError(f"calibrate: graph @{graph.name} has no values named "
                                   f"{unknown}")
        chosen = [by_name[n] for n in wanted]
    weighted_inputs = {id(n.input(0)) for n in graph.nodes
                       if corrects(n) and n.inputs and n.input(0) is not None}
    stats = {v.name: TensorStats(v.name, bins, channels=id(v) in weighted_inputs)
             for v in chosen}
    by_id = {id(v): stats[v.name] for v in chosen}
    inputs = [(v.name, stats[v.name]) for v in graph.inputs if v.name in stats]

    def observer(node: Node, outs: list[np.ndarray]) -> None:
        for v, arr in zip(node.outputs, outs):
            t = by_id.get(id(v))
            if t is not None and isinstance(arr, np.ndarray):
                t.update(arr)

    samples, total = read_samples(data, graph, preprocess)
    input_ids = {id(v) for v in graph.inputs}
    recorded = [v for v in chosen if id(v) not in input_ids]
    ort_runner = None
    if executor not in ("interpreter", "reference"):
        from compiler.runtime import ExecutorError, open_executor

        try:
            # one core is left to folding the previous batch into the statistics, which
            # runs meanwhile; with every core, onnxruntime's spinning workers and the fold
            # slow each other down (EfficientNet-Lite0 on 2 cores: 36 -> 26 ms per sample)
            ort = open_executor(
                "onnxruntime", graph, capture=[v.name for v in recorded],
                channel_sums=[v.name for v in recorded if stats[v.name].channels],
                threads=max(1, _cores() - 1), batch=True, reuse_outputs=True)
            ort_runner = _Recorder(ort, [v.name for v in recorded])
        except ExecutorError as e:
            if executor == "onnxruntime":
                raise CalibrationError(f"calibrate: executor='onnxruntime' cannot run "
                                       f"@{graph.name}: {e.reason}; use "
                                       "executor='interpreter'") from None
            _warn_fallback(graph.name, e.reason)
    if ort_runner is not None:
        log.info("calibrating @%s with onnxruntime (%d recorded tensors)", graph.name,
                 len(stats))
    from compiler.progress import open_progress

    bar = open_progress(progress, f"calibrating @{graph.name}", total)
    feeds = (as_feed(sample, graph, i) for i, sample in enumerate(samples))
    try:
        if ort_runner is not None:
            n = _run_onnxruntime(ort_runner, feeds, [stats[v.name] for v in recorded],
                                 inputs, bar)
        else:
            from compiler.runtime import open_executor

            n = 0
            reference = open_executor("reference", graph, observer=observer)
            for feed in feeds:
                _update_inputs(inputs, [feed])
                reference.run(feed)
                n += 1
                bar.update(1)
    finally:
        bar.close()
    if n == 0:
        raise CalibrationError("calibration data yielded no samples")
    unseen = [name for name, t in stats.items() if not t.seen]
    if unseen:
        log.warning("calibration: %d tensor(s) saw no finite values: %s", len(unseen),
                    ", ".join(unseen[:8]))
    log.info("calibrated %d tensors of @%s on %d samples", len(stats), graph.name, n)
    return CalibrationStats(graph.name, n, bins, stats, __version__)
