"""Pass infrastructure: the Pass base, registry, pipeline strings, instruments, manager."""

from .base import Pass, PassContext, PassResult
from .instruments import DumpIR, PassInstrument, PassRecord, PrintIR, Timing
from .manager import (
    InvalidGraphError,
    PassManager,
    PipelineReport,
    read_reproducer_pipeline,
    write_reproducer,
)
from .pipeline import Pipeline, describe_options, format_pass, parse_pipeline
from .plugin_file import load_pass_file
from .registry import ENTRY_POINT_GROUP, PassInfo, PassRegistry, default_registry

__all__ = [
    "ENTRY_POINT_GROUP",
    "DumpIR",
    "InvalidGraphError",
    "Pass",
    "PassContext",
    "PassInfo",
    "PassInstrument",
    "PassManager",
    "PassRecord",
    "PassRegistry",
    "PassResult",
    "Pipeline",
    "PipelineReport",
    "PrintIR",
    "Timing",
    "default_registry",
    "describe_options",
    "format_pass",
    "load_pass_file",
    "parse_pipeline",
    "read_reproducer_pipeline",
    "write_reproducer",
]
