"""Whole-image denoisers from a model source, for evaluation: a callable float32 H×W×C -> H×W×C.

`.onnx` runs in ONNX Runtime (no torch); checkpoints (.safetensors/.pth/.pt) run in torch (lazy import).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from effrestore._lazy import require
from effrestore.errors import ConfigError
from effrestore.metadata import ModelMeta

Denoiser = Callable[[np.ndarray], np.ndarray]
CHECKPOINT_SUFFIXES = {".safetensors", ".pth", ".pt", ".ckpt"}


def pad_to_multiple(image: np.ndarray, multiple: int) -> np.ndarray:
    """Reflect-pads the bottom/right of an H×W×C image so H and W are multiples of `multiple`."""
    height, width = image.shape[:2]
    pad = ((0, (-height) % multiple), (0, (-width) % multiple), (0, 0))
    mode = "reflect" if pad[0][1] < height and pad[1][1] < width else "edge"
    return np.pad(image, pad, mode=mode) if pad[0][1] or pad[1][1] else image


def onnx_denoiser(path: Path) -> tuple[Denoiser, int]:
    ort = require("onnxruntime", "running ONNX models")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = ModelMeta.from_props(dict(session.get_modelmeta().custom_metadata_map))
    input_name = session.get_inputs()[0].name

    def run(image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        x = pad_to_multiple(image, meta.multiple_of).transpose(2, 0, 1)[None].astype(np.float32)
        y = session.run(None, {input_name: np.ascontiguousarray(x)})[0][0]
        return y[:, : height * meta.scale, : width * meta.scale].transpose(1, 2, 0)

    return run, meta.in_channels


def checkpoint_denoiser(path: Path) -> tuple[Denoiser, int]:
    require("torch", "running torch checkpoints")
    from effrestore.models.checkpoints import load_checkpoint
    from effrestore.models.inference import run_whole_image

    model = load_checkpoint(path)
    return (lambda image: run_whole_image(model, image)), model.config.in_channels


def load_denoiser(source: str | Path) -> tuple[Denoiser, int]:
    """(denoiser, input channels) for an ONNX file or a checkpoint."""
    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"{source}: no such model file")
    if path.suffix.lower() == ".onnx":
        return onnx_denoiser(path)
    if path.suffix.lower() in CHECKPOINT_SUFFIXES:
        return checkpoint_denoiser(path)
    raise ConfigError(f"{source}: unknown model type; expected .onnx, .safetensors, .pth or .pt")
