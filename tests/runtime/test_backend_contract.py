"""The contract every registered backend keeps, checked on each: the same output as the reference on a tiny
model, batches equal to single tiles, release and close, memory tracking, and input errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from effrestore.errors import ConfigError, InternalError
from effrestore.model_file import suffixes_of
from effrestore.runtime.backends import BACKENDS, choose_backend, open_backend
from effrestore.trt.environment import local_gpus

FILES = {"onnx": "conv.onnx", "checkpoint": "conv.safetensors"}


@pytest.fixture(params=sorted(BACKENDS))
def backend_name(request: pytest.FixtureRequest) -> str:
    spec = BACKENDS[request.param]
    if not any(kind in FILES for kind in spec.kinds):  # engines are built for, and run on, a GPU
        pytest.skip(f"{spec.name} runs {', '.join(spec.kinds)} files: GPU-only (GPUs here: {len(local_gpus())})")
    if not spec.installed:
        pytest.skip(f"{spec.name} is not installed here")
    return spec.name


def _open(models_dir: Path, name: str):  # type: ignore[no-untyped-def]
    kind = next(kind for kind in BACKENDS[name].kinds if kind in FILES)
    return open_backend(models_dir / FILES[kind], name, threads=1)


def _tiles(count: int) -> np.ndarray:
    return np.random.default_rng(0).random((count, 3, 32, 40), np.float32)


def test_same_output_as_the_reference(models_dir: Path, backend_name: str) -> None:
    with open_backend(models_dir / "conv.onnx", "onnxruntime") as reference, _open(models_dir, backend_name) as tested:
        np.testing.assert_allclose(tested.run(_tiles(1)), reference.run(_tiles(1)), atol=1e-4)


def test_a_batch_equals_its_tiles_one_by_one(models_dir: Path, backend_name: str) -> None:
    with _open(models_dir, backend_name) as backend:
        assert backend.max_batch() is None or backend.max_batch() >= 1
        batch = _tiles(3)
        one_by_one = np.concatenate([backend.run(batch[i : i + 1]) for i in range(3)])
        np.testing.assert_allclose(backend.run(batch), one_by_one, atol=1e-5)


def test_release_keeps_it_usable_and_close_ends_it(models_dir: Path, backend_name: str) -> None:
    backend = _open(models_dir, backend_name)
    first = backend.run(_tiles(1))
    assert _tiles(1).shape in backend.ready_shapes()
    backend.release()
    assert not backend.ready_shapes()  # the planner charges the next call its startup again
    np.testing.assert_array_equal(backend.run(_tiles(1)), first)
    with backend:
        pass
    assert backend.closed
    with pytest.raises(InternalError, match="closed"):
        backend.run(_tiles(1))


def test_memory_is_tracked(models_dir: Path, backend_name: str) -> None:
    with _open(models_dir, backend_name) as backend:
        tracker = backend.memory_tracker()
        tracker.reset()
        backend.run(np.zeros((1, 3, 256, 256), np.float32))
        assert tracker.current() > 0 and tracker.peak() >= tracker.current() * 0.5


@pytest.mark.parametrize(
    ("tiles", "problem"),
    [(np.zeros((1, 3, 32, 32), np.float64), "float32"), (np.zeros((1, 1, 32, 32), np.float32), "float32"),
     (np.zeros((3, 32, 32), np.float32), "float32"), (np.zeros((1, 3, 30, 32), np.float32), "multiple")],
)  # fmt: skip
def test_inputs_off_the_contract_are_refused(
    models_dir: Path, backend_name: str, tiles: np.ndarray, problem: str
) -> None:
    with _open(models_dir, backend_name) as backend, pytest.raises(InternalError, match=problem):
        backend.run(tiles)


def test_auto_takes_the_preferred_installed_backend_for_each_kind() -> None:
    for kind in ("onnx", "checkpoint", "engine"):
        able = [s for s in BACKENDS.values() if kind in s.kinds and s.installed]
        assert choose_backend(kind, None) == max(able, key=lambda s: s.priority)
    assert choose_backend("onnx", "cuda:1").name == "onnxruntime", "only ONNX Runtime runs ONNX on CUDA"


def test_a_file_of_another_kind_gets_its_backends_way_out(models_dir: Path) -> None:
    with pytest.raises(ConfigError, match="effrestore build"):
        open_backend(models_dir / "conv.onnx", "tensorrt")
    with pytest.raises(ConfigError, match="runs checkpoints"):
        open_backend(models_dir / "conv.onnx", "torch")
    with pytest.raises(ConfigError, match="runs ONNX models"):
        open_backend(models_dir / "conv.safetensors", "openvino")
    with pytest.raises(ConfigError, match="choose from auto, "):
        open_backend(models_dir / "conv.onnx", "tvm")
    assert suffixes_of("engine") == [".plan", ".engine"]
