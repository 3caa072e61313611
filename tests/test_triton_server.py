"""The python-flavour entries in a real Triton Inference Server: the `tritonserver` that nvidia-pytriton
bundles, started on free loopback ports on a repository written by `effrestore triton-repo`, and real
`tritonclient` requests over HTTP and gRPC.

nvidia-pytriton 0.7 needs numpy < 2, so the server and the entries' Python run in their own environment,
named by EFFRESTORE_TRITON_ENV (`.ci/run` builds it: see the README's Development section).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from effrestore.runtime import Restorer
from effrestore.zoo import require_entry

pytestmark = pytest.mark.triton
ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "astronaut-noisy25.png"
ENV = os.environ.get("EFFRESTORE_TRITON_ENV")
BUDGET, THREADS = "1GiB", "2"
TIGHT_BUDGET = "512MiB"  # room for the stub with the model loaded (~190 MiB here, more with a bf16 check)

httpclient = pytest.importorskip("tritonclient.http")
grpcclient = pytest.importorskip("tritonclient.grpc")
from tritonclient.utils import InferenceServerException  # noqa: E402


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _cli(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "effrestore", *args], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr


@dataclass(frozen=True)
class Server:
    http: str
    grpc: str
    repository: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not ENV:
        pytest.skip("EFFRESTORE_TRITON_ENV names no environment with nvidia-pytriton (see the README)")
    from effrestore.serving.tritonserver import PythonEnv, running_server

    repository = tmp_path_factory.mktemp("site") / "repository"
    common = ("--python-env", ENV, "--threads", THREADS, "--mem-budget", BUDGET, "-o", str(repository))
    _cli("triton-repo", "denoise-color", *common)
    _cli("triton-repo", "denoise-gray", "--name", "gray16", "--image-dtype", "uint16", *common)
    _cli("triton-repo", "denoise-color", "--name", "rgb2", "--instances", "2", *common)
    _cli("triton-repo", "denoise-color", "--name", "half", "--strength", "0.5", *common)
    _cli("triton-repo", "denoise-color", "--name", "tight", *common, "--mem-budget", TIGHT_BUDGET)
    http_port, grpc_port = _free_port(), _free_port()
    workdir = tmp_path_factory.mktemp("server")
    with running_server(repository, PythonEnv.at(Path(ENV)), workdir, http_port=http_port, grpc_port=grpc_port):
        yield Server(f"127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}", repository)


def _expected(model: str, image: np.ndarray, strength: float = 1.0) -> np.ndarray:
    restorer = Restorer.load(require_entry(model).onnx, mem_budget=BUDGET, threads=int(THREADS), strength=strength)
    return restorer.restore(image)


def _infer(module, url: str, model: str, image: np.ndarray, **parameters: object) -> np.ndarray:  # type: ignore[no-untyped-def]
    client = module.InferenceServerClient(url)
    tensor = module.InferInput("IMAGE", list(image.shape), "UINT16" if image.dtype == np.uint16 else "UINT8")
    tensor.set_data_from_numpy(image)
    return client.infer(model, [tensor], parameters=parameters or None).as_numpy("RESTORED")


def _photo() -> np.ndarray:
    return np.asarray(Image.open(SAMPLE).convert("RGB"))


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_outputs_are_byte_identical_to_the_restorer(server: Server, protocol: str) -> None:
    module, url = (httpclient, server.http) if protocol == "http" else (grpcclient, server.grpc)
    rgb = _photo()[:97, :131]
    rgba = np.concatenate([rgb, np.full((97, 131, 1), 200, np.uint8)], axis=2)
    gray16 = (np.asarray(Image.open(SAMPLE).convert("L"), dtype=np.uint16)[:70, :90] * 257)[..., None]
    for model, image, reference in [("denoise-color", rgb, "denoise-color"), ("denoise-color", rgba, "denoise-color"),
                                    ("gray16", gray16, "denoise-gray")]:  # fmt: skip
        restored = _infer(module, url, model, image)
        assert restored.dtype == image.dtype and restored.shape == image.shape
        assert np.array_equal(restored, _expected(reference, image)), (model, image.shape)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_strength_from_the_entry_and_from_the_request(server: Server, protocol: str) -> None:
    module, url = (httpclient, server.http) if protocol == "http" else (grpcclient, server.grpc)
    rgb = np.ascontiguousarray(_photo()[:64, :80])
    assert np.array_equal(_infer(module, url, "half", rgb), _expected("denoise-color", rgb, 0.5))
    assert np.array_equal(_infer(module, url, "half", rgb, strength=0.0), rgb), "0 returns the input"
    assert np.array_equal(_infer(module, url, "half", rgb, strength=1.0), _expected("denoise-color", rgb))
    with pytest.raises(InferenceServerException) as refused:
        _infer(module, url, "half", rgb, strength=1.5)
    assert "strength must be between 0" in str(refused.value)


def test_concurrent_requests_on_two_instances_are_each_correct(server: Server) -> None:
    photo = _photo()
    crops = [np.ascontiguousarray(photo[i * 8 : i * 8 + 64, i * 8 : i * 8 + 72]) for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda crop: _infer(httpclient, server.http, "rgb2", crop), crops * 2))
    for crop, result in zip(crops * 2, results, strict=True):
        assert np.array_equal(result, _expected("denoise-color", crop))


@pytest.mark.parametrize(
    ("image", "words"),
    [
        (np.zeros((16, 16, 5), np.uint8), "1-4 channels"),
        (np.zeros((0, 64, 3), np.uint8), "empty"),
        (np.zeros((16, 16), np.uint8), ""),  # the config's dims refuse H×W before the model sees it
    ],
    ids=["five-channels", "empty", "two-dims"],
)
def test_bad_requests_are_client_errors_and_the_server_stays_ready(
    server: Server, image: np.ndarray, words: str
) -> None:
    with pytest.raises(InferenceServerException) as http_error:
        _infer(httpclient, server.http, "denoise-color", image)
    assert http_error.value.status() == "400" and words in str(http_error.value)
    with pytest.raises(InferenceServerException) as grpc_error:
        _infer(grpcclient, server.grpc, "denoise-color", image)
    assert grpc_error.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert httpclient.InferenceServerClient(server.http).is_model_ready("denoise-color")


def test_an_image_over_the_entrys_budget_is_a_client_error(server: Server) -> None:
    with pytest.raises(InferenceServerException) as http_error:
        _infer(httpclient, server.http, "tight", np.zeros((9000, 9000, 3), np.uint8))  # 243 MB in, 243 MB out
    assert http_error.value.status() == "400" and "budget" in str(http_error.value), str(http_error.value)
    assert httpclient.InferenceServerClient(server.http).is_model_ready("tight")


def test_every_written_entry_loaded(server: Server) -> None:
    client = httpclient.InferenceServerClient(server.http)
    index = {entry["name"]: entry["state"] for entry in client.get_model_repository_index()}
    assert index == {"denoise-color": "READY", "gray16": "READY", "rgb2": "READY", "half": "READY", "tight": "READY"}
    assert not [p for p in server.repository.iterdir() if p.name.startswith(".")]


def test_triton_serve_prints_the_loopback_command(server: Server) -> None:
    command = ["triton-serve", str(server.repository), "--server-env", str(ENV), "--print"]
    result = subprocess.run([sys.executable, "-m", "effrestore", *command], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "bin/tritonserver" in result.stdout and "--http-address=127.0.0.1" in result.stdout
    assert f"--model-repository={server.repository.resolve()}" in result.stdout


def test_an_entry_that_cannot_load_is_named_in_the_startup_error(tmp_path: Path) -> None:
    """An entry whose budget was edited below the model's own footprint stops the server; the error says which
    entry and why, not only the status tables Triton prints last."""
    if not ENV:
        pytest.skip("EFFRESTORE_TRITON_ENV names no environment with nvidia-pytriton (see the README)")
    from effrestore.serving.tritonserver import PythonEnv, ServerError, running_server

    repository = tmp_path / "repository"
    _cli("triton-repo", "denoise-color", "--name", "starved", "--python-env", ENV, "-o", str(repository))
    config = repository / "starved" / "config.pbtxt"
    unbudgeted = 'key: "mem_budget"\n    value {\n      string_value: ""'
    assert unbudgeted in config.read_text()
    config.write_text(config.read_text().replace(unbudgeted, unbudgeted[:-1] + '8MiB"'))
    with (
        pytest.raises(ServerError, match=r"(?s)errors in the log:.*starved.*budget"),
        running_server(repository, PythonEnv.at(Path(ENV)), tmp_path, http_port=_free_port(), grpc_port=_free_port()),
    ):
        pass
