"""Would int8 pay on this CPU? NNCF post-training quantisation of a shipped model, measured side by side with
the fp32 model in one run: warm OpenVINO seconds of one SIDE² call (median, the two alternating) and
validation PSNR on the model's own protocol (`evaluation.standard_conditions`, whole images).

Calibration: noisy crops (σ ~ U[0, 50]) of training images — never of the validation photos.
Needs `pip install nncf` (not a dependency of effrestore: int8 is not shipped, see the README).

Usage: python benchmarks/int8_openvino.py NAME [--calibration ../shared/data/cbsd432]
       [--validation runs/validation/color] [--threads 2] [--side 512] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from effrestore import zoo
from effrestore.evaluation import evaluate, load_eval_images, standard_conditions
from effrestore.image_folders import read_image_folder
from effrestore.model_file import ModelFile
from effrestore.runtime.backends.openvino import cpu_name, runtime_version

CROP = 128
CALIBRATION_CROPS = 32


def calibration_batches(folder: Path, channels: int, seed: int = 0) -> list[np.ndarray]:
    """Noisy 1×C×CROP² crops, one per training image (the first CALIBRATION_CROPS of them)."""
    rng = np.random.default_rng(seed)
    batches = []
    for _, image in read_image_folder(folder, channels, limit=CALIBRATION_CROPS):
        top, left = rng.integers(0, image.shape[0] - CROP), rng.integers(0, image.shape[1] - CROP)
        crop = image[top : top + CROP, left : left + CROP] / 255.0
        noisy = crop + rng.normal(0, rng.uniform(0, 50) / 255, crop.shape)
        batches.append(noisy.transpose(2, 0, 1)[None].astype(np.float32))
    return batches


class Runner:
    """One OpenVINO model compiled per input shape (f32 arithmetic; an int8 model runs its int8 parts as int8)."""

    def __init__(self, core, model, threads: int, multiple: int) -> None:
        self.core, self.model, self.multiple = core, model, multiple
        self.config = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": threads,
            "INFERENCE_PRECISION_HINT": "f32",
        }
        self.requests: dict[tuple[int, ...], object] = {}

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        if batch.shape not in self.requests:
            model = self.model.clone()
            model.reshape({model.inputs[0].get_any_name(): list(batch.shape)})
            self.requests[batch.shape] = self.core.compile_model(model, "CPU", self.config).create_infer_request()
        request = self.requests[batch.shape]
        request.infer({0: batch})
        return request.get_output_tensor(0).data.copy()

    def restore(self, image: np.ndarray) -> np.ndarray:
        """H×W×C in [0, 1] → restored H·s×W·s×C, as the evaluation protocol calls a method: reflect-padded to
        the model's multiple (as effrestore pads), the padding cropped off the output."""
        height, width = image.shape[:2]
        padded = np.pad(image, ((0, -height % self.multiple), (0, -width % self.multiple), (0, 0)), mode="reflect")
        output = self(np.ascontiguousarray(padded.transpose(2, 0, 1)[None]))[0].transpose(1, 2, 0)
        scale = output.shape[0] // padded.shape[0]
        return output[: height * scale, : width * scale]


def warm_seconds(runners: dict[str, Runner], shape: tuple[int, ...], repeats: int) -> dict[str, float]:
    """Median seconds of a warm call per runner, the runners alternating so a slow spell hits all alike."""
    batch = np.random.default_rng(1).random(shape, dtype=np.float32)
    times: dict[str, list[float]] = {name: [] for name in runners}
    for runner in runners.values():
        runner(batch)  # compile and first touch
    for _ in range(repeats):
        for name, runner in runners.items():
            start = time.perf_counter()
            runner(batch)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="a zoo model, e.g. denoise-color")
    parser.add_argument("--calibration", type=Path, default=Path("../shared/data/cbsd432"))
    parser.add_argument("--validation", type=Path, default=Path("runs/validation/color"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    try:
        import nncf
    except ImportError:
        raise SystemExit("this benchmark needs NNCF: pip install nncf") from None
    import openvino as ov

    entry = zoo.require_entry(args.name)
    core = ov.Core()
    fp32 = core.read_model(str(entry.onnx))
    channels = fp32.inputs[0].get_partial_shape()[1].get_length()
    calibration = calibration_batches(args.calibration, channels)
    calibrated = fp32.clone()
    calibrated.reshape({calibrated.inputs[0].get_any_name(): list(calibration[0].shape)})
    int8 = nncf.quantize(calibrated, nncf.Dataset(calibration), preset=nncf.QuantizationPreset.MIXED)
    int8.reshape({int8.inputs[0].get_any_name(): [-1, channels, -1, -1]})
    multiple = ModelFile.resolve(entry.onnx).meta.multiple_of
    runners = {name: Runner(core, model, args.threads, multiple) for name, model in (("fp32", fp32), ("int8", int8))}

    seconds = warm_seconds(runners, (1, channels, args.side, args.side), args.repeats)
    images = load_eval_images(args.validation, channels)
    scale = entry.card["config"]["scale"]
    methods: dict[str, Callable] = {name: (lambda _, r=runner: r.restore) for name, runner in runners.items()}
    results = evaluate(methods, images, standard_conditions(scale), with_ssim=False)
    psnr = {(r.method, r.condition.label): r.psnr for r in results}
    labels = list(dict.fromkeys(r.condition.label for r in results))

    print(f"{args.name}, {cpu_name()}, OpenVINO {runtime_version()}, NNCF {nncf.__version__}, {args.threads} threads")
    print(
        f"warm {args.side}² call: median of {args.repeats}; validation PSNR on {args.validation} ({len(images)} images)"
    )
    print()
    print("| model | warm s | speed vs fp32 | " + " | ".join(f"PSNR {label}" for label in labels) + " |")
    print("|---|---|---|" + "---|" * len(labels))
    for name in runners:
        cells = " | ".join(f"{psnr[name, label]:.2f}" for label in labels)
        print(f"| {name} | {seconds[name]:.3f} | {seconds['fp32'] / seconds[name]:.2f}× | {cells} |")


if __name__ == "__main__":
    main()
