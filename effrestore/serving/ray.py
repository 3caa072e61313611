"""Batch restores on a Ray cluster: a pool of actors, each holding one loaded `Restorer`, restores a Ray
Dataset of (input, output) file paths with Ray Data, reading and writing files as `effrestore run` does
(atomic writes, the same checks and errors, one JSON row per image).

`restore_dataset` is for users who already have a Dataset; `restore_files` is what `run --ray` uses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from effrestore.errors import ConfigError, DependencyError
from effrestore.runtime.batch import restore_row

ROW_FIELDS = ("input", "output")


@dataclass(frozen=True)
class ActorSpec:
    """What each actor loads (`Restorer.load` keywords) and how it writes (`Restorer.restore_file`'s)."""

    source: str
    load: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Any] = field(default_factory=dict)


class RestoreActor:
    """One Ray actor: the model loaded once, then one row per call (an image is already a large unit)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        from effrestore.runtime import Restorer

        self.spec = ActorSpec(**spec)
        self.restorer = Restorer.load(self.spec.source, **self.spec.load)

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


def connect(address: str) -> None:
    """`local` starts a cluster for this run, `auto` joins the running one, `HOST:PORT` the
    cluster whose head is there, `ray://HOST:PORT` one through Ray Client."""
    if not ADDRESS.fullmatch(address):
        raise ConfigError(f"--ray takes local, auto, HOST:PORT or ray://HOST:PORT, got {address!r}")
    ray = _ray()
    if ray.is_initialized():
        return
    # a cluster started here listens on loopback only: a run's workers are not a service for the network
    local = (
        {"include_dashboard": False, "_node_ip_address": "127.0.0.1"} if address == "local" else {"address": address}
    )
    ray.init(**local, log_to_driver=False, configure_logging=False)


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
