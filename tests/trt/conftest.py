"""Synthetic engines (a plan header + a manifest) and small ONNX graphs for the TensorRT tests: what
effrestore itself reads before TensorRT is involved (real TensorRT-RTX builds are in test_rtx_builds.py)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from effrestore.metadata import ModelMeta
from effrestore.trt.flavours import TENSORRT
from effrestore.trt.manifest import BuilderOptions, EngineManifest, manifest_path
from effrestore.trt.plan_header import VERSION_OFFSET
from effrestore.trt.profiles import tile_ladder

META = ModelMeta(task="denoise", in_channels=3, out_channels=3, multiple_of=8, name="tiny")


def plan_bytes(version: tuple[int, int, int, int] = (10, 13, 0, 35), payload: bytes = b"\0" * 64) -> bytes:
    head = bytearray(TENSORRT.magic + b"\0" * (VERSION_OFFSET - len(TENSORRT.magic)))
    head += bytes(version) + b"\0" * 4
    return bytes(head) + payload


def write_engine(folder: Path, name: str = "model.plan", version: str = "10.13.0.35", **fields: object) -> Path:
    """A plan file with a real header layout plus a manifest describing it (fields override the manifest)."""
    plan = folder / name
    data = plan_bytes(tuple(int(v) for v in version.split(".")))  # type: ignore[arg-type]
    plan.write_bytes(data)
    manifest = EngineManifest(
        effrestore_version="0.1.0",
        flavour="tensorrt",
        tensorrt_version=version,
        gpu_name="NVIDIA H100 80GB HBM3",
        compute_capabilities=("9.0",),
        input_name="input",
        output_name="output",
        profiles=tuple(tile_ladder(META, (256, 512))),
        device_memory=(50_000_000, 190_000_000),
        precision="fp16",
        builder=BuilderOptions(),
        model=META,
        onnx_path="models/tiny.onnx",
        onnx_sha256="0" * 64,
        engine_sha256=hashlib.sha256(data).hexdigest(),
        engine_bytes=len(data),
    )
    replace(manifest, **fields).write(manifest_path(plan))  # type: ignore[arg-type]
    return plan


def graph_model(nodes: list[onnx.NodeProto], *, opset: int = 18, elem: int = TensorProto.FLOAT,
                initializers: list[onnx.TensorProto] | None = None, extra_opsets: dict[str, int] | None = None
                ) -> onnx.ModelProto:  # fmt: skip
    """input (N×3×H×W) -> nodes -> output, with effrestore metadata."""
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("input", elem, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("output", elem, ["N", 3, "H", "W"])],
        initializer=initializers or [],
    )
    imports = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in (extra_opsets or {}).items()]
    model = helper.make_model(graph, opset_imports=imports)
    helper.set_model_props(model, META.to_props())
    return model


@pytest.fixture
def identity_onnx(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.onnx"
    onnx.save(graph_model([helper.make_node("Relu", ["input"], ["output"])]), path)
    return path
