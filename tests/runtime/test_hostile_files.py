"""Property-based: random bytes and odd-but-valid images and metadata given to the readers end in a typed
effrestore error or a correct result, never another exception, and never leave a file behind."""

from __future__ import annotations

import contextlib
import io
import itertools
import tempfile
from pathlib import Path

import numpy as np
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from effrestore.errors import EffrestoreError
from effrestore.metadata import METADATA_PREFIX, ModelMeta
from effrestore.runtime.io import SUFFIXES, open_source, read_image, write_image

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(data=st.binary(max_size=2048), suffix=st.sampled_from(sorted(SUFFIXES)))
def test_random_bytes_give_a_typed_error_or_an_image(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"x{suffix}"
        path.write_bytes(data)
        try:
            array, _ = read_image(path)
        except EffrestoreError:
            return
        assert array.ndim in (2, 3) and array.dtype in (np.uint8, np.uint16, np.float32)


@FAST
@given(
    height=st.integers(1, 24),
    width=st.integers(1, 24),
    mode=st.sampled_from(["L", "LA", "RGB", "RGBA", "P", "I;16", "1", "CMYK"]),
    suffix=st.sampled_from([".png", ".tif", ".bmp", ".webp", ".jpg"]),
    cut=st.integers(0, 64),
)
def test_odd_images_and_their_truncations(height: int, width: int, mode: str, suffix: str, cut: int) -> None:
    image = Image.new(mode, (width, height))
    buffer = io.BytesIO()
    try:
        image.save(buffer, format={".jpg": "JPEG", ".tif": "TIFF"}.get(suffix, suffix[1:].upper()))
    except (OSError, ValueError, KeyError):
        return  # Pillow cannot write this mode in this format: nothing to read
    data = buffer.getvalue()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"x{suffix}"
        path.write_bytes(data[: len(data) - cut] if cut else data)
        try:
            array, info = read_image(path)
        except EffrestoreError:
            assert cut, "an intact image must be readable"
            return
        assert array.shape[:2] == (height, width)
        with contextlib.suppress(EffrestoreError):  # e.g. a depth the format cannot hold: refused, not narrowed
            write_image(Path(folder) / f"y{suffix}", array, info)
        leftovers = [p.name for p in Path(folder).iterdir() if p.name.startswith(".")]
        assert leftovers == [], "a refused write leaves no partial file"


field_values = st.one_of(
    st.integers(-(2**40), 2**40), st.floats(allow_nan=True), st.text(max_size=8), st.none(), st.booleans(),
    st.lists(st.integers(-3, 3), max_size=3),
)  # fmt: skip


@FAST
@given(
    raw=st.dictionaries(
        st.sampled_from(["scale", "in_channels", "multiple_of", "overlap", "receptive_field", "value_range",
                         "tiling", "attention", "bf16_psnr_delta", "task"]),
        st.one_of(st.text(max_size=12), field_values.map(repr)),
        max_size=4,
    )
)  # fmt: skip
def test_metadata_from_a_file_is_valid_or_refused(raw: dict[str, str]) -> None:
    props = {METADATA_PREFIX + key: value for key, value in raw.items()}
    try:
        meta = ModelMeta.from_props(props, "model.onnx")
    except EffrestoreError as exc:
        assert "effrestore." in str(exc)
        return
    assert 1 <= meta.multiple_of <= 1024 and meta.overlap >= 0 and meta.scale >= 1
    assert meta.value_range[0] < meta.value_range[1]


@FAST
@given(
    height=st.integers(1, 70),
    width=st.integers(1, 70),
    samples=st.sampled_from([1, 3, 4]),
    dtype=st.sampled_from(["uint8", "uint16", "float32"]),
    compression=st.sampled_from([None, "zlib", "lzw", "packbits"]),
    segments=st.one_of(
        st.integers(1, 70).map(lambda rows: ("strips", rows)), st.sampled_from([("tiles", 16), ("tiles", 32)])
    ),
    planar=st.sampled_from(["contig", "separate"]),
    bands=st.lists(st.integers(0, 70), min_size=2, max_size=6),
)  # fmt: skip
def test_tiff_strip_and_tile_layouts_read_by_band_equal_a_whole_read(
    height: int,
    width: int,
    samples: int,
    dtype: str,
    compression: str | None,
    segments: tuple[str, int],
    planar: str,
    bands: list[int],
) -> None:
    pixels = np.random.default_rng(height * width).integers(0, 200, (height, width, samples)).astype(dtype)
    kind, size = segments
    layout = {"tile": (size, size)} if kind == "tiles" else {"rowsperstrip": size}
    photometric = "minisblack" if samples == 1 else "rgb"
    extra = {"extrasamples": ["unassalpha"]} if samples == 4 else {}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.tif"
        stored = pixels[..., 0] if samples == 1 else pixels.transpose(2, 0, 1) if planar == "separate" else pixels
        tifffile.imwrite(
            path, stored, compression=compression, photometric=photometric, planarconfig=planar, **layout, **extra
        )
        source, _, streamed = open_source(path)
        try:
            assert streamed
            cuts = sorted({0, height, *(min(b, height) for b in bands)})
            read = np.concatenate([source.rows(a, b) for a, b in itertools.pairwise(cuts)])
        finally:
            source.close()
    assert read.dtype == pixels.dtype and np.array_equal(read, pixels)


@FAST
@given(
    tag=st.sampled_from([273, 279, 278, 322, 323, 324, 325, 256, 257]),
    value=st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([0, 1, 15, 16, 17, 4096, 2**31])),
    tiled=st.booleans(),
)
def test_tiff_with_a_corrupted_segment_tag_gives_a_typed_error_or_its_declared_image(
    tag: int, value: int, tiled: bool
) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (40, 36, 3), np.uint8)
    layout = {"tile": (16, 16)} if tiled else {"rowsperstrip": 8}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.tif"
        tifffile.imwrite(path, pixels, compression="zlib", photometric="rgb", **layout)
        with tifffile.TiffFile(path, mode="r+b") as tif:
            if tag not in tif.pages.first.tags:
                return
            entry = tif.pages.first.tags[tag]
            count = entry.count
            with contextlib.suppress(Exception):
                entry.overwrite(value if count == 1 else (value,) * count)
        try:
            array, _ = read_image(path, 10_000_000)
        except EffrestoreError:
            return
    assert array.ndim in (2, 3) and array.size > 0
