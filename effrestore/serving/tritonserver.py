"""Starting the Triton Inference Server that the `nvidia-pytriton` wheel bundles, on a model repository.

The wheel ships `tritonserver` with the Python backend but lays it out for its own launcher: the Python
backend's stub sits in a per-Python-version folder and the server's shared libraries in the wheel's
`.libs` folder. `server_command` prepares a backend folder with the stub for the environment's Python and
returns the command and environment that start the server, bound to 127.0.0.1.

`nvidia-pytriton` 0.7 requires numpy < 2, so it lives in its own environment (the one the python-flavour
entries run in, `triton-repo --python-env`), not necessarily effrestore's.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from effrestore._processes import stop_process
from effrestore.errors import ConfigError, EffrestoreError

INSTALL_HINT = "python -m venv ENV && ENV/bin/pip install 'numpy<2' nvidia-pytriton effrestore"


@dataclass(frozen=True)
class PythonEnv:
    """A Python environment (a venv or conda prefix): its interpreter, version and site-packages."""

    root: Path
    python: Path
    version: str  # "3.11"
    site_packages: Path

    @classmethod
    def at(cls, root: Path) -> PythonEnv:
        root = Path(root).resolve()
        python = root / "bin" / "python"
        if not python.exists():
            raise ConfigError(f"{root}: not a Python environment (no bin/python); create one with `{INSTALL_HINT}`")
        probe = "import sys, sysconfig; print('%d.%d' % sys.version_info[:2]); print(sysconfig.get_paths()['purelib'])"
        try:
            out = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=60, check=True)
        except (OSError, subprocess.SubprocessError) as exc:
            raise ConfigError(f"{python}: cannot run it ({exc})") from None
        version, site = out.stdout.split()
        return cls(root, python, version, Path(site))

    def module_version(self, module: str) -> str | None:
        """The version of `module` importable in this environment, or None."""
        code = f"import {module}; print(getattr({module}, '__version__', '?'))"
        out = subprocess.run([str(self.python), "-c", code], capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            return None
        return out.stdout.strip() or None


def bundled_server(env: PythonEnv) -> Path:
    """The `tritonserver` folder of the `nvidia-pytriton` wheel installed in `env`."""
    folder = env.site_packages / "pytriton" / "tritonserver"
    if not (folder / "bin" / "tritonserver").exists():
        raise ConfigError(
            f"{env.root}: has no Triton server (the nvidia-pytriton wheel bundles one); create the environment "
            f"with `{INSTALL_HINT}`"
        )
    return folder


def server_command(
    repository: Path, env: PythonEnv, workdir: Path, *, http_port: int = 8000, grpc_port: int = 8001
) -> tuple[list[str], dict[str, str]]:
    """(argv, environment) that start the bundled server on `repository`, listening on 127.0.0.1 only;
    `workdir` receives the backend folder (the Python backend with the stub for `env`'s Python)."""
    server = bundled_server(env)
    stub = server / "python_backend_stubs" / env.version / "triton_python_backend_stub"
    if not stub.exists():
        raise ConfigError(f"the bundled Triton server has no Python backend stub for Python {env.version}")
    backends = workdir / "backends"
    shutil.rmtree(backends, ignore_errors=True)
    shutil.copytree(server / "backends", backends)
    shutil.copy2(stub, backends / "python" / "triton_python_backend_stub")
    libs = env.site_packages / "nvidia_pytriton.libs"
    environment = dict(os.environ)
    environment["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (str(libs), os.environ.get("LD_LIBRARY_PATH")) if p)
    environment["PATH"] = os.pathsep.join((str(env.root / "bin"), os.environ.get("PATH", "")))
    argv = [
        str(server / "bin" / "tritonserver"),
        f"--model-repository={repository.resolve()}",
        f"--backend-directory={backends}",
        f"--cache-directory={server / 'caches'}",
        "--http-address=127.0.0.1",
        "--grpc-address=127.0.0.1",
        f"--http-port={http_port}",
        f"--grpc-port={grpc_port}",
        "--allow-metrics=false",
        "--exit-on-error=true",
    ]
    return argv, environment


class ServerError(EffrestoreError):
    """The server exited or did not become ready; the message ends with its log."""


@contextlib.contextmanager
def running_server(
    repository: Path, env: PythonEnv, workdir: Path, *, http_port: int, grpc_port: int, startup_seconds: float = 180
) -> Iterator[subprocess.Popen]:
    """The bundled server started on `repository`, once ready (every model loaded); stopped by its PID on
    exit (SIGTERM, then SIGKILL after 60 s). Its log is `workdir/server.log`."""
    argv, environment = server_command(repository, env, workdir, http_port=http_port, grpc_port=grpc_port)
    log_path = workdir / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(argv, env=environment, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(process, http_port, startup_seconds, log_path)
            yield process
        finally:
            stop_process(process)


def _log_summary(log: str, tail_chars: int = 3000) -> str:
    """The log's error lines (Triton writes them as `E<date> ...`: a model that failed to load says why
    there, long before the status tables at the end) followed by its tail."""
    errors = [line for line in log.splitlines() if re.match(r"E\d{4} ", line)]
    listed = "errors in the log:\n" + "\n".join(errors) + "\n...\n" if errors else ""
    return listed + log[-tail_chars:]


def _wait_ready(process: subprocess.Popen, http_port: int, seconds: float, log_path: Path) -> None:
    """Polls the readiness endpoint until it answers 200, the process exits or `seconds` pass."""
    deadline = time.monotonic() + seconds
    url = f"http://127.0.0.1:{http_port}/v2/health/ready"
    while True:
        if process.poll() is not None:
            raise ServerError(f"tritonserver exited with {process.returncode}:\n{_log_summary(log_path.read_text())}")
        with (
            contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
            urllib.request.urlopen(url, timeout=2) as answer,
        ):
            if answer.status == 200:
                return
        if time.monotonic() > deadline:
            raise ServerError(f"tritonserver not ready after {seconds:.0f} s:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.5)
