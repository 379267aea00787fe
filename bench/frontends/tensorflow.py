"""TF/Keras frontend bench: TFLiteConverter.convert() time vs load_tensorflow time.

For MobileNetV2 and ResNet50 (weights=None, seeded): ``framework_s`` is
``tf.lite.TFLiteConverter.from_keras_model(model).convert()``, ``infercc_s`` is
``load_tensorflow(model)`` (tracing, freezing, lowering, sink-transposes). Medians of
``REPEATS`` runs. Errors compare the IR on the reference interpreter with Keras itself.

Run: ``python3 bench/frontends/tensorflow.py``
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Run as a script, this file's folder is sys.path[0] and its name would shadow tensorflow.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parents[1]))

import numpy as np

REPEATS = 3
MODELS = ("MobileNetV2", "ResNet50")


def measure() -> list[dict]:
    import keras
    import tensorflow as tf

    from compiler.frontends.tensorflow import load_tensorflow
    from compiler.interpreter import run_graph

    rows = []
    for name in MODELS:
        keras.utils.set_random_seed(0)
        model = getattr(keras.applications, name)(weights=None, classifier_activation=None)
        fw, ours = [], []
        graph = None
        for _ in range(REPEATS):
            t = time.perf_counter()
            tf.lite.TFLiteConverter.from_keras_model(model).convert()
            fw.append(time.perf_counter() - t)
            t = time.perf_counter()
            graph = load_tensorflow(model)
            ours.append(time.perf_counter() - t)
        x = np.random.default_rng(0).uniform(0, 255, (1, 224, 224, 3)).astype(np.float32)
        ref = model(x, training=False).numpy()
        got = next(iter(run_graph(graph, {graph.inputs[0].name: x.transpose(0, 3, 1, 2)}).values()))
        abs_err = float(np.abs(got - ref).max())
        rows.append({
            "format": "tensorflow",
            "model": name,
            "framework_s": statistics.median(fw),
            "infercc_s": statistics.median(ours),
            "max_abs_err": abs_err,
            "max_rel_err": abs_err / max(float(np.abs(ref).max()), 1e-30),
        })
    return rows


def main() -> None:
    rows = measure()
    print(f"{'model':<14}{'framework_s':>12}{'infercc_s':>11}{'ratio':>8}{'max_abs':>11}{'max_rel':>11}")
    for r in rows:
        print(f"{r['model']:<14}{r['framework_s']:>12.3f}{r['infercc_s']:>11.3f}"
              f"{r['infercc_s'] / r['framework_s']:>8.2f}{r['max_abs_err']:>11.2e}{r['max_rel_err']:>11.2e}")


if __name__ == "__main__":
    main()
