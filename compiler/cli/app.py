"""The ``infercc`` program: the argument parser, logging on stderr and the exit codes.

Each command lives in its own module of this package with ``register(sub, parents)``, which
adds its sub-parser and sets ``func``, and ``run(args) -> int``. Command modules import
their heavy dependencies inside ``run``, so building the parser stays cheap.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from typing import Callable, Sequence

from .._version import __version__
from ..errors import InferccError
from . import compare, compile, inspect, ops, opt, passes, run, targets
from .common import EXIT_INTERNAL, EXIT_OK, EXIT_USER

# the sub-commands, in the order `infercc --help` lists them
COMMANDS = (inspect, opt, compile, run, compare, passes, targets, ops)


def _common(suppress: bool) -> argparse.ArgumentParser:
    """-v/-q/--debug, accepted both before and after the sub-command."""
    d = argparse.SUPPRESS if suppress else None
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("-v", "--verbose", action="count", default=d if suppress else 0,
                   help="more log output on stderr (-vv for debug messages)")
    p.add_argument("-q", "--quiet", action="store_true", default=d if suppress else False,
                   help="log only errors")
    p.add_argument("--debug", action="store_true", default=d if suppress else False,
                   help="show Python tracebacks for errors")
    return p


def build_parser() -> argparse.ArgumentParser:
    """The ``infercc`` parser; a parsed command's ``args.func(args)`` runs it."""
    parser = argparse.ArgumentParser(
        prog="infercc",
        description="infercc: a graph compiler for deep-learning inference. Load a model, "
        "inspect it, optimise it with a pass pipeline, compile it for a target, run it and "
        "compare it with another.",
        epilog="Run `infercc COMMAND --help` for the options of a command.",
        parents=[_common(suppress=False)],
    )
    parser.add_argument("--version", action="version", version=f"infercc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    # sub-command defaults are suppressed so -v given before the command is not reset
    parents = [_common(suppress=True)]
    for command in COMMANDS:
        command.register(sub, parents)
    return parser


_FRAMEWORK_LOGGERS = {"tensorflow", "absl", "keras", "tf_keras", "torch", "h5py", "onnx",
                      "onnxruntime", "py"}  # py.warnings: Python warnings, captured

# Read by TensorFlow's C++ runtime when it loads (so set before any import of it): 3 keeps
# its INFO/WARNING/ERROR lines (oneDNN notices, CPU feature guards, absl's pre-init notice)
# off stderr. Errors that matter reach infercc as Python exceptions.
_QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3"}


def _setup_logging(verbose: int, quiet: bool) -> Callable[[], None]:
    """Log to stderr at the level -v/-q ask for, and keep framework noise (TensorFlow, absl,
    torch and onnxruntime log lines, Python warnings) off it unless -v; returns a function
    that undoes it all. Runs before any framework is imported."""
    level = logging.ERROR if quiet else {0: logging.WARNING, 1: logging.INFO}.get(
        verbose, logging.DEBUG
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("infercc: %(levelname)s: %(message)s"))
    added_env = {}
    if verbose < 1:
        # frameworks (TensorFlow's deprecation notices, torch.export, warnings) speak at -v
        handler.addFilter(lambda r: r.name.split(".")[0] not in _FRAMEWORK_LOGGERS)
        added_env = {k: v for k, v in _QUIET_ENV.items() if k not in os.environ}
        os.environ.update(added_env)  # a user's own setting wins
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)  # warnings go through the handler (and its filter)

    def undo() -> None:  # main() may be called in-process (tests, embedding)
        logging.captureWarnings(False)
        root.removeHandler(handler)
        root.setLevel(old_level)
        for k in added_env:
            os.environ.pop(k, None)

    return undo


def _user_error_types() -> tuple[type[BaseException], ...]:
    """Errors that mean bad input rather than an infercc bug, besides InferccError."""
    from ..ir import IRError, IRParseError, VerificationError
    from ..ops.registry import SchemaError

    return (IRParseError, VerificationError, SchemaError, IRError)


def _error(msg: str) -> None:
    sys.stderr.write(f"infercc: error: {msg.rstrip()}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 user error, 1 internal error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse already printed usage / help / the version
        return int(e.code) if isinstance(e.code, int) else EXIT_USER
    debug = bool(getattr(args, "debug", False))
    undo_logging = _setup_logging(int(getattr(args, "verbose", 0) or 0),
                                  bool(getattr(args, "quiet", False)))
    try:
        return _run(args, debug)
    finally:
        undo_logging()


def _run(args: argparse.Namespace, debug: bool) -> int:
    """Run the parsed command, mapping exceptions to a message on stderr and an exit code."""
    try:
        return args.func(args)
    except InferccError as e:
        if debug:
            traceback.print_exc()
        _error(str(e))
        return getattr(e, "exit_code", EXIT_USER)
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except BrokenPipeError:  # `infercc ... | head`
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        except OSError:
            pass
        return EXIT_OK
    except OSError as e:
        if debug:
            traceback.print_exc()
        where = f"{e.filename}: " if e.filename else ""
        _error(f"{where}{e.strerror or e}")
        return EXIT_USER
    except Exception as e:
        if isinstance(e, _user_error_types()):
            if debug:
                traceback.print_exc()
            _error(str(e))
            return EXIT_USER
        if debug:
            traceback.print_exc()
        _error(
            f"internal error: {type(e).__name__}: {e}\n"
            "This is a bug in infercc; rerun with --debug for the traceback and report it."
        )
        return EXIT_INTERNAL
