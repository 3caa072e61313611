"""Files as cameras and phones write them: JPEGs with an embedded preview (MPO), HEIC and AVIF."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from effrestore.errors import ImageError
from effrestore.runtime.io import EMBEDDED_PREVIEW, read_image

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "coffee-noisy25.png"
LARGE_THUMBNAIL_FULL_HD = 0x010002


def write_mpo(path: Path, second_type: int) -> np.ndarray:
    """An MPO file as a camera writes one: the photo, then a second JPEG whose MP type is `second_type`
    (Pillow writes it as "Undefined"; the type is set in the MP entry afterwards)."""
    photo = Image.open(SAMPLE).convert("RGB").crop((0, 0, 96, 64))
    preview = photo.resize((48, 32))
    photo.save(path, format="MPO", save_all=True, append_images=[preview], quality=95)
    with Image.open(path) as written:
        first_size = written.mpinfo[0xB002][0]["Size"]
    data = bytearray(path.read_bytes())
    first_entry = data.index(struct.pack("<LLL", 0x030000, first_size, 0))
    struct.pack_into("<L", data, first_entry + 16, second_type)
    path.write_bytes(bytes(data))
    return np.asarray(Image.open(path).convert("RGB"))


def test_a_camera_preview_is_not_a_second_image(tmp_path: Path) -> None:
    photo = write_mpo(tmp_path / "DSC_0001.JPG", LARGE_THUMBNAIL_FULL_HD)
    array, info = read_image(tmp_path / "DSC_0001.JPG")
    np.testing.assert_array_equal(array, photo)
    assert info.previews == 1

    def run(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "effrestore", "run", str(tmp_path / "DSC_0001.JPG"), "-o", str(out)]
        return subprocess.run([*command, *args], capture_output=True, text=True, timeout=600)

    told = run(tmp_path / "told.png")
    assert told.returncode == 0, told.stderr
    assert "embedded preview" in told.stderr and "was not kept" in told.stderr
    out = tmp_path / "restored.jpg"
    done = run(out, "--json")
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)
    assert EMBEDDED_PREVIEW in row["dropped_metadata"]
    with Image.open(out) as restored:
        assert restored.size == (96, 64) and getattr(restored, "n_frames", 1) == 1


@pytest.mark.parametrize("second_type", [0x000000, 0x020002], ids=["undefined", "stereo-disparity"])
def test_an_mpo_of_two_real_images_is_still_refused(tmp_path: Path, second_type: int) -> None:
    write_mpo(tmp_path / "pair.mpo", second_type)
    with pytest.raises(ImageError, match="holds 2 frames"):
        read_image(tmp_path / "pair.mpo")
    array, _ = read_image(tmp_path / "pair.mpo", first_frame=True)
    assert array.shape == (64, 96, 3)


@pytest.mark.parametrize("suffix", [".heic", ".avif"])
def test_phone_formats_read_upright_and_written_back_with_their_metadata(tmp_path: Path, suffix: str) -> None:
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: shown rotated by 90°
    exif[0x010F] = "PhoneMaker"
    photo = Image.open(SAMPLE).convert("RGB").crop((0, 0, 72, 48))
    photo.save(tmp_path / f"IMG_0001{suffix}", quality=95, exif=exif.tobytes(), icc_profile=icc)
    array, _ = read_image(tmp_path / f"IMG_0001{suffix}")
    assert array.shape == (72, 48, 3), "EXIF orientation applied, as for JPEG"
    out = tmp_path / f"restored{suffix}"
    done = subprocess.run(
        [sys.executable, "-m", "effrestore", "run", str(tmp_path / f"IMG_0001{suffix}"), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    with Image.open(out) as restored:
        assert restored.format == {".heic": "HEIF", ".avif": "AVIF"}[suffix]
        assert restored.info.get("icc_profile") == icc
        assert restored.getexif().get(0x010F) == "PhoneMaker"
    again, _ = read_image(out)
    assert again.shape == (72, 48, 3), "written upright, not rotated a second time"


def test_phone_formats_refuse_what_they_cannot_hold(tmp_path: Path) -> None:
    from effrestore.runtime.formats import check_storable

    with pytest.raises(ImageError, match=r"HEIF cannot hold 16-bit samples; write .npy, .png, .tif"):
        check_storable(tmp_path / "x.heic", np.dtype(np.uint16), 3)
    with pytest.raises(ImageError, match="AVIF cannot hold gray with alpha"):
        check_storable(tmp_path / "x.avif", np.dtype(np.uint8), 2)
