"""Passes from a plain ``.py`` file (``infercc opt --pass-plugin my_pass.py``).

A pass under development need not be packaged with an ``infercc.passes`` entry point: the
file is imported as a module of its own and every :class:`Pass` subclass it defines is
registered under its ``name``. The file is trusted code the user names; it runs with the
user's rights like any import. Every failure (no such file, the file raising on import, no
pass in it, a name already taken) is one :class:`PipelineError` naming the file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
import sys
import traceback
import types
from pathlib import Path

from ..errors import PipelineError
from .base import Pass
from .registry import PassRegistry, default_registry

log = logging.getLogger(__name__)

#: the kind of registry entry a plugin file adds (shown as its origin in messages)
KIND = "plugin file"


def load_pass_file(path: str | os.PathLike, registry: PassRegistry | None = None
                   ) -> list[type[Pass]]:
    """Import ``path`` and register the passes it defines in ``registry`` (default: the
    process-wide one); returns their classes in definition order.

    A pass is a class defined in the file (not imported into it) that subclasses
    :class:`Pass` and has a non-empty ``name``. Loading the same file again replaces its
    passes (an embedding application may run the CLI twice). Raises :class:`PipelineError`
    when the file is missing or not Python source, raises on import, defines no pass, or
    defines a pass whose name another source already registered.
    """
    reg = registry if registry is not None else default_registry()
    file = Path(path)
    if not file.is_file():
        why = "is a directory" if file.is_dir() else "no such file"
        raise PipelineError(f"pass plugin {path}: {why}; give the path of a .py file that "
                            "defines compiler.pass_manager.Pass subclasses")
    module = _import(file)
    found = [obj for obj in vars(module).values()
             if isinstance(obj, type) and issubclass(obj, Pass) and obj is not Pass
             and obj.__module__ == module.__name__ and obj.name]
    if not found:
        raise PipelineError(
            f"pass plugin {path} defines no pass: write a @dataclass subclass of "
            "compiler.pass_manager.Pass with a `name` (and `run`) in it")
    for cls in found:
        _register(reg, cls, file)
    log.info("loaded pass(es) %s from %s", ", ".join(c.name for c in found), path)
    return found


def _import(file: Path) -> types.ModuleType:
    """Execute ``file`` as a fresh module (registered in ``sys.modules`` while it runs, as
    dataclasses need); any exception it raises becomes a PipelineError naming the file and
    the line in it."""
    resolved = file.resolve()
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:8]
    name = f"_infercc_pass_plugin_{re.sub(r'[^0-9A-Za-z_]', '_', file.stem)}_{digest}"
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise PipelineError(f"pass plugin {file}: not a Python source file; give a .py file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:  # the plugin's own error: report it, not ours
        del sys.modules[name]
        raise PipelineError(f"pass plugin {file} failed to import{_line_in(e, resolved)}: "
                            f"{type(e).__name__}: {e}. Fix the file, or run it with "
                            f"`python {file}` to see the full traceback.") from e
    return module


def _line_in(error: BaseException, file: Path) -> str:
    """`` (line N)`` of the deepest frame of ``error`` inside ``file``, or ``""``."""
    if isinstance(error, SyntaxError) and error.lineno and error.filename and \
            Path(error.filename).resolve() == file:
        return f" (line {error.lineno})"
    lines = [fs.lineno for fs in traceback.extract_tb(error.__traceback__)
             if fs.filename and Path(fs.filename).resolve() == file]
    return f" (line {lines[-1]})" if lines else ""


def _register(reg: PassRegistry, cls: type[Pass], file: Path) -> None:
    target = f"{file.resolve()}:{cls.__qualname__}"
    if cls.name in reg:
        old = reg.info(cls.name)
        if old.kind == KIND and old.target == target:
            old.cls = cls  # the same file loaded again: its newest class
            return
        raise PipelineError(
            f"pass plugin {file}: class {cls.__qualname__} is named '{cls.name}', but "
            f"{old.origin} already defines a pass of that name; rename the pass (its `name` "
            "attribute) in the file")
    reg.register(cls, kind=KIND, target=target)
