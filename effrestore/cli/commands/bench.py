"""`effrestore bench`: median seconds, MP/s and peak memory per backend and size, each in a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from effrestore.cli._errors import reports_errors
from effrestore.errors import ConfigError, EffrestoreError
from effrestore.runtime.memory import format_bytes

_WORKER = """
import json, statistics, sys, time
import numpy as np
from effrestore.runtime.backends import open_backend
from effrestore.runtime.memory import PeakTracker, current_rss
from pathlib import Path
source, backend, size, repeats, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
b = open_backend(Path(source), backend, None, int(threads) or None)
x = np.random.default_rng(0).random((1, b.meta.in_channels, size, size), dtype=np.float32)
b.run(x[:, :, :64, :64].copy())
base = current_rss(); tracker = PeakTracker(); tracker.reset()
times = []
for _ in range(repeats):
    t = time.perf_counter(); b.run(x); times.append(time.perf_counter() - t)
peak = tracker.peak()
print(json.dumps({"median_s": statistics.median(times), "peak_bytes": peak, "growth_bytes": peak - base}))
"""


def bench_one(source: str, backend: str, size: int, repeats: int, threads: int | None) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", _WORKER, source, backend, str(size), str(repeats), str(threads or 0)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise EffrestoreError(f"{backend} at {size}×{size} failed: {result.stderr.strip().splitlines()[-1]}")
    numbers = json.loads(result.stdout.strip().splitlines()[-1])
    return {
        "backend": backend,
        "size": size,
        **numbers,
        "megapixels_per_second": size * size / 1e6 / numbers["median_s"],
    }


@reports_errors
def bench(
    model: Annotated[str, typer.Option(help="ONNX file or checkpoint to time.")],
    sizes: Annotated[str, typer.Option(help="Square input sizes, comma-separated.")] = "512,1024,2048",
    backends: Annotated[str, typer.Option(help="Backends to compare, comma-separated.")] = "onnxruntime",
    repeats: Annotated[int, typer.Option(help="Timed runs per size (the median is reported).")] = 3,
    threads: Annotated[int | None, typer.Option(help="CPU threads per backend.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Time whole-image inference per backend and size, each size in a fresh subprocess (peak RSS included)."""
    try:
        side_list = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--sizes takes comma-separated integers, got {sizes!r}") from None
    rows = [bench_one(model, b.strip(), size, repeats, threads) for b in backends.split(",") for size in side_list]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"bench {model}")
    for column in ("backend", "size", "median s", "MP/s", "peak RSS"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["backend"],
            f"{row['size']}²",
            f"{row['median_s']:.3f}",
            f"{row['megapixels_per_second']:.3f}",
            format_bytes(row["peak_bytes"]),
        )
    Console().print(table)
