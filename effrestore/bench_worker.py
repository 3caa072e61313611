"""One `effrestore bench` cell, run as `python -m effrestore.bench_worker` in a fresh process (so each cell's
peak memory is its own): loads the model, restores a random image `repeats` times, prints one JSON line.
With --profile, the runtime's per-op-type profile of the whole image follows the timed runs."""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from effrestore.errors import ConfigError
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
    parser.add_argument("--profile", action="store_true")
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
    cell = {
        "median_s": statistics.median(times), "peak_bytes": peak, "growth_bytes": peak - base,
        "peak_method": tracker.method, "device": used.device, "backend": used.name, "precision": used.precision,
        "note": used.note,
    }  # fmt: skip
    if args.profile:
        multiple = restorer.meta.multiple_of
        if args.size % multiple:
            raise ConfigError(f"--profile runs the whole image: use sizes that are multiples of {multiple}")
        whole = np.ascontiguousarray(image.transpose(2, 0, 1)[None])
        cell["profile"] = used.op_profile(whole, args.repeats).to_dict()
    print(json.dumps(cell))


if __name__ == "__main__":
    main()
