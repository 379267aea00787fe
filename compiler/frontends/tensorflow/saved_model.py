"""Reading a SavedModel directory without running anything stored in it.

``tf.saved_model.load`` calls the resource creators and initializers saved with the model
(functions from the file: a ``tf.io.write_file`` in one writes a file during the load), and
``tf.compat.v1.saved_model.loader.load`` runs the saved restore op and the ``main_op`` /
``legacy_init_op`` in a session. Neither is used here. Instead:

* ``saved_model.pb`` is parsed as a protobuf; the meta graph tagged ``serve`` (or the only
  one) is taken, and its ``signature_def`` names the input placeholders and output tensors.
* Function calls are inlined by grappler's function optimizer (a graph rewrite; no op runs).
* Variable values are read from ``variables/variables.{index,data-*}`` with TF's checkpoint
  reader (a file parser) and put into the graph as constants. Which checkpoint key belongs
  to which variable node is worked out statically: for TF2 SavedModels through the saved
  object graph (the signature function's ``bound_inputs``) matched by child names against
  the checkpoint's object graph; for TF1 SavedModels from the saver's ``RestoreV2`` nodes
  (their ``tensor_names`` constant and the ``Assign`` / ``AssignVariableOp`` each restored
  tensor feeds), falling back to a key equal to the variable's name.
* Initializers, ``main_op``, assets and the saver's own ops are never executed. An output
  that needs state no checkpoint holds (a lookup table filled by an initializer) reaches the
  lowering as an unsupported op, and is reported as one.

:func:`read_saved_model` returns ``(graph_def, inputs, outputs)`` in the form
:class:`compiler.frontends.tensorflow.loader._Frozen` takes; malformed directories raise
:class:`~compiler.errors.ModelLoadError` naming the directory and the record.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ...errors import ModelLoadError
from ...ir.graph import sanitize_name

log = logging.getLogger(__name__)

_VARIABLE_OPS = ("VariableV2", "Variable", "VarHandleOp")
_CALL_OPS = ("PartitionedCall", "StatefulPartitionedCall")


def read_saved_model(path: Path, signature: str) -> tuple[Any, list, list]:
    """``(graph_def, inputs, outputs)`` of ``signature`` with variables as constants.

    ``inputs`` are ``(ir name, placeholder node, dtype enum, shape or None)`` (an unknown
    dim is ``None``, as in ``TensorShape.as_list()``) and
    ``outputs`` ``(ir name, "node:k")``, both in sorted signature-key order.
    """
    label = str(path)
    meta = _meta_graph(path, label)
    sigs = sorted(k for k in meta.signature_def if not k.startswith("__"))
    if signature not in meta.signature_def:
        raise ModelLoadError(f"{label}: no signature '{signature}' (signatures: {sigs})")
    sd = meta.signature_def[signature]
    inputs = []
    for k in sorted(sd.inputs):
        ti = sd.inputs[k]
        shp = None if ti.tensor_shape.unknown_rank else [
            None if d.size < 0 else int(d.size) for d in ti.tensor_shape.dim]
        inputs.append((sanitize_name(k), ti.name.split(":")[0], ti.dtype, shp))
    outputs = [(sanitize_name(k), sd.outputs[k].name) for k in sorted(sd.outputs)]
    gd = meta.graph_def
    values = _variable_values(path, meta, [t for _, t in outputs], label)
    if any(n.op in _CALL_OPS for n in gd.node):
        import tensorflow as tf

        from .loader import _inline_functions

        try:
            gd = _inline_functions(gd, [t for _, t in outputs])
        except (ValueError, TypeError, tf.errors.OpError) as e:  # TF's graph import checks
            raise ModelLoadError(
                f"{label}: the graph in saved_model.pb is inconsistent ({_first_line(e)}); "
                "re-export the SavedModel"
            ) from None
    return _bind_variables(gd, values, label), inputs, outputs


def _first_line(e: BaseException) -> str:
    text = str(getattr(e, "message", "") or e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0][:300] if text else ''}"


def _meta_graph(path: Path, label: str) -> Any:
    from google.protobuf import message, text_format
    from tensorflow.core.protobuf import saved_model_pb2

    sm = saved_model_pb2.SavedModel()
    pb, pbtxt = path / "saved_model.pb", path / "saved_model.pbtxt"
    try:
        if pb.exists():
            sm.ParseFromString(pb.read_bytes())
        else:
            text_format.Parse(pbtxt.read_text(), sm)
    except (message.DecodeError, text_format.ParseError, UnicodeDecodeError) as e:
        raise ModelLoadError(f"{label}: saved_model.pb is not a SavedModel protobuf ({e})") from None
    if not sm.meta_graphs:
        raise ModelLoadError(f"{label}: the SavedModel holds no meta graph")
    for meta in sm.meta_graphs:
        if "serve" in meta.meta_info_def.tags:
            return meta
    if len(sm.meta_graphs) == 1:
        return sm.meta_graphs[0]
    tags = [list(m.meta_info_def.tags) for m in sm.meta_graphs]
    raise ModelLoadError(f"{label}: no meta graph tagged 'serve' (tag sets: {tags})")


def _reader(path: Path, label: str) -> Any:
    import tensorflow as tf

    prefix = path / "variables" / "variables"
    if not (path / "variables" / "variables.index").exists():
        return None
    try:
        return tf.train.load_checkpoint(str(prefix))
    except Exception as e:  # noqa: BLE001 - TF's reader raises its own error types
        raise ModelLoadError(
            f"{label}: variables/variables.index is not a readable checkpoint ({_first_line(e)})"
        ) from None


def _variable_values(path: Path, meta: Any, fetches: list[str], label: str) -> dict[str, Any]:
    """Graph variable node name -> its value from the checkpoint."""
    reader = _reader(path, label)
    if reader is None:
        return {}
    keys: dict[str, str] = {}
    if len(meta.object_graph_def.nodes):
        keys.update(_keys_from_object_graph(meta, reader, fetches, label))
    keys.update({k: v for k, v in _keys_from_restore_ops(meta.graph_def).items() if k not in keys})
    for node in meta.graph_def.node:
        if node.op in _VARIABLE_OPS and node.name not in keys and reader.has_tensor(node.name):
            keys[node.name] = node.name
    import tensorflow as tf

    values = {}
    for name, key in keys.items():
        if not reader.has_tensor(key):
            raise ModelLoadError(f"{label}: variable '{name}' reads checkpoint key '{key}', "
                                 "which variables/variables.index does not hold")
        try:
            values[name] = reader.get_tensor(key)
        except (tf.errors.OpError, IndexError) as e:  # checksum mismatch, a short data shard
            raise ModelLoadError(f"{label}: variable '{name}' (checkpoint key '{key}') cannot be "
                                 f"read ({_first_line(e)}); the variables files are corrupt") from None
    return values


def _keys_from_object_graph(meta: Any, reader: Any, fetches: list[str], label: str) -> dict[str, str]:
    """TF2: the variables captured by the signature's function calls, through the object
    graph saved with the model and the one saved in the checkpoint."""
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    if not reader.has_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"):
        return {}
    ckpt = trackable_object_graph_pb2.TrackableObjectGraph()
    try:
        ckpt.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    except Exception as e:  # noqa: BLE001 - protobuf decode errors
        raise ModelLoadError(f"{label}: the checkpoint's object graph is unreadable ({e})") from None
    saved = meta.object_graph_def
    to_ckpt: dict[int, int] = {0: 0}
    stack = [0]
    while stack:  # pair the two object graphs by child name, from the root
        s = stack.pop()
        c = to_ckpt[s]
        if s >= len(saved.nodes) or c >= len(ckpt.nodes):
            continue
        by_name = {ch.local_name: ch.node_id for ch in ckpt.nodes[c].children}
        for ch in saved.nodes[s].children:
            if ch.local_name in by_name and ch.node_id not in to_ckpt:
                to_ckpt[ch.node_id] = by_name[ch.local_name]
                stack.append(ch.node_id)
    nodes = {n.name: n for n in meta.graph_def.node}
    keys = {}
    for fetch in fetches:
        call = nodes.get(fetch.split(":")[0])
        if call is None or call.op not in _CALL_OPS:
            continue
        fn = saved.concrete_functions.get(call.attr["f"].func.name)
        if fn is None:
            continue
        data_inputs = [i for i in call.input if not i.startswith("^")]
        bound = list(fn.bound_inputs)
        for inp, node_id in zip(data_inputs[len(data_inputs) - len(bound):], bound):
            if node_id >= len(saved.nodes) or saved.nodes[node_id].WhichOneof("kind") != "variable":
                continue
            c = to_ckpt.get(node_id, len(ckpt.nodes))
            attrs = ckpt.nodes[c].attributes if c < len(ckpt.nodes) else []
            key = next((a.checkpoint_key for a in attrs if a.name == "VARIABLE_VALUE"), None)
            if key is None:
                raise ModelLoadError(f"{label}: variable '{inp}' has no value in the checkpoint")
            keys[inp.split(":")[0]] = key
    return keys


def _keys_from_restore_ops(gd: Any) -> dict[str, str]:
    """TF1: variable node -> checkpoint key, read off the saver's RestoreV2 nodes."""
    from tensorflow.python.framework import tensor_util

    nodes = {n.name: n for n in gd.node}
    consumers: dict[str, list[Any]] = {}
    for n in gd.node:
        for i, inp in enumerate(n.input):
            consumers.setdefault(inp, []).append((n, i))
    keys = {}
    for n in gd.node:
        if n.op not in ("RestoreV2", "Restore") or len(n.input) < 2:
            continue
        names_node = nodes.get(n.input[1].split(":")[0])
        if names_node is None or names_node.op != "Const":
            continue
        try:
            names = [b.decode() for b in tensor_util.MakeNdarray(names_node.attr["value"].tensor).ravel()]
        except (ValueError, TypeError, UnicodeDecodeError):
            continue
        for k, key in enumerate(names):
            frontier = [f"{n.name}:{k}"] + ([n.name] if k == 0 else [])
            seen = set()
            while frontier:
                t = frontier.pop()
                if t in seen:
                    continue
                seen.add(t)
                for c, slot in consumers.get(t, []):
                    if c.op == "Identity":
                        frontier += [c.name, f"{c.name}:0"]
                    elif c.op in ("Assign", "AssignVariableOp") and slot == 1:
                        keys[c.input[0].split(":")[0].lstrip("^")] = key
    return keys


