"""Measures and stores the bf16 record of shipped models: bf16 minus fp32 validation PSNR (OpenVINO, whole
images, worst condition), written into the model's ONNX metadata, its safetensors card and its JSON card.
Needs a CPU where OpenVINO compiles bf16 kernels (native bf16, or emulated, e.g. on AVX512);
`--precision auto` runs a model in bf16 only when this record allows it.

Usage: python benchmarks/record_bf16.py VALIDATION_DIR NAME [NAME ...]
e.g.   python benchmarks/record_bf16.py runs/validation/color denoise-color sr-x2 denoise-color-hq
       python benchmarks/record_bf16.py runs/validation/gray denoise-gray
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from effrestore._atomic import atomic_path
from effrestore.bf16_record import Bf16Record, measure_bf16_record, write_bf16_record
from effrestore.evaluation import load_eval_images
from effrestore.models import load_checkpoint, save_checkpoint

ZOO = Path(__file__).resolve().parents[1] / "effrestore" / "zoo"


def record(name: str, validation: Path) -> Bf16Record:
    """Measures zoo model `name` on `validation` and writes the record into its three files."""
    checkpoint = ZOO / f"{name}.safetensors"
    model = load_checkpoint(checkpoint)
    images = load_eval_images(validation, model.config.in_channels)
    measured = measure_bf16_record(ZOO / f"{name}.onnx", images)
    write_bf16_record(ZOO / f"{name}.onnx", measured.delta)
    fields = {
        "bf16_psnr_delta": measured.delta,
        "bf16_validation_psnr": measured.bf16_psnr,
        "bf16_measured_on": measured.measured_on,
    }
    model.card.update(fields)
    save_checkpoint(model, checkpoint)
    card_path = ZOO / f"{name}.json"
    card = {**json.loads(card_path.read_text()), **fields}
    with atomic_path(card_path) as partial:
        partial.write_text(json.dumps(card, indent=2) + "\n")
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("validation", type=Path)
    parser.add_argument("names", nargs="+")
    args = parser.parse_args()
    print("| model | condition | fp32 PSNR | bf16 PSNR | change |")
    print("|---|---|---|---|---|")
    for name in args.names:
        measured = record(name, args.validation)
        for label, fp32 in measured.fp32_psnr.items():
            bf16 = measured.bf16_psnr[label]
            print(f"| {name} | {label} | {fp32:.3f} | {bf16:.3f} | {bf16 - fp32:+.3f} |", flush=True)
    print(f"measured on {measured.measured_on}")


if __name__ == "__main__":
    main()
