"""torch -> ONNX export with effrestore custom ops, named rewrite passes and verified parity; ONNX -> TensorRT
engine (`build_engine`)."""

from effrestore.export.exporter import ExportReport, PassRecord, custom_attention_ops, export_onnx
from effrestore.export.passes import PASSES, apply_passes, register_pass
from effrestore.export.verify import Comparison, compare
from effrestore.trt.builder import BuildResult, build_engine

__all__ = [
    "PASSES",
    "BuildResult",
    "Comparison",
    "ExportReport",
    "PassRecord",
    "apply_passes",
    "build_engine",
    "compare",
    "custom_attention_ops",
    "export_onnx",
    "register_pass",
]
