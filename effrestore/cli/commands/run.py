"""`effrestore run`: restore image files (files, globs or folders) with a progress bar and a summary."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from effrestore._atomic import remove_stale_partials
from effrestore.cli import _options
from effrestore.cli._errors import EXIT_OVER_BUDGET, print_note, shown, stderr
from effrestore.errors import ConfigError, EffrestoreError, ImageError
from effrestore.runtime.batch import (
    FileOptions,
    LoadOptions,
    check_jobs,
    expand_inputs,
    make_output_folder,
    output_for,
    restore_row,
    take_shard,
    unwritable_outputs,
)
from effrestore.runtime.io import EMBEDDED_PREVIEW
from effrestore.runtime.memory import format_bytes

if TYPE_CHECKING:
    from effrestore.runtime import Restorer


def clear_interrupted_writes(folders: set[Path], started: float) -> None:
    """Removes what killed earlier runs left half-written in the output folders (their `.partial` files,
    older than this run and held by no live writer), saying how many."""
    for folder in sorted(folders):
        removed = remove_stale_partials(folder, started)
        if removed:
            print_note(f"{folder}: removed {len(removed)} half-written file(s) left by an interrupted earlier run")


def run(
    inputs: Annotated[list[str], typer.Argument(help="Image files, folders or glob patterns.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Output file (one input).")] = None,
    out_dir: Annotated[
        Path | None, typer.Option(help="Output folder (any number of inputs); created, with its parents, if missing.")
    ] = None,
    model: Annotated[str | None, typer.Option(help="ONNX file, checkpoint or shipped model name.")] = None,
    engine: Annotated[Path | None, typer.Option(help="TensorRT engine (.plan) instead of --model.")] = None,
    backend: _options.Backend = "auto",
    precision: _options.Precision = "auto",
    device: Annotated[str | None, typer.Option(help="cpu, cuda (or tensorrt for ONNX Runtime's EP).")] = None,
    mem_budget: Annotated[str | None, _options.mem_budget_option("Peak process memory, e.g. 1.5GiB or 800MB.")] = None,
    tile: Annotated[str, typer.Option(help="auto (largest under the budget), none (whole image) or pixels.")] = "auto",
    tile_overlap: Annotated[int | None, typer.Option(help="Per-side tile overlap in input pixels.")] = None,
    threads: Annotated[int | None, _options.threads_option("CPU threads for the backend.")] = None,
    max_pixels: _options.MaxPixels = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing output files.")] = False,
    skip_existing: Annotated[
        bool, typer.Option("--skip-existing", help="Leave inputs whose output exists (resume an interrupted job).")
    ] = False,
    shard: Annotated[
        str | None,
        typer.Option(help="INDEX/COUNT: restore only this worker's share of the inputs (0-based), e.g. 2/8."),
    ] = None,
    keep_going: Annotated[
        bool, typer.Option("--keep-going", help="Report an image that fails and go on; exit 1 at the end.")
    ] = False,
    ensemble: Annotated[
        bool, typer.Option("--ensemble", help="Average over the 8 flips/rotations: a little better, 8× slower.")
    ] = False,
    strength: Annotated[
        float,
        typer.Option(
            help="0..1: blend of input (0) and the model's output (1); below 1 keeps some of the grain.",
        ),
    ] = 1.0,
    output_depth: _options.OutputDepth = None,
    keep_color: Annotated[
        bool, typer.Option("--keep-color", help="Keep the RGB result of a gray image through a colour model.")
    ] = False,
    first_frame: Annotated[
        bool, typer.Option("--first-frame", help="Restore the first page/frame of a multi-page TIFF or animation.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print per-image stats as JSON.")] = False,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            help="Restore on a Ray cluster: local (start one here), auto (join the running one) or ray://HOST:PORT.",
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option(help="--ray: actors, each with the model loaded once and its own --threads/--mem-budget.")
    ] = 1,
) -> None:
    """Restore images. Without --model the shipped default model runs in OpenVINO (ONNX Runtime when OpenVINO
    is not installed; no torch needed), in tiles under a measured memory budget.

    For batch jobs: --shard splits the inputs between workers, --skip-existing resumes, --keep-going
    finishes the other images when one fails; --ray restores them on a Ray cluster with --workers actors.

    Exit status: 0 done; 1 some images failed (--keep-going); 2 a usage or input error; 3 every image was
    restored but a measured peak passed --mem-budget (the run says which, and re-measures next time)."""
    from effrestore.zoo import DEFAULT_MODEL

    started = time.time()

    if engine is not None and model is not None:
        raise ConfigError("give --model or --engine, not both")
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise ImageError(f"{out_dir}: is a file, not a folder; give --out-dir a folder (it is created if missing)")
    if overwrite and skip_existing:
        raise ConfigError("give --overwrite or --skip-existing, not both")
    paths = take_shard(expand_inputs(inputs), shard)
    if out_dir is not None:
        make_output_folder(out_dir)
    jobs = [(p, output_for(p, output, out_dir, len(paths))) for p in paths]
    check_jobs(jobs)
    refused = unwritable_outputs(jobs)
    if refused and not keep_going:
        raise ImageError(next(iter(refused.values())))
    jobs = [job for job in jobs if job not in refused]
    existing = [dst for _, dst in jobs if dst.exists()]
    if existing and not (overwrite or skip_existing):
        raise ImageError(
            f"{existing[0]}: already exists; pass --overwrite to replace it or --skip-existing to leave it"
        )
    skipped = [(src, dst) for src, dst in jobs if skip_existing and dst.exists()]
    jobs = [job for job in jobs if job not in skipped]
    rows: list[dict] = [{"input": str(src), "output": str(dst), "skipped": True} for src, dst in skipped]
    rows += [{"input": str(src), "output": str(dst), "error": error} for (src, dst), error in refused.items()]
    if not jobs and refused:
        finish(rows, list(refused.values()), len(refused), as_json, "nothing restored")
    if not jobs:
        stderr.print(f"nothing to restore: {len(paths)} inputs in this share, {len(skipped)} already done")
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
        return
    clear_interrupted_writes({dst.parent for _, dst in jobs}, started)
    source = str(engine if engine is not None else (model or DEFAULT_MODEL))
    load = LoadOptions(
        "tensorrt" if engine is not None else backend,
        device,
        mem_budget,
        tile,
        tile_overlap,
        threads,
        ensemble,
        precision,
        strength,
    )
    options = FileOptions(overwrite, max_pixels, keep_color, output_depth, first_frame)
    try:
        if ray is not None:
            failures = restore_on_ray(ray, workers, source, load, options, jobs, rows, keep_going, as_json)
            title = f"restored with {source} on Ray ({workers} workers)"
        else:
            restorer = load.load(source)
            if restorer.backend.note:
                print_note(restorer.backend.note)
            failures = restore_jobs(restorer, jobs, rows, options, keep_going, as_json)
            used = restorer.backend
            title = f"restored with {source} ({used.name}, {used.precision}, {used.device})"
    except EffrestoreError as exc:
        if as_json:  # the rows so far, and the images the error left unrestored
            done = {row["input"] for row in rows}
            stopped = [
                {"input": str(src), "output": str(dst), "error": str(exc), "run_stopped": True}
                for src, dst in jobs
                if str(src) not in done
            ]
            typer.echo(json.dumps(rows + stopped, indent=2))
        raise
    finish(rows, [*refused.values(), *failures], len(jobs) + len(refused), as_json, title)


def _note_dropped(console: Console, src: Path, dst: Path, dropped: tuple[str, ...]) -> None:
    """Says what of the input the output does not carry: metadata its format cannot hold, and a camera's
    embedded preview (a smaller copy of the photo, not restored)."""
    metadata = [item for item in dropped if item != EMBEDDED_PREVIEW]
    if metadata:
        keeping = ".tif" if any("beyond" in item for item in metadata) else ".png or .jpg"
        console.print(
            f"note: {shown(dst)}: {shown(dst.suffix)} cannot keep the input's {' and '.join(metadata)}; write "
            f"{keeping} to keep it",
            highlight=False,
        )
    if EMBEDDED_PREVIEW in dropped:
        console.print(
            f"note: {shown(src)}: the camera's embedded preview (a smaller copy of the photo) was not kept; "
            "the photo itself was restored",
            highlight=False,
        )


def finish(rows: list[dict], failures: list[str], count: int, as_json: bool, title: str) -> None:
    """The rows as JSON or a table, then the failures (exit 1 when there are any) and the images whose
    measured peak passed the budget (exit 3 when that is all that went wrong)."""
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    else:
        Console().print(summary_table(title, rows))
    for row in rows:
        if row.get("over_budget"):
            print_note(
                f"{row['output']}: the measured peak {format_bytes(row['measured_peak_bytes'])} passed the budget "
                f"of {format_bytes(row['budget_bytes'])} (planned {format_bytes(row['planned_peak_bytes'])}); "
                "the memory fit behind the plan was dropped and is measured again on the next run"
            )
    if failures:
        stderr.print(f"[bold red]{len(failures)} of {count} images failed:[/]", highlight=False)
        for failure in failures:
            stderr.print(f"  {shown(failure)}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    if any(row.get("over_budget") for row in rows):
        raise typer.Exit(EXIT_OVER_BUDGET)


def restore_on_ray(
    address: str,
    workers: int,
    source: str,
    load: LoadOptions,
    options: FileOptions,
    jobs: list[tuple[Path, Path]],
    rows: list[dict],
    keep_going: bool,
    quiet: bool,
) -> list[str]:
    """`restore_jobs` on a Ray cluster: each of `workers` actors loads the model once. Rows come as images
    finish; without `keep_going` the first failure stops the run, as it does without Ray."""
    from effrestore.serving.ray import ActorSpec, restore_files

    spec = ActorSpec(source, load, options)
    failures = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=stderr, disable=quiet, transient=True) as progress:
        task = progress.add_task(f"images on Ray ({workers} workers)", total=len(jobs))
        for row in restore_files(jobs, spec, address=address, workers=workers, cpus_per_worker=load.threads or 1):
            rows.append(row)
            progress.advance(task)
            if "error" in row:
                if not keep_going:
                    raise EffrestoreError(row["error"])
                failures.append(row["error"])
    return failures


def restore_jobs(
    restorer: Restorer,
    jobs: list[tuple[Path, Path]],
    rows: list[dict],
    options: FileOptions,
    keep_going: bool,
    quiet: bool,
) -> list[str]:
    """Restores each (input, output) with progress bars, appending a row per image; returns the failures
    `keep_going` let through (one line each, naming the input once). Metadata an output format cannot
    keep is named in a note."""
    failures = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=stderr, disable=quiet, transient=True) as progress:
        files = progress.add_task("images", total=len(jobs))
        tiles = progress.add_task("tiles", total=None)
        for src, dst in jobs:
            progress.update(tiles, description=f"tiles of {shown(src.name)}", completed=0, total=None)
            row, error = restore_row(
                restorer,
                src,
                dst,
                options,
                lambda done, total: progress.update(tiles, completed=done, total=total),
            )
            if error is not None and not keep_going:
                raise error
            rows.append(row)
            if error is not None:
                failures.append(row["error"])
            elif not quiet:
                _note_dropped(progress.console, src, dst, tuple(row["dropped_metadata"]))
            progress.advance(files)
    return failures


def summary_table(title: str, rows: list[dict]) -> Table:
    table = Table(title=shown(title))
    for column in ("output", "size", "tiles", "seconds", "MP/s", "planned peak", "measured peak"):
        table.add_column(column)
    for row in rows:
        if "skipped" in row or "error" in row:
            note = "skipped: exists" if "skipped" in row else "failed (see below)"
            table.add_row(shown(row["output"]), note, *["–"] * 5)
            continue
        table.add_row(
            shown(row["output"]),
            f"{row['width']}×{row['height']}",
            row["tiling"],
            f"{row['seconds']:.2f}",
            f"{row['megapixels_per_second']:.2f}",
            format_bytes(row["planned_peak_bytes"]),
            format_bytes(row["measured_peak_bytes"]),
        )
    return table
