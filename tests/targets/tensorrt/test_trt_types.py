"""mypy --strict on targets/tensorrt against the TensorRT stub file (tensorrt-stubs 10.13).

The converters reach TensorRT only through the injected ``trt`` module (typed by
:class:`targets.tensorrt.api.TrtModule`) and the network it made, so with the patched stubs
on MYPYPATH every layer call and attribute is checked against the real signatures. The
second test shows the check bites: a converter that passes a str where TensorRT takes an
int, or a tuple where it takes Dims, fails it. The stubs' own leftovers (unannotated functions
of the generated file) are silenced by a per-module config, not counted.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.support.trt_stubs import stub_dir_or_skip

CONFIG = """[mypy]
[mypy-tensorrt.*]
ignore_errors = True
[mypy-tensorrt_bindings.*]
ignore_errors = True
"""

BAD_CONVERTER = '''
from compiler.ir.graph import Node
from targets.tensorrt.context import ConversionContext


def convert(ctx: ConversionContext, node: Node) -> None:
    x = ctx.tensor(node.input(0))
    layer = ctx.network.add_convolution_nd(x, "8", (3, 3), ctx.weights(None))
    layer.num_groups = "2"
'''


def _mypy(tmp_path: Path, *paths: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "mypy.ini"
    config.write_text(CONFIG)
    env = {**os.environ, "MYPYPATH": os.pathsep.join([str(stub_dir_or_skip()), str(REPO)])}
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
         "--config-file", str(config), "--cache-dir", str(tmp_path / "cache"), *paths],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=600)


def test_targets_tensorrt_is_strictly_typed(tmp_path):
    proc = _mypy(tmp_path, "targets/tensorrt")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success: no issues found" in proc.stdout


def test_wrong_api_types_fail_the_check(tmp_path):
    bad = tmp_path / "bad_converter.py"
    bad.write_text(BAD_CONVERTER)
    proc = _mypy(tmp_path, str(bad))
    assert proc.returncode == 1, proc.stdout
    out = proc.stdout
    assert 'Argument 2 to "add_convolution_nd" of "INetworkDefinition" has incompatible type ' \
        '"str"; expected "int"' in out
    assert 'Argument 3 to "add_convolution_nd" of "INetworkDefinition" has incompatible type ' \
        '"tuple[int, int]"; expected "Dims"' in out
    assert 'Incompatible types in assignment (expression has type "str", variable has type ' \
        '"int")' in out
