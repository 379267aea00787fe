"""Optimization profiles: the shape range each dynamic graph input is built for.

An engine whose network has an input with a dynamic (-1) dim needs an optimization profile
giving, for each such input, the smallest, optimum and largest shapes it will be run at
(TensorRT, ``IOptimizationProfile.set_shape``:
https://docs.nvidia.com/deeplearning/tensorrt/latest/_static/python-api/infer/Core/OptimizationProfile.html,
and "Working with Dynamic Shapes" in TensorRT's developer guide). infercc writes one profile.

The text form, one range per input, is ``NAME:MIN,OPT,MAX`` with each shape written as
``--input-shape`` writes it (``1x3x224x224``), as ``trtexec``'s ``--minShapes``,
``--optShapes`` and ``--maxShapes`` give them; ``NAME:MIN,MAX`` takes ``OPT = MAX`` and
``NAME:SHAPE`` fixes the input to one shape. :func:`parse_shape_range` is the one reader of
that text (the ``--shape-range`` flag and the target option ``shape_ranges`` both use it).

:func:`range_problems` is the pre-flight part: each range names a graph input, has its rank,
equals its static dims and keeps ``min <= opt <= max``; each dynamic input has a range.
:func:`add_profile` sets the profile on a builder config; :func:`trtexec_shapes` writes the
same ranges as ``trtexec`` flags.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import tensorrt

    from compiler.ir.graph import Graph, Value

    from .api import TrtModule

OPTIMIZATION_PROFILE_PAGE = ("https://docs.nvidia.com/deeplearning/tensorrt/latest/_static/"
                             "python-api/infer/Core/OptimizationProfile.html")

_NAME_DIMS = re.compile(r"^(?P<name>.+):(?P<shapes>[^:]*)$")


@dataclass(frozen=True)
class ShapeRange:
    """The min, opt and max shapes one graph input is built for."""

    name: str
    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]

    def __str__(self) -> str:
        return f"{self.name}:" + ",".join(_dims_text(s) for s in (self.min, self.opt, self.max))

    @property
    def shapes(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        return self.min, self.opt, self.max


def _dims_text(dims: Iterable[Any]) -> str:
    return "x".join(str(d) for d in dims)


def parse_shape_range(spec: str) -> ShapeRange:
    """``"x:1x3x224x224,4x3x224x224,8x3x224x224"`` -> :class:`ShapeRange` (min, opt, max);
    two shapes are min and max (opt = max), one shape fixes the input. Raises ValueError
    naming ``spec`` when it is malformed, the ranks differ or a dim breaks
    ``0 <= min <= opt <= max`` (the rule ``set_shape`` checks)."""
    m = _NAME_DIMS.match(spec.strip())
    if m is None:
        raise ValueError(f"shape range {spec!r}: expected NAME:MIN,OPT,MAX such as "
                         "x:1x3x224x224,4x3x224x224,8x3x224x224")
    name, parts = m["name"], [p.strip() for p in m["shapes"].split(",")]
    if not 1 <= len(parts) <= 3:
        raise ValueError(f"shape range {spec!r}: give MIN,OPT,MAX (or MIN,MAX; opt is then "
                         f"max), not {len(parts)} shapes")
    shapes: list[tuple[int, ...]] = []
    for p in parts:
        dims = [d.strip() for d in p.split("x")] if p not in ("", "scalar") else []
        if not all(d.isdigit() for d in dims):
            raise ValueError(f"shape range {spec!r}: {p!r} is not a shape of whole numbers "
                             "such as 1x3x224x224")
        shapes.append(tuple(int(d) for d in dims))
    if len(shapes) == 1:
        shapes *= 3
    elif len(shapes) == 2:
        shapes = [shapes[0], shapes[1], shapes[1]]
    lo, opt, hi = shapes
    if not len(lo) == len(opt) == len(hi):
        raise ValueError(f"shape range {spec!r}: min, opt and max have ranks "
                         f"{len(lo)}, {len(opt)}, {len(hi)}; they must be equal")
    bad = [i for i in range(len(lo)) if not lo[i] <= opt[i] <= hi[i]]
    if bad:
        i = bad[0]
        got = (f"min {lo[i]}, opt {opt[i]}, max {hi[i]}" if len(parts) == 3
               else f"min {lo[i]}, max {hi[i]}")
        raise ValueError(f"shape range {spec!r}: dim {i} has {got}; TensorRT needs "
                         "min <= opt <= max")
    return ShapeRange(name, lo, opt, hi)


def parse_shape_ranges(specs: Sequence[str]) -> dict[str, ShapeRange]:
    """Each spec parsed (:func:`parse_shape_range`), by input name; a name twice is an
    error (one profile holds one range per input)."""
    out: dict[str, ShapeRange] = {}
    for spec in specs:
        r = parse_shape_range(spec)
        if r.name in out:
            raise ValueError(f"shape range {spec!r}: input '{r.name}' already has the range "
                             f"{out[r.name]}; give one range per input")
        out[r.name] = r
    return out


def is_dynamic(v: Value) -> bool:
    """Whether graph input ``v`` has a symbolic dim (a -1 in the TensorRT network)."""
    shape = v.type.shape
    return shape is not None and not all(isinstance(d, int) for d in shape)


def input_reason(v: Value, ranges: dict[str, ShapeRange]) -> str | None:
    """Why the range for graph input ``v`` (or its absence) does not fit ``v``'s shape, or
    None. Dynamic inputs need a range; a range keeps the static dims and the rank."""
    shape = v.type.shape
    if shape is None:
        return None
    r = ranges.get(v.name)
    if r is None:
        if not is_dynamic(v):
            return None
        return (f"dynamic shape [{_dims_text(shape)}] needs a shape range for the "
                f"optimization profile: add {suggest_flag(v)} (min,opt,max; your own sizes "
                f"for the dynamic dims), or fix it with --input-shape "
                f"{v.name}:{_dims_text(_fixed(shape, 1))}")
    if len(r.min) != len(shape):
        return (f"shape range {r}: rank {len(r.min)}, but the input [{_dims_text(shape)}] "
                f"has rank {len(shape)}")
    for i, d in enumerate(shape):
        if isinstance(d, int) and not r.min[i] == r.opt[i] == r.max[i] == d:
            lo, hi = r.min[i], r.max[i]
            sym = "N" if i == 0 else f"D{i}"
            dyn = _dims_text(sym if j == i else e for j, e in enumerate(shape))
            return (f"shape range {r}: dim {i} is {d} in the model, but the range gives "
                    f"{lo}..{hi}; keep it {d}, or make the dim dynamic with --input-shape "
                    f"{v.name}:{dyn}")
    return None


def unknown_names(graph: Graph, ranges: dict[str, ShapeRange]) -> list[str]:
    """The range names that are no graph input's."""
    names = {v.name for v in graph.inputs}
    return [n for n in ranges if n not in names]


