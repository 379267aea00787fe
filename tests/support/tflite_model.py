"""Look inside and run an emitted ``.tflite``: the flatbuffer unpacked with LiteRT's own
schema, its operator names, and a LiteRT run that keeps integer outputs as written.

``ai_edge_litert`` is imported when a helper is called, so importing this module never
fails; test modules skip first with ``pytest.importorskip("ai_edge_litert")``.
"""

from __future__ import annotations

import numpy as np

from tests.support.oracles import run_litert


def run_tflite(data: bytes, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run a model in LiteRT; inputs and outputs are matched by tensor name."""
    return run_litert(data, feeds, dequantize=False)


def unpack(data: bytes):
    """The model as LiteRT's schema object tree (``ModelT``); checks the file identifier."""
    from ai_edge_litert import schema_py_generated as schema

    assert data[4:8] == b"TFL3"
    return schema.ModelT.InitFromPackedBuf(data, 0)


def op_names(model) -> list[str]:
    """Builtin operator names of the first subgraph of an unpacked model, in order."""
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    return [names[model.operatorCodes[op.opcodeIndex].builtinCode]
            for op in model.subgraphs[0].operators]
