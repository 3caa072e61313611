"""Reads a TensorRT plan's header without TensorRT: the magic tag and the version that built it.

Layout (stated by NVIDIA in NVIDIA/TensorRT issue #3073 and used by other loaders since): bytes 0-3 are
the plan magic tag `ftrt`, and bytes 24-27 the TensorRT major, minor, patch and build numbers. This is not
a documented API, so a header that does not match is reported as "unknown", never trusted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from effrestore.errors import EngineError

MAGIC = b"ftrt"
VERSION_OFFSET = 24
HEADER_BYTES = 32


@dataclass(frozen=True)
class PlanHeader:
    magic_ok: bool
    tensorrt_version: str | None  # "major.minor.patch.build", None when the header is not recognised
    size: int

    @property
    def major_minor(self) -> str | None:
        return ".".join(self.tensorrt_version.split(".")[:2]) if self.tensorrt_version else None


def read_plan_header(path: str | Path) -> PlanHeader:
    path = Path(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(HEADER_BYTES)
        size = path.stat().st_size
    except OSError as exc:
        raise EngineError(f"{path}: cannot read the engine file ({exc.strerror})") from None
    magic_ok = head[:4] == MAGIC
    version = None
    if magic_ok and len(head) >= VERSION_OFFSET + 4:
        major, minor, patch, build = head[VERSION_OFFSET : VERSION_OFFSET + 4]
        if 8 <= major <= 99:  # plans before TensorRT 8.6 did not carry the version here
            version = f"{major}.{minor}.{patch}.{build}"
    return PlanHeader(magic_ok, version, size)
