"""The budget bounds the memory the backend runs in: process RSS on the CPU, device memory on CUDA."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from effrestore.runtime import Restorer
from effrestore.runtime.memory import AllocationTracker, PeakTracker

MiB = 2**20


@pytest.mark.parametrize(("model", "backend"), [("conv.onnx", "onnxruntime"), ("conv.safetensors", "torch")])
def test_cpu_backends_measure_process_rss(models_dir: Path, model: str, backend: str) -> None:
    restorer = Restorer.load(models_dir / model, backend=backend, threads=1, mem_budget="4GiB")
    assert isinstance(restorer.backend.memory_tracker(), PeakTracker)
    image = np.random.default_rng(0).integers(0, 256, (200, 328, 3), dtype=np.uint8)
    restorer.restore(image)
    stats = restorer.last_stats
    assert stats.peak_method == PeakTracker().method
    # RSS includes the interpreter and the libraries: far above what one small tile allocates
    assert 50 * MiB < stats.measured_peak <= stats.budget


def test_allocation_tracker_counts_what_the_backend_holds() -> None:
    """The TensorRT backend's tracker: the engine stays resident, context memory and I/O buffers come and go."""
    tracker = AllocationTracker(resident=100, available=lambda: 5000)
    tracker.allocated(400)  # context memory, kept between calls
    tracker.reset()
    assert tracker.current() == tracker.peak() == 500, "a reset keeps what is still allocated"
    tracker.allocated(30)  # input buffer
    tracker.allocated(120)  # output buffer
    tracker.released(30)
    tracker.released(120)
    assert tracker.current() == 500 and tracker.peak() == 650
    assert tracker.method == "allocations" and not tracker.counts_host_buffers and tracker.available() == 5000


@pytest.mark.gpu
def test_torch_cuda_budget_is_device_memory(models_dir: Path) -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    restorer = Restorer.load(models_dir / "conv.safetensors", backend="torch", device="cuda", mem_budget="600MiB")
    image = np.random.default_rng(0).integers(0, 256, (2160, 3840, 3), dtype=np.uint8)
    restorer.restore(image)
    stats = restorer.last_stats
    assert stats.peak_method == "cuda-max-allocated"
    assert stats.measured_peak == torch.cuda.max_memory_allocated()
    assert stats.planned_peak <= 600 * MiB and stats.measured_peak <= 600 * MiB
