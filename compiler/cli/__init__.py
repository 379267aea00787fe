"""The ``infercc`` command line.

    infercc inspect MODEL [--input-shape x:1x3x224x224] [--show-ir | --json]
    infercc opt MODEL [-p PIPELINE] [-o OUT.ir|OUT.onnx] [--timing] [--dump-dir DIR] ...
    infercc compile MODEL -o OUT.tflite|OUT.onnx [--target NAME] [--float16] [-p PIPELINE] ...
    infercc run MODEL [--inputs X.npz] [--warmup W --iterations N] [--json]
    infercc compare A B [--atol A --rtol R] [--no-layers] [--json]
    infercc passes [NAME ...]
    infercc targets [NAME ...]
    infercc ops [NAME ...]
    infercc --version

Exit codes: 0 success, 2 a user error (bad model, bad pipeline, failing pass; the message
names what and where), 1 an internal error (a bug: rerun with ``--debug`` for the traceback)
or, for ``compare``, outputs beyond the tolerances.
Logging goes to stderr; ``-v``/``-vv`` show more, ``-q`` only errors.

Layout: :mod:`.app` holds the parser, logging setup and exit codes; one module per command
(:mod:`.inspect`, :mod:`.opt`, :mod:`.compile`, :mod:`.run`, :mod:`.compare`,
:mod:`.passes`, :mod:`.targets`, :mod:`.ops`); :mod:`.common` what commands share (model
loading, ``--input-shape``, the pass manager's observation flags); :mod:`.running` what
``run`` and ``compare`` share (which executor runs a file, feeds, latency).
"""

from __future__ import annotations

from .app import build_parser, main
from .common import load_model

__all__ = ["build_parser", "load_model", "main"]
