"""The tensor layout torch runs the convolution-heavy restoration networks fastest in, per device.

On the CPU, oneDNN's convolutions work on channels-last (NHWC) tensors natively; NCHW tensors pay a reorder
around every convolution, and the depthwise 3×3s of Restormer blocks are the worst case.
`benchmarks/torch_layout.py` measures the difference side by side (inference and a training step). CUDA keeps
torch's default layout: the difference there is unmeasured here.
"""

from __future__ import annotations

import torch
from torch import nn


def fast_memory_format(device: str | torch.device) -> torch.memory_format:
    return torch.channels_last if torch.device(device).type == "cpu" else torch.contiguous_format


def to_fast_layout(module: nn.Module, device: str | torch.device) -> nn.Module:
    """`module` moved to `device`, its 4-D weights in the layout `fast_memory_format` names."""
    return module.to(device, memory_format=fast_memory_format(device))


def batch_to_fast_layout(batch: torch.Tensor, device: str | torch.device) -> torch.Tensor:
    """A B×C×H×W batch on `device` in the layout its model was given by `to_fast_layout`."""
    return batch.to(device, non_blocking=True, memory_format=fast_memory_format(device))
