"""Tiny real ONNX models for tests that need exact results: identities with effrestore metadata."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from effrestore.metadata import ModelMeta

META = ModelMeta(multiple_of=8, overlap=8, receptive_field=0, tiling="supported")


def identity_model(
    path: Path, props: dict[str, str] | None = None, external: str | None = None, channels: int = 3
) -> Path:
    """input -> output (plus a zero taken from `external` data, when given), with effrestore metadata."""
    initializers, node = [], helper.make_node("Identity", ["input"], ["output"])
    if external is not None:
        zero = numpy_helper.from_array(np.zeros((1,), np.float32), "zero")
        zero.ClearField("raw_data")
        zero.data_location = TensorProto.EXTERNAL
        for key, value in (("location", external), ("offset", "0"), ("length", "4")):
            entry = zero.external_data.add()
            entry.key, entry.value = key, value
        initializers, node = [zero], helper.make_node("Add", ["input", "zero"], ["output"])
    value = helper.make_tensor_value_info
    graph = helper.make_graph(
        [node],
        "identity",
        [value("input", TensorProto.FLOAT, ["N", channels, "H", "W"])],
        [value("output", TensorProto.FLOAT, ["N", channels, "H", "W"])],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    meta = dataclasses.replace(META, in_channels=channels, out_channels=channels)
    helper.set_model_props(model, {**meta.to_props(), **(props or {})})
    onnx.save(model, str(path))
    return path


def wide_identity_model(path: Path, width: int) -> Path:
    """An RGB identity through `width` intermediate channels (two 1×1 convolutions): a call whose memory grows
    `width` floats per pixel, for tests of what a wrong memory plan does."""
    spread = np.zeros((width, 3, 1, 1), np.float32)
    spread[np.arange(width), np.arange(width) % 3] = 1.0
    gather = np.zeros((3, width, 1, 1), np.float32)
    gather[np.arange(3), np.arange(3)] = 1.0
    nodes = [
        helper.make_node("Conv", ["input", "spread"], ["wide"]),
        helper.make_node("Conv", ["wide", "gather"], ["output"]),
    ]
    value = helper.make_tensor_value_info
    graph = helper.make_graph(
        nodes,
        "wide_identity",
        [value("input", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [value("output", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        initializer=[numpy_helper.from_array(spread, "spread"), numpy_helper.from_array(gather, "gather")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    helper.set_model_props(model, META.to_props())
    onnx.save(model, str(path))
    return path
