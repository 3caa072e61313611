"""What this machine offers TensorRT: the installed TensorRT version and the NVIDIA GPUs, found without
importing TensorRT or CUDA (so `effrestore inspect` answers instantly, and anywhere)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import subprocess
from dataclasses import dataclass

_DISTRIBUTIONS = ("tensorrt", "tensorrt-cu13", "tensorrt-cu12", "tensorrt-cu11")


@dataclass(frozen=True)
class Gpu:
    name: str
    compute_capability: str  # "9.0"


def installed_tensorrt_version() -> str | None:
    """The TensorRT Python package's version, or None when `import tensorrt` would fail."""
    if importlib.util.find_spec("tensorrt") is None:
        return None
    for name in _DISTRIBUTIONS:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


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
