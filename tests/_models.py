"""Tiny real ONNX models for tests that need exact results: identities with effrestore metadata."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from effrestore.metadata import ModelMeta

META = ModelMeta(multiple_of=8, overlap=8, receptive_field=0, tiling="supported")


def external_tensor(name: str, location: str) -> onnx.TensorProto:
    """A float zero of shape (1,) whose bytes live in external data at `location`."""
    tensor = numpy_helper.from_array(np.zeros((1,), np.float32), name)
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "4")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def graph_model(
    path: Path,
    nodes: list,
    initializers: list | None = None,
    *,
    domains: tuple[str, ...] = (),
    channels: int = 3,
    props: dict[str, str] | None = None,
) -> Path:
    """`nodes` from "input" to "output" (N×channels×H×W float) saved with effrestore metadata; `domains`
    are custom op domains the nodes use."""
    value = helper.make_tensor_value_info
    graph = helper.make_graph(
        nodes,
        "g",
        [value("input", TensorProto.FLOAT, ["N", channels, "H", "W"])],
        [value("output", TensorProto.FLOAT, ["N", channels, "H", "W"])],
        initializer=initializers or [],
    )
    opsets = [helper.make_opsetid("", 17), *(helper.make_opsetid(domain, 1) for domain in domains)]
    model = helper.make_model(graph, opset_imports=opsets)
    meta = dataclasses.replace(META, in_channels=channels, out_channels=channels)
    helper.set_model_props(model, {**meta.to_props(), **(props or {})})
    onnx.save(model, str(path))
    return path


def identity_model(
    path: Path, props: dict[str, str] | None = None, external: str | None = None, channels: int = 3
) -> Path:
    """input -> output (plus a zero taken from `external` data, when given), with effrestore metadata."""
    if external is None:
        return graph_model(path, [helper.make_node("Identity", ["input"], ["output"])], channels=channels, props=props)
    node = helper.make_node("Add", ["input", "zero"], ["output"])
    return graph_model(path, [node], [external_tensor("zero", external)], channels=channels, props=props)


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
    return graph_model(
        path, nodes, [numpy_helper.from_array(spread, "spread"), numpy_helper.from_array(gather, "gather")]
    )
