"""Options that several commands share, declared once so their help reads the same everywhere."""

from __future__ import annotations

from typing import Annotated

import typer

Backend = Annotated[
    str,
    typer.Option(
        help="auto (OpenVINO for ONNX on the CPU when installed, else ONNX Runtime; torch for checkpoints; "
        "TensorRT for engines), onnxruntime, openvino, torch or tensorrt."
    ),
]
Precision = Annotated[
    str,
    typer.Option(
        help="auto (bf16 only where the CPU runs it natively, the model's bf16 record allows it and a first-use "
        "check agrees with fp32), fp32 or bf16 (OpenVINO)."
    ),
]
