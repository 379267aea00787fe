"""The quantization passes: ``calibrate`` (:mod:`.calibrate_pass`) and ``quantize``
(:mod:`.quantize`).

They are thin: the statistics, the calibration driver, scale selection and the QDQ rewrite
are the library :mod:`compiler.quantization`, which the passes run inside a pipeline.
"""
