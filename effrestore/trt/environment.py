"""The NVIDIA GPUs of this machine, found without importing TensorRT or CUDA (so `effrestore inspect`
answers instantly, and anywhere); the installed TensorRT flavours are in `effrestore.trt.flavours`."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class Gpu:
    name: str
    compute_capability: str  # "9.0"
    uuid: str = ""  # "GPU-…", as CUDA_VISIBLE_DEVICES may name it


def local_gpus() -> list[Gpu]:
    """NVIDIA GPUs as CUDA numbers them: the driver's list (`nvidia-smi`) as CUDA_VISIBLE_DEVICES selects
    and orders it; empty without a driver or GPU."""
    try:
        result = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,compute_cap,uuid", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    if result.returncode != 0:
        return []
    return visible_gpus(parse_nvidia_smi(result.stdout), os.environ.get("CUDA_VISIBLE_DEVICES"))


def parse_nvidia_smi(text: str) -> list[Gpu]:
    """`name, compute_cap[, uuid]` lines; a name may itself hold commas, so fields are taken from the right."""
    gpus = []
    for line in text.splitlines():
        fields = [field.strip() for field in line.split(",")]
        uuid = fields.pop() if len(fields) > 2 and fields[-1].startswith(("GPU-", "MIG-")) else ""
        capability, name = fields[-1] if len(fields) > 1 else "", ", ".join(fields[:-1])
        if name and capability:
            gpus.append(Gpu(name, capability, uuid))
    return gpus


def visible_gpus(gpus: list[Gpu], visible: str | None) -> list[Gpu]:
    """`gpus` in the order CUDA_VISIBLE_DEVICES gives (indices or UUID prefixes); CUDA stops at the first
    entry it cannot match, and so does this."""
    if visible is None:
        return gpus
    chosen: list[Gpu] = []
    for entry in (e.strip() for e in visible.split(",")):
        if entry.isdigit() and int(entry) < len(gpus):
            match = gpus[int(entry)]
        else:
            match = next((g for g in gpus if entry and g.uuid.startswith(entry)), None)
        if match is None or match in chosen:
            break
        chosen.append(match)
    return chosen
