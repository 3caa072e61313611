"""One `effrestore bench` cell, run as `python -m effrestore.bench_worker` in a fresh process (so each cell's
peak memory is its own): loads the model, restores a random image `repeats` times, prints one JSON line."""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from effrestore.runtime import Restorer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("source", "backend"):
        parser.add_argument(name)
    for name in ("size", "repeats"):
        parser.add_argument(name, type=int)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--tile", type=int)
    parser.add_argument("--mem-budget")
    parser.add_argument("--device")
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args()
    tiling = {"tile": args.tile or "none", "mem_budget": args.mem_budget}
    restorer = Restorer.load(
        args.source, backend=args.backend, device=args.device, threads=args.threads, precision=args.precision, **tiling
    )
    image = np.random.default_rng(0).random((args.size, args.size, restorer.meta.in_channels), dtype=np.float32)
    restorer.restore(image if args.mem_budget else image[:64, :64])  # planning may measure the full size: untimed
    tracker = restorer.backend.memory_tracker()  # process RSS on the CPU, device memory on an accelerator
    base = tracker.current()
    tracker.reset()
    times = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        restorer.restore(image)
        times.append(time.perf_counter() - started)
    peak = tracker.peak()
    used = restorer.backend
    print(json.dumps({
        "median_s": statistics.median(times), "peak_bytes": peak, "growth_bytes": peak - base,
        "peak_method": tracker.method, "device": used.device, "backend": used.name, "precision": used.precision,
        "note": used.note,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
