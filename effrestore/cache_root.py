"""The one folder every effrestore cache lives under (memory fits, precision verdicts, engines, TensorRT-RTX
runtime caches): one variable moves them all, and nothing else decides where a cache goes."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

CACHE_DIR_VARIABLE = "EFFRESTORE_CACHE_DIR"


def cache_root(sub: str = "") -> Path:
    """The cache folder, or its subfolder `sub`: `EFFRESTORE_CACHE_DIR` when set, else the platform's user
    cache folder."""
    root = os.environ.get(CACHE_DIR_VARIABLE) or platformdirs.user_cache_dir("effrestore")
    return Path(root) / sub if sub else Path(root)
