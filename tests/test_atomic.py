"""Atomic writes give new files the mode open() would, under the process's umask, read without changing it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROGRAM = """
import os, stat, sys
from pathlib import Path
os.umask(0o027)
from effrestore._atomic import atomic_path
with atomic_path(Path(sys.argv[1]) / "new.txt") as tmp:
    tmp.write_text("x")
print(oct(stat.S_IMODE(os.stat(Path(sys.argv[1]) / "new.txt").st_mode)), oct(os.umask(0)))
"""


def test_a_new_file_gets_the_umask_mode_and_the_umask_stays(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-c", PROGRAM, str(tmp_path)], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["0o640", "0o27"]
