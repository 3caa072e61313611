"""Backends: one file each, behind the small `Backend` interface. Imports are lazy (no torch at import)."""

from __future__ import annotations

import importlib.util
import shlex
from pathlib import Path

from effrestore.errors import BackendUnavailableError, ConfigError
from effrestore.metadata import ModelMeta
from effrestore.onnx_files import external_data_files
from effrestore.runtime.backends.base import Backend

CHECKPOINT_SUFFIXES = {".safetensors", ".pth", ".pt", ".ckpt"}
BACKENDS = ("auto", "onnxruntime", "openvino", "torch", "tensorrt")


def openvino_installed() -> bool:
    """Whether `import openvino` would work (False when it is missing or blocked)."""
    try:
        return importlib.util.find_spec("openvino") is not None
    except (ImportError, ValueError):  # ValueError: sys.modules["openvino"] is None
        return False


def auto_backend(suffix: str, device: str | None) -> str:
    """The fastest installed backend for a file: OpenVINO for ONNX on the CPU (about 2× ONNX Runtime on
    the shipped models), ONNX Runtime for ONNX elsewhere, TensorRT for engines, torch for checkpoints."""
    if suffix == ".plan":
        return "tensorrt"
    if suffix in CHECKPOINT_SUFFIXES:
        return "torch"
    return "openvino" if device in (None, "cpu") and openvino_installed() else "onnxruntime"


def open_backend(
    path: Path,
    backend: str,
    device: str | None,
    threads: int | None,
    meta: ModelMeta | None = None,
    precision: str = "auto",
) -> Backend:
    """The backend for a model file at a `--precision` (auto, fp32 or bf16; see `runtime.precision`)."""
    from effrestore.runtime.precision import check_request

    suffix = path.suffix.lower()
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if backend == "auto":
        backend = auto_backend(suffix, device)
    check_request(precision, backend)
    if backend == "tensorrt":
        if suffix != ".plan":
            raise BackendUnavailableError(
                f"{path}: the TensorRT backend runs engines; build one with "
                f"`{shlex.join(['effrestore', 'build', str(path), '-o', str(path.with_suffix('.plan'))])}`, or run "
                "this file with --backend onnxruntime"
            )
        from effrestore.runtime.backends.tensorrt import TensorRTBackend

        return TensorRTBackend(path, device)
    if backend in ("onnxruntime", "openvino") and suffix != ".onnx":
        raise ConfigError(f"{path}: the {backend} backend runs .onnx files; export it with `effrestore export`")
    if suffix == ".onnx":
        external_data_files(path)  # refuses data outside the model's folder before any runtime reads it
    if backend == "openvino":
        return _open_openvino(path, device or "cpu", threads, meta, precision)
    if backend == "onnxruntime":
        from effrestore.runtime.backends.onnxruntime import OnnxRuntimeBackend

        return OnnxRuntimeBackend(path, device or "cpu", threads, meta)
    if suffix not in CHECKPOINT_SUFFIXES:
        raise ConfigError(f"{path}: the torch backend runs checkpoints (.safetensors/.pth), not {suffix}")
    from effrestore.runtime.backends.pytorch import TorchBackend

    return TorchBackend(path, device or "cpu", threads)


def _open_openvino(path: Path, device: str, threads: int | None, meta: ModelMeta | None, precision: str) -> Backend:
    """OpenVINO at the precision the policy allows, bf16 only after it agreed with fp32 on this machine."""
    if not openvino_installed():
        raise BackendUnavailableError(
            "the openvino backend needs the Python package 'openvino': pip install openvino, "
            "or use --backend onnxruntime"
        )
    from effrestore.runtime.backends.openvino import OpenVinoBackend, cpu_capabilities, cpu_name, runtime_version
    from effrestore.runtime.precision import AGREEMENT_DB, bf16_agrees, choose_precision

    opened = OpenVinoBackend(path, device, threads, meta)
    choice = choose_precision(precision, opened.meta, cpu_capabilities())
    opened.note = choice.note
    if choice.precision == "fp32":
        return opened
    opened.use_precision("bf16")
    if opened.precision != "bf16":
        opened.note = "OpenVINO compiled fp32: this CPU does not run bf16 for this model"
        return opened
    key = f"{opened.model_id}:{cpu_name()}:openvino {runtime_version()}"
    agrees, score = bf16_agrees(opened, lambda: OpenVinoBackend(path, device, threads, opened.meta), key)
    if not agrees:
        opened.use_precision("fp32")
        opened.note = (
            f"bf16 disagreed with fp32 on this CPU ({score:.1f} dB on the probe tile, under "
            f"{AGREEMENT_DB:.0f} dB); running fp32"
        )
    return opened


__all__ = ["BACKENDS", "Backend", "auto_backend", "open_backend", "openvino_installed"]
