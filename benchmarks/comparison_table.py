"""Prints the attention-comparison table (Markdown) from the trained comparison runs.

For each kind: parameters and GMACs at 256×256 (effrestore.models.cost), validation PSNR at sigma 15/25/50
(runs/compare-<kind>/eval.json from evaluate_comparison.sh), ONNX Runtime CPU milliseconds per megapixel
and peak RSS at 1024×1024 (effrestore bench, a fresh subprocess per measurement, 2 threads).
Usage: python benchmarks/comparison_table.py [RUNS]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from effrestore.cli.commands.bench import bench_one
from effrestore.export import export_onnx
from effrestore.models import cost, load_checkpoint

KINDS = ("mdta", "glmha", "linear_sa", "gsa", "stt")


def main(runs: Path) -> None:
    print("| attention | params | GMACs @256² | PSNR σ15 | PSNR σ25 | PSNR σ50 | ORT ms/MP (1024²) | peak RSS @1024² |")
    print("|---|---|---|---|---|---|---|---|")
    for kind in KINDS:
        folder = runs / f"compare-{kind}"
        model = load_checkpoint(folder / "model.safetensors")
        params, macs = cost(model, (1, 3, 256, 256))
        psnr = {row["sigma"]: row["psnr"] for row in json.loads((folder / "eval.json").read_text())}
        onnx_path = folder / "model.onnx"
        if not onnx_path.exists():
            export_onnx(model, onnx_path, overwrite=True)
        timing = bench_one(str(onnx_path), "onnxruntime", 1024, 3, 2)
        ms_per_mp = timing["median_s"] * 1000 / (1024 * 1024 / 1e6)
        print(
            f"| {kind} | {params / 1e6:.3f} M | {macs / 1e9:.2f} | {psnr[15.0]:.2f} | {psnr[25.0]:.2f} | "
            f"{psnr[50.0]:.2f} | {ms_per_mp:.0f} | {timing['peak_bytes'] / 2**20:.0f} MiB |",
            flush=True,
        )


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs"))
