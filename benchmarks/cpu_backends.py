"""Every CPU backend × precision on the shipped `denoise-color`, side by side in one run: whole 512² and
1024² images and a tiled 4K image (under `--mem-budget`), each in a fresh process on the same noisy input
(σ=25 on a mosaic of scikit-image photos, see vs_alternatives.py).

Per row: seconds of the first restore in a fresh process (it compiles the model for its shapes, calibrates
the memory fit when the cache has none, runs bf16's first-use check), seconds of a second restore of the
same image in that process (whole images only), MP/s and ceiling share of the warm call (the
first where there is no second), the process's peak RSS, PSNR against the clean image, and the share of this
machine's matmul ceiling that the model's useful work reaches: useful FLOPs = 2 × the model's MACs per
pixel (`effrestore.models.cost`, attention matmuls included) × image pixels, over seconds, over the best
2048² matmul rate of the same precision measured in the same run (numpy and torch float32; torch bf16)
with the same thread count. Tile overlap and padding are not useful work, so tiled rows pay for them.
`--before FILE` adds ONNX Runtime and OpenVINO fp32 rows running FILE, the same model's graph from before the
layout passes (e.g. `git show d1e2643^:effrestore/zoo/denoise-color.onnx > before.onnx`), so the passes'
effect is measured in the same run.

Usage: python benchmarks/cpu_backends.py [--sizes 512x512,1024x1024,3840x2160] [--threads 2]
       [--mem-budget 1GiB] [--repeats 3] [--out runs/cpu_backends] [--before FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
from vs_alternatives import measure, noisy_mosaic

from effrestore import zoo
from effrestore.models import load_checkpoint
from effrestore.models.cost import cost
from effrestore.quality import psnr
from effrestore.runtime.backends.openvino import cpu_capabilities
from effrestore.runtime.memory import format_bytes

ROWS = (("onnxruntime", "fp32"), ("openvino", "fp32"), ("openvino", "bf16"), ("torch", "fp32"), ("auto", "auto"))
BEFORE_ROWS = (("onnxruntime", "fp32"), ("openvino", "fp32"))
WHOLE_UP_TO = 1024 * 1024  # pixels; larger images are tiled under the budget
COST_SIDE = 512

_CEILING = """
import json, statistics, sys, time
import numpy as np, torch
threads, native_bf16, n = int(sys.argv[1]), sys.argv[2] == "1", 2048
torch.set_num_threads(threads)

def gflops(product):
    product()
    times = []
    for _ in range(7):
        start = time.perf_counter()
        product()
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times) / 1e9

a, b = (np.random.default_rng(i).random((n, n), dtype=np.float32) for i in (0, 1))
ta, tb = torch.from_numpy(a), torch.from_numpy(b)
ha, hb = ta.bfloat16(), tb.bfloat16()
print(json.dumps({
    "fp32": max(gflops(lambda: a @ b), gflops(lambda: ta @ tb)),
    "bf16": gflops(lambda: ha @ hb) if native_bf16 else None,  # emulated bf16 takes minutes and means nothing
}))
"""


def matmul_ceilings(threads: int) -> dict[str, float | None]:
    """GFLOP/s of a 2048² matmul per precision, in a fresh process limited to `threads` BLAS threads; bf16
    only on CPUs with native bf16 (None elsewhere)."""
    native_bf16 = "BF16" in cpu_capabilities()
    env = {"OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    result = subprocess.run(
        [sys.executable, "-c", _CEILING, str(threads), "1" if native_bf16 else "0"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    )
    return json.loads(result.stdout)


def macs_per_pixel(checkpoint: Path) -> float:
    model = load_checkpoint(checkpoint)
    _, macs = cost(model, (1, model.config.in_channels, COST_SIDE, COST_SIDE))
    return macs / COST_SIDE**2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="512x512,1024x1024,3840x2160", help="WIDTHxHEIGHT, comma-separated")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--mem-budget", default="1GiB", help="budget of the tiled (large-image) runs")
    parser.add_argument("--repeats", type=int, default=3, help="rounds over all rows; the median is reported")
    parser.add_argument("--out", type=Path, default=Path("runs/cpu_backends"))
    parser.add_argument("--before", type=Path, help="the model's ONNX from before the layout passes: extra rows")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    entry = zoo.require_entry("denoise-color")
    per_pixel = macs_per_pixel(entry.checkpoint)
    rows = [(backend, precision, "passes", entry.checkpoint if backend == "torch" else entry.onnx)
            for backend, precision in ROWS]  # fmt: skip
    if args.before:
        rows += [(backend, precision, "before", args.before) for backend, precision in BEFORE_ROWS]
    ceilings = matmul_ceilings(args.threads)
    bf16 = "– (no native bf16)" if ceilings["bf16"] is None else f"{ceilings['bf16']:.0f} GFLOP/s"
    print(
        f"denoise-color ({per_pixel / 1e3:.1f} kMAC/pixel), σ=25, {args.threads} threads, median of "
        f"{args.repeats} interleaved round(s); matmul ceiling fp32 {ceilings['fp32']:.0f} GFLOP/s, "
        f"bf16 {bf16}; peak = process VmHWM (max over rounds)"
    )
    print()
    print(
        "| image | backend | graph | precision | tiles | first s | warm s | MP/s | peak RSS | PSNR vs clean "
        "| of fp32 ceiling | of own ceiling |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for size in args.sizes.split(","):
        width, height, clean, noisy_path = noisy_mosaic(size, args.out)
        whole = width * height <= WHOLE_UP_TO
        options = {"tile": "none"} if whole else {"tile": "auto", "budget": args.mem_budget}
        attempts: list[list[dict]] = [[] for _ in rows]
        for _ in range(args.repeats):  # rounds interleave the rows, so a slow spell hits them all alike
            for index, (backend, precision, _, source) in enumerate(rows):
                if any("error" in a for a in attempts[index]):
                    continue
                output = args.out / f"{index}-{width}x{height}.npy"
                run = {"precision": precision, "again": whole, **options}
                attempts[index].append(measure(backend, source, noisy_path, output, args.threads, **run))
        for index, (backend, _, graph, _) in enumerate(rows):
            failed = [a["error"] for a in attempts[index] if "error" in a]
            if failed:
                print(
                    f"| {width}×{height} | {backend} | {graph} | – | – | failed: {failed[0]} | – | – | – | – | – | – |"
                )
                continue
            first = attempts[index][0]
            seconds = statistics.median(a["seconds"] for a in attempts[index])
            warm = statistics.median(a.get("warm_seconds", a["seconds"]) for a in attempts[index])
            peak = max(a["peak_bytes"] for a in attempts[index])
            output = np.load(args.out / f"{index}-{width}x{height}.npy")
            quality = psnr(clean * 255, np.clip(output, 0, 1) * 255)
            useful = 2 * per_pixel * width * height / warm / 1e9  # GFLOP/s
            own = ceilings[first["precision"]]
            shares = f"{useful / ceilings['fp32']:.0%} | {'–' if own is None else f'{useful / own:.0%}'}"
            print(
                f"| {width}×{height} | {backend} | {graph} | {first['precision']} | {first['tiling']} | {seconds:.2f} "
                f"| {warm:.2f} | {width * height / 1e6 / warm:.3f} | {format_bytes(peak)} | {quality:.2f} "
                f"| {shares} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
