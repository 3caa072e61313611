"""Real TensorRT-for-RTX engine builds on this machine (no GPU needed to build): plan layout, manifest,
engine cache, custom-op decomposition, and what `inspect` and `run` say about a plan that cannot run here."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from effrestore.export import export_onnx
from effrestore.models import build_model
from effrestore.trt.builder import build_engine
from effrestore.trt.doctor import diagnose
from effrestore.trt.environment import Gpu
from effrestore.trt.flavours import TENSORRT_RTX
from effrestore.trt.manifest import read_manifest
from effrestore.trt.plan_header import read_plan_header
from tests.conftest import TINY
from tests.export.test_parity import tiny

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tensorrt_rtx") is None,
    reason="needs TensorRT for RTX: pip install 'effrestore[tensorrt-rtx]'",
)
ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "astronaut-noisy25.png"
TILES = (64,)  # one small profile keeps each build to seconds


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "effrestore", *args], capture_output=True, text=True, timeout=600)


def build(onnx_path: Path, plan: Path, cache: Path, **options: object) -> tuple[float, Path]:
    started = time.perf_counter()
    result = build_engine(onnx_path, plan, tiles=TILES, cache_dir=cache, target="tensorrt-rtx", **options)  # type: ignore[arg-type]
    return time.perf_counter() - started, result.plan


def assert_real_plan(plan: Path, precision: str) -> None:
    header, manifest = read_plan_header(plan), read_manifest(plan)
    assert plan.read_bytes()[:4] == b"vtrt" and header.flavour == "tensorrt-rtx"
    assert header.stated_size == plan.stat().st_size and not header.truncated
    assert manifest.flavour == "tensorrt-rtx" and manifest.tensorrt_version == TENSORRT_RTX.version()
    assert header.tensorrt_version == manifest.tensorrt_version
    assert manifest.compute_capabilities == TENSORRT_RTX.default_capabilities and manifest.gpu_name is None
    assert manifest.precision == precision and [p.max_tile for p in manifest.profiles] == list(TILES)
    assert manifest.device_memory == (None,), "no GPU here to measure it; the backend reads it when loading"
    assert manifest.engine_bytes == plan.stat().st_size


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("name", ["conv", "glmha"])
def test_builds_a_real_plan(name: str, precision: str, models_dir: Path, tmp_path: Path) -> None:
    seconds, plan = build(models_dir / f"{name}.onnx", tmp_path / "m.plan", tmp_path / "cache", precision=precision)
    assert_real_plan(plan, precision)
    print(f"{name} {precision}: built in {seconds:.1f} s, {plan.stat().st_size / 2**20:.1f} MiB")


def test_custom_op_model_is_decomposed_then_built(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model("restormer-xs", attention="glmha", **TINY).eval()
    custom = tmp_path / "custom.onnx"
    export_onnx(model, custom, attention_ops="custom", passes=[], verify_parity=False)
    inspected = cli("inspect", str(custom), "--target", "tensorrt-rtx", "--json")
    assert inspected.returncode == 0, inspected.stderr
    findings = json.loads(inspected.stdout)["tensorrt"]["findings"]
    assert findings and all(f["severity"] == "warning" and "decomposes" in f["message"] for f in findings)
    result = cli("build", str(custom), "-o", str(tmp_path / "m.plan"), "--tiles", "64", "--target", "tensorrt-rtx",
                 "--cache-dir", str(tmp_path / "cache"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "decomposing the effrestore custom ops (GLMHA)" in result.stderr
    assert_real_plan(tmp_path / "m.plan", "fp32")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "custom.onnx", "m.plan", "m.plan.json"]


def test_engine_cache_hits_only_for_the_same_request(models_dir: Path, tmp_path: Path) -> None:
    source, cache = models_dir / "conv.onnx", tmp_path / "cache"
    first = build_engine(source, tmp_path / "a.plan", tiles=TILES, cache_dir=cache, target="tensorrt-rtx")
    again = build_engine(source, tmp_path / "b.plan", tiles=TILES, cache_dir=cache, target="tensorrt-rtx")
    assert not first.from_cache and again.from_cache
    assert (tmp_path / "a.plan").read_bytes() == (tmp_path / "b.plan").read_bytes()
    for change in ({"compute_capabilities": ("8.6",)}, {"precision": "fp16"}, {"tiles": (64, 128)}):
        options = {"tiles": TILES, "cache_dir": cache, "target": "tensorrt-rtx", **change}
        assert not build_engine(source, tmp_path / "c.plan", **options).from_cache, change  # type: ignore[arg-type]
    assert read_manifest(tmp_path / "c.plan").profiles[-1].max_tile == 128


def test_inspect_and_run_on_a_real_plan_here(models_dir: Path, tmp_path: Path) -> None:
    _, plan = build(models_dir / "conv.onnx", tmp_path / "m.plan", tmp_path / "cache")
    inspected = cli("inspect", str(plan))
    text = " ".join(inspected.stdout.split())
    assert inspected.returncode == 1 and "cannot run here" in text and "no NVIDIA GPU" in text, text
    assert "plan header: tensorrt-rtx plan" in text and "--target tensorrt-rtx" in text
    ran = cli("run", str(SAMPLE), "-o", str(tmp_path / "out.png"), "--engine", str(plan))
    assert ran.returncode == 2 and "cannot run here" in ran.stderr and "--backend onnxruntime" in ran.stderr
    assert not (tmp_path / "out.png").exists()
    flipped = tmp_path / "flipped.plan"
    data = bytearray(plan.read_bytes())
    data[0] ^= 0xFF
    flipped.write_bytes(bytes(data))
    (tmp_path / "flipped.plan.json").write_text((tmp_path / "m.plan.json").read_text())
    bad = cli("inspect", str(flipped), "--json")
    assert bad.returncode == 1 and any("not a TensorRT engine" in p for p in json.loads(bad.stdout)["problems"])
    truncated = tmp_path / "truncated.plan"
    truncated.write_bytes(plan.read_bytes()[: plan.stat().st_size // 2])
    (tmp_path / "truncated.plan.json").write_text((tmp_path / "m.plan.json").read_text())
    short = json.loads(cli("inspect", str(truncated), "--json").stdout)
    assert any("truncated or corrupted" in p for p in short["problems"]), short["problems"]


def test_the_flavours_own_header_check_speaks_before_deserialising(models_dir: Path, tmp_path: Path) -> None:
    """On a stand-in Ada GPU the manifest and header say the engine would run; TensorRT-RTX's own check, asked
    for real on this machine without CUDA, says it cannot, and that is what the doctor reports."""
    _, plan = build(models_dir / "conv.onnx", tmp_path / "m.plan", tmp_path / "cache")
    ada = [Gpu("NVIDIA GeForce RTX 4090", "8.9")]
    assert diagnose(plan, ada).runs_here
    asked = diagnose(plan, ada, ask_tensorrt=True)
    assert not asked.runs_here
    assert any(p.startswith("TensorRT-RTX's validity check says it cannot run here") for p in asked.problems)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["mdta", "linear_sa", "gsa", "stt", "sagan"])
def test_every_attention_kind_builds(kind: str, tmp_path: Path) -> None:
    """The export of each remaining kind (through custom ops + automatic decomposition), fp32 and fp16."""
    custom = tmp_path / f"{kind}.onnx"
    export_onnx(tiny(kind), custom, attention_ops="custom", passes=[], verify_parity=False)
    for precision in ("fp32", "fp16"):
        seconds, plan = build(custom, tmp_path / f"{precision}.plan", tmp_path / "cache", precision=precision)
        assert_real_plan(plan, precision)
        print(f"{kind} {precision}: built in {seconds:.1f} s, {plan.stat().st_size / 2**20:.1f} MiB")


def test_engines_become_triton_entries(models_dir: Path, tmp_path: Path) -> None:
    """A TensorRT-RTX plan is served by the python flavour (Triton's TensorRT backend runs only standard
    TensorRT); a standard-TensorRT manifest gives a tensorrt_plan config whose fields come from it. Neither
    runs here (no GPU, and the bundled server has no TensorRT backend): the configs parse against
    Triton's ModelConfig schema."""
    from tests.test_triton_repo import parsed_config

    _, plan = build(models_dir / "conv.onnx", tmp_path / "m.plan", tmp_path / "cache")
    repository = tmp_path / "repository"
    python = cli("triton-repo", str(plan), "-o", str(repository), "--name", "rtx")
    assert python.returncode == 0, python.stderr
    entry = repository / "rtx"
    assert sorted(p.name for p in (entry / "1").iterdir()) == ["model.plan", "model.plan.json", "model.py"]
    assert parsed_config(entry).instance_group[0].kind == 1  # KIND_GPU: an engine needs one
    refused = cli("triton-repo", str(plan), "-o", str(repository), "--name", "direct", "--flavor", "tensorrt")
    assert refused.returncode == 2 and "--flavour python" in refused.stderr
    standard = tmp_path / "standard" / "s.plan"
    standard.parent.mkdir()
    standard.write_bytes(plan.read_bytes())
    manifest = json.loads((tmp_path / "m.plan.json").read_text())
    manifest.update(flavour="tensorrt", tensorrt_version="10.13.0")
    (standard.parent / "s.plan.json").write_text(json.dumps(manifest))
    written = cli("triton-repo", str(standard), "-o", str(repository), "--flavor", "tensorrt")
    assert written.returncode == 0, written.stderr
    config = parsed_config(repository / "s")
    parameters = {key: p.string_value for key, p in config.parameters.items()}
    assert config.platform == "tensorrt_plan" and config.max_batch_size == 0
    assert list(config.input[0].dims) == [-1, 3, -1, -1] and config.input[0].name == manifest["input_name"]
    assert parameters["effrestore.tensorrt_version"] == "10.13.0"
    assert parameters["effrestore.compute_capabilities"] == ",".join(manifest["gpu"]["compute_capabilities"])
    assert json.loads(parameters["effrestore.profiles"])[0]["max"][2] == TILES[0]
