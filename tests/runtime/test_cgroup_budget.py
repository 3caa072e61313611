"""The default budget respects a container's memory limit (cgroup v2 and v1), read from fake cgroup trees
laid out as the kernel lays them out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from effrestore.errors import ImageError
from effrestore.runtime import Restorer
from effrestore.runtime.memory import PeakTracker, cgroup_available, current_rss

from .._models import identity_model

GiB = 2**30


def write(folder: Path, **files: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name.replace("_", ".", 1)).write_text(text)


def test_a_cgroup_v2_limit_on_an_ancestor_counts(tmp_path: Path) -> None:
    membership = tmp_path / "cgroup"
    membership.write_text("0::/kubepods/pod1/container\n")
    root = tmp_path / "fs"
    write(root / "kubepods" / "pod1", memory_max=str(2 * GiB), memory_current=str(GiB),
          memory_stat=f"anon 123\ninactive_file {GiB // 4}\n")  # fmt: skip
    write(root / "kubepods" / "pod1" / "container", memory_max="max", memory_current="5", memory_stat="anon 5\n")
    assert cgroup_available(root, membership) == GiB + GiB // 4


def test_a_cgroup_v1_limit_and_no_limit(tmp_path: Path) -> None:
    membership = tmp_path / "cgroup"
    membership.write_text("4:memory:/docker/abc\n3:cpu:/docker/abc\n")
    root = tmp_path / "fs"
    write(root / "memory" / "docker" / "abc", memory_limit_in_bytes=str(3 * GiB),
          memory_usage_in_bytes=str(2 * GiB), memory_stat="cache 10\ntotal_inactive_file 0\n")  # fmt: skip
    assert cgroup_available(root, membership) == GiB
    write(root / "memory" / "docker" / "abc", memory_limit_in_bytes="9223372036854771712")
    assert cgroup_available(root, membership) is None
    assert cgroup_available(tmp_path / "missing", tmp_path / "missing-membership") is None


def test_the_default_budget_is_planned_inside_the_cgroup_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    membership = tmp_path / "cgroup"
    membership.write_text("0::/job\n")
    root = tmp_path / "fs"
    # The limit leaves room for what this (possibly long-lived test worker) process already holds, yet stays far
    # below the host's free memory, so the cgroup is what bounds the budget.
    limit = 4 * max(current_rss(), GiB)
    if limit > PeakTracker().available() * 0.8:
        pytest.skip("the host's free memory is too close to the limit for the cgroup to be what bounds the budget")
    write(root / "job", memory_max=str(limit), memory_current="0", memory_stat="inactive_file 0\n")
    monkeypatch.setattr("effrestore.runtime.memory.CGROUP_ROOT", root)
    monkeypatch.setattr("effrestore.runtime.memory._MEMBERSHIP", membership)
    assert PeakTracker().available() == limit
    restorer = Restorer.load(str(identity_model(tmp_path / "id.onnx")), backend="onnxruntime")
    restorer.restore(np.zeros((64, 64, 3), np.uint8))
    assert restorer.last_stats is not None and restorer.last_stats.budget <= 0.6 * limit


@pytest.mark.parametrize(
    ("shape", "fragment"),
    [((4, 4, 0), "no channels"), ((3, 8, 8), "transpose(1, 2, 0)"), ((0, 8, 3), "empty"), ((16, 16, 7), "split")],
)
def test_odd_array_shapes_get_advice_that_helps(tmp_path: Path, shape: tuple[int, ...], fragment: str) -> None:
    restorer = Restorer.load(str(identity_model(tmp_path / "id.onnx")), backend="onnxruntime")
    with pytest.raises(ImageError, match=r".*" + fragment.replace("(", r"\(").replace(")", r"\)")) as error:
        restorer.restore(np.zeros(shape, np.uint8))
    assert "transpose" not in str(error.value) or fragment.startswith("transpose")
