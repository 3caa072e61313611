"""ONNX Runtime vs torch for `restormer-s` with every attention kind: median seconds, MP/s and peak RSS per
size, each measurement in a fresh subprocess (effrestore bench). Weights are random: timing and memory do
not depend on their values. Prints a Markdown table.

Usage: python benchmarks/bench_attention.py [--sizes 512,1024,2048] [--threads 2] [--repeats 3] [--out runs/bench]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from effrestore.cli.commands.bench import bench_one
from effrestore.export import export_onnx
from effrestore.models import build_model, save_checkpoint

KINDS = ("mdta", "glmha", "linear_sa", "gsa", "stt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="512,1024,2048")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("runs/bench"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    print("| attention | size | ORT s | torch s | torch/ORT | ORT MP/s | torch MP/s | ORT peak | torch peak |")
    print("|---|---|---|---|---|---|---|---|---|")
    for kind in KINDS:
        model = build_model("restormer-s", attention=kind).eval()
        onnx_path, checkpoint = args.out / f"{kind}.onnx", args.out / f"{kind}.safetensors"
        if not onnx_path.exists():
            export_onnx(model, onnx_path, verify_parity=False)
        save_checkpoint(model, checkpoint)
        for size in sizes:
            ort = bench_one(str(onnx_path), "onnxruntime", size, args.repeats, args.threads)
            pt = bench_one(str(checkpoint), "torch", size, args.repeats, args.threads)
            print(
                f"| {kind} | {size}² | {ort['median_s']:.2f} | {pt['median_s']:.2f} | "
                f"{pt['median_s'] / ort['median_s']:.2f} | {ort['megapixels_per_second']:.3f} | "
                f"{pt['megapixels_per_second']:.3f} | {ort['peak_bytes'] / 2**20:.0f} MiB | "
                f"{pt['peak_bytes'] / 2**20:.0f} MiB |",
                flush=True,
            )


if __name__ == "__main__":
    main()
