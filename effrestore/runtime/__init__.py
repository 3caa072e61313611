"""Inference without torch: backends, tiling, memory planning, image I/O, the `Restorer` API.

Nothing in this package imports torch at module level; the torch backend imports it when used.
"""

from effrestore.runtime.io import ImageInfo, read_image, write_image
from effrestore.runtime.memory import parse_bytes
from effrestore.runtime.restorer import Restorer, RestoreStats

__all__ = ["ImageInfo", "RestoreStats", "Restorer", "parse_bytes", "read_image", "write_image"]
