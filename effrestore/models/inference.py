"""Whole-image torch inference: reflect-pad to `multiple_of`, run, crop back (scaled for SR models)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from effrestore.models.backbones import Restormer


def run_whole_image(model: Restormer, image: np.ndarray) -> np.ndarray:
    """float32 H×W×C (model value range) -> float32 (scale·H)×(scale·W)×C_out, no clipping."""
    meta = model.meta
    height, width = image.shape[:2]
    x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].float()
    pad_h, pad_w = (-height) % meta.multiple_of, (-width) % meta.multiple_of
    if pad_h or pad_w:
        mode = "reflect" if pad_h < height and pad_w < width else "replicate"
        x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
    model.eval()
    with torch.no_grad():
        y = model(x)[0, :, : height * meta.scale, : width * meta.scale]
    return y.permute(1, 2, 0).numpy()
