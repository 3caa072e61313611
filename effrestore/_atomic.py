"""Atomic file writes: write to a temporary file in the target folder, then rename over the target.

A crash or Ctrl-C never leaves a half-written output; readers see the old file or the new one. With
`replace=False` the final step is a hard link, which fails if the target appeared meanwhile: of two processes
writing the same new file, exactly one succeeds and the other gets `OutputExistsError`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from effrestore.errors import EffrestoreError, OutputExistsError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

NAME_MAX = 255  # bytes in one file name on Linux, macOS and Windows file systems
PARTIAL_SUFFIX = ".partial"
_open_partials: set[Path] = set()  # this process's temporary files not yet renamed or removed
TEMP_STEM_BYTES = 200  # of the target's name in the temporary one: with its dots and random part under 255


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], *, replace: bool = True) -> Iterator[Path]:
    """Yields a temporary path beside `target`; on success moves it to `target` (over an existing file only
    if `replace`), on error removes it."""
    target = Path(target)
    stem = os.fsencode(target.name)[:TEMP_STEM_BYTES].decode("utf-8", "ignore") or "out"
    fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=PARTIAL_SUFFIX, dir=target.parent or ".")
    _lock(fd, blocking=True)  # while this process lives: `remove_stale_partials` leaves the file alone
    tmp_path = Path(tmp)
    _open_partials.add(tmp_path)
    try:
        yield tmp_path
        os.chmod(tmp_path, _mode_for(target))
        if replace:
            os.replace(tmp_path, target)
        else:
            _move_without_replacing(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    finally:
        _open_partials.discard(tmp_path)
        os.close(fd)


def check_target(
    path: Path,
    *,
    overwrite: bool,
    error: type[EffrestoreError],
    exists: type[EffrestoreError] | None = None,
    check: Callable[[], object] = lambda: None,
) -> None:
    """Refuses, before any work, an output path that cannot be written: a name longer than file systems
    hold, a dangling link, a folder, an existing file without `overwrite` (`exists`, default `error`), a
    missing or unwritable folder; `check` adds the caller's own (the format) after the name checks."""
    if len(os.fsencode(path.name)) > NAME_MAX:
        raise error(
            f"{path.parent / path.name[:40]}…: the output name is longer than {NAME_MAX} bytes, more than the file "
            "system holds; rename the input, or give -o a shorter name"
        )
    if path.is_symlink() and not path.exists():
        raise error(
            f"{path}: is a symbolic link to a missing file ({os.readlink(path)}); remove the link or choose "
            "another output name"
        )
    if path.is_dir():
        raise error(f"{path}: is a folder; give a file name (e.g. {path / 'restored.png'}) or use --out-dir")
    check()
    if path.exists() and not overwrite:
        raise (exists or error)(f"{path}: already exists; pass --overwrite to replace it")
    folder = path.parent
    if not folder.is_dir():
        raise error(f"{folder}: output folder does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise error(f"{folder}: cannot write here (permission denied); choose another output folder")


def remove_open_partials() -> None:
    """Removes this process's temporary files now: for an exit that cannot wait for the writers to unwind
    (a termination while a native call holds the interpreter)."""
    for path in list(_open_partials):
        with contextlib.suppress(OSError):
            path.unlink()


def remove_stale_partials(folder: Path, older_than: float) -> list[Path]:
    """Removes the temporary files a killed writer left in `folder` (SIGKILL or a power cut skip the
    cleanup): those modified before `older_than` (a time stamp) that no live process holds locked."""
    removed = []
    for candidate in folder.glob(f".*{PARTIAL_SUFFIX}"):
        try:
            if not candidate.is_file() or candidate.is_symlink() or candidate.stat().st_mtime >= older_than:
                continue
            fd = os.open(candidate, os.O_RDONLY)
        except OSError:
            continue
        try:
            if _lock(fd, blocking=False):
                candidate.unlink()
                removed.append(candidate)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


def _lock(fd: int, *, blocking: bool) -> bool:
    """An exclusive advisory lock on `fd` (released when its process ends, however it ends); False when
    another process holds it. Where there is no flock, nothing is locked and nothing is ever stale."""
    if fcntl is None:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def _mode_for(target: Path) -> int:
    """The replaced file's permission bits (a private 0600 file stays private), else a new file's."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        return new_file_mode()


@functools.cache
def new_file_mode() -> int:
    """What open() gives a new file under the process umask (mkstemp's own files are 0600). Linux reports
    the umask in /proc; elsewhere it is read by setting it, once, on first use rather than at import."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _move_without_replacing(tmp_path: Path, target: Path) -> None:
    try:
        os.link(tmp_path, target)  # atomic, and fails if target exists
    except FileExistsError:
        raise OutputExistsError(
            f"{target}: already exists (another process may have written it meanwhile); pass --overwrite to replace it"
        ) from None
    except OSError:  # a file system without hard links: claim the name exclusively, then move over the claim
        try:
            os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, new_file_mode()))
        except FileExistsError:
            raise OutputExistsError(f"{target}: already exists; pass --overwrite to replace it") from None
        os.replace(tmp_path, target)
        return
    tmp_path.unlink()
