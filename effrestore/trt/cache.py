"""The engine cache: engines keyed by everything that changes them, shared safely between processes.

Two builders asking for the same engine take the same file lock, so the second waits and then reuses the
first one's result instead of building it again. Nothing in the cache is ever deleted: an incomplete entry
(e.g. a build killed midway, which can only leave a `.partial` file) is rebuilt in place with a warning.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from filelock import FileLock, Timeout

from effrestore._atomic import atomic_path
from effrestore.cache_root import cache_root
from effrestore.errors import EngineError
from effrestore.trt.manifest import BuilderOptions, Plugin, manifest_path
from effrestore.trt.profiles import Profile

LOCK_TIMEOUT_S = 4 * 3600  # a large engine can take an hour to build; waiting longer means a stuck builder


def default_cache_dir() -> Path:
    return cache_root("engines")


def cache_key(
    *,
    onnx_sha256: str,
    profiles: Sequence[Profile],
    precision: str,
    flavour: str,
    tensorrt_version: str,
    gpu_name: str | None,
    compute_capabilities: Sequence[str],
    builder: BuilderOptions,
    plugins: Sequence[Plugin],
) -> str:
    """A digest of every input that changes the built engine, and of nothing else."""
    identity = {
        "onnx": onnx_sha256,
        "profiles": [p.to_json() for p in profiles],
        "precision": precision,
        "tensorrt": [flavour, tensorrt_version],
        "gpu": [gpu_name, list(compute_capabilities)],
        "builder": asdict(builder),
        "plugins": sorted([p.namespace, p.name, p.version] for p in plugins),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]


class EngineCache:
    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def plan_path(self, key: str) -> Path:
        return self.root / key / "model.plan"

    def lookup(self, key: str) -> Path | None:
        """The cached plan for `key` when both it and its manifest are there."""
        plan = self.plan_path(key)
        if plan.is_file() and manifest_path(plan).is_file():
            return plan
        if plan.parent.exists():
            print(f"effrestore: engine cache entry {plan.parent} is incomplete; rebuilding it", file=sys.stderr)
        return None

    @contextmanager
    def locked(self, key: str) -> Iterator[None]:
        """Holds the build lock for `key` (other processes building the same engine wait here)."""
        self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.root / f"{key}.lock"))
        try:
            with lock.acquire(timeout=LOCK_TIMEOUT_S):
                yield
        except Timeout:
            raise EngineError(
                f"waited {LOCK_TIMEOUT_S // 3600} h for another build of this engine ({self.root / key}); if no "
                f"build is running, remove {lock.lock_file} and try again"
            ) from None

    def store(self, key: str, plan: Path) -> Path:
        """Copies `plan` and its manifest into the cache."""
        target = self.plan_path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        return copy_engine(plan, target)


def copy_engine(plan: Path, target: Path) -> Path:
    """Copies an engine and its manifest, each atomically and the manifest last (it marks a complete copy)."""
    for source, destination in ((plan, target), (manifest_path(plan), manifest_path(target))):
        if source.resolve() != destination.resolve():
            with atomic_path(destination) as tmp:
                shutil.copyfile(source, tmp)
    return target
