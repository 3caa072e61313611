"""The engine doctor: whether a plan runs here, decided from manifest + header, and the rebuild command."""

from __future__ import annotations

import shlex
from pathlib import Path

from effrestore.trt.doctor import diagnose, rebuild_command, tensorrt_compatible
from effrestore.trt.environment import Gpu, parse_nvidia_smi, visible_gpus
from effrestore.trt.flavours import TENSORRT, TENSORRT_RTX
from effrestore.trt.manifest import BuilderOptions, manifest_path, read_manifest
from effrestore.trt.profiles import Profile, profile_from_options

from .conftest import META, write_engine

H100 = [Gpu("NVIDIA H100 80GB HBM3", "9.0")]


def test_version_and_gpu_rules() -> None:
    assert tensorrt_compatible("10.13.0.35", "10.13.0.99", False)
    assert not tensorrt_compatible("10.13.0.35", "10.14.0.1", False)
    assert tensorrt_compatible("10.13.0.35", "10.14.0.1", True) and not tensorrt_compatible("10.13.0", "10.12.0", True)
    assert not tensorrt_compatible("10.13.0", "11.0.0", True)
    assert TENSORRT.runs_on(("9.0",), "9.0", False) and not TENSORRT.runs_on(("9.0",), "8.9", False)
    assert TENSORRT.runs_on(("8.0",), "8.9", True) and not TENSORRT.runs_on(("8.0",), "7.5", True)
    assert TENSORRT_RTX.runs_on(TENSORRT_RTX.default_capabilities, "8.6", False)
    assert not TENSORRT_RTX.runs_on(TENSORRT_RTX.default_capabilities, "9.0", False)  # no Hopper target
    assert parse_nvidia_smi("NVIDIA H100 80GB HBM3, 9.0\nNVIDIA A10, 8.6\n") == [*H100, Gpu("NVIDIA A10", "8.6")]


def test_gpus_as_cuda_numbers_them() -> None:
    listed = parse_nvidia_smi("NVIDIA A10, 8.6, GPU-aaaa-1\nNVIDIA H100, PCIe, 9.0, GPU-bbbb-2\n")
    a10, h100 = listed
    assert h100 == Gpu("NVIDIA H100, PCIe", "9.0", "GPU-bbbb-2") and a10.uuid == "GPU-aaaa-1"
    assert visible_gpus(listed, None) == listed
    assert visible_gpus(listed, "1,0") == [h100, a10]
    assert visible_gpus(listed, "GPU-bbbb") == [h100]
    assert visible_gpus(listed, "") == [] and visible_gpus(listed, "-1") == []
    assert visible_gpus(listed, "0,7,1") == [a10], "CUDA stops at the first entry it cannot match"


def test_runs_on_the_machine_it_was_built_for(tmp_path: Path) -> None:
    diagnosis = diagnose(write_engine(tmp_path), H100, {"tensorrt": "10.13.0.35"})
    assert diagnosis.runs_here and diagnosis.problems == []


def test_problems_are_named_with_a_rebuild_command(tmp_path: Path) -> None:
    plan = write_engine(tmp_path)
    no_trt = diagnose(plan, [], {"tensorrt": None})
    assert any("tensorrt is not installed here" in p for p in no_trt.problems)
    assert any("no NVIDIA GPU" in p for p in no_trt.problems)
    other = diagnose(plan, [Gpu("NVIDIA GeForce RTX 4090", "8.9")], {"tensorrt": "10.14.1.2"})
    assert any("built with tensorrt 10.13.0.35, this machine has tensorrt 10.14.1.2" in p for p in other.problems)
    assert any("compute capability 9.0" in p and "8.9" in p for p in other.problems)
    assert other.rebuild_command == (
        f"effrestore build models/tiny.onnx -o {plan} --precision fp16 --target tensorrt --tiles 256,512"
    )
    plan.write_bytes(plan.read_bytes() + b"tampered")
    assert any("sha256 differs" in p for p in diagnose(plan, H100, {"tensorrt": "10.13.0.35"}).problems)


def test_compatibility_flags_widen_where_it_runs(tmp_path: Path) -> None:
    flags = BuilderOptions(version_compatible=True, hardware_compat=True, workspace=2**30)
    plan = write_engine(tmp_path, compute_capabilities=("8.0",), builder=flags)
    diagnosis = diagnose(plan, [Gpu("NVIDIA L4", "8.9")], {"tensorrt": "10.15.0.1"})
    assert diagnosis.runs_here, diagnosis.problems
    assert "--version-compatible" in diagnosis.rebuild_command and "--hardware-compat" in diagnosis.rebuild_command  # type: ignore[operator]
    assert "--workspace 1073741824" in diagnosis.rebuild_command  # type: ignore[operator]


def test_same_capability_other_gpu_is_a_note(tmp_path: Path) -> None:
    diagnosis = diagnose(write_engine(tmp_path), [Gpu("NVIDIA H200", "9.0")], {"tensorrt": "10.13.0.35"})
    assert diagnosis.runs_here and "rebuilding here may be faster" in diagnosis.notes[0]


def test_header_and_manifest_disagree_or_are_missing(tmp_path: Path) -> None:
    plan = write_engine(tmp_path, tensorrt_version="10.7.0.1")  # header written for 10.13
    assert any(
        "manifest belongs to another engine" in p for p in diagnose(plan, H100, {"tensorrt": "10.7.0.1"}).problems
    )
    manifest_path(plan).unlink()
    lonely = diagnose(plan, H100, {"tensorrt": "10.13.0.35"})
    assert not lonely.runs_here and "no manifest" in lonely.problems[0] and lonely.rebuild_command is None


def test_rebuild_command_for_a_custom_profile_parses_back(tmp_path: Path) -> None:
    profile = Profile((1, 3, 64, 64), (1, 3, 384, 384), (2, 3, 768, 768))
    plan = write_engine(tmp_path, profiles=(profile,), device_memory=(1,))
    words = shlex.split(rebuild_command(read_manifest(plan), plan))
    shapes = [words[words.index(f"--{k}-shape") + 1] for k in ("min", "opt", "max")]
    assert profile_from_options("input", META, *shapes) == profile
