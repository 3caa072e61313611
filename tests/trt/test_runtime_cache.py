"""The TensorRT-RTX runtime cache file: one per engine and environment, whole or absent, shared by workers
under a file lock, and never a reason to fail. (Filling it needs a GPU that TensorRT-RTX runs on.)"""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

from filelock import FileLock

from effrestore.trt.runtime_cache import CacheEnvironment, RuntimeCacheFile, cache_file_name

ADA = CacheEnvironment("8.9", "1.7.1.116", 12080)
DIGEST = "ab" * 32


def test_each_part_of_the_environment_and_the_engine_names_its_own_file() -> None:
    names = {
        cache_file_name(DIGEST, ADA),
        cache_file_name("cd" * 32, ADA),
        cache_file_name(DIGEST, CacheEnvironment("8.6", "1.7.1.116", 12080)),
        cache_file_name(DIGEST, CacheEnvironment("8.9", "1.8.0.1", 12080)),
        cache_file_name(DIGEST, CacheEnvironment("8.9", "1.7.1.116", 12090)),
    }
    assert len(names) == 5
    assert cache_file_name(DIGEST, ADA) == "abababababababab-sm89-trt1.7.1.116-cuda12080.cache"
    odd = cache_file_name(DIGEST, CacheEnvironment("8.9", "1.7/../x", 1))
    assert "/" not in odd and Path(odd).name == odd


def test_round_trip_and_no_rewrite_of_the_same_cache(tmp_path: Path) -> None:
    cache = RuntimeCacheFile.for_engine(DIGEST, ADA, tmp_path / "rtx")
    assert cache.load() is None
    assert cache.store(b"kernels-1") and cache.load() == b"kernels-1"
    stamp = cache.path.stat().st_mtime_ns
    assert not cache.store(b"kernels-1") and cache.path.stat().st_mtime_ns == stamp
    assert not cache.store(b""), "an empty cache is not worth a file"
    assert cache.store(b"kernels-2") and cache.load() == b"kernels-2"
    assert sorted(p.name for p in cache.path.parent.iterdir()) == sorted([cache.path.name, cache.path.name + ".lock"])


def test_an_unusable_cache_folder_costs_nothing_but_the_cache(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file where the folder would be")
    cache = RuntimeCacheFile.for_engine(DIGEST, ADA, tmp_path / "taken")
    assert cache.store(b"kernels") is False and cache.load() is None


def _hold_lock(path: str, held: multiprocessing.Event, release: multiprocessing.Event) -> None:  # type: ignore[type-arg]
    with FileLock(path + ".lock"):
        held.set()
        release.wait(30)


def test_a_worker_holding_the_lock_makes_the_others_wait_then_skip(tmp_path: Path) -> None:
    cache = RuntimeCacheFile(tmp_path / "c.cache", lock_timeout=1.0)
    spawn = multiprocessing.get_context("spawn")
    held, release = spawn.Event(), spawn.Event()
    holder = spawn.Process(target=_hold_lock, args=(str(cache.path), held, release))
    holder.start()
    try:
        assert held.wait(60)
        started = time.monotonic()
        assert cache.store(b"kernels") is False and not cache.path.exists()
        assert time.monotonic() - started >= 0.9, "the store waited for the lock before giving up"
    finally:
        release.set()
        holder.join(30)
    assert cache.store(b"kernels") and cache.load() == b"kernels"


def _store_many(path: str, fill: int, rounds: int) -> None:
    cache = RuntimeCacheFile(Path(path))
    for round_ in range(rounds):
        cache.store(bytes([fill]) * (1 << 20) + round_.to_bytes(4, "little"))


def test_concurrent_workers_leave_one_whole_cache(tmp_path: Path) -> None:
    path = tmp_path / "shared.cache"
    spawn = multiprocessing.get_context("spawn")
    writers = [spawn.Process(target=_store_many, args=(str(path), fill, 15)) for fill in (1, 2, 3)]
    for writer in writers:
        writer.start()
    reader, seen = RuntimeCacheFile(path), 0
    while any(w.is_alive() for w in writers):
        blob = reader.load()
        if blob is not None:
            seen += 1
            assert len(blob) == (1 << 20) + 4 and blob[: 1 << 20] == bytes([blob[0]]) * (1 << 20), "a torn cache"
    for writer in writers:
        writer.join(60)
        assert writer.exitcode == 0
    final = reader.load()
    assert final is not None and len(final) == (1 << 20) + 4 and seen > 0
    assert not list(tmp_path.glob("*.partial")), "no temporary file left behind"
