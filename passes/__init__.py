"""Builtin passes, listed lazily: name -> "module:Class".

The pass manager imports a module only when its pass is used, so listing passes
(`infercc passes`) and starting the CLI stay fast. Plugins add passes through the
``infercc.passes`` entry-point group instead of this table.
"""

BUILTIN_PASSES: dict[str, str] = {
    "fold-constants": "passes.cleanup.fold_constants:FoldConstants",
    "resolve-shapes": "passes.cleanup.resolve_shapes:ResolveShapes",
    "dce": "passes.cleanup.dce:DeadCodeElimination",
    "cse": "passes.cleanup.cse:CommonSubexpressionElimination",
    "fuse-batchnorm": "passes.fusion.fuse_batchnorm:FuseBatchNorm",
    "fuse-activation": "passes.fusion.fuse_activation:FuseActivation",
    "fuse-matmul-add": "passes.fusion.fuse_matmul_add:FuseMatmulAdd",
    "remove-identity": "passes.cleanup.remove_identity:RemoveIdentity",
    "cancel-transposes": "passes.cleanup.cancel_transposes:CancelTransposes",
    "sink-transposes": "passes.layout.sink_transposes:SinkTransposes",
    "calibrate": "passes.quantization.calibrate_pass:Calibrate",
    "quantize": "passes.quantization.quantize:Quantize",
    "prune": "passes.sparsity.prune:Prune",
}

# What `infercc opt` runs when no -p is given.
DEFAULT_PIPELINE = (
    "remove-identity,fold-constants,resolve-shapes,fuse-batchnorm,fuse-matmul-add,cancel-transposes,cse,fuse-activation,dce"
)
