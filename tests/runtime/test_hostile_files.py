"""Property-based: random bytes and odd-but-valid images and metadata given to the readers end in a typed
effrestore error or a correct result, never another exception, and never leave a file behind."""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from effrestore.errors import EffrestoreError
from effrestore.metadata import METADATA_PREFIX, ModelMeta
from effrestore.runtime.io import SUFFIXES, read_image, write_image

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
