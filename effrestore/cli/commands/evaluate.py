"""`effrestore eval`: PSNR/SSIM of a model under the standard Gaussian-noise protocol, with baselines."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from effrestore.cli import _options
from effrestore.cli._errors import print_note, shown
from effrestore.errors import ConfigError, MemoryBudgetError


def method_labels(models: list[str]) -> dict[str, str]:
    """Each model's name in the table: its file name, or its path where two models share a file name (two
    runs' model.safetensors), so no row stands for two models."""
    names = [Path(model).name for model in models]
    return {model: name if names.count(name) == 1 else model for model, name in zip(models, names, strict=True)}


def _conditions(scale: int, sigma: str | None) -> list:
    """Noise levels for a denoiser (scale 1); the model's own downscaling factor for super-resolution."""
    from effrestore.evaluation import STANDARD_SIGMAS, standard_conditions

    if scale != 1 and sigma is not None:
        raise ConfigError(f"--sigma is for denoisers; this is a ×{scale} super-resolution model (drop --sigma)")
    return standard_conditions(
        scale, _options.number_list(sigma, "--sigma", float, 0.0, "15,25,50") if sigma else STANDARD_SIGMAS
    )


def evaluate(
    models: Annotated[
        list[str], typer.Argument(help="Checkpoints (.safetensors/.pth), ONNX files or zoo names; one or more.")
    ],
    data: Annotated[
        Path | None, typer.Option("--data", help="Folder of clean images (the Gaussian-noise or ×N protocol).")
    ] = None,
    pairs: Annotated[
        Path | None,
        typer.Option(
            "--pairs",
            help="Folder of real noisy/clean pairs: noisy/ and clean/ subfolders with the same names, or "
            "NAME_real.* beside NAME_mean.* (the PolyU layout). Baselines default to all of: input, "
            "opencv-nlm-3, opencv-nlm-5, bm3d (noise level estimated per image).",
        ),
    ] = None,
    sigma: Annotated[
        str | None,
        typer.Option(help="Noise levels on the [0,255] scale, comma-separated (--data denoisers; default 15,25,50)."),
    ] = None,
    baseline: Annotated[
        list[str],
        typer.Option(
            help="Classical method to run too: nlm or bm3d (--data denoisers), bicubic or lanczos "
            "(super-resolution), input, opencv-nlm-3, opencv-nlm-5 or bm3d (--pairs)."
        ),
    ] = [],  # noqa: B006
    ssim: Annotated[bool, typer.Option(help="Also compute SSIM (slower).")] = True,
    ensemble: Annotated[
        bool, typer.Option("--ensemble", help="Score the model averaged over the 8 flips/rotations (8× slower).")
    ] = False,
    mem_budget: Annotated[
        str | None,
        _options.mem_budget_option("Memory budget for one whole image (default: 60% of available memory)."),
    ] = None,
    backend: _options.Backend = "auto",
    precision: _options.Precision = "auto",
    threads: Annotated[
        int | None, _options.threads_option("CPU threads per model (default: the backend's choice).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Evaluate models by the standard protocol of their task, or on real noisy/clean photo pairs.

    Denoisers: fixed-seed Gaussian noise, unclipped noisy input, clipped output, full-image PSNR/SSIM.
    Super-resolution: antialiased bicubic downscale saved as 8-bit, 8-bit output, PSNR/SSIM on the luma (Y)
    with `scale` border pixels shaved. Real pairs (--pairs): the noisy photo as input, the output rounded to
    8 bits, full-image PSNR/SSIM against the clean reference. All methods run on the same inputs."""
    from effrestore.evaluation import BASELINES, baseline_method, load_eval_images, load_pairs
    from effrestore.evaluation import evaluate as run_eval
    from effrestore.runtime import Restorer

    if (data is None) == (pairs is None):
        raise ConfigError("give one of --data (clean images, synthetic degradation) or --pairs (real noisy/clean)")
    if pairs is not None and sigma is not None:
        raise ConfigError("--sigma sets synthetic noise; real pairs bring their own noise (drop --sigma)")
    # the protocol scores whole images: no tiling, so a large image needs a large enough budget
    labels = method_labels(models)
    restorers = {
        labels[model] + (" (ensemble)" if ensemble else ""): Restorer.load(
            model,
            backend=backend,
            tile="none",
            ensemble=ensemble,
            mem_budget=mem_budget,
            precision=precision,
            threads=threads,
        )
        for model in models
    }
    first = next(iter(restorers.values()))
    for restorer in restorers.values():
        if restorer.backend.note:
            print_note(restorer.backend.note)
        if (restorer.meta.scale, restorer.meta.in_channels) != (first.meta.scale, first.meta.in_channels):
            raise ConfigError("the models compared in one run must share their task and channels")
    if pairs is not None:
        if first.meta.scale != 1:
            raise ConfigError(f"--pairs scores denoisers; this is a ×{first.meta.scale} super-resolution model")
        images, condition = load_pairs(pairs, first.meta.in_channels)
        conditions: list = [condition]
        baseline = baseline or list(BASELINES["real"])
    else:
        conditions = _conditions(first.meta.scale, sigma)
        images = load_eval_images(data, first.meta.in_channels)  # type: ignore[arg-type]
    for name in baseline:
        baseline_method(name, conditions[0])  # an unknown or unavailable baseline fails before any work
    methods = {label: (lambda c, r=restorer: r.restore) for label, restorer in restorers.items()}
    methods.update({name: (lambda c, name=name: baseline_method(name, c)) for name in baseline})
    with Progress(transient=True, disable=as_json) as progress:
        task = progress.add_task("evaluating", total=len(images) * len(conditions) * len(methods))
        results = _run_within_budget(
            lambda: run_eval(methods, images, conditions, with_ssim=ssim, on_image=lambda *_: progress.advance(task))
        )
    key = {"noise": "sigma", "downscale": "scale", "real": "set"}[conditions[0].kind]
    rows = [
        {
            "method": r.method,
            key: getattr(r.condition, "label" if key == "set" else key),
            "psnr": round(r.psnr, 3),
            "ssim": _rounded(r.ssim),
            "per_image": {k: {"psnr": round(p, 3), "ssim": _rounded(s)} for k, (p, s) in r.per_image.items()},
            **(
                {"backend": restorers[r.method].backend.name, "precision": restorers[r.method].backend.precision}
                if r.method in restorers
                else {}
            ),
        }
        for r in results
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    source = pairs if pairs is not None else data
    table = Table(title=shown(f"{source} ({len(images)} {'pairs' if pairs is not None else 'images'})"))
    for column in ("method", key, "PSNR (dB)", "SSIM"):
        table.add_column(column)
    for row, result in zip(rows, results, strict=True):
        ssim_cell = "–" if row["ssim"] is None else f"{row['ssim']:.4f}"
        table.add_row(shown(row["method"]), result.condition.label, f"{row['psnr']:.2f}", ssim_cell)
    Console().print(table)


def _rounded(ssim: float) -> float | None:
    """SSIM to 4 places; None (JSON null) where it was not computed (--no-ssim), never a bare NaN."""
    return None if math.isnan(ssim) else round(ssim, 4)


def _run_within_budget(run):  # type: ignore[no-untyped-def]
    """Runs the evaluation; a whole image over the budget gets the fix eval allows (it does not tile)."""
    from effrestore.runtime.memory import format_bytes

    try:
        return run()
    except MemoryBudgetError as exc:
        if exc.needed is None or exc.budget is None:
            raise
        raise MemoryBudgetError(
            f"the whole image needs about {format_bytes(exc.needed)}, over the budget of "
            f"{format_bytes(exc.budget)}; the protocol scores whole images, so eval does not tile: "
            "raise --mem-budget, or evaluate smaller images"
        ) from None
