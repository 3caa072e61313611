"""Writes the validation sets used in the README tables: photos bundled with scikit-image, none of which
is in any training set. Run: python benchmarks/make_validation_sets.py OUT_DIR

OUT_DIR/color: astronaut, chelsea, coffee, rocket, hubble_deep_field, immunohistochemistry (RGB)
OUT_DIR/gray:  camera, moon, coins, brick, grass, gravel, clock, and the colour photos' luminance
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

COLOR = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry")
GRAY = ("camera", "moon", "coins", "brick", "grass", "gravel", "clock")


def main(out: Path) -> None:
    (out / "color").mkdir(parents=True, exist_ok=True)
    (out / "gray").mkdir(parents=True, exist_ok=True)
    for name in COLOR:
        image = np.asarray(getattr(data, name)())[..., :3]
        Image.fromarray(image).save(out / "color" / f"{name}.png")
        Image.fromarray(image).convert("L").save(out / "gray" / f"{name}_luma.png")
    for name in GRAY:
        Image.fromarray(np.asarray(getattr(data, name)())).save(out / "gray" / f"{name}.png")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/validation"))
