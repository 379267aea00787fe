"""Example infercc plugin target: ``ir-archive`` writes ``.irz`` files, and the executor of
the same name runs them.

An ``.irz`` file is a zip archive of two members:

* ``graph.ir``: the optimised graph as IR text, constants included (the text format of
  :mod:`compiler.ir.printer`, read back bit-exactly by :func:`compiler.ir.parse_graph`);
* ``signature.json``: ``{"format": 1, "graph": name, "inputs": [{"name", "type"}],
  "outputs": [...]}``, what a caller needs to feed the model without parsing it.

infercc finds the target and the executor through the ``infercc.targets`` and
``infercc.executors`` entry points declared in pyproject.toml; each entry-point name must
equal the class' ``name``.
"""

from .format import FORMAT_VERSION, read_archive, write_archive
from .runtime import IrArchiveExecutor
from .target import IrArchiveOptions, IrArchiveTarget

__all__ = ["FORMAT_VERSION", "IrArchiveExecutor", "IrArchiveOptions", "IrArchiveTarget",
           "read_archive", "write_archive"]
