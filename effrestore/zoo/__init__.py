"""The shipped models: ONNX (run by ONNX Runtime, no torch) + safetensors + model card, as package data."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from effrestore.errors import ConfigError

DEFAULT_MODEL = "denoise-photo"  # real camera noise; denoise-color by name for Gaussian noise


@dataclass(frozen=True)
class ZooEntry:
    name: str
    onnx: Path
    checkpoint: Path
    card: dict


def _folder() -> Path:
    return Path(str(resources.files("effrestore.zoo")))


def list_zoo() -> list[ZooEntry]:
    entries = []
    for card_path in sorted(_folder().glob("*.json")):
        name = card_path.stem
        entries.append(
            ZooEntry(
                name,
                card_path.with_suffix(".onnx"),
                card_path.with_suffix(".safetensors"),
                json.loads(card_path.read_text()),
            )
        )
    return entries


def find(name: str) -> ZooEntry | None:
    return next((e for e in list_zoo() if e.name == name), None)


def require_entry(name: str) -> ZooEntry:
    entry = find(name)
    if entry is None:
        shipped = ", ".join(e.name for e in list_zoo()) or "none in this install"
        raise ConfigError(f"{name!r} is not a file or a shipped model (shipped: {shipped})")
    return entry
