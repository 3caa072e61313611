"""The image format registry: suffix → the `ImageFormat` that reads and writes it."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from effrestore.runtime.imageformats.base import Format, ImageFormat

HANDLERS: dict[str, ImageFormat] = {}
F = TypeVar("F", bound=type[ImageFormat])


def register_format(cls: F) -> F:
    """Registers one instance of the decorated `ImageFormat` under each of its suffixes."""
    handler = cls()
    for suffix in (*cls.formats, *cls.reads):
        if suffix in HANDLERS:
            raise ValueError(f"image suffix {suffix!r} registered twice")
        HANDLERS[suffix] = handler
    return cls


def handler_for(path: Path) -> ImageFormat | None:
    """The format that reads and writes `path`'s suffix, or None."""
    return HANDLERS.get(path.suffix.lower())


def output_formats() -> dict[str, Format]:
    """Every suffix's output capabilities."""
    return {suffix: handler.formats[suffix] for suffix, handler in HANDLERS.items() if suffix in handler.formats}
