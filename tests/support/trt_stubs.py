"""The ``tensorrt-stubs`` type stubs (10.13, MIT), downloaded and patched for mypy.

The wheel's stubs need three fixes before mypy parses them: parameters named ``in`` (a
keyword), a parameter without a default after ones with defaults (``add_scale_nd``'s
``channel_axis``), and an ``import tensorrt_libs`` of a package that has no stubs. A fourth
keeps ``bool`` annotations meaning the builtin: the bindings module defines ``bool`` (the
DataType) at module level, which otherwise turns every ``-> bool`` of the file into an
invalid type (Any). :data:`MYPY_CONFIG` silences what remains of the generated stubs' own
untidiness (unannotated helpers), so only errors in the checked code are reported. The
wheel is never installed (it would make ``import tensorrt`` succeed as an empty package);
it is unpacked into a cache directory that is put on MYPYPATH.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

STUBS = "tensorrt-stubs==10.13.0.35.1"
_CACHE = Path(tempfile.gettempdir()) / "infercc-tensorrt-stubs-10.13.0.35.1-p2"


def patch_stub_text(name: str, text: str) -> str:
    """The three fixes, applied to the text of the stub file ``name``."""
    text = re.sub(r"\bin: ", "in_: ", text)
    text = text.replace("power: Weights = None, channel_axis: int)",
                        "power: Weights = None, channel_axis: int = 0)")
    text = text.replace("import tensorrt_libs as tensorrt_libs\n", "")
    if name.endswith("tensorrt_bindings/tensorrt.pyi"):
        text = text.replace("import typing\n", "import builtins\nimport typing\n", 1)
        text = re.sub(r"(: |-> |\[|, )bool\b", r"\1builtins.bool", text)
    return text


MYPY_CONFIG = """[mypy]
[mypy-tensorrt.*]
ignore_errors = True
[mypy-tensorrt_bindings.*]
ignore_errors = True
"""


def stub_dir() -> Path:
    """A directory holding the patched ``tensorrt`` and ``tensorrt_bindings`` stubs
    (downloaded with pip on first use; raises CalledProcessError when pip cannot)."""
    done = _CACHE / "ok"
    if done.exists():
        return _CACHE
    _CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q",
                        "-d", tmp, STUBS], check=True, timeout=300)
        (wheel,) = Path(tmp).glob("tensorrt_stubs-*.whl")
        with zipfile.ZipFile(wheel) as z:
            for info in z.infolist():
                if info.filename.endswith(".pyi") and info.filename.startswith(
                        ("tensorrt/", "tensorrt_bindings/")):
                    out = _CACHE / info.filename
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_text(patch_stub_text(info.filename,
                                                   z.read(info).decode("utf-8")))
    done.write_text("")
    return _CACHE
