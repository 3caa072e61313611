"""torch -> ONNX export with effrestore custom ops, named rewrite passes and verified parity (engines are
built from the result by `effrestore.trt.builder.build_engine`)."""

from effrestore.export.exporter import ExportReport, PassRecord, custom_attention_ops, export_onnx
from effrestore.export.passes import PASSES, apply_passes, register_pass
from effrestore.export.verify import Comparison, compare

__all__ = [
    "PASSES",
    "Comparison",
    "ExportReport",
    "PassRecord",
    "apply_passes",
    "compare",
    "custom_attention_ops",
    "export_onnx",
    "register_pass",
]
