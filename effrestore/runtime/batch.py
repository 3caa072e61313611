"""One image of a batch, restored into its JSON row: the boundary where anything that image raises (ours, a
library's, a runtime's) becomes that image's error, so one bad file never stops the others."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from effrestore.errors import EffrestoreError
from effrestore.printable import library_message

if TYPE_CHECKING:
    from effrestore.runtime.restorer import Restorer, TileProgress


def image_error(src: str | Path, exc: Exception) -> str:
    """One line naming the image: a typed error's own message; anything else by its type, as a bug (a
    runtime's message of many lines joined, and cut where it runs on)."""
    if isinstance(exc, EffrestoreError):
        message = str(exc)
    else:
        message = f"internal error: {type(exc).__name__}: {library_message(exc)}"
    return message if message.startswith(str(src)) else f"{src}: {message}"


def restore_row(
    restorer: Restorer,
    src: str | Path,
    dst: str | Path,
    files: dict[str, Any],
    progress: TileProgress | None = None,
) -> tuple[dict[str, Any], Exception | None]:
    """(row, error): `restore_file` with `files` (its keywords), the row holding the stats, or `error` and
    the exception when the image failed. Interrupts (Ctrl-C, SIGTERM) are not an image's error: they
    pass."""
    row: dict[str, Any] = {"input": str(src), "output": str(dst)}
    try:
        restorer.restore_file(src, dst, **files, progress=progress)
    except Exception as exc:
        return {**row, "error": image_error(src, exc)}, exc
    stats = restorer.last_stats
    return {**row, **(stats.to_row() if stats is not None else {})}, None
