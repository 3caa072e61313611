"""Ending the child processes effrestore starts (a Triton server, a Ray head): by their PID, politely
first."""

from __future__ import annotations

import subprocess

STOP_GRACE_S = 60


def stop_process(process: subprocess.Popen, grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within `grace_s`; reaped either way."""
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
