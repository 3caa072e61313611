"""The model contract that travels checkpoint -> ONNX `metadata_props` -> engine manifest.

Torch-free on purpose: the runtime reads it from ONNX files without importing torch.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any, Literal, get_args

from effrestore.errors import ModelMetadataError

Tiling = Literal["supported", "discouraged"]
METADATA_PREFIX = "effrestore."
# (smallest, largest) of each integer field: wider values are typos or forgeries that would break tiling
INT_RANGES = {
    "scale": (1, 16),
    "in_channels": (1, 3),
    "out_channels": (1, 3),
    "multiple_of": (1, 1024),
    "overlap": (0, 4096),
    "receptive_field": (0, 1 << 20),
}


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

    def __post_init__(self) -> None:
        """Validates every field: metadata comes from files, and a forged `overlap=-100` or `multiple_of=0`
        would otherwise blank tiles or divide by zero far from where the value was read."""
        for name, (low, high) in INT_RANGES.items():
            value = getattr(self, name)
            if value is None and name == "receptive_field":
                continue
            if not _is_int(value) or not low <= value <= high:
                _bad(name, value, f"an integer in {low}..{high}")
        for name in ("task", "training_data", "name", "version"):
            if not isinstance(getattr(self, name), str):
                _bad(name, getattr(self, name), "a string")
        if self.tiling not in get_args(Tiling):
            _bad("tiling", self.tiling, " or ".join(map(repr, get_args(Tiling))))
        if not isinstance(self.attention, tuple) or not all(isinstance(a, str) for a in self.attention):
            _bad("attention", self.attention, "a list of attention kind names")
        low_high = self.value_range
        if not (isinstance(low_high, tuple) and len(low_high) == 2 and all(_is_finite(v) for v in low_high)) or (
            low_high[0] >= low_high[1]
        ):
            _bad("value_range", low_high, "two finite numbers [low, high] with low < high")
        if self.bf16_psnr_delta is not None and not _is_finite(self.bf16_psnr_delta):
            _bad("bf16_psnr_delta", self.bf16_psnr_delta, "a finite number of dB or null")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelMeta:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelMeta:
        """Builds from a dict, ignoring unknown keys (files from newer versions) and fixing tuple fields."""
        if not isinstance(data, dict):
            raise ModelMetadataError(f"model metadata must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("attention", "value_range"):
            if isinstance(values.get(key), list):
                values[key] = tuple(values[key])
        return cls(**values)

    def to_props(self) -> dict[str, str]:
        """Flat `effrestore.<field>` string properties (for ONNX `metadata_props`)."""
        return {
            METADATA_PREFIX + k: json.dumps(v) if not isinstance(v, str) else v
            for k, v in dataclasses.asdict(self).items()
        }

    @classmethod
    def from_props(cls, props: dict[str, str], source: object = None) -> ModelMeta:
        """Inverse of `to_props`; ignores keys without the `effrestore.` prefix. `source` (the file) prefixes
        the message of a bad field."""
        try:
            return cls._from_props(props)
        except ModelMetadataError as exc:
            raise ModelMetadataError(f"{source}: {exc}" if source is not None else str(exc)) from None

    @classmethod
    def _from_props(cls, props: dict[str, str]) -> ModelMeta:
        data: dict[str, Any] = {}
        fields = {f.name: f.type for f in dataclasses.fields(cls)}
        for key, value in props.items():
            field = key[len(METADATA_PREFIX) :]
            if not key.startswith(METADATA_PREFIX) or field not in fields:
                continue
            try:
                data[field] = value if fields[field] in ("str", "Tiling") else json.loads(value)
            except json.JSONDecodeError:
                _bad(field, value, "JSON of the field's type")
        return cls.from_dict(data)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _bad(name: str, value: object, expected: str) -> None:
    raise ModelMetadataError(
        f"model metadata field effrestore.{name} is {value!r}, expected {expected}; re-export the model with "
        "`effrestore export`, or pass a corrected meta=ModelMeta(...) to Restorer.load"
    )
