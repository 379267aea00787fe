"""The part of the ``tensorrt`` module this target calls, as a protocol for type checking.

The ``trt`` module is injected (the real ``tensorrt`` where it imports, a stand-in in
tests); :func:`real_tensorrt` is the one place that imports it and decides whether it is
the real module. Under a type checker with the ``tensorrt-stubs``
file on MYPYPATH, :class:`TrtModule` names the classes and enums of that file, so every
call a converter makes through ``ctx.trt`` and ``ctx.network`` is checked against the real
signatures; the real module satisfies the protocol structurally.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    import tensorrt


class TrtModule(Protocol):
    """The ``tensorrt`` names the network builder, the converters and the executor use."""

    ActivationType: type[tensorrt.ActivationType]
    Builder: type[tensorrt.Builder]
    BuilderFlag: type[tensorrt.BuilderFlag]
    DataType: type[tensorrt.DataType]
    Dims: type[tensorrt.Dims]
    ElementWiseOperation: type[tensorrt.ElementWiseOperation]
    GatherMode: type[tensorrt.GatherMode]
    ILogger: type[tensorrt.ILogger]
    InterpolationMode: type[tensorrt.InterpolationMode]
    LayerInformationFormat: type[tensorrt.LayerInformationFormat]
    Logger: type[tensorrt.Logger]
    MemoryPoolType: type[tensorrt.MemoryPoolType]
    MatrixOperation: type[tensorrt.MatrixOperation]
    NetworkDefinitionCreationFlag: type[tensorrt.NetworkDefinitionCreationFlag]
    PaddingMode: type[tensorrt.PaddingMode]
    Permutation: type[tensorrt.Permutation]
    PoolingType: type[tensorrt.PoolingType]
    ProfilingVerbosity: type[tensorrt.ProfilingVerbosity]
    ReduceOperation: type[tensorrt.ReduceOperation]
    ResizeCoordinateTransformation: type[tensorrt.ResizeCoordinateTransformation]
    ResizeRoundMode: type[tensorrt.ResizeRoundMode]
    ResizeSelector: type[tensorrt.ResizeSelector]
    Runtime: type[tensorrt.Runtime]
    SampleMode: type[tensorrt.SampleMode]
    TensorIOMode: type[tensorrt.TensorIOMode]
    UnaryOperation: type[tensorrt.UnaryOperation]
    Weights: type[tensorrt.Weights]


def real_tensorrt() -> tuple[TrtModule | None, str]:
    """``(the tensorrt module, "")`` where TensorRT is installed, else ``(None, why not)``.

    ``tensorrt-stubs`` alone makes ``import tensorrt`` succeed as an empty package; a module
    without ``Builder`` or ``Runtime`` (what the engine build and the executor need) is
    treated as not installed.
    """
    try:
        import tensorrt
    except ImportError as e:
        return None, f"`import tensorrt` fails ({e})"
    missing = [name for name in ("Builder", "Runtime") if not hasattr(tensorrt, name)]
    if missing:
        return None, (f"the installed 'tensorrt' package has no {' or '.join(missing)} "
                      "(type stubs only?)")
    return cast("TrtModule", tensorrt), ""
