"""Which GPU the TensorRT backend runs on: "cuda" or "cuda:N" (a Triton KIND_GPU instance's id), nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from effrestore.errors import ConfigError
from effrestore.runtime.backends.tensorrt import TensorRTBackend, cuda_device_index
from tests.trt.conftest import write_engine


def test_device_names() -> None:
    assert cuda_device_index("cuda") == 0 and cuda_device_index("cuda:3") == 3
    for wrong in ("cpu", "cuda:", "cuda:x", "gpu:0", "cuda:-1"):
        with pytest.raises(ConfigError, match="cuda or cuda:N"):
            cuda_device_index(wrong)


def test_an_engine_on_the_cpu_is_refused_before_anything_loads(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="runs on a GPU"):
        TensorRTBackend(write_engine(tmp_path), "cpu")
