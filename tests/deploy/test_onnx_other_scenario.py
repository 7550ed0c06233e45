"""Issue 23, item 10: `reled eval --policy-file` on a scenario with another hash is refused (it printed
`nan` rows with exit code 0)."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from reled_sumo.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests" / "data" / "sample_scenario"
runner = CliRunner()


def test_an_onnx_policy_on_a_scenario_with_another_hash_is_refused(tmp_path):
    run = tmp_path / "run"
    res = runner.invoke(app, ["train", "--config", str(ROOT / "reled_sumo" / "data" / "configs" / "ci.yaml"), "--agents", "4", "--algo",
                              "ippo", "--scenario", str(SAMPLE), "--out", str(run), "--steps", "40"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["export", "--run", str(run)])
    assert res.exit_code == 0, res.output
    other = tmp_path / "other"  # the same agents and roads, another demand file: another hash
    shutil.copytree(SAMPLE, other)
    cfg = other / "scenario.sumocfg"
    cfg.write_text(cfg.read_text() + "<!-- edited -->\n")
    m = json.loads((other / "scenario.json").read_text())
    m["files"]["sumocfg"]["sha256"] = hashlib.sha256(cfg.read_bytes()).hexdigest()
    (other / "scenario.json").write_text(json.dumps(m))
    res = runner.invoke(app, ["eval", "--policy-file", str(run / "policy.onnx"), "--scenario", str(other),
                              "--seeds", "1"])
    assert res.exit_code == 2 and "trained on scenario hash" in res.output, res.output
    assert "nan" not in res.output
    res = runner.invoke(app, ["eval", "--policy-file", str(run / "policy.onnx"), "--seeds", "1"])
    assert res.exit_code == 0, res.output  # its own scenario still evaluates
