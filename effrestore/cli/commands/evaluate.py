"""`effrestore eval`: PSNR/SSIM of a model under the standard Gaussian-noise protocol, with baselines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from effrestore.cli import _options
from effrestore.cli._errors import print_note
from effrestore.errors import ConfigError, MemoryBudgetError


def _conditions(scale: int, sigma: str | None) -> list:
    """Noise levels for a denoiser (scale 1); the model's own downscaling factor for super-resolution."""
    from effrestore.evaluation import STANDARD_SIGMAS, standard_conditions

    if scale != 1 and sigma is not None:
        raise ConfigError(f"--sigma is for denoisers; this is a ×{scale} super-resolution model (drop --sigma)")
    return standard_conditions(
        scale, _options.number_list(sigma, "--sigma", float, 0.0, "15,25,50") if sigma else STANDARD_SIGMAS
    )


def evaluate(
    model: Annotated[str, typer.Argument(help="Checkpoint (.safetensors/.pth), ONNX file or zoo name.")],
    data: Annotated[Path, typer.Option("--data", help="Folder of clean evaluation images.")],
    sigma: Annotated[
        str | None,
        typer.Option(help="Noise levels on the [0,255] scale, comma-separated (denoisers; default 15,25,50)."),
    ] = None,
    baseline: Annotated[
        list[str],
        typer.Option(
            help="Classical method to run too: nlm or bm3d (denoisers), bicubic or lanczos (super-resolution)."
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
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Evaluate a model by the standard protocol of its task.

    Denoisers: fixed-seed Gaussian noise, unclipped noisy input, clipped output, full-image PSNR/SSIM.
    Super-resolution: antialiased bicubic downscale saved as 8-bit, 8-bit output, PSNR/SSIM on the luma (Y)
    with `scale` border pixels shaved."""
    from effrestore.evaluation import baseline_method, load_eval_images
    from effrestore.evaluation import evaluate as run_eval
    from effrestore.runtime import Restorer
    from effrestore.runtime.memory import format_bytes

    # the protocol scores whole images: no tiling, so a large image needs a large enough budget
    restorer = Restorer.load(
        model, backend=backend, tile="none", ensemble=ensemble, mem_budget=mem_budget, precision=precision
    )
    if restorer.backend.note:
        print_note(restorer.backend.note)
    conditions = _conditions(restorer.meta.scale, sigma)
    for name in baseline:
        baseline_method(name, conditions[0])  # an unknown or unavailable baseline fails before any work
    images = load_eval_images(data, restorer.meta.in_channels)
    label = Path(model).name + (" (ensemble)" if ensemble else "")
    methods = {label: lambda c: restorer.restore}
    methods.update({name: (lambda c, name=name: baseline_method(name, c)) for name in baseline})
    with Progress(transient=True, disable=as_json) as progress:
        task = progress.add_task("evaluating", total=len(images) * len(conditions) * len(methods))
        try:
            results = run_eval(methods, images, conditions, with_ssim=ssim, on_image=lambda *_: progress.advance(task))
        except MemoryBudgetError as exc:
            if exc.needed is None or exc.budget is None:
                raise
            raise MemoryBudgetError(
                f"the whole image needs about {format_bytes(exc.needed)}, over the budget of "
                f"{format_bytes(exc.budget)}; the protocol scores whole images, so eval does not tile: "
                "raise --mem-budget, or evaluate smaller images"
            ) from None
    key = "sigma" if restorer.meta.scale == 1 else "scale"
    ran = {"backend": restorer.backend.name, "precision": restorer.backend.precision}
    rows = [
        {
            "method": r.method,
            key: getattr(r.condition, key),
            "psnr": round(r.psnr, 3),
            "ssim": round(r.ssim, 4),
            "per_image": {k: {"psnr": round(p, 3), "ssim": round(s, 4)} for k, (p, s) in r.per_image.items()},
            **(ran if r.method == label else {}),
        }
        for r in results
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"{data} ({len(images)} images)")
    for column in ("method", key, "PSNR (dB)", "SSIM"):
        table.add_column(column)
    for row, result in zip(rows, results, strict=True):
        table.add_row(row["method"], result.condition.label, f"{row['psnr']:.2f}", f"{row['ssim']:.4f}")
    Console().print(table)
