"""Backends: one file each, registered with what they run (see `registry`). Importing this package imports
every backend module so each registers itself; the runtimes themselves are imported only when a backend
opens (no torch, OpenVINO or TensorRT at import)."""

from __future__ import annotations

from effrestore.runtime.backends import onnxruntime, openvino, pytorch, tensorrt  # noqa: F401 (they register)
from effrestore.runtime.backends.base import Backend
from effrestore.runtime.backends.registry import BACKENDS, PRECISIONS, backend_names, choose_backend, open_backend

__all__ = ["BACKENDS", "PRECISIONS", "Backend", "backend_names", "choose_backend", "open_backend"]
