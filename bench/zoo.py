"""Where the benches find the shared model zoo: ``$INFERCC_MODELS``, else ``../shared/models``
beside the repository (the same rule as the tests' ``tests/conftest.py``)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ZOO = Path(os.environ.get("INFERCC_MODELS", REPO.parent / "shared" / "models"))
