"""The CLI through real subprocesses: version, models table and JSON, --help of every command."""

from __future__ import annotations

import json
import subprocess
import sys

from effrestore import __version__


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "effrestore", *args], capture_output=True, text=True, timeout=300)


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"effrestore {__version__}"


def test_models_json_and_table() -> None:
    result = run_cli("models", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)["configs"]}
    assert rows["restormer"]["params"] == 26126644
    assert rows["restormer"]["attention"] == ["mdta"] * 4
    assert 100 < rows["restormer"]["gmacs_256"] < 200
    table = run_cli("models")
    assert table.returncode == 0 and "restormer-s" in table.stdout


def test_help_of_every_command() -> None:
    from effrestore.cli.main import app

    assert run_cli("--help").returncode == 0
    for command in app.registered_commands:
        name = command.name or command.callback.__name__
        result = run_cli(name, "--help")
        assert result.returncode == 0, f"{name} --help failed: {result.stderr}"


def test_train_logs_progress_lines_and_fine_tunes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    common = ("--synthetic", "1", "--steps", "3", "--crop", "16", "--batch", "2", "--attention", "glmha")
    result = run_cli("train", "--out", str(tmp_path / "base"), *common)
    assert result.returncode == 0, result.stderr
    assert "step 3/3" in result.stderr  # not a terminal: plain progress lines instead of a live bar
    base = tmp_path / "base" / "model.safetensors"
    assert base.is_file()
    tuned = run_cli("train", "--out", str(tmp_path / "tuned"), "--init", str(base), *common)
    assert tuned.returncode == 0, tuned.stderr
    wrong = run_cli("train", "--out", str(tmp_path / "wrong"), "--init", str(base), *common[:-1], "mdta")
    assert wrong.returncode == 2 and "--init checkpoint has config" in wrong.stderr
    deeper = run_cli("train", "--out", str(tmp_path / "deep"), "--init", str(base), "--blocks", "1,2,2,3", *common)
    assert deeper.returncode == 0, deeper.stderr
    bad = run_cli("train", "--out", str(tmp_path / "bad"), "--blocks", "1,2,x", *common)
    assert bad.returncode == 2 and "four comma-separated counts" in bad.stderr
