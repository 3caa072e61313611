"""Cost counting includes the attention matmuls; GLMHA is cheaper than MDTA everywhere."""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from effrestore.models import build_attention, cost

MATMULS = {"mm", "bmm", "matmul", "baddbmm", "addmm", "einsum"}


def test_cost_counts_attention_matmuls() -> None:
    # SAGAN's N×N products dominate: f ᵀg (N·N·c) and v·β (d·N·N) must be in the count.
    module = build_attention("sagan", 64)
    n = 32 * 32
    _, macs = cost(module, (1, 64, 32, 32))
    convs = n * 64 * (8 + 8 + 64)
    assert macs >= convs + n * n * 8 + 64 * n * n


@pytest.mark.parametrize("dim", [48, 96, 192])
@pytest.mark.parametrize("heads", [1, 4])
@pytest.mark.parametrize("side", [8, 32, 128, 512])
def test_glmha_cheaper_than_mdta(dim: int, heads: int, side: int) -> None:
    shape = (1, dim, side, side)
    glmha = cost(build_attention("glmha", dim, heads), shape)
    mdta = cost(build_attention("mdta", dim, heads), shape)
    assert glmha[0] < mdta[0], f"params: glmha {glmha[0]} vs mdta {mdta[0]}"
    assert glmha[1] < mdta[1], f"MACs: glmha {glmha[1]} vs mdta {mdta[1]}"


class _ProductRecorder(TorchDispatchMode):
    """Records (op, operand shapes, output shape) of every matrix product."""

    def __init__(self) -> None:
        super().__init__()
        self.products: list[tuple[str, list[tuple[int, ...]], tuple[int, ...]]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        name = func._overloadpacket.__name__
        if name in MATMULS:
            shapes = [tuple(a.shape) for a in args if isinstance(a, torch.Tensor)]
            self.products.append((name, shapes, tuple(out.shape)))
        return out


def recorded_products(kind: str, height: int, width: int) -> list[tuple[str, list, tuple]]:
    module = build_attention(kind, 32, heads=2).eval()
    with torch.no_grad(), _ProductRecorder() as recorder:
        module(torch.randn(1, 32, height, width))
    return recorder.products


@pytest.mark.parametrize("kind", ["stt", "glmha"])
def test_no_pixel_by_pixel_product(kind: str) -> None:
    height, width = 24, 40
    n = height * width
    products = recorded_products(kind, height, width)
    assert products, "the tracer saw no matrix products"
    for name, _, out_shape in products:
        assert list(out_shape).count(n) < 2, f"{kind}: {name} produced an N×N tensor {out_shape}"


def test_stt_never_contracts_over_pixels() -> None:
    # A q·kᵀ-style product contracts two per-pixel feature maps over the pixel axis; STT synthesises its
    # weights instead, so no product may have N as its contraction length.
    height, width = 24, 40
    n = height * width
    for name, shapes, _ in recorded_products("stt", height, width):
        assert all(s[-1] != n for s in shapes[:1]), f"stt: {name} contracts over pixels: {shapes}"


def test_sagan_is_detected_by_the_same_tracer() -> None:
    height, width = 12, 20
    n = height * width
    assert any(list(out).count(n) == 2 for _, _, out in recorded_products("sagan", height, width))
