"""Measured memory: byte-size parsing, process peak-RSS measurement, and the fitted memory model.

The peak resident set size (Linux `VmHWM`) is reset through `/proc/self/clear_refs` before a measurement,
so a probe measures only what it allocates. Elsewhere psutil's current RSS after the run is used, which
underestimates peaks; the stats say which method was used. The fit of these measurements against tile size
is the planner's (`planner.CallFit`).
"""

from __future__ import annotations

import contextlib
import ctypes
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import psutil

from effrestore.errors import ConfigError

_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
    "tb": 10**12,
}
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def parse_bytes(text: str | int | float) -> int:
    """'1.5GiB' -> 1610612736, '800MB' -> 800000000; plain numbers are bytes."""
    if isinstance(text, (int, float)):
        return int(text)
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in _UNITS:
        raise ConfigError(f"cannot read {text!r} as a memory size; write e.g. 1.5GiB, 800MB or 700MiB")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def format_bytes(count: float) -> str:
    return f"{count / 2**30:.2f} GiB" if count >= 2**30 else f"{count / 2**20:.0f} MiB"


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def return_freed_memory() -> None:
    """Hands freed heap pages back to the system (glibc's `malloc_trim`; a no-op elsewhere), so the RSS read
    after calibrating is what the process holds, not what its probes once touched."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def current_rss() -> int:
    return psutil.Process().memory_info().rss


class MemoryTracker(Protocol):
    """Measures the memory a budget bounds: the process's RSS on the CPU, device memory on an accelerator."""

    counts_host_buffers: bool

    @property
    def method(self) -> str: ...

    def current(self) -> int: ...

    def available(self) -> int: ...

    def reset(self) -> None: ...

    def peak(self) -> int: ...


CGROUP_ROOT = Path("/sys/fs/cgroup")
_MEMBERSHIP = Path("/proc/self/cgroup")
_UNLIMITED = 1 << 60  # cgroup v1 writes "no limit" as the largest page-aligned 64-bit number
# (limit file, usage file, the memory.stat field of reclaimable page cache) for cgroup v2 and v1
_V2 = ("memory.max", "memory.current", "inactive_file")
_V1 = ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")


def _cgroup_folders(root: Path, membership: Path) -> list[tuple[Path, tuple[str, str, str]]]:
    """This process's memory cgroup folders and their ancestors, v2 and v1 (a container may see its own
    cgroup as the mount's root, so the root itself is always a candidate)."""
    folders: list[tuple[Path, tuple[str, str, str]]] = []
    try:
        lines = membership.read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            base, names = root, _V2
        elif "memory" in controllers.split(","):
            base, names = root / "memory", _V1
        else:
            continue
        folder = base / path.strip("/")
        folders += [(parent, names) for parent in (folder, *folder.parents) if parent.is_relative_to(base)]
    folders += [(root, _V2), (root / "memory", _V1)]
    return folders


def cgroup_available(root: Path | None = None, membership: Path | None = None) -> int | None:
    """Bytes left under the tightest cgroup memory limit (v2 `memory.max`, v1 `memory.limit_in_bytes`) on
    this process's cgroups, counting reclaimable page cache as free; None where no limit is set. A pod
    limited to 2 GiB on a 64 GiB node is killed at 2 GiB, whatever the node has free."""
    left = []
    folders = _cgroup_folders(root or CGROUP_ROOT, membership or _MEMBERSHIP)
    for folder, (limit_name, usage_name, inactive_name) in folders:
        try:
            limit_text = (folder / limit_name).read_text().strip()
            if limit_text == "max" or int(limit_text) >= _UNLIMITED:
                continue
            usage = int((folder / usage_name).read_text())
            stat = dict(line.split() for line in (folder / "memory.stat").read_text().splitlines() if " " in line)
        except (OSError, ValueError):
            continue
        left.append(max(int(limit_text) - usage + int(stat.get(inactive_name, 0)), 0))
    return min(left, default=None)


class PeakTracker:
    """Peak RSS of this process from `reset()` to `peak()`: what a budget bounds on the CPU.

    Backends on an accelerator return their own `MemoryTracker` measuring device memory."""

    exact = _CLEAR_REFS.exists() and _status_kib("VmHWM") is not None
    counts_host_buffers = True  # the whole-image buffers live in the memory this tracker measures

    @property
    def method(self) -> str:
        return "VmHWM" if self.exact else "rss-after"

    def current(self) -> int:
        return current_rss()

    def available(self) -> int:
        """What the system has free, or less where a cgroup limit (a container's) leaves less."""
        system = int(psutil.virtual_memory().available)
        limited = cgroup_available()
        return system if limited is None else min(system, limited)

    def reset(self) -> None:
        if self.exact:
            try:
                _CLEAR_REFS.write_text("5")
            except OSError:
                type(self).exact = False
        self._fallback = current_rss()

    def peak(self) -> int:
        if self.exact:
            return int(_status_kib("VmHWM") or 0) * 1024
        return max(self._fallback, current_rss())


class AllocationTracker:
    """Device memory counted at each allocation the backend makes itself, plus a resident part (the engine's
    weights): exact for a backend that owns all its working memory, as TensorRT does with user-managed
    context memory. Host buffers live elsewhere and do not count."""

    counts_host_buffers = False
    method = "allocations"

    def __init__(self, resident: int, available: Callable[[], int]) -> None:
        self._resident, self._available = resident, available
        self._live = self._peak = 0
        self._lock = threading.Lock()

    def allocated(self, size: int) -> None:
        with self._lock:
            self._live += size
            self._peak = max(self._peak, self._live)

    def released(self, size: int) -> None:
        with self._lock:
            self._live -= size

    def current(self) -> int:
        return self._resident + self._live

    def available(self) -> int:
        return self._available()

    def reset(self) -> None:
        with self._lock:
            self._peak = self._live

    def peak(self) -> int:
        return self._resident + self._peak
