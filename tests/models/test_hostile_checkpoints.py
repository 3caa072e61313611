"""Property-based: random bytes as a checkpoint, and a valid safetensors file whose stored config is any
JSON, end in a `CheckpointError` or a model, never another exception (and nothing built before the
weights are checked)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from effrestore.errors import CheckpointError
from effrestore.models import build_model, load_checkpoint, save_checkpoint

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CONFIG_FIELDS = ["dim", "num_blocks", "num_refinement_blocks", "heads", "attention", "in_channels",
                 "out_channels", "scale", "ffn_expansion_factor", "layernorm", "bias", "opponent_color"]  # fmt: skip
values = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 2**31), st.floats(-1e9, 1e9), st.text(max_size=8),
    st.lists(st.integers(-2, 8), max_size=5), st.lists(st.text(max_size=5), max_size=5),
)  # fmt: skip


@FAST
@given(data=st.binary(max_size=1024), suffix=st.sampled_from([".safetensors", ".pth", ".pt"]))
def test_random_bytes_are_refused(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"m{suffix}"
        path.write_bytes(data)
        try:
            load_checkpoint(path)
        except CheckpointError:
            return
        raise AssertionError("random bytes loaded as a model")


def _small_checkpoint(folder: Path) -> tuple[Path, dict[str, torch.Tensor], dict[str, str]]:
    path = save_checkpoint(build_model("restormer-xs", attention="none"), folder / "m.safetensors")
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        header = dict(handle.metadata() or {})
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 (safe_open has no iter)
    return path, tensors, header


@FAST
@given(fields=st.dictionaries(st.sampled_from(CONFIG_FIELDS), values, min_size=1, max_size=3))
def test_any_stored_config_is_checked_against_the_weights(fields: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path, tensors, header = _small_checkpoint(Path(folder))
        config = {**json.loads(header["effrestore.config"]), **fields}
        save_file(tensors, str(path), metadata={**header, "effrestore.config": json.dumps(config)})
        try:
            model = load_checkpoint(path)
        except CheckpointError:
            return
        assert sum(p.numel() for p in model.parameters()) == sum(t.numel() for t in tensors.values())
