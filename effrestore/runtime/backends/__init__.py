"""Backends: one file each, behind the small `Backend` interface. Imports are lazy (no torch at import)."""

from __future__ import annotations

from pathlib import Path

from effrestore.errors import BackendUnavailableError, ConfigError
from effrestore.metadata import ModelMeta
from effrestore.runtime.backends.base import Backend

CHECKPOINT_SUFFIXES = {".safetensors", ".pth", ".pt", ".ckpt"}
BACKENDS = ("auto", "onnxruntime", "torch", "tensorrt")


def open_backend(
    path: Path, backend: str, device: str | None, threads: int | None, meta: ModelMeta | None = None
) -> Backend:
    """The backend for a model file; "auto" picks ONNX Runtime for .onnx, TensorRT for .plan and torch for
    checkpoints."""
    suffix = path.suffix.lower()
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if suffix == ".plan" or backend == "tensorrt":
        if suffix != ".plan":
            raise BackendUnavailableError(
                f"{path}: the TensorRT backend runs engines; build one with `effrestore build {path} -o "
                f"{path.with_suffix('.plan')}`, or run this file with --backend onnxruntime"
            )
        from effrestore.runtime.backends.tensorrt import TensorRTBackend

        return TensorRTBackend(path, device)
    if backend == "auto":
        backend = "torch" if suffix in CHECKPOINT_SUFFIXES else "onnxruntime"
    if backend == "onnxruntime":
        if suffix != ".onnx":
            raise ConfigError(f"{path}: the onnxruntime backend runs .onnx files; export it with `effrestore export`")
        from effrestore.runtime.backends.onnxruntime import OnnxRuntimeBackend

        return OnnxRuntimeBackend(path, device or "cpu", threads, meta)
    if suffix not in CHECKPOINT_SUFFIXES:
        raise ConfigError(f"{path}: the torch backend runs checkpoints (.safetensors/.pth), not {suffix}")
    from effrestore.runtime.backends.pytorch import TorchBackend

    return TorchBackend(path, device or "cpu", threads)


__all__ = ["BACKENDS", "Backend", "open_backend"]
