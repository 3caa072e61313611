"""`ModelFile`: one suffix → kind table, one resolver for paths and shipped names, facts read once."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from effrestore.errors import ConfigError, OnnxModelError
from effrestore.model_file import ModelFile, kind_of
from effrestore.zoo import require_entry

from ._models import META, identity_model


def test_every_model_suffix_has_one_kind() -> None:
    kinds = {name: kind_of(f"m{name}") for name in (".onnx", ".ONNX", ".plan", ".engine", ".safetensors", ".pth")}
    assert kinds == {".onnx": "onnx", ".ONNX": "onnx", ".plan": "engine", ".engine": "engine",
                     ".safetensors": "checkpoint", ".pth": "checkpoint"}  # fmt: skip
    assert kind_of("photo.png") is None


def test_a_shipped_name_resolves_to_its_onnx_or_checkpoint() -> None:
    entry = require_entry("denoise-color")
    assert ModelFile.resolve("denoise-color").path == entry.onnx
    assert ModelFile.resolve("denoise-color", prefer="checkpoint").path == entry.checkpoint
    with pytest.raises(ConfigError, match="not a file or a shipped model"):
        ModelFile.resolve("denoise-colour")
    with pytest.raises(ConfigError, match="no such model file"):
        ModelFile.resolve("missing/denoise-color.onnx")
    with pytest.raises(ConfigError, match="not a model file"):
        ModelFile.at(entry.onnx.with_suffix(".json"))  # the model card beside it


def test_facts_are_read_once_from_the_file(tmp_path: Path) -> None:
    path = identity_model(tmp_path / "id.onnx")
    model = ModelFile.at(path)
    assert model.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() and model.digest == model.sha256[:16]
    assert (model.meta, model.io_names, model.plugins) == (META, ("input", "output"), ())
    assert model.proto() is model.proto(), "parsed once"
    path.write_bytes(b"changed")
    assert model.meta == META, "kept, not read again"


def test_external_data_outside_the_folder_is_refused_before_any_fact(tmp_path: Path) -> None:
    path = identity_model(tmp_path / "up.onnx", external="../secret.bin")
    with pytest.raises(OnnxModelError, match="outside the model's folder"):
        ModelFile.at(path).meta  # noqa: B018


def test_export_and_inspect_take_a_shipped_name(tmp_path: Path) -> None:
    from effrestore.models.registry import resolve_model

    assert resolve_model("denoise-color").name == "denoise-color"
    inspected = subprocess.run(
        [sys.executable, "-m", "effrestore", "inspect", "denoise-color"], capture_output=True, text=True, timeout=300
    )
    assert inspected.returncode == 0 and "effrestore.name = denoise-color" in inspected.stdout, inspected.stderr
