"""Cheap start-up: importing infercc loads no ml_dtypes until bf16 is used; op modules exist."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO as ROOT


def _run(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env=env, cwd=ROOT).stdout.strip()


def test_import_compiler_does_not_import_ml_dtypes():
    assert _run("import sys, compiler; print('ml_dtypes' in sys.modules)") == "False"


def test_bf16_resolves_to_ml_dtypes_bfloat16_on_first_use():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    from compiler.ir import DType

    assert DType.BF16.numpy == np.dtype(ml_dtypes.bfloat16)
    assert DType.from_numpy(ml_dtypes.bfloat16) is DType.BF16
    out = _run("import sys; from compiler.ir import DType; d = DType.BF16.numpy; "
               "print(d.name, 'ml_dtypes' in sys.modules)")
    assert out == "bfloat16 True"


def test_a_missing_builtin_op_module_is_an_error(monkeypatch):
    from compiler.ops import registry

    for mod in registry.BUILTIN_OP_MODULES:  # every listed module exists
        __import__(mod)
    monkeypatch.setattr(registry, "BUILTIN_OP_MODULES", ("compiler.ops.core", "compiler.ops.no_such_module"))
    monkeypatch.setattr(registry, "_loaded", False)
    with pytest.raises(ModuleNotFoundError, match="no_such_module"):
        registry._load_builtins()
