"""Options that several commands share, declared once so their help reads the same everywhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from effrestore.errors import ConfigError
from effrestore.model_file import KIND_NAMES
from effrestore.runtime.backends import BACKENDS
from effrestore.runtime.options import check_max_pixels, check_threads, parse_budget

Number = TypeVar("Number", int, float)


def number_list(
    text: str, option: str, convert: Callable[[str], Number], smallest: Number, example: str
) -> list[Number]:
    """'15,25,50' -> [15, 25, 50]: at least one value, each at least `smallest`, else a `ConfigError` that
    names the option and an example."""
    try:
        values = [convert(item) for item in text.split(",") if item.strip()]
    except ValueError:
        values = []
    if not values:
        raise ConfigError(f"{option} takes comma-separated numbers like {example}, got {text!r}")
    if min(values) < smallest:
        raise ConfigError(f"{option}: every value must be at least {smallest}, got {text!r}")
    return values


def threads_option(help: str) -> Any:
    """`--threads`, refused at parse time outside 1..4×CPUs (before any model is loaded)."""
    return typer.Option(help=help, callback=check_threads)


def mem_budget_option(help: str) -> Any:
    """`--mem-budget`, checked at parse time (a size with a unit, at least 1 MiB); the text is kept."""
    return typer.Option(help=help, callback=_checked_budget)


def _checked_budget(value: str | None) -> str | None:
    parse_budget(value)
    return value


MaxPixels = Annotated[
    int | None,
    typer.Option(help="Raise the decompression-bomb pixel limit (Pillow's default).", callback=check_max_pixels),
]


def _checked_depth(value: int | None) -> int | None:
    if value is not None and value not in (8, 16):
        raise ConfigError(f"--output-depth is 8 or 16 (bits per sample), got {value}")
    return value


OutputDepth = Annotated[
    int | None,
    typer.Option(
        help="Write 8- or 16-bit samples. By default the input's depth is kept, and an output format that "
        "cannot hold it is refused.",
        callback=_checked_depth,
    ),
]


def _auto_help() -> str:
    """What `auto` picks per file kind on the CPU, and every registered backend, from the registrations."""
    picks = []
    for kind in KIND_NAMES:
        able = sorted((s for s in BACKENDS.values() if kind in s.kinds), key=lambda s: -s.priority)
        picks.append(f"{KIND_NAMES[kind]}: {' else '.join(s.name for s in able)}")
    return f"auto (on the CPU, the first installed of — {'; '.join(picks)}), or one of {', '.join(BACKENDS)}."


Backend = Annotated[str, typer.Option(help=_auto_help())]
Precision = Annotated[
    str,
    typer.Option(
        help="auto (bf16 only where the CPU runs it natively, the model's bf16 record allows it and a first-use "
        "check agrees with fp32), fp32 or bf16 (OpenVINO)."
    ),
]
