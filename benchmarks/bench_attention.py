"""ONNX Runtime vs torch for `restormer-s` with every attention kind: median seconds, MP/s and peak RSS per
size, each measurement in a fresh subprocess (effrestore bench). Weights are random: timing and memory do
not depend on their values. Prints a Markdown table.

Usage: python benchmarks/bench_attention.py [--sizes 512,1024,2048] [--threads 2] [--repeats 3] [--tile N]
       [--out runs/bench]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cpu_backends import matmul_ceilings

from effrestore.cli.commands.bench import bench_one
from effrestore.errors import EffrestoreError
from effrestore.export import export_onnx
from effrestore.export.exporter import DEFAULT_PASSES
from effrestore.models import build_model, save_checkpoint
from effrestore.runtime.cache import machine_id

# the custom attention op decomposed, then the CPU layout passes every decomposed export gets
EXPORT_PASSES = ("decompose-attention", *DEFAULT_PASSES["decomposed"], "simplify")
KINDS = ("none", "sagan", "mdta", "glmha", "linear_sa", "gsa", "stt")


def quadratic_map_bytes(size: int) -> int:
    """Bytes of one float32 N×N attention map at full resolution (N = size²): what SAGAN needs per head."""
    return 4 * (size * size) ** 2


def measure(source: Path, backend: str, size: int, args: argparse.Namespace) -> dict | str:
    """The bench numbers, or the reason the run failed."""
    try:
        return bench_one(str(source), backend, size, args.repeats, args.threads, args.tile, args.mem_budget)
    except EffrestoreError as exc:
        return str(exc).split(" failed: ", 1)[-1].split(";")[0]


def cells(result: dict | str) -> tuple[str, str, str]:
    if isinstance(result, str):
        return f"fails ({result})", "–", "–"
    return (
        f"{result['median_s']:.2f}",
        f"{result['megapixels_per_second']:.3f}",
        f"{result['peak_bytes'] / 2**20:.0f} MiB",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="512,1024,2048")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("runs/bench"))
    parser.add_argument("--kinds", default=",".join(KINDS), help="attention kinds, comma-separated")
    parser.add_argument("--mem-budget", default=None, help="memory budget (default: 60%% of available memory)")
    parser.add_argument("--tile", type=int, default=None, help="tile size (default: whole image in one call)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    ceiling = matmul_ceilings(args.threads)["fp32"]
    print(f"{machine_id()}, {args.threads} threads; float32 matmul ceiling {ceiling:.0f} GFLOP/s\n")
    print("| attention | size | ORT s | torch s | torch/ORT | ORT MP/s | torch MP/s | ORT peak | torch peak |")
    print("|---|---|---|---|---|---|---|---|---|")
    for kind in args.kinds.split(","):
        runnable = []
        for size in sizes:
            side = args.tile or size
            if kind == "sagan" and quadratic_map_bytes(side) > 4 * 2**30:
                gib = quadratic_map_bytes(side) / 2**30
                reason = f"not run: one N×N attention map at {side}² is {gib:,.0f} GiB"
                print(f"| sagan | {size}² | {reason} | – | – | – | – | – | – |")
            else:
                runnable.append(size)
        if not runnable:
            continue
        model = build_model("restormer-s", attention=kind).eval()
        onnx_path, checkpoint = args.out / f"{kind}.onnx", args.out / f"{kind}.safetensors"
        if not onnx_path.exists():
            # custom op + decompose-attention: the same numbers as a direct export (a tested guarantee), and
            # much faster to export for GSA, whose direct graph makes torch's ONNX optimizer crawl
            export_onnx(
                model, onnx_path, attention_ops="custom", passes=EXPORT_PASSES, verify_parity=False, overwrite=True
            )
        save_checkpoint(model, checkpoint)
        for size in runnable:
            ort = measure(onnx_path, "onnxruntime", size, args)
            pt = measure(checkpoint, "torch", size, args)
            (ort_s, ort_mps, ort_peak), (pt_s, pt_mps, pt_peak) = cells(ort), cells(pt)
            ratio = f"{pt['median_s'] / ort['median_s']:.2f}" if isinstance(ort, dict) and isinstance(pt, dict) else "–"
            print(
                f"| {kind} | {size}² | {ort_s} | {pt_s} | {ratio} | {ort_mps} | {pt_mps} | {ort_peak} | {pt_peak} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
