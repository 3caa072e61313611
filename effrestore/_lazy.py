"""Imports of optional heavy dependencies with an actionable error when they are missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from effrestore.errors import DependencyError

_EXTRA_FOR = {
    "torch": "export",
    "onnx": "export",
    "onnxscript": "export",
    "safetensors": "export",
    "onnxsim": "export",
    "tensorrt": "tensorrt",
    "cv2": "baselines",
    "skimage": "baselines",
    "bm3d": "baselines",
}


def require(module: str, purpose: str) -> ModuleType:
    """Imports `module` or raises `DependencyError` naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        extra = _EXTRA_FOR.get(module.split(".")[0], "export")
        raise DependencyError(
            f"{purpose} needs the Python package {module.split('.')[0]!r}, which is not installed: "
            f"pip install 'effrestore[{extra}]'"
        ) from None
