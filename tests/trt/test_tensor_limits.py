"""Profiles against TensorRT's 2³¹-element tensor limit: the largest intermediate predicted from three small
ONNX Runtime runs, checked against a real run at another size; a global-attention model's large profile is
dropped with its reason (no TensorRT needed: the check runs before any build)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from effrestore.errors import EngineError
from effrestore.export import export_onnx
from effrestore.model_file import ModelFile
from effrestore.models import build_model
from effrestore.runtime import Restorer
from effrestore.trt.profiles import tile_ladder
from effrestore.trt.tensor_limits import largest_tensor, within_limit
from tests.conftest import TINY


def measured_largest(path: Path, channels: int, height: int, width: int) -> int:
    model = onnx.load(str(path))
    model.graph.output.extend(onnx.ValueInfoProto(name=o) for n in model.graph.node for o in n.output if o)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    outputs = session.run(None, {session.get_inputs()[0].name: np.zeros((1, channels, height, width), np.float32)})
    return max(np.size(out) for out in outputs)


@pytest.mark.parametrize("model", ["conv-x2", "glmha"])
def test_prediction_matches_a_run_at_another_size(models_dir: Path, model: str) -> None:
    path = models_dir / f"{model}.onnx"
    meta = Restorer.load(path).meta
    assert largest_tensor(ModelFile.at(path))(1, 128, 96) == measured_largest(path, meta.in_channels, 128, 96)


def test_a_profile_over_the_limit_is_dropped_and_said(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model("restormer-xs", **{**TINY, "attention": "sagan"}).eval()  # HW×HW attention maps
    export_onnx(model, tmp_path / "sagan.onnx", verify_parity=False)
    meta = Restorer.load(tmp_path / "sagan.onnx").meta
    said: list[str] = []
    kept = within_limit(tile_ladder(meta, (64, 512)), ModelFile.at(tmp_path / "sagan.onnx"), said.append)
    assert [p.max_tile for p in kept] == [64]
    assert len(said) == 1 and "up to 512²" in said[0] and "2³¹" in said[0]
    with pytest.raises(EngineError, match="smaller tiles"):
        within_limit(tile_ladder(meta, (512,)), ModelFile.at(tmp_path / "sagan.onnx"), said.append)
