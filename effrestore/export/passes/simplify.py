"""simplify: constant folding and graph clean-up with onnxsim, falling back to onnxslim if onnxsim fails.

Input shapes are not overwritten, so symbolic batch/height/width stay dynamic. Custom `effrestore` ops
pass through (their schemas are registered for shape inference).
"""

from __future__ import annotations

import onnx

from effrestore.errors import RewriteError
from effrestore.export.custom_ops import register_onnx_schemas
from effrestore.export.passes.registry import register_pass


@register_pass("simplify")
def simplify(model: onnx.ModelProto) -> onnx.ModelProto:
    register_onnx_schemas()
    errors = []
    try:
        import onnxsim

        simplified, ok = onnxsim.simplify(model, skip_shape_inference=False)
        if ok:
            return simplified
        errors.append("onnxsim: its check of the simplified model failed")
    except Exception as exc:  # onnxsim raises plain RuntimeErrors from C++
        errors.append(f"onnxsim: {exc}")
    try:
        import onnxslim

        return onnxslim.slim(model)
    except ImportError:
        errors.append("onnxslim: not installed (pip install onnxslim)")
    except Exception as exc:
        errors.append(f"onnxslim: {exc}")
    raise RewriteError("simplify failed: " + "; ".join(errors))
