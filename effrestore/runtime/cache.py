"""The small JSON caches under the cache root (memory fits, precision verdicts): keyed entries, written
atomically, read through one validating loader, and never required: an unreadable file, or an entry its
schema refuses (wrong types, values out of range, a number too large to be real), only costs a
re-measurement, never a run."""

from __future__ import annotations

import contextlib
import json
import math
import platform
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Generic, TypeVar

from effrestore._atomic import atomic_path
from effrestore.cache_root import cache_root

T = TypeVar("T")
_lock = threading.Lock()


class BadEntry(ValueError):
    """A cache entry that its schema refuses."""


@cache
def machine_id() -> str:
    """The CPU model: measurements cached on one machine must not be reused on another sharing the folder."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def integer(value: Any, low: int, high: int, what: str) -> int:
    """`value` as an int in [low, high] (JSON booleans are not numbers), else `BadEntry`."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadEntry(f"{what} must be an integer in [{low}, {high}], got {value!r}")
    return value


def number(value: Any, low: float, high: float, what: str) -> float:
    """`value` as a float in [low, high] (infinities only when the range holds them; never NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise BadEntry(f"{what} must be a number, got {value!r}")
    if not low <= value <= high:
        raise BadEntry(f"{what} must lie in [{low}, {high}], got {value!r}")
    return float(value)


def pairs(value: Any, what: str) -> list[Any]:
    """`value` as a list of two-element lists."""
    if not isinstance(value, list) or not all(isinstance(item, list) and len(item) == 2 for item in value):
        raise BadEntry(f"{what} must be a list of pairs")
    return value


@dataclass(frozen=True)
class CacheFile(Generic[T]):
    """One JSON cache file in the user cache folder. `parse` turns a stored entry into its value and raises
    `BadEntry` (or any ValueError, TypeError, KeyError) for one that is off; such an entry reads as absent."""

    name: str
    parse: Callable[[Any], T]

    @property
    def path(self) -> Path:
        return cache_root() / self.name

    def get(self, key: str) -> T | None:
        entry = _read(self.path).get(key)
        if entry is None:
            return None
        try:
            return self.parse(entry)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
            return None

    def put(self, key: str, entry: Any) -> None:
        """Adds or replaces one entry (temporary file + rename, so a reader never sees half a file)."""
        self._change(key, entry)

    def drop(self, key: str) -> None:
        """Forgets one entry (a measurement the run proved wrong)."""
        self._change(key, None)

    def _change(self, key: str, entry: Any | None) -> None:
        """Sets `key` to `entry`, or removes it when `entry` is None."""
        with _lock:
            entries = _read(self.path)
            if entry is None:
                entries.pop(key, None)
            else:
                entries[key] = entry
            with contextlib.suppress(OSError):
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with atomic_path(self.path) as temporary:
                    temporary.write_text(json.dumps(entries, indent=1))


def _read(path: Path) -> dict[str, Any]:
    try:
        entries = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError, RecursionError):
        return {}
    return entries if isinstance(entries, dict) else {}
