"""PyTorch frontend: ``nn.Module`` (through ``torch.export``) and ``.pt2`` programs -> IR graphs."""

from .handlers import (
    SUPPORTED_OPS,
    PytorchImportError,
    decomposition_table,
    export_module,
    load_pytorch,
    load_pytorch_file,
    lower_program,
    unsupported_nodes,
)

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
