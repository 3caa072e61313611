"""The precision policy: builder flags + fp32 pins on TensorRT <= 10, ONNX conversion on TensorRT >= 11."""

from __future__ import annotations

import pytest

from effrestore.errors import ConfigError
from effrestore.trt.precision import FP32_LAYER_TYPES, precision_policy


def test_tensorrt_10_uses_flags_and_pins_reductions() -> None:
    fp16 = precision_policy("fp16", "10.13.0.35")
    assert fp16.builder_flags == ("FP16", "OBEY_PRECISION_CONSTRAINTS")
    assert set(fp16.fp32_layer_types) == set(FP32_LAYER_TYPES) == {"NORMALIZATION", "SOFTMAX", "REDUCE"}
    assert fp16.onnx_pass is None and not fp16.strongly_typed
    assert precision_policy("bf16", "10.7.0").builder_flags[0] == "BF16"
    fp32 = precision_policy("fp32", "10.0.1")
    assert fp32.builder_flags == () and fp32.fp32_layer_types == () and fp32.onnx_pass is None


def test_tensorrt_11_converts_the_onnx_instead() -> None:
    fp16 = precision_policy("fp16", "11.0.0.1")
    assert fp16.builder_flags == () and fp16.onnx_pass == "fp16" and fp16.strongly_typed
    fp32 = precision_policy("fp32", "11.1.0")
    assert fp32.onnx_pass is None and fp32.strongly_typed
    with pytest.raises(ConfigError, match="use --precision fp16"):
        precision_policy("bf16", "11.0.0")


def test_bad_requests() -> None:
    with pytest.raises(ConfigError, match="precision must be one of"):
        precision_policy("int8", "10.13")
    with pytest.raises(ConfigError, match="cannot read TensorRT version"):
        precision_policy("fp16", "ten")
