"""Shared fixtures: where the real models live, and how a missing one is reported.

Under CI (``CI=true``) a test that needs a file from ../shared/models fails when the file is
missing; elsewhere it is skipped with the path it looked for.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MODELS = Path(os.environ.get("INFERCC_MODELS", REPO.parent / "shared" / "models"))


def model_path(rel: str) -> Path:
    """Path of a shared model; fails under CI and skips elsewhere when it is missing."""
    p = MODELS / rel
    if not p.exists():
        msg = f"shared model {p} is missing"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return p


@pytest.fixture
def models_dir() -> Path:
    if not MODELS.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{MODELS} is missing")
        pytest.skip(f"{MODELS} is missing")
    return MODELS
