"""TensorFlow / Keras frontend: Keras models, ``.keras``/``.h5`` files, SavedModels, frozen ``.pb``.

``loader`` traces and freezes the model into a ``GraphDef``; ``lowering`` lowers the
GraphDef's ops into the IR (its rule table is :data:`SUPPORTED_OPS`).
"""

from .loader import load_tensorflow
from .lowering import SUPPORTED_OPS, TFImportError

__all__ = ["SUPPORTED_OPS", "TFImportError", "load_tensorflow"]
