"""infercc's version: the one home of the number (pyproject.toml reads it from here).

This module imports nothing, so any layer may read the version without importing the
``compiler`` package's drivers.
"""

__version__ = "0.1.0"
