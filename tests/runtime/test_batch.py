"""The batch module the CLI and the Ray path share: inputs, shards, output names, clash checks, rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from effrestore.errors import ConfigError, ImageError
from effrestore.runtime.batch import (
    FileOptions,
    LoadOptions,
    check_jobs,
    expand_inputs,
    output_for,
    restore_row,
    take_shard,
    unwritable_outputs,
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name in ("a.png", "b.jpg", "c.gif", "a.restored.png"):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_inputs_shards_and_output_names(folder: Path) -> None:
    paths = expand_inputs([str(folder)])
    assert [p.name for p in paths] == ["a.png", "b.jpg"], "earlier outputs and other files left out"
    assert [p.name for p in expand_inputs([str(folder / "*.gif")])] == ["c.gif"]
    shares = [take_shard(paths, f"{i}/2") for i in range(2)]
    assert sorted(shares[0] + shares[1]) == sorted(paths)
    with pytest.raises(ConfigError, match="INDEX/COUNT"):
        take_shard(paths, "1-2")
    assert output_for(folder / "c.gif", None, None, 1).name == "c.restored.png", "GIF is not written: PNG"
    assert output_for(folder / "b.jpg", None, folder / "out", 2) == folder / "out" / "b.jpg"
    with pytest.raises(ConfigError, match="--out-dir"):
        output_for(folder / "a.png", folder / "o.png", None, 2)


def test_clashes_are_refused_and_unwritable_outputs_named(folder: Path) -> None:
    with pytest.raises(ImageError, match="would replace an input"):
        check_jobs([(folder / "a.png", folder / "a.png")])
    with pytest.raises(ImageError, match="would both be written"):
        check_jobs([(folder / "a.png", folder / "o.png"), (folder / "b.jpg", folder / "o.png")])
    refused = unwritable_outputs([(folder / "a.png", folder / "missing" / "a.png")])
    assert next(iter(refused.values())).startswith(f"{folder / 'a.png'}: ")


def test_one_failing_image_is_its_row(models_dir: Path, folder: Path) -> None:
    restorer = LoadOptions(tile="none", threads=1).load(str(models_dir / "conv.onnx"))
    good, error = restore_row(restorer, folder / "a.png", folder / "a.out.png", FileOptions())
    assert error is None and good["width"] == 8 and (folder / "a.out.png").is_file()
    (folder / "broken.png").write_bytes(b"\x89PNG broken")
    bad, error = restore_row(restorer, folder / "broken.png", folder / "b.out.png", FileOptions())
    assert isinstance(error, ImageError) and bad["error"].startswith(str(folder / "broken.png"))
    assert not (folder / "b.out.png").exists()
