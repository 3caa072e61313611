"""TensorRT-RTX's header check (`Runtime.get_engine_validity`), decoded with the installed module's own
enums, and asked for real about a header it must call malformed."""

from __future__ import annotations

from pathlib import Path

import pytest

from effrestore.trt.validity import CAUSES, decode_validity, engine_validity

trt = pytest.importorskip("tensorrt_rtx", reason="needs TensorRT for RTX: pip install 'effrestore[tensorrt-rtx]'")


def test_every_diagnostic_bit_of_the_installed_version_has_its_reason() -> None:
    assert set(trt.EngineInvalidityDiagnostics.__members__) == set(CAUSES)
    for name, text in CAUSES.items():
        problems, notes = decode_validity(
            trt, trt.EngineValidity.INVALID, int(getattr(trt.EngineInvalidityDiagnostics, name))
        )
        assert problems == [f"TensorRT-RTX's validity check says it cannot run here: {text}"] and not notes


def test_combined_unknown_and_suboptimal_answers() -> None:
    flags = trt.EngineInvalidityDiagnostics
    both = int(flags.VERSION_MISMATCH) | int(flags.UNSUPPORTED_CC)
    (problem,) = decode_validity(trt, trt.EngineValidity.INVALID, both)[0]
    assert CAUSES["VERSION_MISMATCH"] in problem and CAUSES["UNSUPPORTED_CC"] in problem
    (unknown,) = decode_validity(trt, trt.EngineValidity.INVALID, 1 << 20)[0]
    assert "0x100000" in unknown
    assert decode_validity(trt, trt.EngineValidity.VALID, 0) == ([], [])
    problems, (note,) = decode_validity(trt, trt.EngineValidity.SUBOPTIMAL, int(flags.OLD_CUDA_DRIVER))
    assert not problems and "slower" in note and "update the driver" in note
    (silent,) = decode_validity(trt, trt.EngineValidity.INVALID, 0)[0]
    assert "no reason given" in silent


def test_the_real_check_calls_a_foreign_header_malformed(tmp_path: Path) -> None:
    plan = tmp_path / "foreign.plan"
    plan.write_bytes(b"ftrt" + bytes(range(60)) + b"\0" * 1000)
    (problem,) = engine_validity(trt, plan)[0]
    assert CAUSES["MALFORMED_ENGINE"] in problem
