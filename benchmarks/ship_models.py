"""Packages trained runs as shipped models: evaluates them against a classical baseline on the validation
photos, exports verified ONNX, and writes effrestore/zoo/<name>.{onnx,safetensors,json}.

Usage: python benchmarks/ship_models.py NAME RUN_DIR VALIDATION_DIR [--baseline nlm|bm3d]
e.g.   python benchmarks/ship_models.py denoise-color runs/denoise-color runs/validation/color
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from effrestore.evaluation import baseline_denoiser, evaluate, load_eval_images
from effrestore.export import export_onnx
from effrestore.models import load_checkpoint
from effrestore.runtime import Restorer

ZOO = Path(__file__).resolve().parents[1] / "effrestore" / "zoo"
SIGMAS = (15.0, 25.0, 50.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name")
    parser.add_argument("run", type=Path)
    parser.add_argument("validation", type=Path)
    parser.add_argument("--baseline", default="nlm")
    args = parser.parse_args()

    checkpoint = args.run / "model.safetensors"
    model = load_checkpoint(checkpoint)
    model.name = args.name
    restorer = Restorer.load(checkpoint, backend="torch", tile="none")
    images = load_eval_images(args.validation, model.config.in_channels)
    methods = {
        args.name: lambda s: restorer.restore,
        args.baseline: lambda s: baseline_denoiser(args.baseline, s),
    }
    results = evaluate(methods, images, SIGMAS, with_ssim=False)
    table = {f"{r.method}@{r.sigma:g}": round(r.psnr, 3) for r in results}
    card = {
        **model.card,
        "name": args.name,
        "validation_set": f"{args.validation.name}: {', '.join(n for n, _ in images)} (scikit-image photos)",
        "validation_psnr": {f"{s:g}": table[f"{args.name}@{s:g}"] for s in SIGMAS},
        "baseline": args.baseline,
        "baseline_psnr": {f"{s:g}": table[f"{args.baseline}@{s:g}"] for s in SIGMAS},
        "attention": list(model.config.attention_per_level),
        "config": model.config.to_dict(),
    }
    model.card = card
    ZOO.mkdir(exist_ok=True)
    report = export_onnx(model, ZOO / f"{args.name}.onnx")
    shutil.copyfile(checkpoint, ZOO / f"{args.name}.safetensors")
    card["onnx_parity"] = [str(c) for c in report.checks]
    (ZOO / f"{args.name}.json").write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps({k: card[k] for k in ("validation_psnr", "baseline_psnr", "onnx_parity")}, indent=2))


if __name__ == "__main__":
    main()