def _bind_variables(gd: Any, values: dict[str, Any], label: str) -> Any:
    """A copy of ``gd`` with variables (VariableV2) and variable reads (ReadVariableOp of a
    VarHandleOp, possibly through Identity) replaced by constants of their values."""
    import tensorflow as tf
    from tensorflow.core.framework import attr_value_pb2, graph_pb2, node_def_pb2

    nodes = {n.name: n for n in gd.node}

    def handle_of(inp: str) -> str | None:
        seen = set()
        name = inp.split(":")[0]
        while name in nodes and name not in seen:
            seen.add(name)
            n = nodes[name]
            if n.op == "VarHandleOp":
                return name
            if n.op != "Identity" or not n.input:
                return None
            name = n.input[0].split(":")[0]
        return None

    out = graph_pb2.GraphDef()
    out.versions.CopyFrom(gd.versions)
    out.library.CopyFrom(gd.library)
    for node in gd.node:
        value = None
        if node.op in ("VariableV2", "Variable") and node.name in values:
            value = values[node.name]
        elif node.op == "ReadVariableOp" and node.input:
            h = handle_of(node.input[0])
            if h is not None and h in values:
                value = values[h]
        if value is None:
            out.node.add().CopyFrom(node)
            continue
        const = node_def_pb2.NodeDef(name=node.name, op="Const")
        const.attr["dtype"].CopyFrom(attr_value_pb2.AttrValue(type=tf.as_dtype(value.dtype).as_datatype_enum))
        const.attr["value"].CopyFrom(attr_value_pb2.AttrValue(tensor=tf.make_tensor_proto(value)))
        out.node.add().CopyFrom(const)
    log.debug("%s: %d variables bound from the checkpoint", label, len(values))
    return out
