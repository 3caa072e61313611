"""Training: AdamW + warm-up/cosine schedule, L1 (or L2) loss, gradient clipping, resumable checkpoints.

A run folder holds `train_state.safetensors` (model and optimizer tensors, step, config; written every few
minutes and at the end, atomically) and `model.safetensors` (the final model with its model card).
Batches are a pure function of (seed, step), so `resume=True` continues exactly where the run stopped.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from effrestore._atomic import atomic_path
from effrestore.errors import CheckpointError, ConfigError
from effrestore.models.backbones import Restormer
from effrestore.models.checkpoints import load_checkpoint, read_card, save_checkpoint
from effrestore.models.data import CropSampler, add_blind_noise, add_camera_noise, bicubic_downscale, load_folder
from effrestore.models.growth import deepen_into, is_deepening
from effrestore.models.memory_format import batch_to_fast_layout, to_fast_layout
from effrestore.models.registry import build_model

Task = Literal["denoise", "sr2"]
Loss = Literal["l1", "l2"]
Degradation = Literal["gaussian", "camera"]
_LOSSES = {"l1": torch.nn.functional.l1_loss, "l2": torch.nn.functional.mse_loss}
STATE_FILE = "train_state.safetensors"
MODEL_FILE = "model.safetensors"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (stored in the run folder and in the model card)."""

    model: str = "restormer-xs"
    overrides: dict[str, Any] = field(default_factory=dict)
    task: Task = "denoise"
    data: tuple[str, ...] = ()
    synthetic_fraction: float = 0.0
    crop: int = 64
    batch: int = 8
    steps: int = 2000
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup: int = 100
    max_sigma: float = 55.0
    grad_clip: float = 0.01
    seed: int = 0
    init: str | None = None  # checkpoint whose weights start the run (fine-tuning with a fresh schedule)
    loss: Loss = "l1"  # l2 optimises PSNR itself: a last fine-tuning stage after L1 training
    degradation: Degradation = "gaussian"  # camera: realistic camera noise (models/degradations.py)
    gaussian_fraction: float = 0.2  # with camera noise: the share of samples given plain Gaussian noise

    def to_json(self) -> str:
        """The config as stored with a run; fields added later are left out at their defaults, so runs saved
        before them resume."""
        fields = dataclasses.asdict(self)
        for name, default in _LATER_DEFAULTS.items():
            if fields[name] == default:
                del fields[name]
        if self.degradation != "camera":
            fields.pop("gaussian_fraction", None)
        return json.dumps(fields, sort_keys=True)

    def __post_init__(self) -> None:
        if self.task not in ("denoise", "sr2"):
            raise ConfigError(f"task must be 'denoise' or 'sr2', got {self.task!r}")
        if not 0 <= self.max_sigma <= 255:
            raise ConfigError(f"max_sigma must be in [0, 255] (the [0, 255] noise scale), got {self.max_sigma}")
        if self.steps < 1 or self.batch < 1 or self.crop < 8 or self.crop % 8:
            raise ConfigError("steps and batch must be >= 1 and crop a multiple of 8 (>= 8)")
        if self.task == "sr2" and self.crop % 16:
            raise ConfigError(
                f"for sr2 the crop must be a multiple of 16 (its half, the model input, of 8), got {self.crop}"
            )
        if self.degradation not in ("gaussian", "camera"):
            raise ConfigError(f"degradation must be 'gaussian' or 'camera', got {self.degradation!r}")
        if self.degradation == "camera" and (self.task != "denoise" or self.channels() != 3):
            raise ConfigError("camera noise is for colour denoisers: --task denoise with 3 channels")
        if not 0 <= self.gaussian_fraction <= 1:
            raise ConfigError(f"gaussian_fraction must be in [0, 1], got {self.gaussian_fraction}")
        if self.loss not in _LOSSES:
            raise ConfigError(f"loss must be one of {sorted(_LOSSES)}, got {self.loss!r}")
        if not self.data and self.synthetic_fraction < 1.0:
            raise ConfigError("give at least one data folder, or synthetic_fraction=1 for synthetic images only")

    def channels(self) -> int:
        return int(self.overrides.get("in_channels", 3))


_LATER_DEFAULTS = {"loss": "l1", "degradation": "gaussian"}


def learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to 1% of the peak over the remaining steps."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


@dataclass
class TrainState:
    model: Restormer
    optimizer: torch.optim.AdamW
    step: int = 0
    losses: list[float] = field(default_factory=list)


