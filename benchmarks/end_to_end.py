"""Where the wall-clock time of a default `effrestore run` goes outside the engine: a 12 MP JPEG and a 4K PNG
(the σ=25 photo mosaic of vs_alternatives.py, rounded to 8 bits), each run in a fresh process under cProfile,
first on an empty cache folder (*cold*: the model compiles and the planner calibrates), then again on that
cache (*warm*). The engine's calls are few and long, so the profiler's overhead is small next to them.

Phases: *start-up* (interpreter, imports, command-line parsing: the wall time before the `run` command starts),
*open model*, *decode* (the input read whole), *calibrate* (the planner's memory and time probes), *engine* (the
backend calls of the restore), *tiles and blending* (cutting bands into tiles, blending the outputs, the
depth conversion), *encode* (the output written, atomically), *other* (what the `run` command spends around
them: checks, the summary table).

Usage: python benchmarks/end_to_end.py [--images 4000x3000.jpg,3840x2160.png,7680x4320.png] [--threads 2]
       [--out runs/end_to_end]
"""

from __future__ import annotations

import argparse
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from vs_alternatives import noisy_pair

from effrestore.runtime.cache import machine_id

# (phase, module file suffix, function): a phase's time is the cumulative time of its functions
PHASE_FUNCTIONS = {
    "open model": [("runtime/restorer.py", "load")],
    "decode": [("runtime/io.py", "open_source")],
    "calibrate": [("runtime/planner.py", "measure_fit"), ("runtime/planner.py", "refine_fit")],
    "engine": [("runtime/restorer.py", "_infer")],
    "tiles and blending": [("runtime/restorer.py", "_blocks")],  # minus the engine, below
    "encode": [("runtime/io.py", "write_image")],
}
RUN_COMMAND = ("cli/commands/run.py", "run")


def noisy_photo(spec: str, folder: Path) -> Path:
    """WIDTHxHEIGHT.suffix: the σ=25 noisy mosaic at that size, 8 bits, saved in that format (JPEG q95)."""
    size, suffix = spec.split(".")
    width, height = (int(v) for v in size.lower().split("x"))
    _, noisy = noisy_pair(width, height)
    path = folder / f"noisy-{width}x{height}.{suffix}"
    Image.fromarray(np.round(np.clip(noisy, 0, 1) * 255).astype(np.uint8)).save(path, quality=95)
    return path


def cumulative(stats: pstats.Stats, file_suffix: str, function: str) -> float:
    return sum(
        entry[3]
        for (file, _line, name), entry in stats.stats.items()  # type: ignore[attr-defined]
        if name == function and file.replace(os.sep, "/").endswith(file_suffix)
    )


def profiled_run(image: Path, output: Path, threads: int, cache: Path, profile: Path) -> dict[str, float]:
    """One default `effrestore run` in a fresh process under cProfile: seconds per phase."""
    command = [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "effrestore", "run", str(image)]
    command += ["-o", str(output), "--overwrite", "--threads", str(threads)]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, "EFFRESTORE_CACHE_DIR": str(cache)})
    wall = time.perf_counter() - started
    stats = pstats.Stats(str(profile))
    phases = {phase: sum(cumulative(stats, *f) for f in functions) for phase, functions in PHASE_FUNCTIONS.items()}
    phases["tiles and blending"] -= phases["engine"]
    command_seconds = cumulative(stats, *RUN_COMMAND)
    phases["other"] = command_seconds - sum(phases.values())
    return {"start-up": wall - command_seconds, **phases, "wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", default="4000x3000.jpg,3840x2160.png", help="WIDTHxHEIGHT.suffix, comma-separated")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("runs/end_to_end"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"{machine_id()}, {args.threads} threads, default model and backend\n")
    columns = ["start-up", *PHASE_FUNCTIONS, "other"]
    print(f"| image | cache | wall s | {' | '.join(columns)} |")
    print(f"|---|---|---|{'---|' * len(columns)}")
    for spec in args.images.split(","):
        image = noisy_photo(spec, args.out)
        with tempfile.TemporaryDirectory() as cache:
            for label in ("cold", "warm"):
                output = args.out / f"restored-{image.name}"
                seconds = profiled_run(image, output, args.threads, Path(cache), args.out / "run.prof")
                cells = [f"{seconds[c]:.1f} ({seconds[c] / seconds['wall']:.0%})" for c in columns]
                print(f"| {image.name} | {label} | {seconds['wall']:.1f} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
