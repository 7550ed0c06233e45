"""`reled train` through Typer's CliRunner on the small Kotka scenario."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from reled_sumo.cli.train import train_cmd
from reled_sumo.demos.trajectory import DemoSet
from reled_sumo.training import trainer as trainer_mod
from reled_sumo.training.checkpoint import load_checkpoint, load_policy

CI = str(Path(__file__).resolve().parents[2] / "reled_sumo" / "data" / "configs" / "ci.yaml")
runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)
    app.command("train")(train_cmd)
    return app


def _train(*args: str):
    return runner.invoke(_app(), ["train", *args], catch_exceptions=False)


def _rows(run: Path) -> list[dict[str, str]]:
    with open(run / "progress.csv") as fh:
        return list(csv.DictReader(fh))


def test_train_writes_the_run_folder_and_load_policy_reads_it(kotka_small, tmp_path):
    out = tmp_path / "run"
    res = _train("--config", CI, "--scenario", str(kotka_small.path), "--out", str(out), "--agents", "6",
                 "--steps", "150", "--seed", "3")
    assert res.exit_code == 0, res.output
    for name in ("config.yaml", "scenario.json", "progress.csv", "log.txt", "checkpoint.pt", "demos/manifest.json"):
        assert (out / name).is_file(), name
    assert not list(out.glob("*.tmp"))
    info = json.loads((out / "scenario.json").read_text())
    assert (info["name"], info["scenario_hash"]) == (kotka_small.name, kotka_small.scenario_hash)
    rows = _rows(out)
    assert len(rows) >= 1 and int(rows[-1]["time/env_decisions"]) >= 150
    for key in ("rollout/decisions_per_s", "rollout/mean_travel_time", "rollout/p95_travel_time",
                "rollout/arrival_rate",
                "rollout/mean_return", "expert/w_mean", "expert/w_max", "expert/dtw_mean", "expert/dtw_seconds",
                "train/policy_loss", "train/value_loss", "train/expert_loss", "expert/sed_bound"):
        assert key in rows[-1], key
    assert len(DemoSet.load(out / "demos")) == 6

    policy, meta = load_policy(out)
    assert meta["algo"] == "reled" and meta["scenario_hash"] == kotka_small.scenario_hash
    assert len(meta["possible_agents"]) == 6 and meta["updates"] == len(rows) and meta["env"]["max_agents"] == 6
    obs = np.zeros((4, meta["obs_dim"]), np.float32)
    mask = np.ones((4, meta["n_actions"]), bool)
    mask[:, 0] = False
    actions, _, _ = policy.act(obs, np.arange(4), mask, deterministic=True)
    assert actions.shape == (4,) and (actions != 0).all()
    assert "decisions" in res.output and "checkpoint" in res.output


def test_ctrl_c_saves_a_checkpoint_exits_130_and_resume_finishes(kotka_small, tmp_path, monkeypatch):
    out = tmp_path / "run"
    real = trainer_mod.Trainer._update
    calls = {"n": 0}

    def interrupted(self):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        real(self)

    monkeypatch.setattr(trainer_mod.Trainer, "_update", interrupted)
    args = ("--config", CI, "--scenario", str(kotka_small.path), "--out", str(out), "--algo", "ippo",
            "--agents", "5", "--steps", "150")
    res = _train(*args)
    assert res.exit_code == 130
    assert "interrupted" in res.output and "--resume" in res.output
    assert load_checkpoint(out)["run"]["updates"] == 1
    monkeypatch.setattr(trainer_mod.Trainer, "_update", real)
    res = _train(*args, "--resume")
    assert res.exit_code == 0, res.output
    assert load_checkpoint(out)["run"]["decisions"] >= 150
    assert [int(r["time/updates"]) for r in _rows(out)] == list(range(1, len(_rows(out)) + 1))
    res = _train(*args, "--resume", "--seed", "4")  # a changed setting cannot resume
    assert res.exit_code == 2 and "seed" in res.output


def test_unknown_config_key_is_a_clean_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("hpo:\n  learning_rat: 0.1\n")
    res = _train("--config", str(bad), "--out", str(tmp_path / "r"))
    assert res.exit_code == 2 and "hpo.learning_rat" in res.output


def test_unreachable_ollama_gives_llm_unavailable(kotka_small, tmp_path):
    cfg = tmp_path / "ollama.yaml"
    cfg.write_text("expert:\n  kind: ollama\n  host: http://127.0.0.1:9\n  retries: 0\n  timeout_s: 2\n")
    res = _train("--config", str(cfg), "--scenario", str(kotka_small.path), "--out", str(tmp_path / "r"),
                 "--agents", "3", "--steps", "10", "--model", "qwen2.5:0.5b")
    assert res.exit_code == 3, res.output
    assert "127.0.0.1:9" in res.output


@pytest.mark.parametrize("flag", [["--algo", "nope"], ["--policy", "everyone"], ["--expert", "oracle"],
                                  ["--workers", "-2"], ["--episodes-per-update", "0"], ["--agents", "0"],
                                  ["--agents", "-1"], ["--agents", "lots"], ["--episode-workers", "two"],
                                  ["--episode-workers", "-1"], ["--episode-workers", "1.5"]])
def test_bad_flags(flag, tmp_path):
    res = _train(*flag, "--out", str(tmp_path / "r"))
    assert res.exit_code == 2
    assert "Traceback" not in res.output


def test_agents_all_controls_every_agent_vehicle_despite_the_config_cap(kotka_small, tmp_path):
    out = tmp_path / "run"  # configs/ci.yaml caps env.max_agents at 8; kotka_small has 20 agents
    res = _train("--config", CI, "--scenario", str(kotka_small.path), "--out", str(out), "--agents", "all",
                 "--algo", "ippo", "--steps", "20")
    assert res.exit_code == 0, res.output
    _, meta = load_policy(out)
    assert meta["env"]["max_agents"] is None and meta["possible_agents"] == kotka_small.agent_ids


def test_without_config_train_uses_the_learning_defaults_and_an_update_budget(kotka_small, tmp_path):
    """One source of defaults: no --config means the bundled configs/default.yaml (the settings that
    learn), not the neutral dataclass defaults; --updates is a budget in updates."""
    import yaml

    from reled_sumo.training.config import default_config_path

    out = tmp_path / "defaults"
    res = _train("--scenario", str(kotka_small.path), "--out", str(out), "--agents", "4", "--algo", "ippo",
                 "--updates", "2")
    assert res.exit_code == 0, res.output
    used = yaml.safe_load((out / "config.yaml").read_text())
    shipped = yaml.safe_load(default_config_path().read_text())
    assert used["env"]["agent_selection"] == shipped["env"]["agent_selection"] == "busy"
    for key in ("prior_tau", "residual_s", "prior_tau_final", "target_kl", "learning_rate"):
        assert used["hpo"][key] == shipped["hpo"][key], key
    assert used["hpo"]["residual_s"] > 0 and used["hpo"]["weight"]["gate"] == "greedy"
    assert used["total_updates"] == 2 and len(_rows(out)) == 2
