"""`effrestore eval`: PSNR/SSIM of a model under the standard Gaussian-noise protocol, with baselines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from effrestore.cli._errors import reports_errors
from effrestore.errors import ConfigError


def _parse_sigmas(text: str) -> list[float]:
    try:
        return [float(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--sigma takes comma-separated numbers like 15,25,50, got {text!r}") from None


@reports_errors
def evaluate(
    model: Annotated[str, typer.Argument(help="Checkpoint (.safetensors/.pth), ONNX file or zoo name.")],
    data: Annotated[Path, typer.Option("--data", help="Folder of clean evaluation images.")],
    sigma: Annotated[str, typer.Option(help="Noise levels on the [0,255] scale, comma-separated.")] = "15,25,50",
    baseline: Annotated[list[str], typer.Option(help="Classical baseline to run too: nlm or bm3d.")] = [],  # noqa: B006
    ssim: Annotated[bool, typer.Option(help="Also compute SSIM (slower).")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Evaluate a denoiser: fixed-seed noise, unclipped noisy input, clipped output, full-image PSNR/SSIM."""
    from effrestore.evaluation import baseline_denoiser, load_eval_images
    from effrestore.evaluation import evaluate as run_eval
    from effrestore.runtime import Restorer

    sigmas = _parse_sigmas(sigma)
    restorer = Restorer.load(model, tile="none")  # the protocol scores whole images
    images = load_eval_images(data, restorer.meta.in_channels)
    methods = {Path(model).name: lambda s: restorer.restore}
    methods.update({name: (lambda s, name=name: baseline_denoiser(name, s)) for name in baseline})
    with Progress(transient=True, disable=as_json) as progress:
        task = progress.add_task("evaluating", total=len(images) * len(sigmas) * len(methods))
        results = run_eval(methods, images, sigmas, with_ssim=ssim, on_image=lambda *_: progress.advance(task))
    rows = [
        {
            "method": r.method,
            "sigma": r.sigma,
            "psnr": round(r.psnr, 3),
            "ssim": round(r.ssim, 4),
            "per_image": {k: {"psnr": round(p, 3), "ssim": round(s, 4)} for k, (p, s) in r.per_image.items()},
        }
        for r in results
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"{data} ({len(images)} images)")
    for column in ("method", "sigma", "PSNR (dB)", "SSIM"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["method"], f"{row['sigma']:g}", f"{row['psnr']:.2f}", f"{row['ssim']:.4f}")
    Console().print(table)
