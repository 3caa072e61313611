"""A real photo with no options against the same photo at each fixed tile size: how close the planner's
own choice comes to the fastest tile. Every run is a fresh `effrestore run` process on one warm cache
folder (a first run calibrates it), default model and backend; the fixed tiles keep the default budget.

Usage: python benchmarks/best_tile.py [PHOTO] [--tiles 256,384,512,768] [--threads 2]
       (default photo: ../shared/data/polyu/full/Canon5D2_bag_Real.JPG, 2784×1856)
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from planner_accuracy import run

from effrestore.runtime.memory import format_bytes

DEFAULT_PHOTO = Path(__file__).resolve().parents[2] / "shared/data/polyu/full/Canon5D2_bag_Real.JPG"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photo", type=Path, nargs="?", default=DEFAULT_PHOTO)
    parser.add_argument("--tiles", default="256,384,512,768", help="fixed tile sizes to compare, comma-separated")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    cells = [("no options", ())] + [(f"--tile {tile}", ("--tile", tile)) for tile in args.tiles.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / f"restored{args.photo.suffix}"
        cold = run(args.photo, output, args.threads, "", folder)  # calibrates the cache the rows reuse
        if "error" in cold:
            raise SystemExit(f"{args.photo}: {cold['error']}")
        rows = [(label, run(args.photo, output, args.threads, "", folder, options)) for label, options in cells]
    best = min(row["seconds"] for _, row in rows if "error" not in row)
    print(
        f"{args.photo.name}, default model and backend, {args.threads} threads, warm cache (first run: "
        f"{cold['seconds']:.1f} s)\n"
    )
    print("| run | tiles | restore s | of the fastest | peak |")
    print("|---|---|---|---|---|")
    for label, row in rows:
        if "error" in row:
            print(f"| {label} | failed: {row['error']} | | | |")
            continue
        tiles = row["tiling"]
        peak = format_bytes(row["measured_peak_bytes"])
        print(f"| {label} | {tiles} | {row['seconds']:.1f} | {row['seconds'] / best:.2f}× | {peak} |")


if __name__ == "__main__":
    main()
