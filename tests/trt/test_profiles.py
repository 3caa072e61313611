"""Shape profiles: trtexec's NAME:NxCxHxW grammar, the default tile ladder, and validation."""

from __future__ import annotations

import pytest

from effrestore.errors import ConfigError
from effrestore.metadata import ModelMeta
from effrestore.trt.profiles import Profile, format_dims, parse_shapes, profile_from_options, tile_ladder

META = ModelMeta(in_channels=3, multiple_of=8)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("input:1x3x256x256", {"input": (1, 3, 256, 256)}),
        (" input : 2x3x64x128 ", {"input": (2, 3, 64, 128)}),
        ("a:1x3x8x8,b:4", {"a": (1, 3, 8, 8), "b": (4,)}),
        ("'in:put,0':1x3x8x8", {"in:put,0": (1, 3, 8, 8)}),
    ],
)
def test_parse_shapes_valid(text: str, expected: dict) -> None:
    assert parse_shapes(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("input", "cannot read shape"),
        ("input:1x3xHx256", "cannot read shape"),
        ("input:1x3x0x256", "must be positive"),
        ("input:1x3x8x8,input:1x3x16x16", "given twice"),
        ("'input:1x3x8x8", "unbalanced quote"),
        ("", "empty shape"),
        ("input:1x3x8x8x", "cannot read shape"),
    ],
)
def test_parse_shapes_invalid(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_shapes(text)


def test_tile_ladder() -> None:
    ladder = tile_ladder(META, (512, 256, 512), max_batch=2)
    assert [p.max_tile for p in ladder] == [256, 512]
    assert ladder[0] == Profile((1, 3, 8, 8), (1, 3, 256, 256), (2, 3, 256, 256))
    for profile in ladder:
        profile.validate(META)
    with pytest.raises(ConfigError, match="multiple of 8"):
        tile_ladder(META, (100,))
    with pytest.raises(ConfigError, match="at least one"):
        tile_ladder(META, ())
    with pytest.raises(ConfigError, match="max batch"):
        tile_ladder(META, (256,), max_batch=0)


def test_profile_from_options() -> None:
    assert profile_from_options("input", META, None, None, None) is None
    profile = profile_from_options("input", META, "input:1x3x64x64", "input:1x3x256x256", "input:2x3x512x512")
    assert profile == Profile((1, 3, 64, 64), (1, 3, 256, 256), (2, 3, 512, 512))
    assert format_dims(profile.max) == "2x3x512x512"
    cases = [
        (("input:1x3x64x64", None, "input:1x3x64x64"), "all three"),
        (("image:1x3x64x64",) * 3, "one input, 'input'"),
        (("input:1x3x512x512", "input:1x3x256x256", "input:1x3x512x512"), "min <= opt <= max"),
        (("input:1x3x60x64", "input:1x3x256x256", "input:1x3x512x512"), "multiples of 8"),
        (("input:1x1x64x64", "input:1x1x256x256", "input:1x1x512x512"), "reads 3"),
        (("input:1x3x64", "input:1x3x256", "input:1x3x512"), "4 dimensions"),
    ]
    for (low, opt, high), message in cases:
        with pytest.raises(ConfigError, match=message):
            profile_from_options("input", META, low, opt, high)
