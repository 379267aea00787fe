"""The ``infercc`` command line.

    infercc inspect MODEL [--input-shape x:1x3x224x224] [--show-ir]
    infercc opt MODEL [-p PIPELINE] [-o OUT.ir|OUT.onnx] [--timing] [--dump-dir DIR] ...
    infercc compile MODEL -o OUT.tflite|OUT.onnx [--target NAME] [--float16] [-p PIPELINE] ...
    infercc passes [NAME ...]
    infercc targets [NAME ...]
    infercc ops [NAME ...]
    infercc --version

Exit codes: 0 success, 2 a user error (bad model, bad pipeline, failing pass; the message
names what and where), 1 an internal error (a bug: rerun with ``--debug`` for the traceback).
Logging goes to stderr; ``-v``/``-vv`` show more, ``-q`` only errors.

Layout: :mod:`.app` holds the parser, logging setup and exit codes; one module per command
(:mod:`.inspect`, :mod:`.opt`, :mod:`.compile`, :mod:`.passes`, :mod:`.targets`,
:mod:`.ops`); :mod:`.common` what commands share (model loading, ``--input-shape``, the
pass manager's observation flags).
"""

from __future__ import annotations

from .app import build_parser, main
from .common import load_model

__all__ = ["build_parser", "load_model", "main"]
