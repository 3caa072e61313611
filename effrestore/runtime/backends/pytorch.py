"""torch backend (only when torch is installed): checkpoints on CPU or CUDA; the reference implementation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from effrestore._lazy import require
from effrestore.errors import BackendUnavailableError, ConfigError
from effrestore.model_file import ModelFile
from effrestore.runtime.backends.base import Backend
from effrestore.runtime.backends.registry import OpenRequest, register_backend
from effrestore.runtime.memory import MemoryTracker


class CudaMemoryTracker:
    """Device memory torch allocates on one CUDA device: what a budget bounds when the model runs there.

    The whole-image buffers stay in host memory, so they do not count against it."""

    counts_host_buffers = False
    method = "cuda-max-allocated"

    def __init__(self, torch: Any, device: str) -> None:
        self.cuda = torch.cuda
        self.device = torch.device(device)

    def current(self) -> int:
        return int(self.cuda.memory_allocated(self.device))

    def available(self) -> int:
        free, _total = self.cuda.mem_get_info(self.device)
        return int(free) + int(self.cuda.memory_reserved(self.device))  # free + what torch caches

    def reset(self) -> None:
        self.cuda.reset_peak_memory_stats(self.device)

    def peak(self) -> int:
        return int(self.cuda.max_memory_allocated(self.device))


@register_backend(
    "torch",
    kinds=("checkpoint",),
    devices=("cpu", "cuda"),
    priority=10,
    requires="torch",
    install="'torch': pip install torch",
    wrong_kind=lambda model: f"the torch backend runs checkpoints (.safetensors/.pth), not {model.suffix}",
)
class TorchBackend(Backend):
    module = "torch"

    @classmethod
    def open(cls, request: OpenRequest) -> Backend:
        return cls(request.model, request.device or "cpu", request.threads)

    def __init__(self, source: ModelFile | Path, device: str = "cpu", threads: int | None = None) -> None:
        torch = require("torch", "the torch backend")
        model = ModelFile.resolve(source, prefer="checkpoint")
        from effrestore.models.checkpoints import load_checkpoint
        from effrestore.models.memory_format import fast_memory_format, to_fast_layout

        if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
            raise ConfigError(f"unknown device {device!r} for torch; choose cpu or cuda")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailableError("torch here has no CUDA device; use --device cpu")
        if threads:
            torch.set_num_threads(threads)
        self.torch = torch
        self.model = to_fast_layout(load_checkpoint(model.path), device).eval()
        self.memory_format = fast_memory_format(device)  # the inputs' layout, the model's own
        super().__init__(self.model.meta, device, model.digest)

    def memory_tracker(self) -> MemoryTracker:
        if self.device.startswith("cuda"):
            return CudaMemoryTracker(self.torch, self.device)
        return super().memory_tracker()

    def close(self) -> None:
        super().close()
        self.model = None
        if self.device.startswith("cuda"):
            self.torch.cuda.empty_cache()

    def _run(self, batch: np.ndarray) -> np.ndarray:
        with self.torch.inference_mode():
            x = self.torch.from_numpy(batch).to(self.device, memory_format=self.memory_format)
            output = self.model(x)
            return np.ascontiguousarray(output.float().cpu().numpy())
