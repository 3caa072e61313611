"""Text from files, names and libraries made safe and short for a terminal: the one sanitiser for everything
printed that effrestore did not write itself (file names, model metadata, runtimes' messages)."""

from __future__ import annotations

import re

# C0 and C1 controls (escape sequences, bell, carriage return), DEL, and the bidirectional overrides that
# make text display in another order than it reads; newlines and tabs stay
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# where a runtime says which of its own source lines raised (OpenVINO: "Exception from src/...cpp:84:")
_SOURCE_LOCATION = re.compile(r"^(Exception from |Check '.*' failed at )?\S+\.(cpp|cc|hpp|h):\d+:?$")
LIBRARY_MESSAGE_CHARS = 600


def printable(text: str, limit: int | None = None) -> str:
    """`text` with every control character written as its escape (\\x1b, \\u202e), cut after `limit`
    characters with a count of the rest."""
    safe = _UNSAFE.sub(lambda match: ascii(match.group())[1:-1], text)
    if limit is not None and len(safe) > limit:
        return f"{safe[:limit]}… ({len(safe) - limit:,} more characters)"
    return safe


def library_message(exc: BaseException, limit: int = LIBRARY_MESSAGE_CHARS) -> str:
    """A runtime's or library's exception as one line: its lines joined, the lines that only name the
    runtime's own source location left out, made printable and cut at `limit` characters."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    reasons = [line for line in lines if not _SOURCE_LOCATION.match(line)] or lines
    return printable(" ".join(reasons), limit) or type(exc).__name__
