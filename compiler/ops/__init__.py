"""The op set: schemas, shape/dtype inference and numpy reference kernels.

``get_schema(name)`` loads the builtin op modules on first use.
"""

from .registry import (
    AttrSpec,
    InferContext,
    OpSchema,
    SchemaError,
    all_schemas,
    broadcast_shapes,
    defop,
    get_schema,
    infer_types,
    run_kernel,
)

__all__ = [
    "AttrSpec",
    "InferContext",
    "OpSchema",
    "SchemaError",
    "all_schemas",
    "broadcast_shapes",
    "defop",
    "get_schema",
    "infer_types",
    "run_kernel",
]
