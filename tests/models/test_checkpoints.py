"""Checkpoint round trips, official-format .pth loading, and typed errors for bad files."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from effrestore.errors import CheckpointError
from effrestore.models import build_model, load_checkpoint, save_checkpoint
from effrestore.models.checkpoints import read_card

VARIANTS = [
    {"attention": "glmha"},
    {"attention": ("mdta", "gsa", "stt", "linear_sa"), "layernorm": "BiasFree"},
    {"attention": "none", "scale": 2, "in_channels": 1, "out_channels": 1},
]


@pytest.mark.parametrize("overrides", VARIANTS, ids=["glmha", "mixed-biasfree", "none-sr2-gray"])
def test_safetensors_round_trip(tmp_path: Path, overrides: dict) -> None:
    model = build_model("restormer-xs", **overrides).eval()
    path = save_checkpoint(model, tmp_path / "m.safetensors", {"training_data": "unit test", "steps": 3})
    loaded = load_checkpoint(path)
    assert loaded.config == model.config
    assert loaded.card == read_card(path) == {"training_data": "unit test", "steps": 3}
    assert loaded.meta.training_data == "unit test"
    x = torch.rand(1, model.config.in_channels, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))
    assert not list(tmp_path.glob("*.partial")), "temporary file left behind"


def test_official_pth_under_params_loads_strictly(tmp_path: Path) -> None:
    model = build_model("restormer-xs", layernorm="BiasFree").eval()
    torch.save({"params": model.state_dict()}, tmp_path / "official.pth")
    loaded = load_checkpoint(tmp_path / "official.pth")
    assert loaded.config.layernorm == "BiasFree" and loaded.config.num_blocks == (1, 2, 2, 2)
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


class _Payload:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (print, ("this would run on load",))


def test_pickled_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    with path.open("wb") as handle:
        pickle.dump({"params": _Payload()}, handle)
    with pytest.raises(CheckpointError, match="refused to load"):
        load_checkpoint(path)


def test_truncated_files(tmp_path: Path) -> None:
    model = build_model("restormer-xs")
    good = save_checkpoint(model, tmp_path / "good.safetensors")
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[:1000])
    for reader in (load_checkpoint, read_card):
        with pytest.raises(CheckpointError, match="truncated"):
            reader(cut)
    torch.save(model.state_dict(), tmp_path / "good.pth")
    cut_pth = tmp_path / "cut.pth"
    cut_pth.write_bytes((tmp_path / "good.pth").read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(cut_pth)


def test_wrong_keys_and_shapes(tmp_path: Path) -> None:
    state = build_model("restormer-xs").state_dict()
    missing = {k: v for k, v in state.items() if "refinement" not in k or "ffn" not in k}
    torch.save(missing, tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match="missing key"):
        load_checkpoint(tmp_path / "missing.pth")
    reshaped = dict(state)
    reshaped["latent.0.ffn.project_in.weight"] = torch.zeros(4, 4, 1, 1)
    torch.save(reshaped, tmp_path / "shape.pth")
    with pytest.raises(CheckpointError, match="shape mismatch"):
        load_checkpoint(tmp_path / "shape.pth")
    torch.save({"foo": torch.zeros(1)}, tmp_path / "foreign.pth")
    with pytest.raises(CheckpointError, match="not a Restormer-style checkpoint"):
        load_checkpoint(tmp_path / "foreign.pth")


def test_missing_file_and_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "nope.safetensors")
    odd = tmp_path / "model.bin"
    odd.write_bytes(b"\0" * 16)
    with pytest.raises(CheckpointError, match="unknown checkpoint type"):
        load_checkpoint(odd)
