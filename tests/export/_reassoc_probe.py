"""Subprocess: peak RSS growth (bytes) of one ONNX Runtime run of the model at argv[1] on N = 192×192."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort


def vm_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


options = ort.SessionOptions()
options.intra_op_num_threads = 1
session = ort.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])
n, c, d = 192 * 192, 8, 16
rng = np.random.default_rng(0)
feeds = {
    "A": rng.random((1, n, c), dtype=np.float32),
    "B": rng.random((1, n, c), dtype=np.float32),
    "V": rng.random((1, n, d), dtype=np.float32),
}
before = vm_kib("VmRSS")
Path("/proc/self/clear_refs").write_text("5")
session.run(None, feeds)
print((vm_kib("VmHWM") - before) * 1024)
