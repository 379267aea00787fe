"""The bench's own virtual environment for NVIDIA ModelOpt, and running its quantizer there.

ModelOpt is never installed into infercc's environment (it pins onnx and pulls torch): the
bench creates a venv once under ``~/.cache/infercc-bench/modelopt-venv`` (override with
``$INFERCC_MODELOPT_VENV``) and runs ``modelopt_worker.py`` with that venv's python in a
subprocess.

What it installs (``REQUIREMENTS``): ``nvidia-modelopt`` without extras plus the CPU half of
its ``[onnx]`` extra by hand. The extra itself would pull ``cupy-cuda12x`` and
``onnxruntime-gpu`` on Linux x86-64, so it is spelled out with the CPU ``onnxruntime`` in the
same version range (``~=1.24.2``) and the extra's other pins. torch is ``2.13.0``, the CPU
build: ``torch==2.13.0+cpu`` from the configured indexes first (a local wheel or mirror),
else from PyTorch's CPU index; plain PyPI's ``torch==2.13.0`` would bring the CUDA
libraries. A marker file holding the requirement list marks a finished install; a venv
without it (an interrupted install) is rebuilt.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)

VENV = Path(os.environ.get("INFERCC_MODELOPT_VENV",
                           Path.home() / ".cache" / "infercc-bench" / "modelopt-venv"))
TORCH = "torch==2.13.0+cpu"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
MODELOPT = "nvidia-modelopt==0.47.0"
#: nvidia-modelopt 0.47.0's [onnx] extra for Linux x86-64 without cupy and onnxruntime-gpu
ONNX_EXTRA_CPU = ["cppimport", "lief", "ml_dtypes", "onnx-graphsurgeon>=0.6.1",
                  "onnx~=1.21.0", "onnxconverter-common~=1.16.0", "onnxruntime~=1.24.2",
                  "onnxscript", "onnxslim>=0.1.76", "polygraphy>=0.53.4"]
REQUIREMENTS = [TORCH, MODELOPT, *ONNX_EXTRA_CPU]
WORKER = Path(__file__).with_name("modelopt_worker.py")


def python() -> Path:
    """The venv's interpreter (it may not exist yet: ``ensure_venv`` makes it)."""
    return VENV / "bin" / "python"


def _marker() -> Path:
    """Written last by ``ensure_venv``: the requirement list of a finished install."""
    return VENV / "infercc-bench-requirements.txt"


def ensure_venv() -> Path:
    """The venv's python, creating and filling the venv first when it is not complete.

    Raises ``RuntimeError`` with pip's last lines when the install fails.
    """
    want = "\n".join(REQUIREMENTS) + "\n"
    if _marker().exists() and _marker().read_text() == want and python().exists():
        return python()
    if VENV.exists():
        shutil.rmtree(VENV)
    VENV.parent.mkdir(parents=True, exist_ok=True)
    print(f"# creating the ModelOpt venv in {VENV} (once; several minutes)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(python()), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    first = subprocess.run([*pip, TORCH], capture_output=True, text=True)
    if first.returncode != 0:
        log.info("torch from the configured indexes failed; trying %s", TORCH_CPU_INDEX)
        _run([*pip, "--index-url", TORCH_CPU_INDEX, TORCH])
    _run([*pip, *REQUIREMENTS])
    _marker().write_text(want)
    return python()


def _run(cmd: list[str]) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        tail = "\n".join((r.stdout + r.stderr).strip().splitlines()[-5:])
        raise RuntimeError(f"installing the ModelOpt venv failed ({' '.join(cmd[3:])}):\n{tail}")


def quantize(model: Path, calibration: Path, method: str, out: Path) -> dict:
    """ModelOpt int8 of ``model`` (a copy in a folder of its own: ModelOpt writes beside
    its input) calibrated on the arrays of ``calibration`` with ``method``, written to
    ``out``. Returns the worker's JSON answer (``ok``, versions or ``error``)."""
    py = ensure_venv()
    r = subprocess.run([str(py), str(WORKER), str(model), str(calibration), method, str(out)],
                       capture_output=True, text=True, cwd=model.parent,
                       env={**os.environ, "PYTHONPATH": "", "CUDA_VISIBLE_DEVICES": ""})
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not lines:
        tail = (r.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"ok": False, "error": f"worker exit {r.returncode}: {tail}"}
    return json.loads(lines[-1])
