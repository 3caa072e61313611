"""Named ONNX rewrite passes, applied in order by `apply_passes(model, names)`.

Each pass is a function `onnx.ModelProto -> onnx.ModelProto` (it may edit its argument) registered under a
kebab-case name in its own module; importing this package imports every pass module, so each registers.
"""

from __future__ import annotations

from effrestore.export.passes import (  # noqa: F401 (they register themselves)
    decompose_attention,
    fp16,
    fuse_layernorm,
    nchw_layernorm,
    reassociate_linear_attention,
    simplify,
    split_projections,
)
from effrestore.export.passes.registry import PASSES, apply_passes, get_pass, register_pass

__all__ = ["PASSES", "apply_passes", "get_pass", "register_pass"]
