"""`run --ray` on a real local Ray cluster: the test starts a head node bound to 127.0.0.1 and stops it by
its PID; outputs are byte-identical to a plain `effrestore run`, a bad image is reported while the others
finish, a rerun with --skip-existing does nothing, and a Ray Dataset goes through `restore_dataset`."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow  # a Ray cluster takes tens of seconds to start on two cores
ray = pytest.importorskip("ray")
ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "astronaut-noisy25.png"
STARTUP_SECONDS = 120


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Ray (2.59+) authenticates every connection to a cluster with a token: the head and its clients share one.
# Ray's machine-local mode: every server of the test cluster listens on loopback only.
RAY_ENV = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
           "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # fmt: skip


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "effrestore", *args], capture_output=True, text=True, timeout=900, env=RAY_ENV
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a head node started for these tests (two CPUs, no dashboard, loopback only)."""
    port = _free_port()
    temp = tmp_path_factory.mktemp("ray")
    command = [shutil.which("ray") or "ray", "start", "--head", "--block", "--node-ip-address=127.0.0.1",
               f"--port={port}", "--num-cpus=2", "--include-dashboard=false", f"--temp-dir={temp}",
               "--disable-usage-stats"]  # fmt: skip
    log = (temp / "head.log").open("w")
    head = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=RAY_ENV)
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    try:
        while True:  # bounded: the head answers, exits, or the deadline passes
            if head.poll() is not None:
                pytest.fail(f"ray start exited with {head.returncode}: {(temp / 'head.log').read_text()[-2000:]}")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"the Ray head did not listen within {STARTUP_SECONDS} s")
            time.sleep(0.5)
        yield address
    finally:
        head.terminate()  # `ray start --block` stops the node's processes when it is terminated
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait()
        log.close()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    images = tmp_path_factory.mktemp("inputs")
    photo = Image.open(SAMPLE)
    for index in range(4):
        photo.crop((index * 30, index * 10, index * 30 + 100, index * 10 + 84)).save(images / f"photo{index}.png")
    (images / "broken.png").write_bytes(b"not a png at all")
    np.save(images / "empty.npy", np.zeros((0, 16, 3), np.uint8))
    return images


def test_ray_outputs_equal_plain_run_and_a_bad_image_is_reported(cluster: str, folder: Path, tmp_path: Path) -> None:
    plain, on_ray = tmp_path / "plain", tmp_path / "ray"
    plain.mkdir()
    on_ray.mkdir()
    common = ("--threads", "1", "--keep-going", "--json")
    started = time.perf_counter()
    reference = _cli("run", str(folder), "--out-dir", str(plain), *common)
    plain_seconds = time.perf_counter() - started
    started = time.perf_counter()
    result = _cli("run", str(folder), "--out-dir", str(on_ray), "--ray", cluster, "--workers", "2", *common)
    ray_seconds = time.perf_counter() - started
    print(f"5 images: plain run {plain_seconds:.1f} s, Ray (2 workers, joining a running cluster) {ray_seconds:.1f} s")
    assert reference.returncode == result.returncode == 1, result.stderr
    rows = {Path(row["input"]).name: row for row in json.loads(result.stdout)}
    assert set(rows) == {f"photo{i}.png" for i in range(4)} | {"broken.png", "empty.npy"}
    assert "cannot read this image" in rows["broken.png"]["error"] and "broken.png" in result.stderr
    assert "the image is empty" in rows["empty.npy"]["error"] and "2 of 6 images failed" in result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    for index in range(4):
        name = f"photo{index}.png"
        assert "error" not in rows[name]
        assert np.array_equal(np.asarray(Image.open(on_ray / name)), np.asarray(Image.open(plain / name)))
    assert not [p for p in on_ray.iterdir() if p.name.endswith(".partial")]
    again = _cli("run", str(folder), "--out-dir", str(on_ray), "--ray", cluster, "--skip-existing", "--keep-going")
    assert again.returncode == 1 and "broken.png" in again.stderr  # only the bad ones were left to do
    assert sorted(p.name for p in on_ray.iterdir()) == sorted(f"photo{i}.png" for i in range(4))


def test_without_keep_going_the_first_failure_stops_the_run(cluster: str, folder: Path, tmp_path: Path) -> None:
    result = _cli("run", str(folder / "broken.png"), "--out-dir", str(tmp_path), "--ray", cluster)
    assert result.returncode == 2 and "error:" in result.stderr and "broken.png" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_ray_dataset_through_restore_dataset(cluster: str, folder: Path, tmp_path: Path) -> None:
    code = f"""
import json, ray
from effrestore.runtime.batch import LoadOptions
from effrestore.serving.ray import ActorSpec, connect, restore_dataset
connect({cluster!r})
items = [{{"input": {str(folder / "photo0.png")!r}, "output": {str(tmp_path / "out.png")!r}}}]
rows = restore_dataset(ray.data.from_items(items), ActorSpec("denoise-color", LoadOptions(threads=1))).take_all()
print(json.dumps(json.loads(rows[0]["row"])))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=RAY_ENV)
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout.strip().splitlines()[-1])
    assert row["output"] == str(tmp_path / "out.png") and row["tiles"] >= 1
    assert Image.open(tmp_path / "out.png").size == (100, 84)


LOOPBACK_CHECK = """
import json
import psutil
from effrestore.serving.ray import connect
connect("local")  # before anything imports ray, as in `effrestore run --ray local`
import ray
print(ray.get_runtime_context().gcs_address, [node["NodeManagerAddress"] for node in ray.nodes()])
ray.get(ray.remote(lambda: 1).remote())  # a worker started, with its own servers
ours = {p.pid for p in psutil.process_iter(["cmdline"]) if "ray" in " ".join(p.info["cmdline"] or [])}
ours.add(psutil.Process().pid)
listening = {c.laddr.ip for c in psutil.net_connections("inet") if c.status == "LISTEN" and c.pid in ours}
print(json.dumps(sorted(listening)))
"""


def test_a_cluster_started_for_a_run_listens_on_loopback_only() -> None:
    """Every server of the head, its workers and the driver listens on loopback, nothing on the network."""
    result = subprocess.run(
        [sys.executable, "-c", LOOPBACK_CHECK], capture_output=True, text=True, timeout=600, env=RAY_ENV
    )
    assert result.returncode == 0, result.stderr
    *_, addresses, listening = result.stdout.strip().splitlines()
    gcs, nodes = addresses.split(" ", 1)
    assert gcs.startswith("127.0.0.1:") and nodes == "['127.0.0.1']", result.stdout
    ips = json.loads(listening)
    assert ips and set(ips) <= {"127.0.0.1", "::ffff:127.0.0.1", "::1"}, ips


def test_a_bad_address_is_refused_up_front(folder: Path, tmp_path: Path) -> None:
    result = _cli("run", str(folder / "photo0.png"), "--out-dir", str(tmp_path), "--ray", "somewhere")
    assert result.returncode == 2 and "local, auto, HOST:PORT" in result.stderr
