"""Small JSON caches in the user cache folder (memory fits, precision verdicts): keyed entries, written
atomically, and never required: an unreadable or unwritable cache only costs a re-measurement."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import platformdirs

_lock = threading.Lock()


def cache_path(name: str) -> Path:
    return Path(platformdirs.user_cache_dir("effrestore")) / name


def read_entries(path: Path) -> dict[str, Any]:
    try:
        entries = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        return {}
    return entries if isinstance(entries, dict) else {}


def store_entry(path: Path, key: str, value: Any) -> None:
    """Adds or replaces one entry (temporary file + rename, so a reader never sees half a file)."""
    with _lock:
        entries = read_entries(path)
        entries[key] = value
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
            with os.fdopen(handle, "w") as out:
                json.dump(entries, out, indent=1)
            os.replace(temporary, path)
        except OSError:
            pass
