"""What several ``infercc`` commands share: exit codes, the usage error, model loading,
``--input-shape`` parsing and the pass manager's observation flags.

This module imports only the standard library and infercc's light modules at import time:
every command module imports it, and ``infercc passes`` should start fast.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

from ..errors import InferccError, ModelLoadError, PipelineError
from ..input_shapes import override_input_shapes
from ..layout import LAYOUTS, SOURCE_LAYOUTS

MODEL_HELP = "model: .onnx, .tflite, .prototxt, .keras/.h5/.pb, SavedModel directory, .pt2 or .ir"

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USER = 2


class UsageError(InferccError):
    """A command-line argument is malformed (not a model or pipeline problem)."""


# -- flags -----------------------------------------------------------------------------------


def add_input_shape(p: argparse.ArgumentParser) -> None:
    """``--input-shape``, ``--layout`` and ``--weights``: how a command's model is loaded
    (see :func:`load_model`)."""
    p.add_argument("--input-shape", metavar="NAME:DIMS", action="append", default=[],
                   help="fix an input's shape, e.g. input:1x3x224x224 or input:1,3,224,224 "
                   "(a dim may be a symbol such as N or batch, or ? / -1: it stays dynamic); "
                   "repeatable")
    p.add_argument("--layout", type=str.upper, choices=LAYOUTS,
                   help="axis order of the model's 4-D inputs and outputs (default: the "
                   "source's own: NHWC for Keras/TensorFlow/TFLite, NCHW for "
                   "ONNX/PyTorch/Caffe)")
    p.add_argument("--weights", metavar="FILE",
                   help="Caffe weights (.caffemodel) for a .prototxt; default: the one beside it")


def add_pass_plugin(p: argparse.ArgumentParser) -> None:
    """``--pass-plugin FILE.py`` (repeatable; see :func:`load_pass_plugins`)."""
    p.add_argument("--pass-plugin", metavar="FILE.py", action="append", default=[],
                   help="load the passes a Python file defines (Pass subclasses), without "
                   "packaging it as a plugin; repeatable")


def load_pass_plugins(args: argparse.Namespace) -> None:
    """Register the passes of each ``--pass-plugin`` file (once per file) in the default
    registry; raises :class:`PipelineError` naming a file that cannot be used."""
    if not args.pass_plugin:
        return
    from ..pass_manager import load_pass_file

    for path in dict.fromkeys(os.path.abspath(p) for p in args.pass_plugin):
        load_pass_file(path)


def add_instrument_flags(p: argparse.ArgumentParser) -> None:
    """The pass manager's observation flags (see :func:`instruments`)."""
    p.add_argument("--print-ir-after", metavar="NAME|all", action="append", default=[],
                   help="print the IR to stderr after the named pass (repeatable, or "
                   "comma-separated) or after every pass ('all')")
    p.add_argument("--print-ir-after-change", action="store_true",
                   help="print the IR only after passes that changed it (with --print-ir-after "
                   "limits those; alone it means after any pass that changes the graph)")
    p.add_argument("--dump-dir", metavar="DIR",
                   help="write 000_input.ir, 001_<pass>.ir, ... into DIR (numbered dumps from "
                   "an earlier run there are replaced)")
    p.add_argument("--dump-data", action="store_true",
                   help="include tensor data in --dump-dir files (makes them loadable)")
    p.add_argument("--no-verify", action="store_true",
                   help="do not verify the IR after each pass (faster; bugs surface later)")
    p.add_argument("--reproducer", metavar="PATH",
                   help="where to write a crash reproducer if a pass fails (default: a file "
                   "in the temp directory)")


