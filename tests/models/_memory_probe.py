"""Run as a subprocess: prints the peak-RSS growth (bytes) of one attention forward pass.

Usage: python _memory_probe.py KIND DIM SIZE. The peak RSS (VmHWM) is reset right before the forward
pass through /proc/self/clear_refs, so imports and model construction do not count.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from effrestore.models.attention import build_attention


def vm_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def main() -> None:
    kind, dim, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(1)
    module = build_attention(kind, dim, heads=1).eval()
    x = torch.randn(1, dim, size, size)
    with torch.no_grad():
        module(torch.randn(1, dim, 8, 8))  # warm up lazy allocations
        before = vm_kib("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")
        module(x)
    print((vm_kib("VmHWM") - before) * 1024)


if __name__ == "__main__":
    main()
