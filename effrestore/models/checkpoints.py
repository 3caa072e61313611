"""Checkpoints: safetensors files that carry the model config and card in their header, plus safe loading
of PyTorch `.pth`/`.pt` files (official Restormer releases keep their weights under `params`).

Nothing here unpickles arbitrary objects: `.pth` goes through `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from effrestore._atomic import atomic_path
from effrestore.errors import CheckpointError, ConfigError
from effrestore.models.backbones import Restormer, RestormerConfig

FORMAT = "effrestore.checkpoint/1"
_KIND_SIGNATURES = {"qkv_dwconv": "mdta", "kv_dwconv": "glmha", "rel_col": "gsa", "r_h": "stt"}


def save_checkpoint(model: Restormer, path: str | os.PathLike[str], metadata: dict[str, Any] | None = None) -> Path:
    """Writes `model`'s weights, config and card (`model.card` updated with `metadata`) atomically."""
    path = Path(path)
    card = {**model.card, **(metadata or {})}
    header = {
        "format": FORMAT,
        "effrestore.name": model.name,
        "effrestore.config": json.dumps(model.config.to_dict()),
        "effrestore.card": json.dumps(card, default=str),
    }
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=header)
    return path


def load_checkpoint(path: str | os.PathLike[str]) -> Restormer:
    """Rebuilds the model stored at `path` (.safetensors written by effrestore, or .pth/.pt)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        config, name, card, state = _read_safetensors(path)
    elif suffix in (".pth", ".pt", ".ckpt"):
        state = _read_torch(path)
        config, name, card = infer_config(state, source=path), path.stem, {}
    else:
        raise CheckpointError(f"{path}: unknown checkpoint type {suffix!r}; expected .safetensors, .pth or .pt")
    _check_state(config, state, path)  # before building: a forged config could ask for 100 GB of weights
    model = Restormer(config, name=name, card=card)
    model.load_state_dict(state, strict=True)
    return model.eval()


def read_card(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The model card in a safetensors checkpoint's header, without loading the weights ({} when none)."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            return json.loads((handle.metadata() or {}).get("effrestore.card", "{}"))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc}); is it truncated?") from None


def _read_safetensors(path: Path) -> tuple[RestormerConfig, str, dict, dict[str, torch.Tensor]]:
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc}); is it truncated?") from None
    if "effrestore.config" not in header:
        return infer_config(state, source=path), path.stem, {}, state
    try:
        config = RestormerConfig(**json.loads(header["effrestore.config"]))
        card = json.loads(header.get("effrestore.card", "{}"))
    except (json.JSONDecodeError, TypeError, ConfigError) as exc:
        raise CheckpointError(f"{path}: the stored model config is invalid: {exc}") from None
    return config, header.get("effrestore.name", path.stem), card, state


def _read_torch(path: Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: refused to load: the file holds Python objects other than tensors, which could run "
            f"code ({str(exc).splitlines()[0]}). Convert it with a trusted script to .safetensors."
        ) from None
    except Exception as exc:  # the weights-only unpickler raises many types on damaged data (IndexError, ...)
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__}: {exc}); is it truncated?"
        ) from None
    for key in ("params", "params_ema", "state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensors (optionally under 'params')")
    return obj


def _count(state: dict[str, torch.Tensor], prefix: str) -> int:
    return len({key.split(".")[1] for key in state if key.startswith(prefix + ".")})


def _level_kind(state: dict[str, torch.Tensor], block: str, source: Path) -> str:
    attn = {key.split(".")[3] for key in state if key.startswith(block + ".attn.")}
    if not attn:
        return "none"
    for signature, kind in _KIND_SIGNATURES.items():
        if signature in attn:
            return kind
    raise CheckpointError(
        f"{source}: cannot tell the attention kind of {block} from its weights ({sorted(attn)}); "
        "sagan and linear_sa share parameters: save the model with effrestore (.safetensors) to keep "
        "its config"
    )


def infer_config(state: dict[str, torch.Tensor], *, source: Path) -> RestormerConfig:
    """Reads the backbone hyper-parameters from tensor names and shapes (for foreign checkpoints)."""
    try:
        embed = state["patch_embed.proj.weight"]
        out_weight = state["output.weight"]
    except KeyError as exc:
        raise CheckpointError(f"{source}: not a Restormer-style checkpoint: missing {exc.args[0]!r}") from None
    dim, in_channels = int(embed.shape[0]), int(embed.shape[1])
    containers = ("encoder_level1", "encoder_level2", "encoder_level3", "latent")
    blocks = tuple(_count(state, c) for c in containers)
    heads, kinds = [], []
    for container in containers:
        first = f"{container}.0"
        kinds.append(_level_kind(state, first, source))
        temperature = state.get(f"{first}.attn.temperature")
        heads.append(int(temperature.shape[0]) if temperature is not None else 1)
    hidden = int(state[f"{containers[0]}.0.ffn.project_out.weight"].shape[1])
    expansion = 2.66 if int(dim * 2.66) == hidden else (hidden + 0.5) / dim
    scale = next((s for s in (1, 2, 4) if out_weight.shape[0] == in_channels * s * s), 1)
    try:
        return RestormerConfig(
            dim=dim,
            num_blocks=blocks,
            num_refinement_blocks=_count(state, "refinement"),
            heads=tuple(heads),
            attention=kinds[0] if len(set(kinds)) == 1 else tuple(kinds),
            in_channels=in_channels,
            out_channels=int(out_weight.shape[0]) // (scale * scale),
            scale=scale,
            ffn_expansion_factor=expansion,
            layernorm="WithBias" if f"{containers[0]}.0.norm2.body.bias" in state else "BiasFree",
            bias="patch_embed.proj.bias" in state,
        )
    except ConfigError as exc:
        raise CheckpointError(f"{source}: inconsistent weights: {exc}") from None


def _check_state(config: RestormerConfig, state: dict[str, torch.Tensor], source: Path) -> None:
    """Compares the file's tensors with the ones `config` needs, built on the meta device (no memory)."""
    with torch.device("meta"):
        expected = Restormer(config).state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s), e.g. {missing[:3]}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s), e.g. {unexpected[:3]}")
    if wrong:
        problems.append(f"{len(wrong)} shape mismatch(es), e.g. {wrong[:3]}")
    if problems:
        raise CheckpointError(f"{source}: weights do not match the model config: " + "; ".join(problems))
