"""Run NVIDIA ModelOpt's ONNX int8 quantizer once; executed by the ModelOpt venv's python.

    python modelopt_worker.py MODEL.onnx CALIB.npz METHOD OUT.onnx

``CALIB.npz`` holds one array per graph input (``[N, ...]``, the calibration samples).
Prints one JSON line ``{"ok": true, "modelopt": version, "onnxruntime": version, "seconds":
s}`` or ``{"ok": false, "error": last line of the error}`` and exits 0 either way (an
exception inside ModelOpt is a result to report, not a crash of the bench). Imports only
what the venv has (numpy, onnxruntime, modelopt), never infercc.

The options: int8, ``calibration_method`` METHOD (``max`` or ``entropy``), calibration on
the CPU execution provider only, and ``high_precision_dtype="fp32"`` so that what is not
quantized stays float32 as in infercc's output (ModelOpt's default turns it to fp16).
"""

from __future__ import annotations

import json
import sys
import time
import traceback


def main(argv: list[str]) -> int:
    model, calib, method, out = argv
    try:
        import numpy as np
        import onnxruntime
        import modelopt
        from modelopt.onnx.quantization import quantize

        data = dict(np.load(calib))
        t0 = time.perf_counter()
        quantize(onnx_path=model, quantize_mode="int8", calibration_data=data,
                 calibration_method=method, calibration_eps=["cpu"],
                 high_precision_dtype="fp32", output_path=out, log_level="ERROR")
        secs = time.perf_counter() - t0
    except Exception as e:  # noqa: BLE001 - reported as the row's result
        tb = traceback.format_exc().strip().splitlines()
        print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}".splitlines()[0],
                          "where": tb[-3] if len(tb) >= 3 else ""}))
        return 0
    print(json.dumps({"ok": True, "modelopt": modelopt.__version__,
                      "onnxruntime": onnxruntime.__version__, "seconds": round(secs, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
