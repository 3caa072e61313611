"""The NVIDIA GPUs of this machine, found without importing TensorRT or CUDA (so `effrestore inspect`
answers instantly, and anywhere); the installed TensorRT flavours are in `effrestore.trt.flavours`."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class Gpu:
    name: str
    compute_capability: str  # "9.0"


def local_gpus() -> list[Gpu]:
    """NVIDIA GPUs as the driver reports them (`nvidia-smi`); empty without a driver or GPU."""
    try:
        result = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,compute_cap", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    if result.returncode != 0:
        return []
    return parse_nvidia_smi(result.stdout)


def parse_nvidia_smi(text: str) -> list[Gpu]:
    gpus = []
    for line in text.splitlines():
        name, _, capability = line.rpartition(",")
        if name.strip() and capability.strip():
            gpus.append(Gpu(name.strip(), capability.strip()))
    return gpus
