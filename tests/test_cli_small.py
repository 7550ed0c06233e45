"""Issue 12, small items: `reled doctor` has no side effects; OS errors at the CLI edge are one line."""
from __future__ import annotations

from typer.testing import CliRunner

from reled_sumo.cli.app import app

runner = CliRunner()


def test_doctor_creates_no_folders(tmp_path, monkeypatch):
    home, cache = tmp_path / "no" / "home", tmp_path / "nocache" / "llm"
    monkeypatch.setenv("RELED_HOME", str(home))
    monkeypatch.setenv("RELED_CACHE_DIR", str(cache))
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")
    res = runner.invoke(app, ["doctor"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_doctor_reports_a_home_that_is_a_file(tmp_path, monkeypatch):
    f = tmp_path / "home"
    f.write_text("x")
    monkeypatch.setenv("RELED_HOME", str(f))
    monkeypatch.setenv("RELED_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")
    res = runner.invoke(app, ["doctor"])
    assert res.exit_code == 1 and "FAIL" in res.output and "not a" in res.output, res.output
    assert f.read_text() == "x"


def test_demo_out_that_is_a_file_is_one_line(tmp_path):
    from pathlib import Path

    sample = str(Path(__file__).parent / "data" / "sample_scenario")
    f = tmp_path / "file"
    f.write_text("x")
    res = runner.invoke(app, ["demo", "generate", "--scenario", sample, "--agents", "2", "--rounds", "1",
                              "--out", str(f / "demos")])
    assert res.exit_code == 74, res.output
    assert "operating-system error" in res.output and "Traceback" not in res.output
    assert f.read_text() == "x"
