"""TensorRT for RTX's runtime cache on disk: the kernels it compiles when an engine first runs, kept so the
next process (or worker) starts without compiling them again.

One file per engine and environment, in the user cache folder. The name holds the engine's digest, the GPU's
compute capability, the TensorRT-RTX version and the CUDA driver version: TensorRT-RTX rejects a cache from
another environment, so workers of different machines sharing a cache folder would otherwise overwrite each
other's file back and forth, and two engines sharing one file would drop each other's kernels. Workers that
load and store the same file take turns on a file lock, and a write is atomic (a reader sees the old cache
or the new one). The cache is never required: a file that cannot be read, written or locked costs a
compile, nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from effrestore._atomic import atomic_path
from effrestore.cache_root import cache_root

LOCK_TIMEOUT_S = 60.0  # a store is a few MB written once; waiting longer means a stuck worker: skip it


@dataclass(frozen=True)
class CacheEnvironment:
    """What TensorRT-RTX checks a runtime cache against."""

    compute_capability: str  # "8.9"
    tensorrt_version: str  # the installed flavour's: "1.7.1.116"
    cuda_driver_version: int  # cudaDriverGetVersion(): 12080 for 12.8


def default_cache_dir() -> Path:
    return cache_root("tensorrt-rtx-runtime")


def cache_file_name(engine_sha256: str, environment: CacheEnvironment) -> str:
    parts = (
        engine_sha256[:16],
        "sm" + environment.compute_capability.replace(".", ""),
        "trt" + environment.tensorrt_version,
        f"cuda{environment.cuda_driver_version}",
    )
    return re.sub(r"[^A-Za-z0-9._-]", "_", "-".join(parts)) + ".cache"


class RuntimeCacheFile:
    """Load and store one serialised runtime cache, under a file lock beside it."""

    def __init__(self, path: Path, lock_timeout: float = LOCK_TIMEOUT_S) -> None:
        self.path = path
        self.lock = FileLock(str(path) + ".lock", timeout=lock_timeout)

    @classmethod
    def for_engine(
        cls, engine_sha256: str, environment: CacheEnvironment, folder: Path | None = None
    ) -> RuntimeCacheFile:
        return cls((folder or default_cache_dir()) / cache_file_name(engine_sha256, environment))

    def load(self) -> bytes | None:
        """The stored cache, or None when there is none (or it cannot be read)."""
        try:
            with self.lock:
                return self.path.read_bytes() if self.path.is_file() else None
        except (OSError, Timeout):
            return None

    def store(self, blob: bytes) -> bool:
        """Writes `blob` unless the file already holds it; True when it was written."""
        if not blob:
            return False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.lock:
                if self.path.is_file() and self.path.read_bytes() == blob:
                    return False
                with atomic_path(self.path) as temporary:
                    temporary.write_bytes(blob)
                return True
        except (OSError, Timeout):
            return False


@dataclass
class PersistedCache:
    """A TensorRT runtime cache in use (with the runtime config holding it) and the file it is saved to."""

    file: RuntimeCacheFile
    kernels: Any  # tensorrt_rtx.IRuntimeCache
    config: Any  # tensorrt_rtx.IRuntimeConfig: kept alive as long as the context made from it

    def save(self) -> bool:
        return self.file.store(bytes(memoryview(self.kernels.serialize())))
