"""The OpenVINO backend against ONNX Runtime (the reference) on every attention kind, `auto` backend choice,
and the bf16 policy with its first-use check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from effrestore.bf16_record import measure_bf16_record, write_bf16_record
from effrestore.errors import BackendUnavailableError, ConfigError
from effrestore.export import apply_passes, export_onnx
from effrestore.metadata import ModelMeta
from effrestore.runtime import Restorer, planner
from effrestore.runtime.backends import open_backend
from effrestore.runtime.backends.onnxruntime import OnnxRuntimeBackend
from effrestore.runtime.backends.openvino import (
    AGREEMENT_DB,
    OpenVinoBackend,
    bf16_agrees,
    choose_precision,
    cpu_capabilities,
    prune_compile_cache,
)
from tests.export.test_parity import tiny

SLOW_KINDS = ["mdta", "linear_sa", "gsa", "stt", "sagan"]  # none and glmha: the session's shared models
SHAPES = [(2, 3, 64, 64), (2, 3, 48, 80)]
NATIVE_BF16 = "BF16" in cpu_capabilities()


def assert_openvino_equals_onnxruntime(path: Path) -> None:
    """OpenVINO f32 against ONNX Runtime (the reference) at two shapes, to float32 rounding of the output."""
    reference = OnnxRuntimeBackend(path)
    candidate = OpenVinoBackend(path, threads=2)
    assert candidate.meta == reference.meta and candidate.precision == "fp32"
    for shape in SHAPES:
        x = np.random.default_rng(shape[3]).random((shape[0], reference.meta.in_channels, *shape[2:]), np.float32)
        expected = reference.run(x)
        assert np.abs(candidate.run(x) - expected).max() <= 1e-5 * max(1.0, float(np.abs(expected).max()))


@pytest.mark.parametrize("name", ["conv", "conv-gray", "conv-x2", "glmha"])
def test_openvino_equals_onnxruntime(name: str, models_dir: Path) -> None:
    assert_openvino_equals_onnxruntime(models_dir / f"{name}.onnx")


@pytest.mark.slow
@pytest.mark.parametrize("kind", SLOW_KINDS)
def test_openvino_equals_onnxruntime_on_every_attention_kind(kind: str, tmp_path: Path) -> None:
    """The decomposed export of each remaining kind (GSA through custom ops + decompose-attention: its
    direct export spends minutes in torch's optimizer; the graphs are the same decomposition)."""
    path = tmp_path / f"{kind}.onnx"
    export_onnx(tiny(kind), path, attention_ops="custom", passes=[], verify_parity=False)
    onnx.save(apply_passes(onnx.load(str(path)), ["decompose-attention"]), str(path))
    assert_openvino_equals_onnxruntime(path)


def test_auto_prefers_openvino_and_falls_back_without_it(models_dir: Path) -> None:
    assert open_backend(models_dir / "conv.onnx", "auto", None, None).name == "openvino"
    code = f"""
import sys
sys.modules["openvino"] = None
sys.modules["torch"] = None
import numpy as np
from effrestore.runtime import Restorer, planner
r = Restorer.load({str(models_dir / "conv.onnx")!r}, tile="none")
r.restore(np.zeros((16, 16, 3), np.uint8))
print(r.last_stats.backend, r.last_stats.precision)
try:
    Restorer.load({str(models_dir / "conv.onnx")!r}, backend="openvino")
except Exception as exc:
    print(type(exc).__name__, exc)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.strip().splitlines()
    assert first == "onnxruntime fp32"
    assert second.startswith("BackendUnavailableError") and "pip install openvino" in second


def test_precision_policy() -> None:
    with_bf16 = ("FP32", "BF16", "INT8")
    recorded, lossy = ModelMeta(bf16_psnr_delta=-0.01), ModelMeta(bf16_psnr_delta=-0.2)
    assert choose_precision("auto", recorded, with_bf16).precision == "bf16"
    assert choose_precision("auto", recorded, ("FP32",)).precision == "fp32"
    unrecorded = choose_precision("auto", ModelMeta(), with_bf16)
    assert unrecorded.precision == "fp32" and "no bf16 record" in (unrecorded.note or "")
    assert "0.20 dB" in (choose_precision("auto", lossy, with_bf16).note or "")
    assert choose_precision("fp32", recorded, with_bf16).precision == "fp32"
    asked = choose_precision("bf16", ModelMeta(), with_bf16)
    assert asked.precision == "bf16" and "as asked" in (asked.note or "")
    with pytest.raises(BackendUnavailableError, match="no native bf16"):
        choose_precision("bf16", recorded, ("FP32", "INT8"))


def test_precision_request_is_checked_against_the_backend(models_dir: Path) -> None:
    with pytest.raises(ConfigError, match="runs on the openvino backend"):
        Restorer.load(models_dir / "conv.onnx", backend="onnxruntime", precision="bf16")
    with pytest.raises(ConfigError, match="unknown precision"):
        Restorer.load(models_dir / "conv.onnx", precision="fp8")


def test_bf16_cli_on_this_cpu(models_dir: Path, tmp_path: Path) -> None:
    """Without native bf16 an explicit request is refused with the fix; with it, it runs (and says so)."""
    image = tmp_path / "in.png"
    from PIL import Image

    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(image)
    command = [sys.executable, "-m", "effrestore", "run", str(image), "-o", str(tmp_path / "out.png")]
    result = subprocess.run(
        [*command, "--model", str(models_dir / "conv.onnx"), "--precision", "bf16", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if NATIVE_BF16:
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)[0]["precision"] in ("bf16", "fp32")
    else:
        assert result.returncode == 2 and "no native bf16" in result.stderr and "--precision fp32" in result.stderr
        assert not (tmp_path / "out.png").exists()


def openvino_compiles_bf16(path: Path) -> bool:
    """What OpenVINO itself compiles for a bf16 hint on this CPU, asked directly (some CPUs without native bf16,
    e.g. AVX512 ones, still compile bf16 kernels; others fall back to f32)."""
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(core.read_model(str(path)), "CPU", {"INFERENCE_PRECISION_HINT": "bf16"})
    return compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.bf16


def test_forced_bf16_capability_reports_what_ran(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The capability check forced on: the backend reports the precision OpenVINO actually compiled, never the
    one asked for."""
    monkeypatch.setattr("effrestore.runtime.backends.openvino.cpu_capabilities", lambda: ("FP32", "BF16"))
    backend = open_backend(models_dir / "conv.onnx", "openvino", None, 2, precision="bf16")
    if openvino_compiles_bf16(models_dir / "conv.onnx"):
        assert backend.precision == "bf16" or "disagreed" in (backend.note or "")
    else:
        assert backend.precision == "fp32" and "compiled fp32" in (backend.note or "")


def test_first_use_check_refuses_disagreement_and_caches_the_verdict(
    models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A candidate whose output disagrees with its fp32 reference (here: another model's weights, so the
    disagreement is real) is refused; the verdict is cached, and a second check does not run the reference."""
    monkeypatch.setenv("EFFRESTORE_CACHE_DIR", str(tmp_path))
    opened = []

    def reference() -> OpenVinoBackend:
        opened.append(1)
        return OpenVinoBackend(models_dir / "conv.onnx")

    agrees, score = bf16_agrees(OpenVinoBackend(models_dir / "glmha.onnx"), reference, "test-key")
    assert not agrees and score < AGREEMENT_DB and opened == [1]
    assert bf16_agrees(OpenVinoBackend(models_dir / "glmha.onnx"), reference, "test-key") == (agrees, score)
    assert opened == [1], "the cached verdict is reused"
    same, perfect = bf16_agrees(OpenVinoBackend(models_dir / "conv.onnx"), reference, "other-key")
    assert same and perfect >= AGREEMENT_DB


@pytest.mark.skipif(not NATIVE_BF16, reason="needs a CPU with native bf16")
def test_bf16_on_a_native_cpu_stays_close(models_dir: Path) -> None:
    reference = OpenVinoBackend(models_dir / "glmha.onnx")
    candidate = OpenVinoBackend(models_dir / "glmha.onnx", precision="bf16")
    x = np.random.default_rng(0).random(SHAPES[0], dtype=np.float32)
    assert candidate.precision == "bf16"
    assert np.abs(candidate.run(x) - reference.run(x)).max() <= 0.05


def test_bf16_record_is_written_into_the_onnx_metadata(models_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes((models_dir / "conv.onnx").read_bytes())
    write_bf16_record(path, -0.012)
    assert OnnxRuntimeBackend(path).meta.bf16_psnr_delta == -0.012
    assert OnnxRuntimeBackend(path).meta.name == OnnxRuntimeBackend(models_dir / "conv.onnx").meta.name
    assert not list(tmp_path.glob("*.partial"))


def test_bf16_record_measures_both_precisions(models_dir: Path, sample_rgb: np.ndarray) -> None:
    if not openvino_compiles_bf16(models_dir / "glmha.onnx"):
        pytest.skip("OpenVINO compiles no bf16 kernels on this CPU")
    images = [("astronaut", sample_rgb[:96, :128].astype(np.float64) * 255.0)]
    measured = measure_bf16_record(models_dir / "glmha.onnx", images, threads=2)
    assert set(measured.fp32_psnr) == set(measured.bf16_psnr) == {"15", "25", "50"}
    assert measured.fp32_psnr != measured.bf16_psnr, "bf16 ran: its scores differ from fp32 in some digit"
    assert measured.delta == round(min(measured.bf16_psnr[k] - measured.fp32_psnr[k] for k in measured.fp32_psnr), 3)


def cancelling_model(path: Path) -> Path:
    """An ONNX model whose output x = 1001·x − 1000·x cancels: bf16 rounds 1001 to 1000 (8-bit mantissa), so
    its bf16 output is far from fp32's while fp32 is exact to float32 rounding."""
    eye = np.eye(3, dtype=np.float32).reshape(3, 3, 1, 1)
    graph = onnx.helper.make_graph(
        [
            onnx.helper.make_node("Conv", ["x", "big"], ["a"]),
            onnx.helper.make_node("Conv", ["x", "minus"], ["b"]),
            onnx.helper.make_node("Add", ["a", "b"], ["y"]),
        ],
        "cancelling",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [
            onnx.numpy_helper.from_array(1001 * eye, "big"),
            onnx.numpy_helper.from_array(-1000 * eye, "minus"),
        ],
    )
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    onnx.helper.set_model_props(model, ModelMeta(multiple_of=1, overlap=0, receptive_field=0).to_props())
    onnx.save(model, str(path))
    return path


@pytest.mark.skipif(not NATIVE_BF16, reason="needs a CPU with native bf16")
def test_first_use_check_falls_back_when_bf16_disagrees(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EFFRESTORE_CACHE_DIR", str(tmp_path / "cache"))
    path = cancelling_model(tmp_path / "cancelling.onnx")
    backend = open_backend(path, "openvino", None, 2, precision="bf16")
    assert backend.precision == "fp32" and "bf16 disagreed with fp32" in (backend.note or "")
    x = np.random.default_rng(0).random((1, 3, 16, 16), np.float32)
    assert np.abs(backend.run(x) - x).max() < 1e-3, "the fall-back runs fp32"
    checks = json.loads((tmp_path / "cache" / "precision-checks.json").read_text())
    assert [entry["agrees"] for entry in checks.values()] == [False]
    again = open_backend(path, "openvino", None, 2, precision="bf16")
    assert again.precision == "fp32" and again.note == backend.note, "the cached verdict is reused"


def test_compiled_models_are_reused_from_the_disk_cache_which_stays_bounded(
    models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EFFRESTORE_CACHE_DIR", str(tmp_path))
    x = np.random.default_rng(0).random((1, 3, 48, 48), np.float32)
    first = OpenVinoBackend(models_dir / "glmha.onnx", threads=2)
    expected = first.run(x)
    cached = sorted(p.name for p in (tmp_path / "openvino").iterdir())
    assert cached, "compiling wrote no compiled model to the cache"
    again = OpenVinoBackend(models_dir / "glmha.onnx", threads=2)
    assert np.array_equal(again.run(x), expected)
    assert sorted(p.name for p in (tmp_path / "openvino").iterdir()) == cached  # imported, not compiled anew
    again.run(np.zeros((1, 3, 40, 56), np.float32))
    files = sorted((tmp_path / "openvino").iterdir(), key=lambda p: p.stat().st_mtime)
    assert len(files) > len(cached)
    prune_compile_cache(tmp_path / "openvino", limit=files[-1].stat().st_size)
    assert list((tmp_path / "openvino").iterdir()) == [files[-1]]  # the newest is kept, the rest deleted


def test_a_restore_plans_the_compile_of_a_new_tile_shape_and_not_of_a_compiled_one(
    models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EFFRESTORE_CACHE_DIR", str(tmp_path))
    image = np.random.default_rng(0).integers(0, 256, (200, 264, 3), np.uint8)
    with Restorer.load(models_dir / "glmha.onnx", backend="openvino", threads=2, tile=128) as restorer:
        probed = restorer.memory_fit()
        assert all(seconds > 0 for _, seconds in probed.startups), "a first call compiles: it cannot be free"
        restorer.restore(image)
        first = restorer.last_stats
        paced = restorer.memory_fit()
        restorer.restore(image)
        again = restorer.last_stats
    assert 0 < first.engine_seconds < first.seconds
    weight = min(1.0, first.engine_seconds / planner.PACE_HORIZON_S)
    assert paced.pace == pytest.approx((first.engine_seconds / first.planned_seconds) ** weight)
    height, width = first.tile_shape
    warm_calls = first.tiles * paced.predict_seconds(height * width)
    assert again.planned_seconds == pytest.approx(warm_calls), "the compiled shape pays no startup again"
    with Restorer.load(models_dir / "glmha.onnx", backend="openvino", threads=2, tile=128) as reopened:
        assert reopened.memory_fit().pace != probed.pace, "the pace is cached for the next process"
