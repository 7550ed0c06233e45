"""Issue 23, item 4: `export --out`, `eval --out` and `bench learn --report-only --out` never overwrite a
file that reled did not write, unless --force; a refusal leaves no temporary file."""
from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from reled_sumo.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _files(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("outputs") / "run"
    res = runner.invoke(app, ["train", "--config", str(ROOT / "reled_sumo" / "data" / "configs" / "ci.yaml"), "--agents", "4", "--algo",
                              "ippo", "--scenario", str(ROOT / "tests" / "data" / "sample_scenario"), "--out",
                              str(out), "--steps", "40"])
    assert res.exit_code == 0, res.output
    return out


def test_export_does_not_replace_a_file_it_did_not_write(run, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    res = runner.invoke(app, ["export", "--run", str(run), "--out", str(notes)])
    assert res.exit_code == 2 and "--force" in res.output, res.output
    assert notes.read_text() == "my notes" and _files(tmp_path) == ["notes.txt"]
    res = runner.invoke(app, ["export", "--run", str(run), "--out", str(tmp_path / "p.onnx")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["export", "--run", str(run), "--out", str(tmp_path / "p.onnx")])
    assert res.exit_code == 0, res.output  # its own earlier export: replaced without --force
    res = runner.invoke(app, ["export", "--run", str(run), "--out", str(notes), "--force"])
    assert res.exit_code == 0 and notes.read_bytes() != b"my notes", res.output
    assert not [n for n in _files(tmp_path) if n.endswith(".tmp")]


def test_export_onto_a_folder_is_refused_without_a_stray_temporary_file(run, tmp_path):
    folder = tmp_path / "afolder"
    folder.mkdir()
    res = runner.invoke(app, ["export", "--run", str(run), "--out", str(folder)])
    assert res.exit_code == 2 and "is a folder" in res.output, res.output
    assert _files(tmp_path) == ["afolder"] and _files(folder) == []


def test_eval_does_not_overwrite_a_report_it_did_not_write(run, tmp_path):
    out = tmp_path / "ev"
    out.mkdir()
    (out / "report.md").write_text("# my report")
    res = runner.invoke(app, ["eval", "--run", str(run), "--seeds", "1", "--out", str(out)])
    assert res.exit_code == 2 and "report.md" in res.output and "--force" in res.output, res.output
    assert (out / "report.md").read_text() == "# my report" and _files(out) == ["report.md"]
    res = runner.invoke(app, ["eval", "--run", str(run), "--seeds", "1", "--out", str(out), "--force"])
    assert res.exit_code == 0, res.output
    assert (out / "report.md").read_text() != "# my report"
    res = runner.invoke(app, ["eval", "--run", str(run), "--seeds", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output  # its own report: rewritten without --force


def test_bench_learn_report_only_does_not_overwrite_a_report_it_did_not_write(tmp_path):
    out = tmp_path / "suite"
    out.mkdir()
    (out / "report.md").write_text("# my report")
    args = ["bench", "learn", "--suite", "ci", "--report-only", "--out", str(out)]
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "--force" in res.output, res.output
    assert (out / "report.md").read_text() == "# my report"
    res = runner.invoke(app, [*args, "--force"])
    assert res.exit_code == 0, res.output
    assert (out / "report.md").read_text().startswith("# Learning suite")
    assert runner.invoke(app, args).exit_code == 0