def instruments(args: argparse.Namespace, pipeline: Any, *, timing: bool = True) -> list:
    """The instruments ``--print-ir-after``, ``--print-ir-after-change``, ``--dump-dir`` and
    (with ``timing``) ``--timing`` ask for, for ``pipeline`` (its pass names are checked).

    Requires ``args`` from a parser given :func:`add_instrument_flags` (and ``--timing`` when
    ``timing``); raises :class:`PipelineError` when ``--print-ir-after`` names a pass that is
    not in ``pipeline``.
    """
    from ..pass_manager import DumpIR, PrintIR, Timing

    chosen: list = []
    after = [n.strip() for spec in args.print_ir_after for n in spec.split(",") if n.strip()]
    if after or args.print_ir_after_change:
        if "all" in after or not after:
            sel: Any = "all"
        else:
            names_in_pipeline = {p.name for p in pipeline}
            missing = [n for n in after if n not in names_in_pipeline]
            if missing:
                raise PipelineError(
                    f"--print-ir-after {', '.join(missing)}: not in the pipeline "
                    f"({pipeline or 'empty'}); name a pass of the pipeline or 'all'"
                )
            sel = after
        chosen.append(PrintIR(sel, only_on_change=args.print_ir_after_change,
                                   stream=sys.stderr))
    if args.dump_dir:
        chosen.append(DumpIR(args.dump_dir, with_data=args.dump_data))
    if timing and args.timing:
        chosen.append(Timing(stream=sys.stderr))
    return chosen


def reproducer_path(args: argparse.Namespace) -> str | None:
    """Where a crashing pass's reproducer goes: ``--reproducer``, else a file in the temp
    directory named after the model and process; None when ``args.model`` is itself a
    reproducer being replayed (one failing again would only write a copy of its input)."""
    if args.reproducer:
        return args.reproducer
    if recorded_pipeline(args.model) is not None:
        return None
    return os.path.join(
        tempfile.gettempdir(), f"infercc-reproducer-{Path(args.model).stem}-{os.getpid()}.ir"
    )


def recorded_pipeline(path: str) -> str | None:
    """The pipeline a crash reproducer ``path`` records in its head, or None (also for any
    file that is not a readable ``.ir``: the loader reports those)."""
    from ..pass_manager import read_reproducer_pipeline

    if not path.lower().endswith(".ir"):
        return None
    try:
        # undecodable bytes are the loader's to report, with their line and column
        with open(path, encoding="utf-8", errors="replace") as f:
            head = f.read(64 * 1024)
    except OSError:
        return None
    return read_reproducer_pipeline(head)


def default_pipeline() -> str:
    """The default pass pipeline's text, for help texts ("" when ``passes`` is missing)."""
    try:
        from passes import DEFAULT_PIPELINE

        return DEFAULT_PIPELINE
    except ImportError:  # pragma: no cover
        return ""


# -- the terminal ------------------------------------------------------------------------------


def on_terminal(args: argparse.Namespace) -> bool:
    """Whether transient status (progress bars, "loading ...") goes to stderr: it is a
    terminal and ``-q`` was not given. Redirected stderr (logs, CI) gets none of it."""
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def progress_bars(args: argparse.Namespace) -> Any:
    """The ``progress`` argument for library calls (see :mod:`compiler.progress`): tqdm bars
    on stderr when :func:`on_terminal`, else None."""
    if not on_terminal(args):
        return None
    from ..progress import tqdm_bar

    return tqdm_bar


def framework_of(path: str) -> str | None:
    """The module of the framework (with a multi-second import) that loading ``path`` needs,
    if any: ``torch`` for .pt2, ``tensorflow`` for Keras files, frozen graphs and
    SavedModel directories."""
    from ..frontends import TF_SUFFIXES

    suffix = Path(path).suffix.lower()
    if suffix == ".pt2":
        return "torch"
    if suffix in TF_SUFFIXES or Path(path).is_dir():
        return "tensorflow"
    return None


def import_framework(args: argparse.Namespace, path: str | None = None) -> None:
    """Import the framework ``path`` (default ``args.model``) needs now, before its (multi-second) load starts.

    On a terminal it is announced first ("loading m.pt2 with torch ..."): torch and
    TensorFlow take 8-16 s with nothing else on the screen. Without ``-v`` the import runs
    with file descriptor 2 pointed at /dev/null: TensorFlow's C++ runtime prints its banner
    (absl's pre-init notice, oneDNN and CPU-feature lines) while loading, before it reads
    any setting that could turn them off. An import that fails is left to the frontend,
    which reports it.
    """
    path = path or args.model
    framework = framework_of(path)
    if framework is None or framework in sys.modules:
        return
    if on_terminal(args):
        sys.stderr.write(f"infercc: loading {Path(path).name} with {framework} ...\n")
        sys.stderr.flush()
    try:
        with native_quiet(args):
            importlib.import_module(framework)
    except ImportError:
        pass


