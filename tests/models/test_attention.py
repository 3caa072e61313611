"""Contract tests run on every registered attention family, plus family-specific claims."""

from __future__ import annotations

import pytest
import torch

from effrestore.errors import ConfigError
from effrestore.models.attention import ATTENTION, LinearSA, build_attention
from effrestore.models.attention._common import transposed_attention

KINDS = sorted(ATTENTION)
SIZES = [(8, 8), (16, 24), (37, 53)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("kind", KINDS)
def test_shape_finite_and_gradients(kind: str, size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    module = build_attention(kind, 32, heads=2)
    with torch.no_grad():  # zero-initialised gates (SAGAN/LinearSA γ) would hide the other gradients
        for p in module.parameters():
            if not p.any():
                p.fill_(0.5)
    x = torch.randn(2, 32, *size, requires_grad=True)
    y = module(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()
    if not list(module.parameters()):  # "none": nothing to train, output independent of x
        assert not y.any()
        return
    y.square().mean().backward()
    for name, p in module.named_parameters():
        assert p.grad is not None, f"{kind}.{name} received no gradient"
        assert torch.isfinite(p.grad).all(), f"{kind}.{name} has a non-finite gradient"
        assert p.grad.abs().sum() > 0, f"{kind}.{name} has an all-zero gradient"
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_linear_sa_equals_quadratic_order() -> None:
    torch.manual_seed(0)
    module = LinearSA(64, heads=2)
    with torch.no_grad():
        module.gamma.fill_(1.0)
    x = torch.randn(2, 64, 19, 23)
    f, g, v = module.projections(x)
    n = f.shape[-2]
    quadratic = ((g @ f.transpose(-2, -1)) / n) @ v  # (G Fᵀ / N) V, an N×N intermediate
    expected = quadratic.transpose(-2, -1).reshape(x.shape)
    torch.testing.assert_close(module(x), expected, atol=1e-5, rtol=1e-5)


def test_unknown_kind_and_bad_heads_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown attention kind 'mdtaa'"):
        build_attention("mdtaa", 32)
    with pytest.raises(ConfigError, match="multiple of heads"):
        build_attention("mdta", 30, heads=4)
    with pytest.raises(ConfigError, match="invalid options"):
        build_attention("glmha", 32, rnk=2)


def _per_head_reference(q, k, v, temperature, heads):  # type: ignore[no-untyped-def]
    """Restormer's own formulation: split the heads, normalise over pixels, d×r attention per head."""
    b, c, height, width = q.shape
    split = lambda t: t.reshape(b, heads, t.shape[1] // heads, height * width)  # noqa: E731
    q_hat, k_hat = torch.nn.functional.normalize(split(q), dim=-1), torch.nn.functional.normalize(split(k), dim=-1)
    attn = ((q_hat @ k_hat.transpose(-2, -1)) * temperature).softmax(dim=-1)
    return (attn @ split(v)).reshape(b, c, height, width)


@pytest.mark.parametrize(("heads", "channels", "rank"), [(1, 16, 4), (2, 32, 8), (4, 64, 16), (8, 128, 128)])
def test_transposed_attention_on_pixel_rows_equals_the_per_head_form(heads: int, channels: int, rank: int) -> None:
    """One masked product for all heads, norms applied to the small product: the same function as MDTA's and
    GLMHA's per-head form (rank = channels: MDTA's d×d)."""
    torch.manual_seed(0)
    q, k, v = torch.randn(2, channels, 24, 40), torch.randn(2, rank, 24, 40), torch.randn(2, rank, 24, 40)
    temperature = torch.rand(heads, 1, 1) * 3
    expected = _per_head_reference(q, k, v, temperature, heads)
    torch.testing.assert_close(transposed_attention(q, k, v, temperature, heads), expected, rtol=0, atol=2e-6)
    zero = torch.zeros_like(q)  # F.normalize's eps: an all-zero channel gives finite output, as before
    zero_out = transposed_attention(zero, k, v, temperature, heads)
    assert torch.isfinite(zero_out).all()
    torch.testing.assert_close(zero_out, _per_head_reference(zero, k, v, temperature, heads), rtol=0, atol=2e-6)
