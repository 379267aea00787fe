"""TensorRT: strongly typed TensorRT networks built through TensorRT's Python API.

:mod:`.target` is the ``tensorrt`` target; :mod:`.network` builds a network through an
injected ``trt`` module with the converters of :mod:`.converters`, chosen by
:mod:`.registry`; :mod:`.preflight` lists what cannot be converted before anything is
written; :mod:`.quant_spec` holds TensorRT's quantization rules.
"""
