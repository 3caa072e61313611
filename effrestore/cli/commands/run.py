"""`effrestore run`: restore image files (files, globs or folders) with a progress bar and a summary."""

from __future__ import annotations

import glob
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from effrestore.cli._errors import reports_errors
from effrestore.errors import ConfigError, ImageError
from effrestore.runtime.io import SUFFIXES
from effrestore.runtime.memory import format_bytes


def expand_inputs(inputs: list[str]) -> list[Path]:
    """Files, folders (their images, sorted) and glob patterns -> image paths, in the given order."""
    paths: list[Path] = []
    for item in inputs:
        candidates = [Path(p) for p in sorted(glob.glob(item))] if any(c in item for c in "*?[") else [Path(item)]
        if not candidates:
            raise ImageError(f"{item}: the pattern matches no files")
        for path in candidates:
            if path.is_dir():
                paths.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES))
            elif path.exists():
                paths.append(path)
            else:
                raise ImageError(f"{path}: no such file or folder")
    if not paths:
        raise ImageError("no input images found")
    return paths


def output_for(src: Path, output: Path | None, out_dir: Path | None, count: int) -> Path:
    if output is not None:
        if count > 1:
            raise ConfigError("-o/--output names one file; with several inputs use --out-dir")
        return output
    if out_dir is not None:
        return out_dir / src.name
    return src.with_name(f"{src.stem}.restored{src.suffix}")


@reports_errors
def run(
    inputs: Annotated[list[str], typer.Argument(help="Image files, folders or glob patterns.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Output file (one input).")] = None,
    out_dir: Annotated[Path | None, typer.Option(help="Output folder (any number of inputs).")] = None,
    model: Annotated[str | None, typer.Option(help="ONNX file, checkpoint or shipped model name.")] = None,
    engine: Annotated[Path | None, typer.Option(help="TensorRT engine (.plan) instead of --model.")] = None,
    backend: Annotated[str, typer.Option(help="auto, onnxruntime, torch or tensorrt.")] = "auto",
    device: Annotated[str | None, typer.Option(help="cpu, cuda (or tensorrt for ONNX Runtime's EP).")] = None,
    mem_budget: Annotated[str | None, typer.Option(help="Peak process memory, e.g. 1.5GiB or 800MB.")] = None,
    tile: Annotated[str, typer.Option(help="auto (largest under the budget), none (whole image) or pixels.")] = "auto",
    tile_overlap: Annotated[int | None, typer.Option(help="Per-side tile overlap in input pixels.")] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads for the backend.")] = None,
    max_pixels: Annotated[int | None, typer.Option(help="Raise the decompression-bomb pixel limit.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing output files.")] = False,
    ensemble: Annotated[
        bool, typer.Option("--ensemble", help="Average over the 8 flips/rotations: a little better, 8× slower.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print per-image stats as JSON.")] = False,
) -> None:
    """Restore images. Without --model the shipped default model runs in ONNX Runtime (no torch needed)."""
    from effrestore.runtime import Restorer
    from effrestore.zoo import DEFAULT_MODEL

    if engine is not None and model is not None:
        raise ConfigError("give --model or --engine, not both")
    if out_dir is not None and not out_dir.is_dir():
        raise ImageError(f"{out_dir}: output folder does not exist")
    paths = expand_inputs(inputs)
    targets = [output_for(p, output, out_dir, len(paths)) for p in paths]
    existing = [t for t in targets if t.exists()]
    if existing and not overwrite:
        raise ImageError(f"{existing[0]}: already exists; pass --overwrite to replace it")
    source = engine if engine is not None else (model or DEFAULT_MODEL)
    restorer = Restorer.load(
        source,
        backend="tensorrt" if engine is not None else backend,
        device=device,
        mem_budget=mem_budget,
        tile=tile,
        tile_overlap=tile_overlap,
        threads=threads,
        ensemble=ensemble,
    )
    rows = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, disable=as_json, transient=True) as progress:
        files = progress.add_task("images", total=len(paths))
        tiles = progress.add_task("tiles", total=None)
        for src, dst in zip(paths, targets, strict=True):
            progress.update(tiles, description=f"tiles of {src.name}", completed=0, total=None)
            restorer.restore_file(
                src,
                dst,
                overwrite=overwrite,
                max_pixels=max_pixels,
                progress=lambda done, total: progress.update(tiles, completed=done, total=total),
            )
            stats = restorer.last_stats
            rows.append(
                {
                    "input": str(src),
                    "output": str(dst),
                    "height": stats.height,
                    "width": stats.width,
                    "tile": stats.tile,
                    "batch": stats.batch,
                    "tiles": stats.tiles,
                    "seconds": round(stats.seconds, 3),
                    "megapixels_per_second": round(stats.megapixels_per_second, 3),
                    "planned_peak_bytes": stats.planned_peak,
                    "measured_peak_bytes": stats.measured_peak,
                    "budget_bytes": stats.budget,
                    "backend": stats.backend,
                    "device": stats.device,
                    "peak_method": stats.peak_method,
                }
            )
            progress.advance(files)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"restored with {source} ({restorer.backend.name}, {restorer.backend.device})")
    for column in ("output", "size", "tiles", "seconds", "MP/s", "planned peak", "measured peak"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["output"],
            f"{row['width']}×{row['height']}",
            f"{row['tiles']} × {row['tile'] or 'whole'}",
            f"{row['seconds']:.2f}",
            f"{row['megapixels_per_second']:.2f}",
            format_bytes(row["planned_peak_bytes"]),
            format_bytes(row["measured_peak_bytes"]),
        )
    Console().print(table)
