"""Latency and throughput of the python-flavour entry in a real Triton server (the one nvidia-pytriton
bundles), over HTTP and gRPC, with one and two model instances.

    python benchmarks/triton_serving.py --server-env ENV [--side 128] [--requests 20]

ENV: a Python environment with nvidia-pytriton, effrestore and numpy<2 (see the README's Triton section).
Prints one row per protocol × instances: the median latency of sequential requests and the throughput
of 4 concurrent clients. The server binds 127.0.0.1 and is stopped by its PID at the end.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from PIL import Image

from effrestore.serving.tritonserver import PythonEnv, running_server

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "astronaut-noisy25.png"
CLIENTS = 4


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def request(module, url: str, model: str, image: np.ndarray) -> float:  # type: ignore[no-untyped-def]
    client = module.InferenceServerClient(url)
    tensor = module.InferInput("IMAGE", list(image.shape), "UINT8")
    tensor.set_data_from_numpy(image)
    started = time.perf_counter()
    client.infer(model, [tensor]).as_numpy("RESTORED")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server-env", type=Path, required=True)
    parser.add_argument("--side", type=int, default=128)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    env = PythonEnv.at(args.server_env)
    image = np.ascontiguousarray(np.asarray(Image.open(SAMPLE).convert("RGB"))[: args.side, : args.side])
    with tempfile.TemporaryDirectory() as folder:
        repository = Path(folder) / "repository"
        for name, instances, threads in (("one", 1, 2), ("two", 2, 1)):
            subprocess.run(
                [sys.executable, "-m", "effrestore", "triton-repo", "denoise-color", "-o", str(repository), "--name",
                 name, "--instances", str(instances), "--threads", str(threads), "--mem-budget", "1GiB",
                 "--python-env", str(env.root)],
                check=True, capture_output=True,
            )  # fmt: skip
        http_port, grpc_port = free_port(), free_port()
        with running_server(repository, env, Path(folder), http_port=http_port, grpc_port=grpc_port):
            print(f"denoise-color, {args.side}² RGB, {args.requests} requests; throughput with {CLIENTS} clients")
            print("| protocol | instances × threads | median latency (ms) | throughput (req/s) |")
            print("|---|---|---|---|")
            for protocol, module, url in (("HTTP", httpclient, f"127.0.0.1:{http_port}"),
                                          ("gRPC", grpcclient, f"127.0.0.1:{grpc_port}")):  # fmt: skip
                for name, label in (("one", "1 × 2"), ("two", "2 × 1")):
                    request(module, url, name, image)  # warm-up: the first call compiles
                    latencies = [request(module, url, name, image) for _ in range(args.requests)]
                    started = time.perf_counter()
                    with ThreadPoolExecutor(CLIENTS) as pool:
                        calls = [pool.submit(request, module, url, name, image) for _ in range(args.requests)]
                        for call in calls:
                            call.result()
                    rate = args.requests / (time.perf_counter() - started)
                    print(f"| {protocol} | {label} | {statistics.median(latencies) * 1000:.0f} | {rate:.1f} |")


if __name__ == "__main__":
    main()
