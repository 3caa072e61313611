"""effrestore against the usual ways of running a restoration model on a large image, each run in a fresh
process on the same noisy input with the same weights (the shipped `denoise-color`):

- `eager whole`: a plain PyTorch script, the whole image in one `model(x)` call;
- `Real-ESRGAN tiles`: the tiling of Real-ESRGAN's `tile_process` (also what chaiNNer-style tools do):
  fixed tiles, `--tile-pad` pixels of context per side, the centre of each output tile pasted, no blending;
- `effrestore …`: `Restorer` with ONNX Runtime or torch, under a memory budget or with a fixed tile, and
  the default (`--backend auto --precision auto`: OpenVINO, bf16 where the CPU and model allow it).

effrestore's planner calibrates once per model, backend and machine (cached); the workers share a cache folder
under `--out`, and each effrestore backend calibrates there on a small crop before the timed rounds, so a
row is what any run after the machine's first pays (compiling for its shapes included).

For each: seconds, MP/s, the process's peak RSS (VmHWM, imports and image buffers included), PSNR against the
clean image, and the largest difference from the whole-image output (seams). The input is a mosaic of
scikit-image photos at the requested size with Gaussian noise σ=25 (fixed seed, unclipped). Prints a
Markdown table.

Usage: python benchmarks/vs_alternatives.py [--sizes 2048x2048,3840x2160] [--threads 2] [--tile 512]
       [--mem-budget 1GiB] [--repeats 1] [--out runs/vs_alternatives]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import psutil
from skimage import data
from skimage.transform import resize

from effrestore import zoo
from effrestore.quality import psnr
from effrestore.runtime.memory import format_bytes

MEMORY_CAP = 0.8  # of physical RAM, as the workers' address-space limit
PLAIN_SCRIPTS = ("eager", "esrgan")  # the methods that are not effrestore (nothing to calibrate)
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera", "coins", "brick", "gravel")

_WORKER = """
import json, sys, time
import numpy as np
from effrestore.runtime.memory import PeakTracker
method, source, src, dst, threads, tile, pad, budget, precision, again = sys.argv[1:11]
threads, pad = int(threads), int(pad)
tile = int(tile) if tile.isdigit() else tile
noisy = np.load(src)

if method in ("eager", "esrgan"):
    import torch
    import torch.nn.functional as F
    from effrestore.models import load_checkpoint
    torch.set_num_threads(threads)
    model = load_checkpoint(source).eval()
    multiple = model.meta.multiple_of

    def run(x):
        h, w = x.shape[-2:]
        x = F.pad(x, (0, -w % multiple, 0, -h % multiple), mode="reflect")
        return model(x)[..., :h, :w]

    def restore(image):
        x = torch.from_numpy(image).permute(2, 0, 1)[None]
        if method == "eager":
            return run(x)
        out = torch.empty_like(x)
        height, width = x.shape[-2:]
        for y0 in range(0, height, tile):
            for x0 in range(0, width, tile):
                y1, x1 = min(y0 + tile, height), min(x0 + tile, width)
                py0, px0 = max(y0 - pad, 0), max(x0 - pad, 0)
                py1, px1 = min(y1 + pad, height), min(x1 + pad, width)
                result = run(x[..., py0:py1, px0:px1])
                out[..., y0:y1, x0:x1] = result[..., y0 - py0 : y1 - py0, x0 - px0 : x1 - px0]
        return out

    start = time.perf_counter()
    with torch.inference_mode():
        output = restore(noisy)[0].permute(1, 2, 0).numpy()
    height, width = noisy.shape[:2]
    tiling = "whole" if method == "eager" else f"{-(-height // tile) * -(-width // tile)} × ≤{tile + 2 * pad}²"
    precision = "fp32"
else:
    from effrestore.runtime import Restorer
    restorer = Restorer.load(
        source, backend=method, threads=threads, tile=tile, mem_budget=budget or None, precision=precision
    )
    start = time.perf_counter()
    output = restorer.restore(noisy)
    stats = restorer.last_stats
    tiling = stats.tiling
    tiling += f", batch {stats.batch}" if stats.batch > 1 else ""
    precision = stats.precision
seconds = time.perf_counter() - start
np.save(dst, output.astype(np.float32))
report = {"seconds": seconds, "peak_bytes": PeakTracker().peak(), "tiling": tiling, "precision": precision}
if again == "1" and method not in ("eager", "esrgan"):  # the same call once more: compiled and calibrated
    start = time.perf_counter()
    restorer.restore(noisy)
    report["warm_seconds"] = time.perf_counter() - start
