"""Targets: what infercc compiles for, found by name in a lazy registry.

    from targets import get_target
    tflite = get_target("tflite")
    result = tflite.emit(graph, tflite.options(float16=True), "model.tflite")
    result.tensor_map["conv1"]  # -> DeployedTensor(name, index, perm, dtype, quantization)

Builtin targets (:data:`BUILTIN_TARGETS`) are imported on first lookup; plugins register
through the ``infercc.targets`` entry-point group. Importing this package imports no
emitter.
"""

from .base import (
    DeployedTensor,
    EmitResult,
    Target,
    TargetMismatchError,
    TargetOptionError,
    TargetOptions,
    UnknownTargetError,
    describe_target_options,
    parse_target_options,
)
from .registry import (
    BUILTIN_TARGETS,
    DEFAULT_TARGET,
    ENTRY_POINT_GROUP,
    TargetInfo,
    TargetRegistry,
    default_registry,
    get_target,
    reset_default_registry,
    resolve_target,
    target_for_path,
    target_names,
)

__all__ = [
    "BUILTIN_TARGETS",
    "DEFAULT_TARGET",
    "DeployedTensor",
    "ENTRY_POINT_GROUP",
    "EmitResult",
    "Target",
    "TargetInfo",
    "TargetMismatchError",
    "TargetOptionError",
    "TargetOptions",
    "TargetRegistry",
    "UnknownTargetError",
    "default_registry",
    "describe_target_options",
    "get_target",
    "parse_target_options",
    "reset_default_registry",
    "resolve_target",
    "target_for_path",
    "target_names",
]