def suggest_flag(v: Value) -> str:
    """A ``--shape-range`` flag for ``v``: static dims kept; a dynamic batch (dim 0) 1, 8, 8;
    other dynamic dims as MIN, OPT, MAX to fill in."""
    shape = v.type.shape or ()

    def at(k: int, word: str) -> str:
        return _dims_text(d if isinstance(d, int) else ((1, 8, 8)[k] if i == 0 else word)
                          for i, d in enumerate(shape))

    return f"--shape-range {v.name}:{at(0, 'MIN')},{at(1, 'OPT')},{at(2, 'MAX')}"


def _fixed(shape: Sequence[Any], size: int) -> list[Any]:
    return [d if isinstance(d, int) else (size if i == 0 else "SIZE") for i, d in enumerate(shape)]


def profile_ranges(graph: Graph, ranges: dict[str, ShapeRange]) -> list[ShapeRange]:
    """The ranges of ``graph``'s dynamic inputs, in input order (static inputs need none)."""
    return [ranges[v.name] for v in graph.inputs if is_dynamic(v) and v.name in ranges]


def add_profile(trt: TrtModule, builder: tensorrt.Builder, config: tensorrt.IBuilderConfig,
                ranges: Sequence[ShapeRange]) -> int | None:
    """Add one optimization profile with ``ranges`` to ``config``; its index (-1 when
    TensorRT finds it invalid), or None when there are no ranges (a network without dynamic
    inputs gets TensorRT's default profile)."""
    if not ranges:
        return None
    profile = builder.create_optimization_profile()
    for r in ranges:
        profile.set_shape(r.name, trt.Dims(list(r.min)), trt.Dims(list(r.opt)),
                          trt.Dims(list(r.max)))
    return config.add_optimization_profile(profile)


def trtexec_shapes(ranges: Sequence[ShapeRange]) -> str:
    """``--minShapes=x:1x3x224x224 --optShapes=... --maxShapes=...`` for ``ranges`` ("" when
    none): trtexec's spelling of the same profile, as typed in a POSIX shell. A name with a
    ':' or ',' is wrapped in escaped single quotes, as trtexec's help asks
    (``\\'input:0\\':1x3x224x224``)."""
    if not ranges:
        return ""

    def name(r: ShapeRange) -> str:
        return f"\\'{r.name}\\'" if any(c in r.name for c in ":,") else r.name

    flags = []
    for flag, k in (("--minShapes", 0), ("--optShapes", 1), ("--maxShapes", 2)):
        flags.append(f"{flag}=" + ",".join(f"{name(r)}:{_dims_text(r.shapes[k])}"
                                           for r in ranges))
    return " ".join(flags)
