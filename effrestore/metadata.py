"""The model contract that travels checkpoint -> ONNX `metadata_props` -> engine manifest.

Torch-free on purpose: the runtime reads it from ONNX files without importing torch.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Literal

Tiling = Literal["supported", "discouraged"]
METADATA_PREFIX = "effrestore."


@dataclass(frozen=True)
class ModelMeta:
    """What a runner must know to feed a model correctly.

    Attributes:
        task: "denoise", "super-resolution", "deblur" or "restore" (generic).
        scale: output pixels per input pixel along each axis (1 for denoising).
        in_channels: channels the model reads (1 gray, 3 RGB).
        out_channels: channels it writes.
        multiple_of: H and W of the input must be multiples of this (pad, run, crop).
        overlap: recommended per-side tile overlap in input pixels (covers the local receptive field).
        receptive_field: receptive-field radius in input pixels, or None when unbounded (global attention).
        attention: attention kind per level (4 entries for the Restormer backbone).
        value_range: the value range of input and output, normally (0.0, 1.0).
        tiling: "supported" when tiles give the same result as the whole image, "discouraged" when a
            global operation sees only its tile.
        training_data: free text: what the weights were trained on ("" when untrained).
        name: registry name or a user label.
        version: the effrestore version that wrote the model.
        bf16_psnr_delta: validation PSNR of bf16 inference minus fp32 (dB), measured when the model was
            shipped, or None when never measured (then `--precision auto` runs fp32).
    """

    task: str = "restore"
    scale: int = 1
    in_channels: int = 3
    out_channels: int = 3
    multiple_of: int = 8
    overlap: int = 32
    receptive_field: int | None = None
    attention: tuple[str, ...] = ()
    value_range: tuple[float, float] = (0.0, 1.0)
    tiling: Tiling = "discouraged"
    training_data: str = ""
    name: str = ""
    version: str = ""
    bf16_psnr_delta: float | None = None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelMeta:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelMeta:
        """Builds from a dict, ignoring unknown keys (files from newer versions) and fixing tuple fields."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("attention", "value_range"):
            if key in values and values[key] is not None:
                values[key] = tuple(values[key])
        return cls(**values)

    def to_props(self) -> dict[str, str]:
        """Flat `effrestore.<field>` string properties (for ONNX `metadata_props`)."""
        return {
            METADATA_PREFIX + k: json.dumps(v) if not isinstance(v, str) else v
            for k, v in dataclasses.asdict(self).items()
        }

    @classmethod
    def from_props(cls, props: dict[str, str]) -> ModelMeta:
        """Inverse of `to_props`; ignores keys without the `effrestore.` prefix."""
        data: dict[str, Any] = {}
        fields = {f.name: f.type for f in dataclasses.fields(cls)}
        for key, value in props.items():
            field = key[len(METADATA_PREFIX) :]
            if not key.startswith(METADATA_PREFIX) or field not in fields:
                continue
            data[field] = value if fields[field] in ("str", "Tiling") else json.loads(value)
        return cls.from_dict(data)
