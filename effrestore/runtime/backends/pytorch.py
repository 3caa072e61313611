"""torch backend (only when torch is installed): checkpoints on CPU or CUDA; the reference implementation."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from effrestore._lazy import require
from effrestore.errors import BackendUnavailableError, ConfigError
from effrestore.runtime.backends.base import Backend, file_digest


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, path: Path, device: str = "cpu", threads: int | None = None) -> None:
        torch = require("torch", "the torch backend")
        from effrestore.models.checkpoints import load_checkpoint

        if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
            raise ConfigError(f"unknown device {device!r} for torch; choose cpu or cuda")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailableError("torch here has no CUDA device; use --device cpu")
        if threads:
            torch.set_num_threads(threads)
        self.torch = torch
        self.model = load_checkpoint(path).to(device).eval()
        super().__init__(self.model.meta, device, file_digest(path))

    def _run(self, batch: np.ndarray) -> np.ndarray:
        with self.torch.inference_mode():
            x = self.torch.from_numpy(batch).to(self.device)
            return self.model(x).float().cpu().numpy()
