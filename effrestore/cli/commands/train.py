"""`effrestore train`: train a denoiser or ×2 super-resolver, resumable, with a live progress bar."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from effrestore._lazy import require
from effrestore.cli import _options


def train(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder (training state and final model).")],
    data: Annotated[list[Path], typer.Option("--data", help="Image folder to crop from; repeat for more.")] = [],  # noqa: B006
    model: Annotated[str, typer.Option(help="Registered model config to train.")] = "restormer-xs",
    attention: Annotated[str | None, typer.Option(help="Attention kind (one for all levels).")] = None,
    channels: Annotated[int, typer.Option(help="1 for grayscale, 3 for RGB.")] = 3,
    blocks: Annotated[
        str | None,
        typer.Option(
            help="Transformer blocks per level, e.g. 1,2,3,4 (default: the model's). With --init from a shallower "
            "checkpoint the extra blocks start as identities, so training goes on from the trained model."
        ),
    ] = None,
    refinement_blocks: Annotated[
        int | None, typer.Option(help="Blocks of the full-resolution refinement stage (default: the model's).")
    ] = None,
    opponent_color: Annotated[
        bool,
        typer.Option(
            help="RGB through a single-channel network, one opponent colour plane at a time (--init from a "
            "grayscale model works)."
        ),
    ] = False,
    task: Annotated[str, typer.Option(help="denoise or sr2 (bicubic ×2).")] = "denoise",
    degradation: Annotated[
        str,
        typer.Option(
            help="Noise for denoise: gaussian (blind white noise) or camera (realistic camera noise: raw shot "
            "and read noise through demosaicing, colour, tone curve and JPEG; colour models only)."
        ),
    ] = "gaussian",
    gaussian_fraction: Annotated[
        float, typer.Option(help="With --degradation camera: the share of crops given Gaussian noise instead.")
    ] = 0.2,
    synthetic: Annotated[float, typer.Option(help="Share of crops drawn as dead-leaves images.")] = 0.0,
    steps: Annotated[int, typer.Option(help="Total optimisation steps (the cosine schedule spans them).")] = 2000,
    batch: Annotated[int, typer.Option(help="Crops per step.")] = 8,
    crop: Annotated[int, typer.Option(help="Crop side in pixels (multiple of 8).")] = 64,
    lr: Annotated[float, typer.Option(help="Peak learning rate (AdamW).")] = 1e-3,
    max_sigma: Annotated[float, typer.Option(help="Noise sigma drawn from U[0, max] on the [0,255] scale.")] = 55.0,
    seed: Annotated[int, typer.Option(help="Seed for initialisation and for every batch.")] = 0,
    loss: Annotated[
        str, typer.Option(help="l1 (robust, the usual choice) or l2 (PSNR itself; for a last fine-tuning stage).")
    ] = "l1",
    device: Annotated[str, typer.Option(help="Where the model trains: cpu, cuda or cuda:N.")] = "cpu",
    threads: Annotated[int | None, _options.threads_option("torch CPU threads (default: torch's choice).")] = None,
    checkpoint_minutes: Annotated[float, typer.Option(help="Save the training state this often.")] = 5.0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run saved in --out.")] = False,
    max_steps: Annotated[int | None, typer.Option(help="Stop (resumably) after this step.")] = None,
    init: Annotated[
        Path | None,
        typer.Option(
            help="Start from this checkpoint's weights (fine-tune; same architecture, or deeper with --blocks)."
        ),
    ] = None,
) -> None:
    """Train a restoration model on random crops; checkpoints every few minutes and resumes with --resume."""
    torch = require("torch", "training")
    from effrestore.models.training import TrainConfig
    from effrestore.models.training import train as run_training

    if threads:
        torch.set_num_threads(threads)
    overrides: dict[str, object] = {"in_channels": channels, "out_channels": channels}
    if attention:
        overrides["attention"] = attention
    if opponent_color:
        overrides["opponent_color"] = True
    if blocks:
        overrides["num_blocks"] = _parse_blocks(blocks)
    if refinement_blocks is not None:
        overrides["num_refinement_blocks"] = refinement_blocks
    config = TrainConfig(
        model=model,
        overrides=overrides,
        task=task,
        data=tuple(str(d) for d in data),  # type: ignore[arg-type]
        synthetic_fraction=synthetic,
        crop=crop,
        batch=batch,
        steps=steps,
        lr=lr,
        max_sigma=max_sigma,
        seed=seed,
        init=str(init) if init else None,
        loss=loss,  # type: ignore[arg-type]
        degradation=degradation,  # type: ignore[arg-type]
        gaussian_fraction=gaussian_fraction,
    )
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}  {task.fields[rate]:.2f} step/s"),
        TimeRemainingColumn(),
    )
    with Progress(*columns) as progress:
        bar = progress.add_task(f"train {out.name}", total=steps, loss=float("nan"), rate=0.0)
        started = last_line = time.monotonic()
        first: list[int] = []
        live = progress.console.is_terminal  # in a log file, a plain line a minute replaces the live bar

        def on_step(state, loss: float) -> None:  # type: ignore[no-untyped-def]
            nonlocal last_line
            first.append(state.step) if not first else None
            now = time.monotonic()
            rate = (state.step - first[0] + 1) / max(1e-9, now - started)
            progress.update(bar, completed=state.step, loss=loss, rate=rate)
            if not live and (now - last_line > 60 or state.step == steps):
                last_line = now
                typer.echo(f"step {state.step}/{steps}  loss {loss:.4f}  {rate:.2f} step/s", err=True)

        result = run_training(
            config,
            out,
            resume=resume,
            checkpoint_minutes=checkpoint_minutes,
            on_step=on_step,
            max_steps=max_steps,
            device=device,
        )
    typer.echo(json.dumps({"result": str(result)}))


def _parse_blocks(text: str) -> list[int]:
    """`1,2,3,4` → [1, 2, 3, 4]; four counts, one per level."""
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        counts = []
    if len(counts) != 4:
        raise typer.BadParameter(
            f"--blocks takes four comma-separated counts (one per level), e.g. 1,2,3,4; got {text!r}"
        )
    return counts