def new_state(config: TrainConfig, device: str = "cpu") -> TrainState:
    overrides = dict(config.overrides)
    if config.task == "sr2":
        overrides["scale"] = 2
    torch.manual_seed(config.seed)
    model = build_model(config.model, **overrides)
    if config.init:
        _load_initial_weights(model, Path(config.init))
    to_fast_layout(model, device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    return TrainState(model, optimizer)


def _load_initial_weights(model: Restormer, path: Path) -> None:
    """Copies a checkpoint's weights into `model`; refuses a checkpoint of another architecture. A grayscale
    checkpoint starts an `opponent_color` model: their weights are the same network's. A checkpoint with
    fewer blocks per stage starts a deeper model (`growth.deepen_into`: the extra blocks start as identities)."""
    source = load_checkpoint(path)
    if is_deepening(source.config.network(), model.config.network()):
        deepen_into(model, source)
        return
    if source.config.network() != model.config.network():
        raise ConfigError(
            f"{path}: --init checkpoint has config {source.config}, but this run builds {model.config}; "
            "pass the same --model/--attention/--channels/--task the checkpoint was trained with (--blocks may "
            "add blocks to a stage)"
        )
    model.load_state_dict(source.state_dict())


def save_state(state: TrainState, config: TrainConfig, folder: Path) -> None:
    """Model + optimizer tensors and the step, in one atomic safetensors file."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in state.model.state_dict().items()}
    optim = state.optimizer.state_dict()
    for index, slots in optim["state"].items():
        for name, value in slots.items():
            tensors[f"optim.{index}.{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
    header = {
        "step": str(state.step),
        "config": config.to_json(),
        "param_groups": json.dumps(optim["param_groups"]),
        "losses": json.dumps(state.losses[-1000:]),
    }
    with atomic_path(folder / STATE_FILE) as tmp:
        save_file(tensors, str(tmp), metadata=header)


def load_state(config: TrainConfig, folder: Path, device: str = "cpu") -> TrainState:
    """Restores a run saved by `save_state` onto `device`; refuses one whose config differs from `config`."""
    path = folder / STATE_FILE
    if not path.is_file():
        raise CheckpointError(f"{path}: nothing to resume (no training state in {folder})")
    with safe_open(str(path), framework="pt") as handle:
        header = handle.metadata()
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118 (safe_open has no iterator)
    if json.loads(header["config"]) != json.loads(config.to_json()):
        raise ConfigError(f"{path}: the run was started with a different configuration; use a new --out folder")
    state = new_state(config, device)
    state.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    slots: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            slots.setdefault(int(index), {})[name] = value
    state.optimizer.load_state_dict({"state": slots, "param_groups": json.loads(header["param_groups"])})
    state.step = int(header["step"])
    state.losses = json.loads(header["losses"])
    return state


def make_sampler(config: TrainConfig) -> CropSampler:
    images: list[np.ndarray] = []
    for folder in config.data:
        images.extend(load_folder(folder, config.channels()))
    return CropSampler(tuple(images), config.crop, config.channels(), config.synthetic_fraction)


def training_pair(config: TrainConfig, sampler: CropSampler, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input, target) for `step`, deterministic in (seed, step)."""
    rng = np.random.default_rng([config.seed, step])
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
    clean = sampler.batch(config.batch, rng)
    if config.task == "sr2":
        return bicubic_downscale(clean, 2), clean
    if config.degradation == "camera":
        return add_camera_noise(clean, config.gaussian_fraction, config.max_sigma, rng, generator)
    return add_blind_noise(clean, config.max_sigma, generator), clean


def train_step(state: TrainState, config: TrainConfig, inputs: torch.Tensor, target: torch.Tensor) -> float:
    for group in state.optimizer.param_groups:
        group["lr"] = learning_rate(config, state.step)
    state.model.train()
    loss = _LOSSES[config.loss](state.model(inputs), target)
    state.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(state.model.parameters(), config.grad_clip)
    state.optimizer.step()
    state.step += 1
    state.losses.append(loss.item())
    return state.losses[-1]


def _stage(train_config: dict[str, Any], steps: int, seconds: float | None) -> dict[str, Any]:
    """One training stage as a card records it; data by folder name, not machine-local path."""
    return {
        "steps": steps,
        "batch": train_config["batch"],
        "crop": train_config["crop"],
        "lr": train_config["lr"],
        "data": [Path(folder).name for folder in train_config["data"]],
        "synthetic_fraction": train_config["synthetic_fraction"],
        "loss": train_config.get("loss", "l1"),
        "degradation": train_config.get("degradation", "gaussian"),
        "seconds": seconds,
    }


def _checkpoint_stages(path: str) -> list[dict[str, Any]]:
    if Path(path).suffix == ".safetensors" and Path(path).is_file():
        stages = training_stages(read_card(path))
        if stages:
            return stages
    return [{"from": Path(path).name}]  # a base of unknown training (e.g. an official .pth)


def training_stages(card: dict[str, Any]) -> list[dict[str, Any]]:
    """The stages that made a checkpoint, base first: the card's own list, or rebuilt from its train_config,
    following `init` to the base checkpoint's card while that file is at hand."""
    if "stages" in card:
        return list(card["stages"])
    config = card.get("train_config")
    if not config:
        return []
    earlier = _checkpoint_stages(config["init"]) if config.get("init") else []
    return [*earlier, _stage(config, card.get("steps", config["steps"]), card.get("train_seconds"))]


def with_lineage(card: dict[str, Any]) -> dict[str, Any]:
    """`card` with its `stages` and a one-line `training_data` summing them up (data, stages, steps)."""
    stages = training_stages(card)
    degradation = card.get("degradation") or card.get("training_data", "").split(" | ")[-1]
    sources = list(dict.fromkeys(name for stage in stages for name in stage.get("data", [])))
    synthetic = max((stage.get("synthetic_fraction", 0.0) for stage in stages), default=0.0)
    if synthetic:
        sources.append(f"dead-leaves synthetic ({synthetic:.0%})")
    trained = [stage for stage in stages if "steps" in stage]
    text = "; ".join(sources)
    if len(stages) > 1:
        text += f"; {len(stages)} stages, {sum(stage['steps'] for stage in trained)} steps in all"
    return {**card, "stages": stages, "degradation": degradation, "training_data": f"{text} | {degradation}"}


def _degradation_text(config: TrainConfig) -> str:
    if config.task == "sr2":
        return "bicubic x2 downscaling (antialiased)"
    gaussian = f"blind Gaussian noise, sigma ~ U[0, {config.max_sigma:g}] on [0,255]"
    if config.degradation == "gaussian":
        return gaussian
    return (
        "camera noise (sRGB unprocessed to a Bayer raw, shot + read noise, bilinear or edge-aware demosaicing, "
        "white balance, colour matrix, tone curve, chroma noise reduction and JPEG for part) "
        f"{1 - config.gaussian_fraction:.0%}, {gaussian} {config.gaussian_fraction:.0%}"
    )


def model_card(config: TrainConfig, state: TrainState, seconds: float) -> dict[str, Any]:
    train_config = json.loads(config.to_json())
    earlier = _checkpoint_stages(config.init) if config.init else []
    stages = [*earlier, _stage(train_config, state.step, round(seconds, 1))]
    return with_lineage(
        {
            "task": "denoise" if config.task == "denoise" else "super-resolution",
            "degradation": _degradation_text(config),
            "stages": stages,
            "steps": state.step,
            "crop": config.crop,
            "batch": config.batch,
            "sigma_range": [0.0, config.max_sigma] if config.task == "denoise" else None,
            "final_loss": float(np.mean(state.losses[-50:])) if state.losses else None,
            "train_seconds": round(seconds, 1),
            "train_config": train_config,
        }
    )


def train(
    config: TrainConfig,
    out: str | Path,
    *,
    resume: bool = False,
    checkpoint_minutes: float = 5.0,
    on_step: Callable[[TrainState, float], None] | None = None,
    max_steps: int | None = None,
    device: str = "cpu",
) -> Path:
    """Runs (or resumes) training into folder `out`; returns the path of the final `model.safetensors`.

    `max_steps` stops early (the state is saved, a later `resume=True` continues) without changing the
    schedule, which always spans `config.steps`. `device` is where the model trains ("cpu", "cuda",
    "cuda:1"); batches are drawn on the CPU either way, so a run may resume on another device.
    """
    if torch.device(device).type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {device!r} asked for, but torch sees no CUDA GPU; use --device cpu")
        torch.backends.cuda.matmul.allow_tf32 = True  # TF32 matmuls/convolutions: ~L1-loss-neutral, much faster
        torch.backends.cudnn.allow_tf32 = True
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    if not resume and (folder / STATE_FILE).exists():
        raise ConfigError(f"{folder} already holds a training run; pass resume=True (--resume) or a new folder")
    state = load_state(config, folder, device) if resume else new_state(config, device)
    sampler = make_sampler(config)
    stop = min(config.steps, max_steps if max_steps is not None else config.steps)
    started = last_save = time.monotonic()
    while state.step < stop:
        inputs, target = (batch_to_fast_layout(t, device) for t in training_pair(config, sampler, state.step))
        loss = train_step(state, config, inputs, target)
        if on_step is not None:
            on_step(state, loss)
        if time.monotonic() - last_save > checkpoint_minutes * 60:
            save_state(state, config, folder)
            last_save = time.monotonic()
    save_state(state, config, folder)
    if state.step < config.steps:
        return folder / STATE_FILE
    state.model.eval()
    return save_checkpoint(state.model, folder / MODEL_FILE, model_card(config, state, time.monotonic() - started))
