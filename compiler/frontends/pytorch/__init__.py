"""PyTorch frontend: ``nn.Module`` (through ``torch.export``) and ``.pt2`` programs -> IR graphs.

``export`` captures the program, ``lowering`` walks its FX graph, ``registry`` is the ATen
lowering table that ``handlers`` fill, and ``loader`` joins them into the entry points.
"""

from .export import decomposition_table, export_module
from .loader import SUPPORTED_OPS, load_pytorch, load_pytorch_file, lower_program, unsupported_nodes
from .lowering import PytorchImportError

__all__ = [
    "SUPPORTED_OPS",
    "PytorchImportError",
    "decomposition_table",
    "export_module",
    "load_pytorch",
    "load_pytorch_file",
    "lower_program",
    "unsupported_nodes",
]
