"""Reads an engine plan's header without TensorRT: which flavour built it, its version, its stated size.

Neither layout is documented API, so a header that does not match is reported as unknown, never trusted:
- TensorRT (`ftrt`; NVIDIA/TensorRT#3073): bytes 0-3 the magic tag, 24-27 the major, minor, patch and
  build numbers (TensorRT >= 8.6).
- TensorRT for RTX (`vtrt`): a 64-byte header (`Runtime.engine_header_size`) with the magic at bytes 0-3
  and 28-31, the whole plan's size as a little-endian u64 at 16-23 and the version at 24-27 (major 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from effrestore.errors import EngineError
from effrestore.trt.flavours import TENSORRT_RTX, flavour_for_magic

VERSION_OFFSET = 24
HEADER_BYTES = 64
RTX_SIZE_FIELD = slice(16, 24)
RTX_SECOND_MAGIC = slice(28, 32)


@dataclass(frozen=True)
class PlanHeader:
    flavour: str | None  # "tensorrt" or "tensorrt-rtx"; None when the file is no plan effrestore knows
    tensorrt_version: str | None  # "major.minor.patch.build", None when the header does not say
    size: int  # bytes on disk
    stated_size: int | None = None  # bytes the header says the plan has (TensorRT-RTX only)

    @property
    def magic_ok(self) -> bool:
        return self.flavour is not None

    @property
    def truncated(self) -> bool:
        return self.stated_size is not None and self.stated_size != self.size

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
    flavour = flavour_for_magic(head[:4])
    if flavour is TENSORRT_RTX and (len(head) < HEADER_BYTES or head[RTX_SECOND_MAGIC] != flavour.magic):
        flavour = None
    if flavour is None:
        return PlanHeader(None, None, size)
    version = None
    if len(head) >= VERSION_OFFSET + 4:
        major, minor, patch, build = head[VERSION_OFFSET : VERSION_OFFSET + 4]
        if flavour.header_version_plausible(major):
            version = f"{major}.{minor}.{patch}.{build}"
    stated = int.from_bytes(head[RTX_SIZE_FIELD], "little") if flavour is TENSORRT_RTX else None
    return PlanHeader(flavour.name, version, size, stated)
