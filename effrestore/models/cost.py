"""Parameter and MAC counts that include the attention matmuls.

Module-hook counters only see Conv/Linear layers and miss `q @ kᵀ`-style products. We count at the ATen
level with `torch.utils.flop_counter.FlopCounterMode` (matmul, bmm, conv, einsum all decompose to counted
ops) while running the model on the `meta` device, so no memory is allocated even for N×N maps.
An elementwise product of two tensors (e.g. GSA's shift-and-accumulate, GDFN's gate) counts one MAC per
output element; additions, activations and normalisations count nothing.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.func import functional_call
from torch.utils.flop_counter import FlopCounterMode


def _elementwise_product_flops(a: object, b: object, *, out_shape: tuple[int, ...], **_: object) -> int:
    """Two FLOPs (one MAC) per output element when both operands are tensors of more than one element."""
    both_tensors = isinstance(a, tuple) and isinstance(b, tuple) and math.prod(a) > 1 and math.prod(b) > 1
    return 2 * math.prod(out_shape) if both_tensors else 0


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def cost(module: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, int]:
    """Returns (parameters, multiply-accumulates) of one forward pass on a tensor of `input_shape`."""
    tensors = {name: t.to("meta") for name, t in (*module.named_parameters(), *module.named_buffers())}
    x = torch.empty(input_shape, device="meta")
    was_training = module.training
    module.eval()
    try:
        with (
            torch.no_grad(),
            FlopCounterMode(display=False, custom_mapping={torch.ops.aten.mul: _elementwise_product_flops}) as counter,
        ):
            functional_call(module, tensors, (x,))
    finally:
        module.train(was_training)
    return count_params(module), counter.get_total_flops() // 2
