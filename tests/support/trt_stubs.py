"""The TensorRT type stubs (``tensorrt-stubs``), fetched for tests and patched so they parse.

``stub_dir()`` downloads the wheel with ``pip download --no-deps`` into a cache folder, unpacks
it there and returns the folder that holds ``tensorrt/__init__.pyi`` and
``tensorrt_bindings/tensorrt.pyi`` (point ``MYPYPATH`` at it, or parse the ``.pyi`` with ast).
The wheel is never installed: installed, it makes ``import tensorrt`` succeed as an empty
package, and code that probes for TensorRT would think it is there.

The generated stubs do not parse as published; three fixes make them valid Python:

- parameters named ``in`` (a keyword) become ``in_``;
- ``add_scale_nd`` has the non-default ``channel_axis`` after defaulted parameters; it gets
  ``= ...`` (the binding takes it positionally, so no caller is affected);
- ``import tensorrt_libs`` names a runtime-only package with no stubs; the import goes, and
  so does the name in ``__all__``.

A download failure raises ``StubDownloadError`` with pip's message; callers decide whether
that skips (no network, outside CI) or fails (under ``CI=true``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

PACKAGE = "tensorrt-stubs"
VERSION = "10.13.0.35.1"
DEFAULT_CACHE = Path.home() / ".cache" / "infercc-tests" / f"tensorrt-stubs-{VERSION}"
#: the files the fixes touch, relative to the unpacked folder
PATCHED = ("tensorrt/__init__.pyi", "tensorrt_bindings/__init__.pyi",
           "tensorrt_bindings/tensorrt.pyi")


class StubDownloadError(RuntimeError):
    """``pip download`` could not fetch the stub wheel (no network, index unreachable)."""


def patch_source(text: str) -> str:
    """The three fixes that make one generated stub file parse (see the module docstring)."""
    text = re.sub(r"\bin: ", "in_: ", text)
    text = text.replace(", channel_axis: int)", ", channel_axis: int = ...)")
    text = re.sub(r"^import tensorrt_libs as tensorrt_libs\n", "", text, flags=re.M)
    return text.replace("'tensorrt_libs', ", "")


def stub_dir(cache: Path | None = None) -> Path:
    """Folder holding the patched ``tensorrt`` and ``tensorrt_bindings`` stub packages.

    ``cache`` defaults to ``~/.cache/infercc-tests/tensorrt-stubs-<version>``; an already
    unpacked and patched copy there is reused. Raises ``StubDownloadError`` when pip fails.
    """
    root = Path(cache) if cache is not None else DEFAULT_CACHE
    out = root / "stubs"
    done = out / ".patched"
    if done.exists():
        return out
    root.mkdir(parents=True, exist_ok=True)
    wheels = sorted(root.glob("tensorrt_stubs-*.whl"))
    if not wheels:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "-q", "-d", str(root), f"{PACKAGE}=={VERSION}"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        wheels = sorted(root.glob("tensorrt_stubs-*.whl"))
        if proc.returncode != 0 or not wheels:
            raise StubDownloadError(f"`{' '.join(cmd)}` failed: {proc.stderr.strip()[-600:]}")
    tmp = root / f"stubs.tmp{os.getpid()}"
    with zipfile.ZipFile(wheels[0]) as zf:
        zf.extractall(tmp)
    for rel in PATCHED:
        p = tmp / rel
        p.write_text(patch_source(p.read_text()))
    (tmp / ".patched").write_text(f"{PACKAGE}=={VERSION}\n")
    if out.exists():  # another process finished first; its copy is as good as ours
        shutil.rmtree(tmp)
    else:
        os.replace(tmp, out)
    return out


def stub_dir_or_skip(cache: Path | None = None) -> Path:
    """``stub_dir()``, skipping the calling test when the download fails outside CI.

    Under ``CI=true`` (where the network is available) a failed download fails the test.
    """
    try:
        return stub_dir(cache)
    except StubDownloadError as e:
        if os.environ.get("CI") == "true":
            pytest.fail(str(e))
        pytest.skip(str(e))
    raise AssertionError("unreachable")  # pytest.skip/fail raise
