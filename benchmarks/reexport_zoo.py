"""Re-exports the shipped models' ONNX from their shipped weights with today's default export passes, and
replaces a file only where the new graph computes the same output as the old one.

Each model: `export_onnx` (its own parity check against torch), then both graphs in ONNX Runtime fp32 on a
noisy real photo crop; the new file replaces the old one only if max|Δ| <= --atol. The JSON card gets the new
parity lines and the passes. The bf16 record in the weights' card is carried over unchanged: the first-use
probe re-checks bf16 on each CPU, and `benchmarks/record_bf16.py` re-measures it where bf16 runs natively.

Usage: python benchmarks/reexport_zoo.py [NAME ...]   (default: every shipped model)
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from effrestore._atomic import atomic_path
from effrestore.assets import sample_image
from effrestore.export import export_onnx
from effrestore.export.exporter import DEFAULT_PASSES
from effrestore.models import load_checkpoint
from effrestore.runtime import Restorer
from effrestore.zoo import list_zoo, require_entry

SIDE = 256


def run_onnx(path: Path, image: np.ndarray) -> np.ndarray:
    with Restorer.load(path, backend="onnxruntime", tile="none") as restorer:
        return restorer.restore(image)


def reexport(name: str, atol: float) -> str:
    """One table row; raises SystemExit where the new graph disagrees with the shipped one."""
    entry = require_entry(name)
    model = load_checkpoint(entry.checkpoint)
    channels = model.config.in_channels
    photo = sample_image(channels, SIDE, SIDE)[0].transpose(1, 2, 0)  # H×W×C, as Restorer takes images
    noisy = photo + np.random.default_rng(0).normal(0, 25 / 255, photo.shape).astype(np.float32)
    with tempfile.TemporaryDirectory(dir=entry.onnx.parent) as scratch:  # same file system: os.replace
        candidate = Path(scratch) / f"{name}.onnx"
        report = export_onnx(model, candidate)
        difference = float(np.abs(run_onnx(entry.onnx, noisy) - run_onnx(candidate, noisy)).max())
        if difference > atol:
            raise SystemExit(f"{name}: the new graph differs by {difference:.2e} > {atol:g}; nothing replaced")
        os.replace(candidate, entry.onnx)
    card = {**entry.card, "onnx_passes": list(DEFAULT_PASSES["decomposed"])}
    card["onnx_parity"] = [str(c) for c in report.checks]
    with atomic_path(entry.onnx.with_suffix(".json")) as partial:
        partial.write_text(json.dumps(card, indent=2) + "\n")
    return f"| {name} | {difference:.2e} | {report.nodes} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="default: every shipped model")
    parser.add_argument("--atol", type=float, default=1e-5, help="largest output change accepted (fp32)")
    args = parser.parse_args()
    names = args.names or [entry.name for entry in list_zoo()]
    print(f"| model | max abs change vs shipped ({SIDE}², ONNX Runtime fp32) | nodes |")
    print("|---|---|---|")
    for name in names:
        print(reexport(name, args.atol), flush=True)


if __name__ == "__main__":
    main()
