"""Resize (IResizeLayer): nearest, linear and cubic, with the IR's coordinate modes.

pytorch_half_pixel is HALF_PIXEL with the UPPER selector for one-pixel outputs (as
TensorRT's ONNX parser maps it). The output shape is set from the IR type when static; when
its only dynamic dims are the input's own (a dynamic batch through a resize to fixed sizes)
it is a shape tensor of those dims and the static sizes; else the scales are set (so
``axes`` matters only then). tf_crop_and_resize and antialiasing have
no TensorRT counterpart.
"""

from __future__ import annotations

from compiler.ir.graph import Node

from ..context import ConversionContext
from ..registry import converter
from ._util import const_input_reason, first, static_shape

_COORDS = {"half_pixel": "HALF_PIXEL", "pytorch_half_pixel": "HALF_PIXEL",
           "align_corners": "ALIGN_CORNERS", "asymmetric": "ASYMMETRIC"}
_NEAREST = {"round_prefer_floor": "HALF_DOWN", "round_prefer_ceil": "HALF_UP",
            "floor": "FLOOR", "ceil": "CEIL"}
_MODES = {"nearest": "NEAREST", "linear": "LINEAR", "cubic": "CUBIC"}


def _check(node: Node) -> str | None:
    coord = str(node.attrs.get("coordinate_transformation_mode") or "half_pixel")
    if coord not in _COORDS:
        return f"coordinate_transformation_mode '{coord}'"
    if str(node.attrs.get("mode") or "nearest") not in _MODES:
        return f"mode '{node.attrs.get('mode')}'"
    if str(node.attrs.get("nearest_mode") or "round_prefer_floor") not in _NEAREST:
        return f"nearest_mode '{node.attrs.get('nearest_mode')}'"
    if node.attrs.get("antialias"):
        return "antialiased resize"
    if static_shape(node.outputs[0].type.shape) is None and _kept_dims(node) is None:
        if node.attrs.get("axes") is not None:
            return "resize of selected axes to a size known only at run time"
        return first(const_input_reason(node, 2, 3),
                     None if node.input(2) is not None else "dynamic output size")
    return None


def _kept_dims(node: Node) -> list[int | None] | None:
    """The output shape with None where a dynamic dim is the input's dim at the same index
    (not resized); None when another dim is dynamic."""
    v, out = node.input(0), node.outputs[0].type.shape
    if v is None or v.type.shape is None or out is None or len(out) != len(v.type.shape):
        return None
    dims: list[int | None] = []
    for d, i in zip(out, v.type.shape):
        if isinstance(d, int):
            dims.append(d)
        elif d == i:
            dims.append(None)
        else:
            return None
    return dims


@converter("resize", supports=_check)
def convert_resize(ctx: ConversionContext, node: Node) -> None:
    T = ctx.trt
    x = ctx.tensor(node.input(0))
    layer = ctx.network.add_resize(x)
    shape = static_shape(node.outputs[0].type.shape)
    kept = _kept_dims(node)
    if shape is not None:
        layer.shape = ctx.dims(shape)
    elif kept is not None:
        layer.set_input(1, ctx.shape_tensor(x, kept, node, "size"))
    else:
        scales = ctx.const_array(node, 2)
        layer.scales = [float(s) for s in (scales.reshape(-1) if scales is not None else ())]
    attrs = node.attrs
    layer.resize_mode = getattr(T.InterpolationMode, _MODES[str(attrs.get("mode") or "nearest")])
    coord = str(attrs.get("coordinate_transformation_mode") or "half_pixel")
    layer.coordinate_transformation = getattr(T.ResizeCoordinateTransformation, _COORDS[coord])
    layer.selector_for_single_pixel = (T.ResizeSelector.UPPER if coord == "pytorch_half_pixel"
                                       else T.ResizeSelector.FORMULA)
    layer.nearest_rounding = getattr(
        T.ResizeRoundMode, _NEAREST[str(attrs.get("nearest_mode") or "round_prefer_floor")])
    layer.cubic_coeff = float(attrs.get("cubic_coeff_a", -0.75))
    layer.exclude_outside = bool(attrs.get("exclude_outside"))
    ctx.name(layer, node)
    ctx.set_output(node, layer.get_output(0))
