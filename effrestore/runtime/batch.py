"""Batch jobs, shared by `effrestore run` and the Ray path: inputs expanded and sharded, output names,
the clash checks made before any work, the typed options every worker loads and writes with, and one
image restored into its JSON row — the boundary where anything that image raises (ours, a library's, a
runtime's) becomes that image's error, so one bad file never stops the others."""

from __future__ import annotations

import glob
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from effrestore.errors import ConfigError, EffrestoreError, ImageError
from effrestore.printable import library_message
from effrestore.runtime.formats import FORMATS, check_output_path
from effrestore.runtime.io import SUFFIXES
from effrestore.runtime.restorer import Restorer, TileProgress

OUTPUT_TAG = ".restored"
Job = tuple[Path, Path]  # (input, output)


@dataclass(frozen=True)
class LoadOptions:
    """How each worker loads the model (`Restorer.load`'s keywords besides the model)."""

    backend: str = "auto"
    device: str | None = None
    mem_budget: str | None = None
    tile: str | int = "auto"
    tile_overlap: int | None = None
    threads: int | None = None
    ensemble: bool = False
    precision: str = "auto"
    strength: float = 1.0

    def load(self, source: str) -> Restorer:
        return Restorer.load(source, **asdict(self))


@dataclass(frozen=True)
class FileOptions:
    """How each file is read and written (`Restorer.restore_file`'s keywords)."""

    overwrite: bool = False
    max_pixels: int | None = None
    keep_color: bool = False
    output_depth: int | None = None
    first_frame: bool = False


def expand_inputs(inputs: list[str]) -> list[Path]:
    """Files, folders (their images, sorted) and glob patterns -> image paths, in the given order. A path that
    exists is taken as it is (`IMG [1].png` is a name, not a pattern); folders leave out earlier outputs
    (`*.restored.*`), which are results, not inputs."""
    paths: list[Path] = []
    for item in inputs:
        if Path(item).exists():
            candidates = [Path(item)]
        elif any(c in item for c in "*?["):
            candidates = [Path(p) for p in sorted(glob.glob(item))]
            if not candidates:
                raise ImageError(f"{item}: no such file, and as a pattern it matches no files")
        else:
            raise ImageError(f"{item}: no such file or folder")
        for path in candidates:
            if path.is_dir():
                paths.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES and not is_output(p)))
            else:
                paths.append(path)
    if not paths:
        raise ImageError("no input images found")
    return paths


def is_output(path: Path) -> bool:
    """Whether `path` is named like a result of `effrestore run` (x.restored.png)."""
    return path.stem.endswith(OUTPUT_TAG)


def take_shard(paths: list[Path], spec: str | None) -> list[Path]:
    """Every COUNT-th input starting at INDEX ("INDEX/COUNT", 0-based): workers given the same inputs and
    their own index split them without coordinating (Kubernetes indexed jobs, SLURM arrays)."""
    if spec is None:
        return paths
    try:
        index, count = (int(part) for part in spec.split("/"))
    except ValueError:
        raise ConfigError(f"--shard takes INDEX/COUNT, e.g. 0/4, got {spec!r}") from None
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"--shard {spec}: INDEX must be in 0..COUNT-1 and COUNT at least 1")
    return paths[index::count]


def output_for(src: Path, output: Path | None, out_dir: Path | None, count: int) -> Path:
    """The output path: `-o`, or the input's name in `--out-dir`, or beside it as NAME.restored.SUFFIX; an
    input format effrestore cannot write (GIF, ...) gets .png."""
    if output is not None:
        if count > 1:
            raise ConfigError("-o/--output names one file; with several inputs use --out-dir")
        return output
    suffix = src.suffix if src.suffix.lower() in FORMATS else ".png"
    if out_dir is not None:
        return out_dir / f"{src.stem}{suffix}"
    return src.with_name(f"{src.stem}{OUTPUT_TAG}{suffix}")


def make_output_folder(folder: Path) -> None:
    """Creates `--out-dir` and its parents, as `mkdir -p` would."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImageError(
            f"{folder}: cannot create this output folder ({exc.strerror}); choose another --out-dir"
        ) from None


def check_jobs(jobs: list[Job]) -> None:
    """Refuses, before any work, outputs that would replace an input or another output of the same run:
    a mistake in the command, not in one image."""
    inputs = {src.resolve() for src, _ in jobs}
    seen: dict[Path, Path] = {}
    for src, dst in jobs:
        target = dst.resolve()
        if target in inputs:
            raise ImageError(
                f"{dst}: would replace an input image; give --out-dir a folder other than the inputs' folder"
            )
        if target in seen:
            raise ImageError(
                f"{seen[target]} and {src} would both be written to {dst}; restore them in separate runs or "
                "into separate --out-dir folders"
            )
        seen[target] = src


def unwritable_outputs(jobs: list[Job]) -> dict[Job, str]:
    """The jobs whose output path cannot be written (format, folder, name), each with its error naming the
    input: that image's failure under --keep-going, found before any work."""
    refused = {}
    for src, dst in jobs:
        try:
            check_output_path(dst, overwrite=True)  # whether it exists is decided by --overwrite/--skip-existing
        except ImageError as exc:
            refused[(src, dst)] = f"{src}: {exc}"
    return refused


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
    files: FileOptions,
    progress: TileProgress | None = None,
) -> tuple[dict[str, Any], Exception | None]:
    """(row, error): `restore_file` with the `files` options, the row holding the stats, or `error` and
    the exception when the image failed. Interrupts (Ctrl-C, SIGTERM) are not an image's error: they
    pass."""
    row: dict[str, Any] = {"input": str(src), "output": str(dst)}
    try:
        restorer.restore_file(src, dst, **asdict(files), progress=progress)
    except Exception as exc:
        return {**row, "error": image_error(src, exc)}, exc
    stats = restorer.last_stats
    return {**row, **(stats.to_row() if stats is not None else {})}, None