print(json.dumps(report))
"""


def mosaic(height: int, width: int, cell: int = 512) -> np.ndarray:
    """Natural-photo content at full resolution: scikit-image photos (grayscale ones as gray RGB) tiled."""
    photos = []
    for name in PHOTOS:
        photo = np.asarray(getattr(data, name)(), dtype=np.float32) / 255.0
        photo = np.repeat(photo[..., None], 3, axis=2) if photo.ndim == 2 else photo[..., :3]
        photos.append(resize(photo, (cell, cell), anti_aliasing=True).astype(np.float32))
    rows = -(-height // cell)
    cols = -(-width // cell)
    grid = [np.concatenate([photos[(r * cols + c) % len(photos)] for c in range(cols)], axis=1) for r in range(rows)]
    return np.concatenate(grid, axis=0)[:height, :width]


def noisy_pair(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """The clean mosaic and its σ=25 noisy version (fixed seed, unclipped), float32 in [0, 1] scale."""
    clean = mosaic(height, width)
    return clean, clean + np.random.default_rng(0).normal(0.0, 25 / 255, clean.shape).astype(np.float32)


def noisy_mosaic(size: str, folder: Path) -> tuple[int, int, np.ndarray, Path]:
    """For a WIDTHxHEIGHT `size`: width, height, the clean mosaic, and the path of its σ=25 noisy version
    saved as .npy in `folder` for the workers."""
    width, height = (int(v) for v in size.lower().split("x"))
    clean, noisy = noisy_pair(width, height)
    noisy_path = folder / f"noisy-{width}x{height}.npy"
    np.save(noisy_path, noisy)
    return width, height, clean, noisy_path


def limit_memory() -> None:
    """Runs in the worker before exec: an allocation past MEMORY_CAP of RAM fails instead of swapping."""
    cap = int(psutil.virtual_memory().total * MEMORY_CAP)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def measure(
    method: str,
    source: Path,
    noisy: Path,
    output: Path,
    threads: int,
    tile: int | str = "auto",
    pad: int = 10,
    budget: str = "",
    precision: str = "auto",
    again: bool = False,
    cache: Path | None = None,
) -> dict:
    """One run in a fresh process: its numbers (seconds, peak_bytes, tiling, precision), or why it failed.
    `method`: "eager" or "esrgan" (plain PyTorch scripts), or an effrestore backend name. `again`: an
    effrestore method restores the image a second time and reports that as warm_seconds. `cache`: the cache
    folder the worker uses (default: the user's)."""
    arguments = [method, str(source), str(noisy), str(output), str(threads), str(tile), str(pad), budget, precision]
    arguments.append("1" if again else "0")
    result = subprocess.run(
        [sys.executable, "-c", _WORKER, *arguments],
        capture_output=True,
        text=True,
        preexec_fn=limit_memory,
        env={**os.environ, **({"EFFRESTORE_CACHE_DIR": str(cache)} if cache else {})},
    )
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        reason = lines[-1] if lines else f"killed by signal {-result.returncode}"
        if "allocate memory" in reason or "MemoryError" in reason:
            reason = f"out of memory (an allocation past {MEMORY_CAP:.0%} of RAM failed)"
        return {"error": reason[:160]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="2048x2048,3840x2160", help="WIDTHxHEIGHT, comma-separated")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tile", type=int, default=512, help="tile size of the fixed-tile runs")
    parser.add_argument("--tile-pad", type=int, default=10, help="context per side of the Real-ESRGAN tiles")
    parser.add_argument("--mem-budget", default="1GiB", help="budget of the effrestore budgeted run")
    parser.add_argument("--repeats", type=int, default=1, help="rounds over all methods; the median is reported")
    parser.add_argument("--out", type=Path, default=Path("runs/vs_alternatives"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    cache = args.out / "cache"
    entry = zoo.require_entry("denoise-color")
    checkpoint, onnx_model = entry.checkpoint, entry.onnx
    runs = [
        ("eager whole", "eager", checkpoint, {}),
        (f"Real-ESRGAN tiles {args.tile}² (pad {args.tile_pad})", "esrgan", checkpoint, {"tile": args.tile}),
        (f"effrestore torch, tiles {args.tile}²", "torch", checkpoint, {"tile": args.tile}),
        (f"effrestore ORT, tiles {args.tile}²", "onnxruntime", onnx_model, {"tile": args.tile}),
        (f"effrestore ORT, --mem-budget {args.mem_budget}", "onnxruntime", onnx_model, {"budget": args.mem_budget}),
        (f"effrestore default, --mem-budget {args.mem_budget}", "auto", onnx_model, {"budget": args.mem_budget}),
    ]
    print(
        f"denoise-color, σ=25, {args.threads} threads, median of {args.repeats} interleaved round(s); "
        "peak = process VmHWM (max over rounds); Δ whole = max |output − eager whole|"
    )
    print()
    print("| image | method | precision | tiles | seconds | MP/s | peak RSS | PSNR vs clean | Δ whole |")
    print("|---|---|---|---|---|---|---|---|---|")
    crop = args.out / "calibration-crop.npy"
    np.save(crop, noisy_pair(256, 256)[1])
    for method, source in {(method, source) for _, method, source, _ in runs if method not in PLAIN_SCRIPTS}:
        measure(method, source, crop, args.out / "calibration-out.npy", args.threads, cache=cache)
    for size in args.sizes.split(","):
        width, height, clean, noisy_path = noisy_mosaic(size, args.out)
        attempts: list[list[dict]] = [[] for _ in runs]
        for _ in range(args.repeats):  # rounds interleave the methods, so a slow spell hits them all alike
            for index, (_, method, source, options) in enumerate(runs):
                if not any("error" in a for a in attempts[index]):
                    output_path = args.out / f"{index}-{width}x{height}.npy"
                    attempts[index].append(
                        measure(
                            method,
                            source,
                            noisy_path,
                            output_path,
                            args.threads,
                            pad=args.tile_pad,
                            cache=cache,
                            **options,
                        )
                    )
        reference = None
        for index, (label, method, _, _) in enumerate(runs):
            failed = [a["error"] for a in attempts[index] if "error" in a]
            if failed:
                print(f"| {width}×{height} | {label} | – | – | failed: {failed[0]} | – | – | – | – |")
                continue
            output = np.load(args.out / f"{index}-{width}x{height}.npy")
            if method == "eager":
                reference = output
            seconds = statistics.median(a["seconds"] for a in attempts[index])
            peak = max(a["peak_bytes"] for a in attempts[index])
            quality = psnr(clean * 255, np.clip(output, 0, 1) * 255)
            seam = "–" if reference is None else f"{np.abs(output - reference).max():.4f}"
            print(
                f"| {width}×{height} | {label} | {attempts[index][0]['precision']} | {attempts[index][0]['tiling']} "
                f"| {seconds:.1f} "
                f"| {width * height / 1e6 / seconds:.3f} | {format_bytes(peak)} | {quality:.2f} | {seam} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
