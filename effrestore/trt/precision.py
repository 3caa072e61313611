"""How a precision request becomes a TensorRT build, per flavour and version.

TensorRT <= 10 takes precision as builder flags (weakly typed networks); the layers whose fp16 reductions
overflow (LayerNorm, Softmax, Reduce: MDTA's sum of squares passes the fp16 maximum at 256²) are pinned
to fp32 and the builder told to obey. TensorRT >= 11 has no precision flags (networks are strongly typed):
the ONNX itself must carry the types, so the export `fp16` pass converts it first, keeping the same
layers in fp32. TensorRT for RTX is always strongly typed (`Flavour.strongly_typed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from effrestore.errors import ConfigError
from effrestore.trt.flavours import TENSORRT, Flavour

Precision = Literal["fp32", "fp16", "bf16"]
PRECISIONS: tuple[Precision, ...] = ("fp32", "fp16", "bf16")
FP32_LAYER_TYPES = ("NORMALIZATION", "SOFTMAX", "REDUCE")  # trt.LayerType members kept in fp32


@dataclass(frozen=True)
class PrecisionPolicy:
    precision: Precision
    builder_flags: tuple[str, ...]  # trt.BuilderFlag member names
    fp32_layer_types: tuple[str, ...]  # trt.LayerType member names pinned to fp32
    onnx_pass: str | None  # export pass applied to the ONNX before parsing
    strongly_typed: bool  # create the network with NetworkDefinitionCreationFlag.STRONGLY_TYPED


def precision_policy(precision: str, tensorrt_version: str, flavour: Flavour = TENSORRT) -> PrecisionPolicy:
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if flavour.strongly_typed(tensorrt_version):
        if precision == "bf16":
            raise ConfigError(
                f"{flavour.name} {tensorrt_version} has no precision flags and effrestore's ONNX conversion "
                "writes fp16; use --precision fp16 (or fp32)"
            )
        return PrecisionPolicy(precision, (), (), "fp16" if precision == "fp16" else None, strongly_typed=True)
    if precision == "fp32":
        return PrecisionPolicy("fp32", (), (), None, strongly_typed=False)
    flag = "FP16" if precision == "fp16" else "BF16"
    return PrecisionPolicy(
        precision, (flag, "OBEY_PRECISION_CONSTRAINTS"), FP32_LAYER_TYPES, None, strongly_typed=False
    )
