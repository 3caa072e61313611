"""`effrestore bench`: median seconds, MP/s and peak memory per backend and size, each in a fresh process."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from effrestore.cli import _options
from effrestore.cli._errors import shown
from effrestore.errors import EffrestoreError
from effrestore.runtime.memory import format_bytes


def bench_one(
    source: str,
    backend: str,
    size: int,
    repeats: int,
    threads: int | None,
    tile: int | None = None,
    mem_budget: str | None = None,
    device: str | None = None,
    precision: str = "auto",
    profile: bool = False,
) -> dict:
    """One backend at one size in a fresh process: whole image (`tile` None) or tiles of `tile` pixels.

    Without `mem_budget` the runtime's default budget (60% of available memory) applies."""
    arguments = [source, backend, str(size), str(repeats), "--precision", precision, *(["--profile"] * profile)]
    for flag, value in (("--threads", threads), ("--tile", tile), ("--mem-budget", mem_budget), ("--device", device)):
        if value:
            arguments += [flag, str(value)]
    result = subprocess.run(
        [sys.executable, "-m", "effrestore.bench_worker", *arguments], capture_output=True, text=True
    )
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        reason = lines[-1] if lines else f"killed by signal {-result.returncode} (out of memory?)"
        reason = re.sub(r"^[\w.]+(Error|Exception): ", "", reason)  # the traceback's exception class
        raise EffrestoreError(f"{backend} at {size}×{size} failed: {reason}")
    numbers = json.loads(result.stdout.strip().splitlines()[-1])
    return {
        "size": size,
        "tile": tile,
        **numbers,  # the backend and precision that ran ("auto" resolved)
        "megapixels_per_second": size * size / 1e6 / numbers["median_s"],
    }


def bench(
    model: Annotated[str, typer.Option(help="ONNX file or checkpoint to time.")],
    sizes: Annotated[str, typer.Option(help="Square input sizes, comma-separated.")] = "512,1024,2048",
    backends: Annotated[
        str, typer.Option(help="Backends to compare, comma-separated: auto, onnxruntime, openvino, torch, tensorrt.")
    ] = "auto",
    precision: _options.Precision = "auto",
    repeats: Annotated[int, typer.Option(help="Timed runs per size (the median is reported).", min=1)] = 3,
    threads: Annotated[int | None, _options.threads_option("CPU threads per backend.")] = None,
    tile: Annotated[
        int | None, typer.Option(help="Run in tiles of this size (the default is the whole image in one call).")
    ] = None,
    mem_budget: Annotated[
        str | None, _options.mem_budget_option("Memory budget for the runs (default: 60% of available memory).")
    ] = None,
    device: Annotated[
        str | None, typer.Option(help="Device for the backends, e.g. cpu or cuda:0 (default: the backend's choice).")
    ] = None,
    profile: Annotated[
        bool,
        typer.Option(
            "--profile",
            help="Also show where the time goes: the runtime's own per-op-type profile of a whole-image call "
            "(OpenVINO PERF_COUNT, ONNX Runtime's profiler), with the share of layout ops.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Time inference per backend and size, each size in a fresh subprocess, with the peak memory the budget
    bounds (process RSS on the CPU, device memory on CUDA).

    Whole images by default; --tile N measures tiled restoration for sizes that do not fit in memory whole. A
    cell that fails (over the memory budget, say) gets a row with its error, the others still run, and the
    exit code is 1."""
    side_list = _options.number_list(sizes, "--sizes", int, 1, "512,1024")
    cells = [(b.strip(), size) for b in backends.split(",") for size in side_list]
    rows = []
    with Progress(transient=True, disable=as_json) as progress:
        task = progress.add_task("benchmarking", total=len(cells))
        for backend, size in cells:
            progress.update(task, description=f"{backend} at {size}²")
            try:
                rows.append(
                    bench_one(model, backend, size, repeats, threads, tile, mem_budget, device, precision, profile)
                )
            except EffrestoreError as exc:  # one cell over budget must not hide the others' numbers
                rows.append({"backend": backend, "size": size, "tile": tile, "error": str(exc)})
            progress.advance(task)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    else:
        print_table(model, rows)
        for row in rows:
            if "profile" in row:
                print_profile(row)
    failed = [row for row in rows if "error" in row]
    if failed:
        typer.echo(f"{len(failed)} of {len(rows)} cells failed:", err=True)
        for row in failed:
            typer.echo(f"  {row['error']}", err=True)
        raise typer.Exit(1)


def print_table(model: str, rows: list[dict]) -> None:
    table = Table(title=shown(f"bench {model}"))
    for column in ("backend", "precision", "device", "size", "median s", "MP/s", "peak memory"):
        table.add_column(column)
    for row in rows:
        if "error" in row:
            table.add_row(row["backend"], "", "", f"{row['size']}²", "failed", "", "")
            continue
        table.add_row(
            row["backend"],
            row["precision"],
            row["device"],
            f"{row['size']}²",
            f"{row['median_s']:.3f}",
            f"{row['megapixels_per_second']:.3f}",
            f"{format_bytes(row['peak_bytes'])} ({row['peak_method']})",
        )
    Console().print(table)


def print_profile(row: dict) -> None:
    profile = row["profile"]
    title = f"where the time goes: {row['backend']} {row['precision']} at {row['size']}², " + (
        f"{profile['seconds_per_call']:.3f} s per call in its ops; layout ops {profile['layout_share']:.1%}"
    )
    table = Table(title=title)
    for column in ("op type", "share", "ms per call", "nodes"):
        table.add_column(column)
    for op in profile["ops"]:
        table.add_row(op["op_type"], f"{op['share']:.1%}", f"{op['seconds'] * 1e3:.1f}", str(op["nodes"]))
    Console().print(table)
