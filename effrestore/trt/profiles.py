"""Optimisation profiles for the image input: trtexec's `name:NxCxHxW` grammar and the default tile ladder.

An engine accepts only the shapes inside its profiles, so the runtime tiles with exactly the tile sizes the
profiles were built for; the default ladder gives it a few sizes to choose from under a memory budget.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from effrestore.errors import ConfigError
from effrestore.metadata import ModelMeta

Dims = tuple[int, int, int, int]
DEFAULT_TILES = (256, 512, 1024)
_ENTRY = re.compile(r"^\s*(?:'(?P<quoted>[^']+)'|(?P<name>[^:,']+))\s*:\s*(?P<dims>\d+(?:x\d+)*)\s*$")


def parse_shapes(text: str) -> dict[str, tuple[int, ...]]:
    """Parses trtexec's shape grammar: `name:1x3x256x256[,other:...]`; names with ':' or ',' go in quotes."""
    entries: dict[str, tuple[int, ...]] = {}
    for part in _split_entries(text):
        match = _ENTRY.match(part)
        if not match:
            raise ConfigError(
                f"cannot read shape {part!r}; write NAME:NxCxHxW, e.g. input:1x3x256x256 "
                "(quote names that contain ':' or ',': 'my:input':1x3x256x256)"
            )
        name = match.group("quoted") or match.group("name").strip()
        dims = tuple(int(d) for d in match.group("dims").split("x"))
        if any(d <= 0 for d in dims):
            raise ConfigError(f"shape {part!r}: every dimension must be positive")
        if name in entries:
            raise ConfigError(f"shape for {name!r} given twice in {text!r}")
        entries[name] = dims
    if not entries:
        raise ConfigError("empty shape; write NAME:NxCxHxW, e.g. input:1x3x256x256")
    return entries


def _split_entries(text: str) -> list[str]:
    """Splits on commas outside single quotes."""
    parts, current, quoted = [], "", False
    for char in text:
        if char == "'":
            quoted = not quoted
        if char == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    if quoted:
        raise ConfigError(f"unbalanced quote in shape {text!r}")
    parts.append(current)
    return [p for p in parts if p.strip()]


def format_dims(dims: Sequence[int]) -> str:
    return "x".join(str(d) for d in dims)


@dataclass(frozen=True)
class Profile:
    """One optimisation profile of the image input (N×C×H×W at min, opt and max)."""

    min: Dims
    opt: Dims
    max: Dims

    def validate(self, meta: ModelMeta) -> None:
        for label, dims in (("min", self.min), ("opt", self.opt), ("max", self.max)):
            if len(dims) != 4:
                raise ConfigError(f"{label} shape {format_dims(dims)} must have 4 dimensions (NxCxHxW)")
            if dims[1] != meta.in_channels:
                raise ConfigError(
                    f"{label} shape {format_dims(dims)} has {dims[1]} channels; the model reads {meta.in_channels}"
                )
            if dims[2] % meta.multiple_of or dims[3] % meta.multiple_of:
                raise ConfigError(
                    f"{label} shape {format_dims(dims)}: H and W must be multiples of {meta.multiple_of} for this model"
                )
        if not all(a <= b <= c for a, b, c in zip(self.min, self.opt, self.max, strict=True)):
            raise ConfigError(
                f"profile must satisfy min <= opt <= max in every dimension, got min {format_dims(self.min)}, "
                f"opt {format_dims(self.opt)}, max {format_dims(self.max)}"
            )

    @property
    def max_tile(self) -> int:
        """The largest square tile side this profile accepts."""
        return min(self.max[2], self.max[3])

    def to_json(self) -> dict[str, list[int]]:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}

    @classmethod
    def from_json(cls, data: dict[str, list[int]]) -> Profile:
        return cls(*(tuple(int(d) for d in data[k]) for k in ("min", "opt", "max")))  # type: ignore[arg-type]


def tile_ladder(meta: ModelMeta, tiles: Sequence[int] = DEFAULT_TILES, max_batch: int = 1) -> list[Profile]:
    """One profile per tile size: any shape from one `multiple_of` square up to the tile, tuned for the tile."""
    if not tiles:
        raise ConfigError("give at least one tile size")
    if max_batch < 1:
        raise ConfigError(f"max batch must be >= 1, got {max_batch}")
    profiles = []
    for tile in sorted(set(tiles)):
        if tile <= 0 or tile % meta.multiple_of:
            raise ConfigError(f"tile {tile} must be a positive multiple of {meta.multiple_of} for this model")
        c, m = meta.in_channels, meta.multiple_of
        profiles.append(Profile((1, c, m, m), (1, c, tile, tile), (max_batch, c, tile, tile)))
    return profiles


def profile_from_options(
    input_name: str, meta: ModelMeta, min_shape: str | None, opt_shape: str | None, max_shape: str | None
) -> Profile | None:
    """The profile given by --min-shape/--opt-shape/--max-shape (all three, or none for the default ladder)."""
    given = [s for s in (min_shape, opt_shape, max_shape) if s]
    if not given:
        return None
    if len(given) != 3:
        raise ConfigError("give all three of --min-shape, --opt-shape and --max-shape, or none (default ladder)")
    dims = []
    for label, text in (("min", min_shape), ("opt", opt_shape), ("max", max_shape)):
        shapes = parse_shapes(text or "")
        if set(shapes) != {input_name}:
            raise ConfigError(
                f"--{label}-shape names {', '.join(sorted(shapes))}; this model has one input, {input_name!r}"
            )
        dims.append(shapes[input_name])
    profile = Profile(*dims)  # type: ignore[arg-type]
    profile.validate(meta)
    return profile
