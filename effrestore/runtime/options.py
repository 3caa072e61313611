"""Checks of the numbers a user passes (threads, memory budget, pixel limit, strength), shared by the CLI and the API.

Each returns the value it accepts or raises a `ConfigError` naming the option (as the API's keyword and
the CLI's flag, since both callers meet it) and a value that works: a typo such as `--threads 100000` or
`--mem-budget 0.5` must stop at once, not run for an hour or silently fall back to a default.
"""

from __future__ import annotations

import os

from effrestore.errors import ConfigError
from effrestore.runtime.memory import parse_bytes

THREADS_PER_CPU = 4  # more threads than this per visible CPU only adds stacks and contention
SMALLEST_BUDGET = 2**20  # below 1 MiB the number is a unit slip ("0.5" meant 0.5GiB)


def _refused(keyword: str, problem: str) -> ConfigError:
    """The error naming the option as both callers know it: the API's keyword, then the CLI's flag."""
    return ConfigError(f"{keyword} {problem} (the command line's --{keyword.replace('_', '-')})")


def visible_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which containers and `taskset` narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def check_threads(threads: int | None) -> int | None:
    """`threads`, if it lies in 1..4×CPUs; None means the backend's own choice."""
    if threads is None:
        return None
    limit = THREADS_PER_CPU * visible_cpus()
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= limit:
        raise _refused(
            "threads",
            f"must be between 1 and {limit} ({THREADS_PER_CPU}× the {visible_cpus()} CPUs here), got {threads!r}; "
            "leave it out to let the backend choose",
        )
    return threads


def parse_budget(budget: str | int | None) -> int | None:
    """The memory budget in bytes ('1.5GiB', '800MB', or bytes); None means the default (a share of the
    memory available at start)."""
    if budget is None:
        return None
    if isinstance(budget, bool) or not isinstance(budget, (str, int)):
        raise _refused("mem_budget", f"takes a size such as 1.5GiB or 800MB, got {budget!r}")
    value = parse_bytes(budget)
    if value < SMALLEST_BUDGET:
        raise _refused(
            "mem_budget",
            f"{budget!r} is {value} bytes, too small to mean anything; write the unit, e.g. 1.5GiB or 800MB, or "
            "leave it out for the default",
        )
    return value


def check_max_pixels(max_pixels: int | None) -> int | None:
    """The decompression-bomb pixel limit, if positive; None means Pillow's default."""
    if max_pixels is None:
        return None
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise _refused("max_pixels", f"must be a positive number of pixels, got {max_pixels!r}")
    return max_pixels


def check_strength(strength: float) -> float:
    """The blend between input (0) and the model's output (1)."""
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 <= strength <= 1:
        raise _refused(
            "strength", f"must be between 0 (the input unchanged) and 1 (the model's full output), got {strength!r}"
        )
    return float(strength)