def native_quiet(args: argparse.Namespace) -> contextlib.AbstractContextManager:
    """Without ``-v``: a context in which what native code writes to stderr (file
    descriptor 2) is discarded: TensorFlow's import banner, LiteRT's "Created TensorFlow
    Lite XNNPACK delegate" INFO line, which no setting turns off. Keep it around a native
    call only: Python's own stderr output (log records) is discarded meanwhile too."""
    return contextlib.nullcontext() if getattr(args, "verbose", 0) else _fd2_to_devnull()


@contextlib.contextmanager
def _fd2_to_devnull():
    """Point file descriptor 2 (what C++ libraries write to) at /dev/null meanwhile."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


# -- models ----------------------------------------------------------------------------------


def parse_input_shapes(specs: Sequence[str]) -> dict[str, list[Any]]:
    """``["x:1x3x224x224", "mask:Nx?", "y:1,-1"]`` ->
    ``{"x": [1,3,224,224], "mask": ["N","?"], "y": [1,"?"]}``: ints are static dims, a
    symbol (a name such as ``N`` or ``batch``) a named dynamic dim, ``?`` or ``-1`` an
    unknown one."""
    shapes: dict[str, list[Any]] = {}
    for spec in specs:
        name, sep, dims = spec.rpartition(":")
        if not sep or not name:
            raise UsageError(
                f"--input-shape {spec!r}: expected NAME:DIMS such as input:1x3x224x224"
            )
        out: list[Any] = []
        if dims.strip() not in ("", "scalar"):
            for d in dims.replace(",", "x").split("x"):
                out.append(_parse_dim(d.strip(), spec))
        shapes[name] = out
    return shapes


def _parse_dim(d: str, spec: str) -> int | str:
    if not d:
        raise UsageError(f"--input-shape {spec!r}: empty dimension")
    if d in ("?", "-1"):
        from ..ir.types import UNKNOWN_DIM

        return UNKNOWN_DIM
    if d.lstrip("-").isdigit():
        if int(d) < 0:
            raise UsageError(f"--input-shape {spec!r}: negative dimension {d} (use ? or -1 "
                             "for a dynamic one)")
        return int(d)
    if not d.isidentifier():
        raise UsageError(f"--input-shape {spec!r}: dimension {d!r} is neither a number, a "
                         "symbol such as N, nor ? / -1")
    return d


def load_model(path: str, input_shapes: dict[str, list[Any]] | None = None, *,
               check: bool = True, weights: str | None = None, layout: str | None = None,
               **frontend_options: Any):
    """Load a model file into a graph, turning IR-level errors into :class:`ModelLoadError`.

    With ``check`` the graph is verified, so an unknown op or a wrong type in an ``.ir``
    file is reported against the file rather than later by a pass. ``layout`` (``--layout``)
    gives the graph's 4-D inputs and outputs that axis order (:mod:`compiler.layout`;
    default: the source's own, as :func:`compiler.compile` has it). ``frontend_options``
    go to the frontend as they are (``cut_unsupported=True``, ``placeholder_weights=True``).
    """
    from ..frontends import is_tensorflow_source, load
    from ..layout import set_interface_layout
    from ..ir import IRError, IRParseError, VerificationError, verify
    from ..ops.registry import SchemaError

    # .ir text and torch .pt2 programs carry their shapes; the others take them at import
    frontend_shapes = Path(path).suffix.lower() not in (".ir", ".pt2")
    options: dict[str, Any] = dict(frontend_options)
    if input_shapes and frontend_shapes:
        options["input_shapes"] = input_shapes
    if weights:
        options["weights"] = weights
    if is_tensorflow_source(path):
        # the TensorFlow frontend lays out its inputs itself; by default in the source's own
        # NHWC, as compiler.compile does
        options["layout"] = layout or SOURCE_LAYOUTS["tensorflow"]
    try:
        graph = load(path, **options)
    except (IRParseError, IRError, SchemaError) as e:
        raise ModelLoadError(f"{path}: {e}") from None
    if input_shapes and not frontend_shapes:
        override_input_shapes(graph, input_shapes, path)
    set_interface_layout(graph, layout)
    if check:
        try:
            verify(graph)
        except VerificationError as e:
            raise ModelLoadError(f"{path}: the model fails verification: {e.summary()}") from None
    return graph

