"""The engine cache key (changes with every input of it, and only then) and the cache's store, lookup and
cross-process lock."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from effrestore.trt.cache import EngineCache, cache_key
from effrestore.trt.manifest import BuilderOptions, Plugin, manifest_path
from effrestore.trt.profiles import tile_ladder

from .conftest import META, write_engine

BASE = dict(
    onnx_sha256="a" * 64,
    profiles=tile_ladder(META, (256, 512)),
    precision="fp16",
    flavour="tensorrt",
    tensorrt_version="10.13.0.35",
    gpu_name="NVIDIA H100 80GB HBM3",
    compute_capabilities=("9.0",),
    builder=BuilderOptions(),
    plugins=(Plugin("MDTA", "effrestore", "1"), Plugin("GLMHA", "effrestore", "1")),
)
CHANGES = {
    "onnx_sha256": "b" * 64,
    "profiles": tile_ladder(META, (256, 1024)),
    "precision": "fp32",
    "flavour": "tensorrt-rtx",
    "tensorrt_version": "10.13.0.36",
    "gpu_name": "NVIDIA H200",
    "compute_capabilities": ("8.9",),
    "builder": replace(BuilderOptions(), builder_opt_level=5),
    "plugins": (Plugin("MDTA", "effrestore", "2"),),
}


def test_key_changes_with_every_input() -> None:
    assert set(CHANGES) == set(BASE), "every input of the key is varied once"
    reference = cache_key(**BASE)  # type: ignore[arg-type]
    keys = {name: cache_key(**{**BASE, name: value}) for name, value in CHANGES.items()}  # type: ignore[arg-type]
    assert reference not in keys.values() and len(set(keys.values())) == len(keys)
    for flag in ("version_compatible", "hardware_compat"):
        assert cache_key(**{**BASE, "builder": replace(BuilderOptions(), **{flag: True})}) != reference  # type: ignore[arg-type]


def test_key_is_stable_for_equal_inputs() -> None:
    same = {**BASE, "profiles": list(tile_ladder(META, (512, 256))), "plugins": tuple(reversed(BASE["plugins"]))}  # type: ignore[call-overload]
    assert cache_key(**same) == cache_key(**BASE)  # type: ignore[arg-type]


def test_store_and_lookup(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path / "cache")
    assert cache.lookup("k1") is None
    plan = write_engine(tmp_path)
    stored = cache.store("k1", plan)
    assert cache.lookup("k1") == stored and stored.read_bytes() == plan.read_bytes()
    assert manifest_path(stored).read_text() == manifest_path(plan).read_text()
    manifest_path(stored).unlink()  # an incomplete entry is not a hit, and nothing is deleted
    assert cache.lookup("k1") is None and stored.exists()


def test_lock_excludes_other_processes(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    probe = (
        "import sys; from filelock import FileLock, Timeout\n"
        "try:\n    FileLock(sys.argv[1]).acquire(timeout=0.2); print('acquired')\n"
        "except Timeout:\n    print('blocked')\n"
    )
    lock_file = str(tmp_path / "key.lock")
    with cache.locked("key"):
        held = subprocess.run([sys.executable, "-c", probe, lock_file], capture_output=True, text=True, timeout=60)
    free = subprocess.run([sys.executable, "-c", probe, lock_file], capture_output=True, text=True, timeout=60)
    assert held.stdout.strip() == "blocked" and free.stdout.strip() == "acquired"
