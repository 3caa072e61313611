"""The engine doctor: will this `.plan` run here? Decided from its manifest and header, and on a machine with
a GPU from the flavour's own header check, without TensorRT deserialising it (which would fail with an
opaque serialisation error, or crash, on a mismatch)."""

from __future__ import annotations

import hashlib
import importlib.util
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from effrestore.errors import EngineError
from effrestore.trt.environment import Gpu
from effrestore.trt.flavours import FLAVOURS, flavour_named
from effrestore.trt.manifest import EngineManifest, read_manifest
from effrestore.trt.plan_header import PlanHeader, read_plan_header
from effrestore.trt.profiles import format_dims, tile_ladder


@dataclass
class Diagnosis:
    plan: Path
    header: PlanHeader
    manifest: EngineManifest | None
    problems: list[str] = field(default_factory=list)  # why it will not run here
    notes: list[str] = field(default_factory=list)  # facts worth knowing that do not stop it

    @property
    def runs_here(self) -> bool:
        return not self.problems

    @property
    def rebuild_command(self) -> str | None:
        return rebuild_command(self.manifest, self.plan) if self.manifest else None


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def tensorrt_compatible(built: str, local: str, version_compatible: bool) -> bool:
    """Same major.minor.patch; a version-compatible engine also runs on later versions of its major."""
    b, here = _version_tuple(built), _version_tuple(local)
    if version_compatible:
        return here[:1] == b[:1] and here[:3] >= b[:3]
    return here[:3] == b[:3]


def diagnose(
    plan: str | Path,
    gpus: list[Gpu],
    installed: dict[str, str | None] | None = None,
    check_digest: bool = True,
    ask_tensorrt: bool = False,
) -> Diagnosis:
    """Every reason the engine at `plan` will not run on a machine with `gpus` (the one it would run on
    first) and `installed` TensorRT versions by flavour name (default: this machine's), from the plan's
    header and manifest. `ask_tensorrt` adds the installed flavour's own header check, which speaks for this
    machine's GPU and driver, so it is for `gpus` that are this machine's."""
    plan = Path(plan)
    header = read_plan_header(plan)
    try:
        manifest: EngineManifest | None = read_manifest(plan)
    except EngineError as exc:
        manifest = None
        result = Diagnosis(plan, header, None, problems=[str(exc)])
    else:
        result = Diagnosis(plan, header, manifest)
    if not header.magic_ok:
        tags = " or ".join(f.magic.decode() for f in FLAVOURS)
        result.problems.append(f"{plan} does not start with a TensorRT plan tag ({tags}): it is not a TensorRT engine")
    elif header.truncated:
        result.problems.append(
            f"the plan is {header.size} bytes but its header says {header.stated_size}: it is truncated or corrupted"
        )
    if manifest and header.flavour and header.flavour != manifest.flavour:
        result.problems.append(f"the plan is a {header.flavour} engine but the manifest says {manifest.flavour}")
    built = manifest.tensorrt_version if manifest else header.tensorrt_version
    if manifest and header.tensorrt_version and header.major_minor != ".".join(built.split(".")[:2]):  # type: ignore[union-attr]
        result.problems.append(
            f"the plan header says version {header.tensorrt_version} but the manifest says {built}: "
            "the manifest belongs to another engine"
        )
    if manifest and check_digest:
        digest = hashlib.sha256(plan.read_bytes()).hexdigest()
        if digest != manifest.engine_sha256:
            result.problems.append("the engine file is not the one its manifest describes (sha256 differs)")
    flavour_name = manifest.flavour if manifest else header.flavour
    flavour = flavour_named(flavour_name) if flavour_name else None
    versions = installed if installed is not None else {f.name: f.version() for f in FLAVOURS}
    local_version = versions.get(flavour.name) if flavour else None
    if flavour and local_version is None:
        result.problems.append(f"{flavour.name} is not installed here ({flavour.install})")
    elif (
        built
        and local_version
        and not tensorrt_compatible(built, local_version, manifest.builder.version_compatible if manifest else False)
    ):
        result.problems.append(f"built with {flavour_name} {built}, this machine has {flavour_name} {local_version}")
    if not gpus:
        result.problems.append("no NVIDIA GPU or driver found (nvidia-smi lists none)")
    elif manifest and flavour:
        local = gpus[0]
        if not flavour.runs_on(
            manifest.compute_capabilities, local.compute_capability, manifest.builder.hardware_compat
        ):
            result.problems.append(
                f"built for compute capability {', '.join(manifest.compute_capabilities)}, this GPU is "
                f"{local.name} with compute capability {local.compute_capability}"
            )
        elif manifest.gpu_name and local.name != manifest.gpu_name and not flavour.builds_without_gpu:
            result.notes.append(
                f"built on {manifest.gpu_name}, running on {local.name}: same compute capability, so it runs, "
                "but rebuilding here may be faster"
            )
    if ask_tensorrt and gpus and flavour and local_version and not result.problems:
        problems, notes = flavour.validity(plan)
        result.problems += problems
        result.notes += notes
    if manifest and manifest.plugins and importlib.util.find_spec("torch") is None:
        names = ", ".join(f"{p.namespace}::{p.name}" for p in manifest.plugins)
        result.problems.append(f"the engine calls plugins ({names}) whose kernels need torch: pip install torch")
    return result


def rebuild_command(manifest: EngineManifest, plan: Path) -> str:
    """The `effrestore build` command that makes this engine again on the local machine."""
    words = ["effrestore", "build", manifest.onnx_path, "-o", str(plan), "--precision", manifest.precision]
    words += ["--target", manifest.flavour]
    flavour = flavour_named(manifest.flavour)
    if flavour.default_capabilities and manifest.compute_capabilities != flavour.default_capabilities:
        words += ["--compute-capability", ",".join(manifest.compute_capabilities)]
    tiles = [p.max_tile for p in manifest.profiles]
    batch = manifest.profiles[0].max[0]
    if list(manifest.profiles) == tile_ladder(manifest.model, tiles, batch):
        words += ["--tiles", ",".join(map(str, tiles))] + (["--max-batch", str(batch)] if batch > 1 else [])
    else:
        profile = manifest.profiles[0]
        for label, dims in (("min", profile.min), ("opt", profile.opt), ("max", profile.max)):
            words += [f"--{label}-shape", f"{manifest.input_name}:{format_dims(dims)}"]
    options = manifest.builder
    if options.workspace is not None:
        words += ["--workspace", str(options.workspace)]
    if options.builder_opt_level is not None:
        words += ["--builder-opt-level", str(options.builder_opt_level)]
    words += ["--version-compatible"] * options.version_compatible + ["--hardware-compat"] * options.hardware_compat
    return shlex.join(words)
