"""torch on the CPU, NCHW vs channels-last (NHWC): one inference and one training step of a restoration
network, the two layouts measured interleaved in one process, medians of `--repeats` after one warm-up each.
Weights are random: timing does not depend on their values. Prints a Markdown table.

Usage: python benchmarks/torch_layout.py [--model restormer-xs] [--attention glmha] [--threads 2] [--repeats 5]
       [--size 512] [--batch 6] [--crop 128]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from effrestore.models import build_model
from effrestore.runtime.cache import machine_id

LAYOUTS = {"NCHW": torch.contiguous_format, "channels-last": torch.channels_last}


def seconds(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def interleaved_medians(works: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds of each work, one warm-up call each, then the works in turn `repeats` times."""
    for work in works.values():
        work()
    times: dict[str, list[float]] = {name: [] for name in works}
    for _ in range(repeats):
        for name, work in works.items():
            times[name].append(seconds(work))
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="restormer-xs")
    parser.add_argument("--attention", default="glmha")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=512, help="inference image side")
    parser.add_argument("--batch", type=int, default=6, help="training batch")
    parser.add_argument("--crop", type=int, default=128, help="training crop side")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    models = {name: build_model(args.model, attention=args.attention) for name in LAYOUTS}
    for name, layout in LAYOUTS.items():
        models[name].to(memory_format=layout)
    first = next(iter(models.values()))
    for model in models.values():
        model.load_state_dict(first.state_dict())
    image = torch.rand(1, 3, args.size, args.size)
    batch = torch.rand(args.batch, 3, args.crop, args.crop)

    def inference(name: str) -> Callable[[], object]:
        model, x = models[name].eval(), image.contiguous(memory_format=LAYOUTS[name])
        return lambda: model(x)

    def training_step(name: str) -> Callable[[], object]:
        model, x = models[name], batch.contiguous(memory_format=LAYOUTS[name])
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)

        def step() -> None:
            model.train()
            loss = (model(x) - x).square().mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        return step

    print(f"{machine_id()}, torch {torch.__version__}, {args.threads} threads, {args.model} {args.attention}\n")
    print("| work | NCHW s | channels-last s | speed-up |")
    print("|---|---|---|---|")
    with torch.inference_mode():
        infer = interleaved_medians({name: inference(name) for name in LAYOUTS}, args.repeats)
    train = interleaved_medians({name: training_step(name) for name in LAYOUTS}, args.repeats)
    for label, result in ((f"inference {args.size}²", infer), (f"training step {args.batch}×{args.crop}²", train)):
        nchw, nhwc = result["NCHW"], result["channels-last"]
        print(f"| {label} | {nchw:.2f} | {nhwc:.2f} | {nchw / nhwc:.2f}× |")


if __name__ == "__main__":
    main()
