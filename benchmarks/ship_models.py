"""Packages trained runs as shipped models: evaluates them against a classical baseline on the validation
photos, exports verified ONNX, and writes effrestore/zoo/<name>.{onnx,safetensors,json}.

Usage: python benchmarks/ship_models.py NAME RUN_DIR VALIDATION_DIR [--baseline nlm|bm3d|bicubic|lanczos]
e.g.   python benchmarks/ship_models.py denoise-color runs/denoise-color runs/validation/color --baseline bm3d
       python benchmarks/ship_models.py sr-x2 runs/sr-x2 runs/validation/color --baseline bicubic
       python benchmarks/ship_models.py denoise-color-hq runs/denoise-gray-l2 runs/validation/color \
           --baseline bm3d --opponent-color    # a grayscale model's weights on each opponent colour plane
       python benchmarks/ship_models.py denoise-photo runs/denoise-photo runs/validation/color --baseline bm3d \
           --pairs ../shared/data/polyu/cropped  # real noise: scored on real pairs beside the classical methods
Denoisers are scored at sigma 15/25/50, and at sigma 0 (the clean photo: how much of it comes back unchanged),
super-resolution models at their own scale (see effrestore.evaluation). With --pairs, a denoiser is also
scored on real noisy/clean pairs, beside the input and the real-noise baselines in the same run; the pairs are
for measuring only, never for training.
Where OpenVINO computes bf16 it also measures and stores the model's bf16 record (see record_bf16.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

from record_bf16 import record as record_bf16

from effrestore.errors import BackendUnavailableError
from effrestore.evaluation import (
    BASELINES,
    Noise,
    baseline_method,
    evaluate,
    load_eval_images,
    load_pairs,
    standard_conditions,
)
from effrestore.export import export_onnx
from effrestore.models import load_checkpoint, save_checkpoint
from effrestore.models.backbones import Restormer
from effrestore.models.training import with_lineage
from effrestore.runtime import Restorer

ZOO = Path(__file__).resolve().parents[1] / "effrestore" / "zoo"


def portable(card: dict) -> dict:
    """The card without machine-local paths: data folders and the --init checkpoint by name only."""
    config = dict(card["train_config"])
    config["data"] = [Path(folder).name for folder in config["data"]]
    config["init"] = Path(config["init"]).name if config.get("init") else None
    return {**card, "train_config": config}


def on_opponent_planes(gray: Restormer) -> Restormer:
    """An RGB model running `gray`'s network and weights on each opponent colour plane (no colour training)."""
    config = dataclasses.replace(gray.config, in_channels=3, out_channels=3, opponent_color=True)
    color = Restormer(config, name=gray.name, card=gray.card)
    color.load_state_dict(gray.state_dict())
    color.card["weights"] = (
        "a grayscale model's network and weights, run on each plane of the opponent colour transform "
        "(opponent_color); no colour training"
    )
    return color


def real_noise_record(name: str, restorer: Restorer, folder: Path, baselines: list[str]) -> dict:
    """PSNR on real pairs for the model and, in the same run, the input and the real-noise baselines."""
    images, condition = load_pairs(folder, 3)
    methods = {name: lambda c: restorer.restore}
    methods.update({b: (lambda c, b=b: baseline_method(b, c)) for b in baselines})
    results = evaluate(methods, images, [condition], with_ssim=False)
    return {
        "pairs": f"{folder.parent.name}/{folder.name} ({len(images)} pairs; validation only, never trained on)",
        "psnr": {r.method: round(r.psnr, 3) for r in results},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name")
    parser.add_argument("run", type=Path)
    parser.add_argument("validation", type=Path)
    parser.add_argument("--baseline", help="default: nlm for denoisers, bicubic for super-resolution")
    parser.add_argument("--opponent-color", action="store_true", help="ship a grayscale run for RGB images")
    parser.add_argument("--pairs", type=Path, help="real noisy/clean pairs to score a denoiser on (as eval --pairs)")
    parser.add_argument(
        "--pair-baselines",
        default=",".join(BASELINES["real"]),
        help="comma-separated methods run beside the model on --pairs (default: all; bm3d takes ~40 s a 512² pair)",
    )
    args = parser.parse_args()

    checkpoint = args.run / "model.safetensors"
    model = load_checkpoint(checkpoint)
    scratch = tempfile.TemporaryDirectory()
    if args.opponent_color:
        model = on_opponent_planes(model)
        checkpoint = save_checkpoint(model, Path(scratch.name) / "model.safetensors")  # what Restorer loads
    model.name = args.name
    restorer = Restorer.load(checkpoint, backend="torch", tile="none")
    scratch.cleanup()
    images = load_eval_images(args.validation, model.config.in_channels)
    scale = model.config.scale
    conditions = standard_conditions(scale)
    baseline = args.baseline or ("nlm" if scale == 1 else "bicubic")
    methods = {args.name: lambda c: restorer.restore, baseline: lambda c: baseline_method(baseline, c)}
    results = evaluate(methods, images, conditions, with_ssim=False)
    table = {(r.method, r.condition.label): round(r.psnr, 3) for r in results}
    extra = {}
    if scale == 1:
        (unchanged,) = evaluate({args.name: lambda c: restorer.restore}, images, [Noise(0.0)], with_ssim=False)
        extra["clean_input_psnr"] = round(unchanged.psnr, 3)  # output against the clean input itself
    if args.pairs is not None:
        extra["real_noise"] = real_noise_record(args.name, restorer, args.pairs, args.pair_baselines.split(","))
    card = {
        **portable(with_lineage(model.card)),
        "name": args.name,
        "validation_set": f"{args.validation.name}: {', '.join(n for n, _ in images)} (scikit-image photos)",
        "validation_psnr": {c.label: table[args.name, c.label] for c in conditions},
        "baseline": baseline,
        "baseline_psnr": {c.label: table[baseline, c.label] for c in conditions},
        **extra,
        "attention": list(model.config.attention_per_level),
        "config": model.config.to_dict(),
    }
    model.card = card
    ZOO.mkdir(exist_ok=True)
    report = export_onnx(model, ZOO / f"{args.name}.onnx", overwrite=True)
    card["onnx_parity"] = [str(c) for c in report.checks]
    save_checkpoint(model, ZOO / f"{args.name}.safetensors")  # its header carries the same card
    (ZOO / f"{args.name}.json").write_text(json.dumps(card, indent=2) + "\n")
    shown = ("validation_psnr", "baseline_psnr", "clean_input_psnr", "real_noise", "onnx_parity")
    print(json.dumps({k: card[k] for k in shown if k in card}, indent=2))
    try:
        print(f"bf16 PSNR change (worst condition): {record_bf16(args.name, args.validation).delta:+.3f} dB")
    except BackendUnavailableError as exc:
        print(f"no bf16 record: {exc}; run benchmarks/record_bf16.py on a CPU with bf16")


if __name__ == "__main__":
    main()
