"""``python -m compiler.cli``: the ``infercc`` command."""

import sys

from .app import main

sys.exit(main())
