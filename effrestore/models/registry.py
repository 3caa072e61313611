"""Named backbone configurations: `build_model(name, **overrides)` and `list_models()`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from effrestore.errors import ConfigError
from effrestore.models.backbones import Restormer, RestormerConfig


@dataclass(frozen=True)
class ModelSpec:
    """A registered configuration and a one-line description of what it is for."""

    config: RestormerConfig
    description: str


MODELS: dict[str, ModelSpec] = {}


def register_model(name: str, spec: ModelSpec) -> None:
    """Adds `spec` under `name`; a duplicate raises and leaves the registry unchanged."""
    if name in MODELS:
        raise ConfigError(f"model {name!r} is already registered")
    MODELS[name] = spec


register_model("restormer", ModelSpec(RestormerConfig(), "official Restormer config (26.1 M params)"))
register_model(
    "restormer-s",
    ModelSpec(
        RestormerConfig(dim=24, num_blocks=(2, 3, 3, 4), num_refinement_blocks=2),
        "small config for CPU training and the attention comparison",
    ),
)
register_model(
    "restormer-xs",
    ModelSpec(
        RestormerConfig(dim=16, num_blocks=(1, 2, 2, 2), num_refinement_blocks=1),
        "extra-small config for tests and quick CPU runs",
    ),
)


def list_models() -> list[str]:
    return sorted(MODELS)


def model_config(name: str, **overrides: Any) -> RestormerConfig:
    """The registered config of `name` with `overrides` applied (a misspelt override raises)."""
    try:
        spec = MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; registered models: {', '.join(list_models())}") from None
    fields = {f.name for f in dataclasses.fields(RestormerConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ConfigError(f"unknown override(s) {unknown} for {name!r}; valid: {sorted(fields)}")
    return dataclasses.replace(spec.config, **overrides)


def build_model(name: str, **overrides: Any) -> Restormer:
    """Builds the registered model `name` (randomly initialised) with `overrides` applied."""
    return Restormer(model_config(name, **overrides), name=name)


def resolve_model(source: str) -> Restormer:
    """A model from a checkpoint path, a shipped model's name (its checkpoint) or a registered architecture
    name (random weights)."""
    from effrestore.model_file import ModelFile, kind_of
    from effrestore.models.checkpoints import load_checkpoint
    from effrestore.zoo import find

    if kind_of(source) == "checkpoint":
        return load_checkpoint(source)  # says what is wrong with a missing or unreadable one
    if source in MODELS and not Path(source).exists():
        return build_model(source)
    if not Path(source).exists() and kind_of(source) is None and find(source) is None:
        raise ConfigError(
            f"{source!r} is neither a checkpoint file nor a registered model (nor a shipped model's name); "
            f"registered: {', '.join(list_models())}"
        )
    model = ModelFile.resolve(source, prefer="checkpoint")
    if model.kind != "checkpoint":
        raise ConfigError(f"{model.path}: not a checkpoint (.safetensors, .pth, .pt, .ckpt)")
    return load_checkpoint(model.path)
