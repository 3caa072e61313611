"""Shared fixtures: the committed sample images, and small exported models (exported once per session)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from effrestore.export import export_onnx
from effrestore.models import build_model, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"


@pytest.fixture(scope="session", autouse=True)
def own_cache_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every cache the tests fill (memory fits, precision verdicts, engines) in a folder of the test run's, and
    the CLI subprocesses inherit it: the suite never reads or writes the user's cache."""
    folder = tmp_path_factory.mktemp("cache")
    previous = os.environ.get("EFFRESTORE_CACHE_DIR")
    os.environ["EFFRESTORE_CACHE_DIR"] = str(folder)
    yield folder
    if previous is None:
        del os.environ["EFFRESTORE_CACHE_DIR"]
    else:
        os.environ["EFFRESTORE_CACHE_DIR"] = previous


@pytest.fixture(scope="session")
def sample_rgb() -> np.ndarray:
    """A clean 256×256 RGB photo as float32 in [0, 1]."""
    return np.asarray(Image.open(SAMPLES / "astronaut.png"), dtype=np.float32) / 255.0


TINY = {"dim": 8, "num_blocks": (1, 1, 1, 1), "num_refinement_blocks": 0, "heads": (1, 1, 1, 1)}


def _export(folder: Path, name: str, **overrides: object) -> Path:
    torch.manual_seed(0)
    model = build_model("restormer-xs", **{**TINY, **overrides}).eval()
    path = folder / f"{name}.onnx"
    export_onnx(model, path, verify_parity=False)
    save_checkpoint(model, folder / f"{name}.safetensors")
    return path


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    _export(folder, "conv", attention="none")
    _export(folder, "conv-x2", attention="none", scale=2)
    _export(folder, "conv-gray", attention="none", in_channels=1, out_channels=1)
    _export(folder, "glmha", attention="glmha")
    return folder
