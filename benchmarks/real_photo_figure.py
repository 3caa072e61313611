"""Writes a side-by-side crop of one real noisy photo: the input, OpenCV's NLM, each named model, and the
clean reference, each panel labelled with its PSNR against the reference (the README's picture).

Usage: python benchmarks/real_photo_figure.py NOISY CLEAN OUT.png --model denoise-color --model denoise-photo
           [--box LEFT,TOP,SIZE] [--zoom 2]
e.g.   python benchmarks/real_photo_figure.py \\
           ../shared/data/polyu/cropped/Canon5D2_5_160_6400_bicycle_10_real.JPG \\
           ../shared/data/polyu/cropped/Canon5D2_5_160_6400_bicycle_10_mean.JPG \\
           samples/real-photo-polyu.png --model denoise-color --model denoise-photo   # the README's picture
The models restore the whole photo and the panel is cut from the result, so tile borders play no part.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from effrestore.evaluation import RealNoise, baseline_method
from effrestore.quality import psnr
from effrestore.runtime import Restorer
from effrestore.runtime.io import read_image

LABEL_HEIGHT = 14


def panel(image: np.ndarray, label: str, box: tuple[int, int, int], zoom: int) -> Image.Image:
    """The `box` crop of `image` (uint8), enlarged `zoom`× by pixel repetition, with `label` on a bar above."""
    left, top, size = box
    crop = Image.fromarray(image[top : top + size, left : left + size]).resize(
        (size * zoom, size * zoom), Image.NEAREST
    )
    framed = Image.new("RGB", (crop.width, crop.height + LABEL_HEIGHT), "white")
    framed.paste(crop, (0, LABEL_HEIGHT))
    ImageDraw.Draw(framed).text((3, 1), label, fill="black")
    return framed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("noisy", type=Path)
    parser.add_argument("clean", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--model", action="append", default=[], help="zoo name or model file (repeatable)")
    parser.add_argument("--box", default="20,40,180", help="LEFT,TOP,SIZE of the crop (pixels)")
    parser.add_argument("--zoom", type=int, default=2)
    args = parser.parse_args()
    left, top, size = (int(v) for v in args.box.split(","))
    noisy, clean = (read_image(path)[0] for path in (args.noisy, args.clean))
    nlm = baseline_method("opencv-nlm-3", RealNoise({}))
    results = [("noisy input", noisy), ("OpenCV NLM h=3", np.round(nlm(noisy / 255.0) * 255).astype(np.uint8))]
    results += [(name, Restorer.load(name, threads=2).restore(noisy)) for name in args.model]
    panels = [
        panel(image, f"{label}  {psnr(clean, image):.2f} dB", (left, top, size), args.zoom) for label, image in results
    ]
    panels.append(panel(clean, "reference (mean of many shots)", (left, top, size), args.zoom))
    sheet = Image.new("RGB", (sum(p.width for p in panels) + 4 * (len(panels) - 1), panels[0].height), "white")
    x = 0
    for image in panels:
        sheet.paste(image, (x, 0))
        x += image.width + 4
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, optimize=True)
    print(f"wrote {args.out} ({sheet.width}×{sheet.height})")


if __name__ == "__main__":
    main()
