"""`reled eval` through Typer's CliRunner (references only; run evaluation is tested in test_eval_policy)."""
from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from reled_sumo.cli.eval import eval_cmd

app = typer.Typer()
app.command()(eval_cmd)
runner = CliRunner()


def test_scenario_references(kotka_small, tmp_path):
    out = tmp_path / "report"
    res = runner.invoke(app, ["--scenario", str(kotka_small.path), "--references", "shortest,sumo-rerouting",
                              "--seeds", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "shortest" in res.output and "sumo-rerouting" in res.output
    md = (out / "report.md").read_text()
    assert "| shortest |" in md and "| sumo-rerouting |" in md
    assert (out / "travel_times.png").exists()
    saved = json.loads((out / "eval_results.json").read_text())
    assert [r["method"] for r in saved] == ["shortest", "sumo-rerouting"]
    assert all(len(r["per_seed"]) == 2 for r in saved)


def test_needs_a_run_or_a_scenario():
    res = runner.invoke(app, [])
    assert res.exit_code == 2 and "--run" in res.output


def test_unknown_reference(kotka_small, tmp_path):
    res = runner.invoke(app, ["--scenario", str(kotka_small.path), "--references", "bogus", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "unknown reference" in res.output


def test_missing_run_folder(tmp_path):
    res = runner.invoke(app, ["--run", str(tmp_path / "nope"), "--out", str(tmp_path)])
    assert res.exit_code == 2 and "does not exist" in res.output
