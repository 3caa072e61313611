"""The planner's time model against the clock: `effrestore run` of the σ=25 photo mosaic (see
vs_alternatives.py) at 1 MP, 4K and 8K, with and without `--mem-budget`, each in a fresh process, with the
shipped default model and backend. The first run of each cell starts from an empty cache folder (it
calibrates, and its restore sets the fit's pace); the second reuses that fit, and its planned seconds (the
backend calls the plan predicts) are compared with its measured restore seconds (engine: the backend calls
alone).

Usage: python benchmarks/planner_accuracy.py [--sizes 1024x1024,3840x2160,7680x4320] [--budgets ,1.5GiB]
       [--threads 2] [--out runs/planner_accuracy]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from vs_alternatives import noisy_mosaic

from effrestore.runtime.memory import format_bytes


def run(noisy: Path, output: Path, threads: int, budget: str, cache: str, options: tuple[str, ...] = ()) -> dict:
    """One `effrestore run --json` in a fresh process (with `options` added); its row, or why it failed."""
    command = [sys.executable, "-m", "effrestore", "run", str(noisy), "-o", str(output), "--overwrite", "--json"]
    command += ["--threads", str(threads), *(["--mem-budget", budget] if budget else []), *options]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "EFFRESTORE_CACHE_DIR": cache})
    if result.returncode != 0:
        return {"error": (result.stderr.strip().splitlines() or ["failed"])[-1][:160]}
    rows = json.loads(result.stdout)
    return rows[0] if isinstance(rows, list) else rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1024x1024,3840x2160,7680x4320", help="WIDTHxHEIGHT, comma-separated")
    parser.add_argument("--budgets", default=",1.5GiB", help="comma-separated; empty: the default budget")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("runs/planner_accuracy"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"default model and backend, {args.threads} threads; planned = the plan's backend calls, measured = restore")
    print()
    print("| image | budget | tiles | cold run s | planned s | engine s | measured s | measured / planned | peak |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size in args.sizes.split(","):
        width, height, _, noisy = noisy_mosaic(size, args.out)
        output = args.out / f"restored-{width}x{height}.npy"
        for budget in args.budgets.split(","):
            with tempfile.TemporaryDirectory() as cache:
                cold = run(noisy, output, args.threads, budget, cache)
                warm = run(noisy, output, args.threads, budget, cache) if "error" not in cold else cold
            label = f"{width}×{height}"
            if "error" in warm:
                print(f"| {label} | {budget or 'default'} | failed: {warm['error']} | | | | | | |", flush=True)
                continue
            tiles, peak = warm["tiling"], format_bytes(warm["measured_peak_bytes"])
            planned, measured = warm["planned_seconds"], warm["seconds"]
            ratio = f"{measured / planned:.2f}" if planned else "–"
            print(
                f"| {label} | {budget or 'default'} | {tiles} | {cold['seconds']:.1f} | {planned or 0:.1f} | "
                f"{warm['engine_seconds']:.1f} | {measured:.1f} | {ratio} | {peak} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
