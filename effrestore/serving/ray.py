"""Batch restores on a Ray cluster: a pool of actors, each holding one loaded `Restorer`, restores a Ray
Dataset of (input, output) file paths with Ray Data, reading and writing files as `effrestore run` does
(atomic writes, the same checks and errors, one JSON row per image).

`restore_dataset` is for users who already have a Dataset; `restore_files` is what `run --ray` uses.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from effrestore._processes import stop_process
from effrestore.errors import ConfigError, DependencyError
from effrestore.runtime.batch import FileOptions, LoadOptions, restore_row

ROW_FIELDS = ("input", "output")


@dataclass(frozen=True)
class ActorSpec:
    """What each actor loads (the model and how) and how it writes each file."""

    source: str
    load: LoadOptions = field(default_factory=LoadOptions)
    files: FileOptions = field(default_factory=FileOptions)

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> ActorSpec:
        """The spec from `asdict` (how it travels to the actors)."""
        return cls(spec["source"], LoadOptions(**spec["load"]), FileOptions(**spec["files"]))


class RestoreActor:
    """One Ray actor: the model loaded once, then one row per call (an image is already a large unit)."""

    def __init__(self, spec: dict[str, Any]) -> None:

        self.spec = ActorSpec.from_dict(spec)
        self.restorer = self.spec.load.load(self.spec.source)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        rows: dict[str, list] = {"input": [], "output": [], "row": []}  # row: the image's JSON row, as text
        for src, dst in zip(batch["input"], batch["output"], strict=True):
            result, _ = restore_row(self.restorer, str(src), str(dst), self.spec.files)
            rows["input"].append(str(src))
            rows["output"].append(str(dst))
            rows["row"].append(json.dumps(result))
        return rows


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise DependencyError("Ray is not installed: pip install 'effrestore[ray]'") from None
    return ray


ADDRESS = re.compile(r"local|auto|ray://[^\s:]+:\d+|[^\s:/]+:\d+")


HEAD_START_SECONDS = 120  # a head node takes tens of seconds to start on two cores


def connect(address: str) -> None:
    """`local` starts a cluster for this run, `auto` joins the running one, `HOST:PORT` the
    cluster whose head is there, `ray://HOST:PORT` one through Ray Client."""
    if not ADDRESS.fullmatch(address):
        raise ConfigError(f"--ray takes local, auto, HOST:PORT or ray://HOST:PORT, got {address!r}")
    if address == "local" and "ray" not in sys.modules:
        os.environ[_LOOPBACK_ONLY] = "0"  # read when ray is imported: this driver listens on loopback too
    ray = _ray()
    if ray.is_initialized():
        return
    if address == "local":
        address = start_local_head()
    ray.init(address=address, log_to_driver=False, configure_logging=False)


# Ray's switch for a machine-local cluster: with it off, every Ray server binds to 127.0.0.1 (`ray start
# --node-ip-address=127.0.0.1` alone still binds the machine's address and, for the GCS, all interfaces).
_LOOPBACK_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def start_local_head() -> str:
    """Starts a head node listening on 127.0.0.1 only (a run's workers are not a service for the network)
    and stops it, by its PID, when this process exits."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
               "--node-ip-address=127.0.0.1", f"--port={port}", "--include-dashboard=false",
               "--disable-usage-stats"]  # fmt: skip
    environment = {**os.environ, _LOOPBACK_ONLY: "0"}
    head = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=environment)
    atexit.register(_stop, head)
    deadline = time.monotonic() + HEAD_START_SECONDS
    while True:  # bounded: the head listens, exits, or the deadline passes
        if head.poll() is not None:
            detail = " ".join(head.stderr.read().split()[-40:]) if head.stderr else ""
            raise DependencyError(f"the local Ray head did not start (exit {head.returncode}): {detail}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return f"127.0.0.1:{port}"
        if time.monotonic() > deadline:
            _stop(head)
            raise DependencyError(f"the local Ray head did not listen within {HEAD_START_SECONDS} s")
        time.sleep(0.5)


def _stop(head: subprocess.Popen) -> None:
    """Ends a head started by `start_local_head` (`ray start --block` stops its node's processes when
    terminated), after this process has left the cluster."""
    if head.poll() is not None:
        return
    ray = _ray()
    if ray.is_initialized():
        ray.shutdown()
    stop_process(head)


def restore_dataset(dataset: Any, spec: ActorSpec, *, workers: int = 1, cpus_per_worker: float = 1) -> Any:
    """`dataset` (rows with "input" and "output" paths) mapped through `workers` actors; each output row
    gains `row`, the image's JSON row as text (its stats, or `error` for an image that failed)."""
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    missing = [name for name in ROW_FIELDS if name not in dataset.schema().names]
    if missing:
        raise ConfigError(f"the dataset needs columns {', '.join(ROW_FIELDS)}; it lacks {', '.join(missing)}")
    return dataset.map_batches(
        RestoreActor,
        fn_constructor_kwargs={"spec": asdict(spec)},
        batch_size=1,
        concurrency=workers,
        num_cpus=cpus_per_worker,
        batch_format="numpy",
    )


def restore_files(
    jobs: list[tuple[Path, Path]],
    spec: ActorSpec,
    *,
    address: str,
    workers: int,
    cpus_per_worker: float,
) -> Iterator[dict]:
    """Restores (input, output) files on the cluster at `address`; yields each image's JSON row as it
    finishes (not in input order)."""
    connect(address)
    ray = _ray()
    items = [{"input": str(src), "output": str(dst)} for src, dst in jobs]
    restored = restore_dataset(ray.data.from_items(items), spec, workers=workers, cpus_per_worker=cpus_per_worker)
    for record in restored.iter_rows():
        yield json.loads(record["row"])
